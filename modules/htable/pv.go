package htable

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/script"
)

// cellRef is a parsed "table=>key" as $sht and its relatives, sht_lock and
// sht_rm_*_re take it: the table name is literal text resolved once at
// compile time (as Kamailio does), the key a format printed per use.
type cellRef struct {
	name   string
	text   string // as written, for messages
	t      *ht.Table
	konst  []byte // the key when the format is constant
	f      *script.Format
	warned atomic.Bool
}

// parseCellRef splits "table=>key" the way Kamailio's pv_parse_ht_name
// does: blanks before the table name are skipped, the name ends at '=' or
// a blank, blanks may follow it, then "=>"; everything after "=>" is the
// key format, blanks included.
func parseCellRef(inner string) (name, key string, err error) {
	p := 0
	isBlank := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for p < len(inner) && isBlank(inner[p]) {
		p++
	}
	start := p
	for p < len(inner) && inner[p] != '=' && !isBlank(inner[p]) {
		p++
	}
	name = inner[start:p]
	for p < len(inner) && isBlank(inner[p]) {
		p++
	}
	if name == "" {
		return "", "", errors.New(`expected "table=>key": the table name is missing`)
	}
	if p+1 >= len(inner) || inner[p] != '=' || inner[p+1] != '>' {
		return "", "", fmt.Errorf(`expected "table=>key", got %q`, inner)
	}
	key = inner[p+2:]
	if key == "" {
		return "", "", fmt.Errorf(`expected "table=>key": the key after "=>" is empty in %q`, inner)
	}
	return name, key, nil
}

// newCellRef resolves the table of a "table=>key" reference. An unknown
// table is not a config error (Kamailio accepts it and reads $null); it is
// logged once here and once at the first use.
func (m *Module) newCellRef(text, inner string, parse func(string) (*script.Format, error)) (*cellRef, error) {
	name, key, err := parseCellRef(inner)
	if err != nil {
		return nil, err
	}
	f, err := parse(key)
	if err != nil {
		return nil, err
	}
	r := &cellRef{name: name, text: text, t: m.table(name), f: f}
	if f.IsConst() {
		r.konst = []byte(f.Const())
	}
	if r.t == nil {
		m.log.Warn("htable not defined: reads give $null, writes fail", "table", name, "ref", text, "tables", m.tableNames())
	}
	return r, nil
}

// key prints the key into a scratch buffer of c; give it back with
// c.PutBuf.
func (r *cellRef) key(c *script.Ctx) []byte {
	b := c.GetBuf()
	if r.konst != nil {
		return append(b, r.konst...)
	}
	return r.f.Append(c, b)
}

// missing logs the first use of an undefined table.
func (r *cellRef) missing(c *script.Ctx) {
	if r.warned.CompareAndSwap(false, true) {
		c.Log.Error("htable not found", "table", r.name, "ref", r.text)
	}
}

func errNoTable(name string) error { return fmt.Errorf("htable %q not found", name) }

// toScript converts an engine value to a script value.
func toScript(v ht.Value) script.Value {
	switch v.Kind() {
	case ht.KindInt:
		return script.Int(v.Int())
	case ht.KindStr:
		return script.Str(v.Str())
	}
	return script.Null
}

// sbytes views s as bytes without copying; the engine copies what it keeps.
func sbytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// registerPVs declares $sht, $shtex, $shtcn, $shtcv, $shtinc, $shtdec,
// $shtitkey, $shtitval and $shtrecord.
func (m *Module) registerPVs(r *script.Registry) error {
	cell := func(pc *script.PVFixupCtx) (*cellRef, error) {
		ref, err := m.newCellRef(pc.Spec.Text, pc.Inner, pc.ParseFormat)
		if err != nil {
			var positioned *cfg.Error
			var unknown *script.UnknownPVError
			if errors.As(err, &positioned) || errors.As(err, &unknown) {
				return nil, err // e.g. an unknown PV inside the key: keep its type for sipht -c
			}
			return nil, pc.Errorf("%v", err)
		}
		return ref, nil
	}
	add := func(name string, fix func(pc *script.PVFixupCtx) (*script.PV, error)) error {
		return r.AddPV(script.PVClass{Name: name, Inner: script.InnerRequired, Module: "htable", Fixup: fix})
	}
	errs := []error{
		add("sht", func(pc *script.PVFixupCtx) (*script.PV, error) {
			ref, err := cell(pc)
			if err != nil {
				return nil, err
			}
			return &script.PV{Get: ref.getValue, Set: ref.setValue}, nil
		}),
		add("shtex", func(pc *script.PVFixupCtx) (*script.PV, error) {
			ref, err := cell(pc)
			if err != nil {
				return nil, err
			}
			return &script.PV{Get: ref.getTTL, Set: ref.setTTL}, nil
		}),
		add("shtcn", func(pc *script.PVFixupCtx) (*script.PV, error) {
			ref, err := cell(pc)
			if err != nil {
				return nil, err
			}
			return &script.PV{Get: func(c *script.Ctx) script.Value { return ref.count(c, false) }}, nil
		}),
		add("shtcv", func(pc *script.PVFixupCtx) (*script.PV, error) {
			ref, err := cell(pc)
			if err != nil {
				return nil, err
			}
			return &script.PV{Get: func(c *script.Ctx) script.Value { return ref.count(c, true) }}, nil
		}),
		add("shtinc", func(pc *script.PVFixupCtx) (*script.PV, error) {
			ref, err := cell(pc)
			if err != nil {
				return nil, err
			}
			return &script.PV{Get: func(c *script.Ctx) script.Value { return ref.add(c, 1) }}, nil
		}),
		add("shtdec", func(pc *script.PVFixupCtx) (*script.PV, error) {
			ref, err := cell(pc)
			if err != nil {
				return nil, err
			}
			return &script.PV{Get: func(c *script.Ctx) script.Value { return ref.add(c, -1) }}, nil
		}),
		add("shtitkey", func(pc *script.PVFixupCtx) (*script.PV, error) {
			name := pc.Inner
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				if it := m.iterSlot.Get(c).current(name); it != nil {
					return script.Str(string(it.view().Key))
				}
				return script.Null
			}}, nil
		}),
		add("shtitval", func(pc *script.PVFixupCtx) (*script.PV, error) {
			name := pc.Inner
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				if it := m.iterSlot.Get(c).current(name); it != nil {
					return toScript(it.value())
				}
				return script.Null
			}}, nil
		}),
		add("shtrecord", func(pc *script.PVFixupCtx) (*script.PV, error) {
			var field int
			switch pc.Inner {
			case "key":
				field = 0
			case "value":
				field = 1
			default:
				return nil, pc.Errorf(`unknown field %q (want "key" or "value")`, pc.Inner)
			}
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				rec := m.recordSlot.Get(c)
				if rec.item == nil {
					return script.Null
				}
				if field == 0 {
					return script.Str(rec.item.Key)
				}
				return toScript(rec.item.Value)
			}}, nil
		}),
	}
	return errors.Join(errs...)
}

// getValue reads $sht(t=>k): the item, or the table's initval, or $null.
func (r *cellRef) getValue(c *script.Ctx) script.Value {
	t := r.t
	if t == nil {
		r.missing(c)
		return script.Null
	}
	k := r.key(c)
	v := t.GetInitBytes(k)
	c.PutBuf(k)
	return toScript(v)
}

// setValue writes $sht(t=>k): an integer value stores an integer item, any
// other value a string item, $null deletes the item.
func (r *cellRef) setValue(c *script.Ctx, v script.Value) error {
	t := r.t
	if t == nil {
		return errNoTable(r.name)
	}
	k := r.key(c)
	var err error
	switch v.Kind() {
	case script.KindNull:
		t.DeleteBytes(k)
	case script.KindInt:
		err = t.SetIntBytes(k, v.AsInt())
	default:
		err = t.SetStrBytes(k, sbytes(v.AsString()))
	}
	c.PutBuf(k)
	if err != nil {
		return fmt.Errorf("cannot set $sht(%s=>...): %w", r.name, err)
	}
	return nil
}

// getTTL reads $shtex(t=>k).
func (r *cellRef) getTTL(c *script.Ctx) script.Value {
	t := r.t
	if t == nil {
		r.missing(c)
		return script.Null
	}
	k := r.key(c)
	n := t.TTLBytes(k)
	c.PutBuf(k)
	return script.Int(n)
}

// setTTL writes $shtex(t=>k): an integer N > 0 expires the item N seconds
// from now, anything else makes it never expire (as Kamailio reads a
// non-integer as 0).
func (r *cellRef) setTTL(c *script.Ctx, v script.Value) error {
	t := r.t
	if t == nil {
		return errNoTable(r.name)
	}
	var n int64
	if v.IsInt() {
		n = v.AsInt()
	}
	k := r.key(c)
	t.SetExpireBytes(k, n)
	c.PutBuf(k)
	return nil
}

// count reads $shtcn / $shtcv.
func (r *cellRef) count(c *script.Ctx, values bool) script.Value {
	t := r.t
	if t == nil {
		r.missing(c)
		return script.Null
	}
	k := r.key(c)
	expr := string(k)
	c.PutBuf(k)
	var n int
	var err error
	if values {
		n, err = t.CountValues(expr)
	} else {
		n, err = t.CountNames(expr)
	}
	if err != nil {
		c.Log.Error("bad $shtcn/$shtcv expression", "ref", r.text, "err", err)
		return script.Int(0)
	}
	return script.Int(int64(n))
}

// add reads $shtinc / $shtdec.
func (r *cellRef) add(c *script.Ctx, delta int64) script.Value {
	t := r.t
	if t == nil {
		r.missing(c)
		return script.Null
	}
	k := r.key(c)
	n, ok := t.AddBytes(k, delta)
	c.PutBuf(k)
	if !ok {
		return script.Null
	}
	return script.Int(n)
}
