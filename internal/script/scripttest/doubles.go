package scripttest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/script"
)

// Kamailio log levels (xlog's "L_*" names).
var logLevels = map[string]int{
	"L_ALERT": -5, "L_BUG": -4, "L_CRIT2": -3, "L_CRIT": -2, "L_ERR": -1,
	"L_WARN": 0, "L_NOTICE": 1, "L_INFO": 2, "L_DBG": 3,
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func (e *Env) register() {
	r := e.Reg
	// ---- xlog double
	xlog := func(name string, level int, withLevel bool) script.Func {
		min, max := 1, 1
		if withLevel {
			max = 2
		}
		return script.Func{Name: name, MinArgs: min, MaxArgs: max, Module: "xlog (test double)",
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				lvl := level
				fa := fc.Arg(0)
				if fc.NArgs() == 2 {
					s, err := fc.Arg(0).String()
					if err != nil {
						return nil, err
					}
					l, ok := logLevels[s]
					if !ok {
						return nil, fc.Arg(0).Errorf("unknown log level %q", s)
					}
					lvl = l
					fa = fc.Arg(1)
				}
				f, err := fa.Format()
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int {
					if lvl > e.Debug {
						return 1
					}
					b := c.GetBuf()
					b = f.Append(c, b)
					if e.w != nil {
						e.w.Write(b)
					} else {
						e.out.Write(b)
					}
					c.PutBuf(b)
					return 1
				}, nil
			}}
	}
	must(r.AddFunc(xlog("xlog", logLevels["L_ERR"], true)))
	for name, lvl := range map[string]string{"xinfo": "L_INFO", "xerr": "L_ERR", "xdbg": "L_DBG",
		"xwarn": "L_WARN", "xnotice": "L_NOTICE", "xcrit": "L_CRIT", "xalert": "L_ALERT", "xbug": "L_BUG"} {
		must(r.AddFunc(xlog(name, logLevels[lvl], false)))
	}

	// ---- sl double
	must(r.AddFunc(script.Func{Name: "sl_send_reply", MinArgs: 2, MaxArgs: 2, Module: "sl (test double)",
		Routes: script.RequestRoute | script.FailureRoute | script.BranchRoute | script.EventRoute,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			code, err := fc.Arg(0).Int()
			if err != nil {
				return nil, err
			}
			if n, ok := code.Const(); ok && (n < 100 || n > 699) {
				return nil, fc.Arg(0).Errorf("invalid reply code %d", n)
			}
			reason, err := fc.Arg(1).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				e.Replies = append(e.Replies, Reply{Code: int(code.Get(c)), Reason: reason.String(c)})
				return 1
			}, nil
		}}))

	// ---- SIP pseudo-variable doubles
	constPV := func(name string, v script.Value) {
		must(r.AddPV(script.PVClass{Name: name, Module: "pv (test double)",
			Fixup: func(*script.PVFixupCtx) (*script.PV, error) {
				return &script.PV{Get: func(*script.Ctx) script.Value { return v }}, nil
			}}))
	}
	constPV("si", script.Str(SourceIP))
	constPV("rm", script.Str(Method))
	constPV("ru", script.Str(RequestURI))
	constPV("rU", script.Str("test"))
	constPV("rd", script.Str("127.0.0.1"))

	// ---- core keyword doubles
	kw := func(name string, v script.Value, myself func(*script.Ctx) bool) {
		must(r.AddKeyword(script.Keyword{Name: name, Module: "sip (test double)",
			Get: func(*script.Ctx) script.Value { return v }, Myself: myself}))
	}
	no := func(*script.Ctx) bool { return false }
	yes := func(*script.Ctx) bool { return true }
	kw("method", script.Str(Method), nil)
	// the listen port is not 5060, so a URI without port is not myself
	kw("uri", script.Str(RequestURI), no)
	kw("from_uri", script.Str("sip:tester@127.0.0.1"), no)
	kw("to_uri", script.Str(RequestURI), no)
	kw("src_ip", script.Str(SourceIP), yes)
	kw("dst_ip", script.Str(SourceIP), yes)
	kw("src_port", script.Int(5070), nil)
	kw("proto", script.Int(script.ProtoNumber("udp")), nil)
	kw("af", script.Int(2), nil)
	kw("msg:len", script.Int(int64(len(SyntheticRequest))), nil)

	e.registerHTable()
}

// ---------------------------------------------------------------------------
// htable double

// Tables is the htable double: named tables with initval and autoexpire.
type Tables struct {
	mu sync.RWMutex
	m  map[string]*Table
	// Now returns the current time (tests may replace it).
	Now func() time.Time
}

// NewTables returns an empty set of tables.
func NewTables() *Tables {
	return &Tables{m: map[string]*Table{}, Now: time.Now}
}

// Table is one htable double: a sharded map.
type Table struct {
	Name       string
	HasInit    bool
	InitVal    int64
	AutoExpire int64 // seconds; 0 = never
	shards     [16]shard
	tables     *Tables
}

type shard struct {
	mu    sync.Mutex
	items map[string]*item
}

type item struct {
	v      script.Value
	expire int64 // unix seconds; 0 = never
}

// Define adds a table from an htable definition "name=>attr=val;...".
func (ts *Tables) Define(def string) error {
	name, attrs, ok := strings.Cut(def, "=>")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("htable definition %q: expected name=>attributes", def)
	}
	t := &Table{Name: name, tables: ts}
	for _, a := range strings.Split(attrs, ";") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		k, v, _ := strings.Cut(a, "=")
		switch strings.TrimSpace(k) {
		case "initval":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("htable %s: bad initval %q", name, v)
			}
			t.HasInit, t.InitVal = true, n
		case "autoexpire":
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return fmt.Errorf("htable %s: bad autoexpire %q", name, v)
			}
			t.AutoExpire = n
		}
	}
	for i := range t.shards {
		t.shards[i].items = map[string]*item{}
	}
	ts.mu.Lock()
	ts.m[name] = t
	ts.mu.Unlock()
	return nil
}

// Table returns the table named name, or nil.
func (ts *Tables) Table(name string) *Table {
	ts.mu.RLock()
	t := ts.m[name]
	ts.mu.RUnlock()
	return t
}

func (t *Table) shard(key []byte) *shard {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	return &t.shards[h&15]
}

func (t *Table) now() int64 { return t.tables.Now().Unix() }

// live returns the item for key if present and not expired (caller holds the lock).
func (t *Table) live(s *shard, key []byte) *item {
	it := s.items[string(key)]
	if it == nil {
		return nil
	}
	if it.expire != 0 && it.expire <= t.now() {
		delete(s.items, string(key))
		return nil
	}
	return it
}

// Get returns the value of key (initval or Null when missing).
func (t *Table) Get(key []byte) script.Value {
	s := t.shard(key)
	s.mu.Lock()
	it := t.live(s, key)
	var v script.Value
	if it != nil {
		v = it.v
	} else if t.HasInit {
		v = script.Int(t.InitVal)
	}
	s.mu.Unlock()
	return v
}

// Set stores v under key; Null deletes.
func (t *Table) Set(key []byte, v script.Value) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v.IsNull() {
		delete(s.items, string(key))
		return
	}
	var exp int64
	if t.AutoExpire > 0 {
		exp = t.now() + t.AutoExpire
	}
	if it := s.items[string(key)]; it != nil {
		it.v, it.expire = v, exp
		return
	}
	s.items[string(key)] = &item{v: v, expire: exp}
}

// Add adds delta to an integer item (creating initval+delta); Null when
// the item is a string or is missing from a table without initval.
func (t *Table) Add(key []byte, delta int64) script.Value {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it := t.live(s, key)
	var exp int64
	if t.AutoExpire > 0 {
		exp = t.now() + t.AutoExpire
	}
	if it == nil {
		if !t.HasInit {
			return script.Null
		}
		v := script.Int(t.InitVal + delta)
		s.items[string(key)] = &item{v: v, expire: exp}
		return v
	}
	if !it.v.IsInt() {
		return script.Null
	}
	it.v = script.Int(it.v.AsInt() + delta)
	it.expire = exp
	return it.v
}

// Expire returns the seconds until key expires (0 if missing or never).
func (t *Table) Expire(key []byte) int64 {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	it := t.live(s, key)
	if it == nil || it.expire == 0 || t.AutoExpire == 0 {
		return 0
	}
	return it.expire - t.now()
}

// SetExpire sets the expiry of key: n > 0 seconds from now, 0 never.
// Ignored for tables without autoexpire.
func (t *Table) SetExpire(key []byte, n int64) {
	if t.AutoExpire == 0 {
		return
	}
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if it := t.live(s, key); it != nil {
		if n > 0 {
			it.expire = t.now() + n
		} else {
			it.expire = 0
		}
	}
}

// Count counts items whose name (byName) or string value matches expr,
// with htable's operators: ~~ regex, ~% ends with, %~ starts with, ==
// equal, eq integer-equal (values), ** all items; no prefix: regex.
func (t *Table) Count(expr string, byName bool) (int64, error) {
	op, arg := "~~", expr
	for _, p := range []string{"~~", "~%", "%~", "==", "eq", "**"} {
		if strings.HasPrefix(expr, p) {
			op, arg = p, expr[len(p):]
			break
		}
	}
	var re *regexp.Regexp
	if op == "~~" {
		var err error
		if re, err = cfg.CompileERE(arg, true); err != nil {
			return 0, err
		}
	}
	var n int64
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, it := range s.items {
			if op == "**" {
				n++
				continue
			}
			var subject string
			if byName {
				subject = k
			} else {
				if !it.v.IsStr() && op != "eq" {
					continue
				}
				subject = it.v.AsString()
			}
			switch op {
			case "~~":
				if re.MatchString(subject) {
					n++
				}
			case "~%":
				if strings.HasSuffix(subject, arg) {
					n++
				}
			case "%~":
				if strings.HasPrefix(subject, arg) {
					n++
				}
			case "==":
				if subject == arg {
					n++
				}
			case "eq":
				if !byName && it.v.IsInt() && strconv.FormatInt(it.v.AsInt(), 10) == arg {
					n++
				}
			}
		}
		s.mu.Unlock()
	}
	return n, nil
}

func (e *Env) registerHTable() {
	r := e.Reg
	// split "table=>key": the table name is constant, the key a format
	parse := func(pc *script.PVFixupCtx) (string, *script.Format, error) {
		name, key, ok := strings.Cut(pc.Inner, "=>")
		if !ok || strings.TrimSpace(name) == "" {
			return "", nil, pc.Errorf("expected table=>key")
		}
		f, err := pc.ParseFormat(key)
		if err != nil {
			return "", nil, err
		}
		return strings.TrimSpace(name), f, nil
	}
	// tableOf resolves the table once at compile time when it is already
	// defined (as the htable module does), else per access.
	tableOf := func(name string) func(c *script.Ctx) *Table {
		if t := e.Tables.Table(name); t != nil {
			return func(*script.Ctx) *Table { return t }
		}
		return func(c *script.Ctx) *Table {
			t := e.Tables.Table(name)
			if t == nil {
				c.Log.Error("htable not found", "table", name)
			}
			return t
		}
	}
	// key prints the key into a scratch buffer; give it back with c.PutBuf
	key := func(c *script.Ctx, f *script.Format) []byte {
		return f.Append(c, c.GetBuf())
	}
	// item registers $cls(table=>key): get reads the item, set (none when
	// nil) writes it; the key is printed into a scratch buffer.
	item := func(cls string, get func(t *Table, k []byte) script.Value, set func(t *Table, k []byte, v script.Value) error) {
		must(r.AddPV(script.PVClass{Name: cls, Inner: script.InnerRequired, Module: "htable (test double)",
			Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
				name, f, err := parse(pc)
				if err != nil {
					return nil, err
				}
				table := tableOf(name)
				pv := &script.PV{Get: func(c *script.Ctx) script.Value {
					t := table(c)
					if t == nil {
						return script.Null
					}
					k := key(c, f)
					v := get(t, k)
					c.PutBuf(k)
					return v
				}}
				if set != nil {
					pv.Set = func(c *script.Ctx, v script.Value) error {
						t := table(c)
						if t == nil {
							return fmt.Errorf("htable %s not found", name)
						}
						k := key(c, f)
						err := set(t, k, v)
						c.PutBuf(k)
						return err
					}
				}
				return pv, nil
			}}))
	}
	item("sht", (*Table).Get, func(t *Table, k []byte, v script.Value) error {
		t.Set(k, v)
		return nil
	})
	item("shtinc", func(t *Table, k []byte) script.Value { return t.Add(k, 1) }, nil)
	item("shtdec", func(t *Table, k []byte) script.Value { return t.Add(k, -1) }, nil)
	item("shtex", func(t *Table, k []byte) script.Value { return script.Int(t.Expire(k)) }, func(t *Table, k []byte, v script.Value) error {
		if !v.IsInt() {
			return fmt.Errorf("$shtex needs an integer")
		}
		t.SetExpire(k, v.AsInt())
		return nil
	})
	count := func(cls string, byName bool) {
		must(r.AddPV(script.PVClass{Name: cls, Inner: script.InnerRequired, Module: "htable (test double)",
			Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
				name, f, err := parse(pc)
				if err != nil {
					return nil, err
				}
				table := tableOf(name)
				return &script.PV{Get: func(c *script.Ctx) script.Value {
					t := table(c)
					if t == nil {
						return script.Null
					}
					n, err := t.Count(f.String(c), byName)
					if err != nil {
						c.Log.Error("bad $"+cls+" expression", "err", err)
						return script.Null
					}
					return script.Int(n)
				}}, nil
			}}))
	}
	count("shtcn", true)
	count("shtcv", false)
}
