// Package rpctest holds test support shared by the RPC packages: a fake
// "htable" RPC method set written on the rpc registry exactly as
// Kamailio's htable module writes its RPC commands (same scan formats,
// same reply shapes, same fault texts, same slot hashing and order), a
// generator method for large dumps, and a launcher for a real Kamailio 5.6
// with ctl and jsonrpcs on loopback, for side-by-side comparisons.
//
// It is imported by tests only.
package rpctest

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/rpc"
)

// TableDef defines a fake table.
type TableDef struct {
	Name       string
	Size       int // slots = 2^Size (default 4)
	AutoExpire int // seconds
}

type item struct {
	name   string
	hash   uint32
	isStr  bool
	s      string
	n      int32
	expire int64 // absolute unix time, or the raw value on non-autoexpire tables; 0 = never
}

type table struct {
	def   TableDef
	slots [][]*item
}

// FakeHTable is an in-memory stand-in for the htable module's RPC side.
type FakeHTable struct {
	mu     sync.Mutex
	tables []*table // definition order
	now    func() time.Time
}

// NewFakeHTable defines tables.
func NewFakeHTable(defs ...TableDef) *FakeHTable {
	f := &FakeHTable{now: time.Now}
	for _, d := range defs {
		if d.Size == 0 {
			d.Size = 4
		}
		n := 1 << d.Size
		if d.Size <= 1 {
			n = 8
		}
		f.tables = append(f.tables, &table{def: d, slots: make([][]*item, n)})
	}
	return f
}

func (f *FakeHTable) get(name string) *table {
	for _, t := range f.tables {
		if t.def.Name == name {
			return t
		}
	}
	return nil
}

func (t *table) find(key string) (slot, pos int) {
	h := htable.HashString(key)
	slot = int(h & uint32(len(t.slots)-1))
	for i, it := range t.slots[slot] {
		if it.name == key {
			return slot, i
		}
	}
	return slot, -1
}

func (t *table) set(key string, isStr bool, s string, n int32, now int64) {
	slot, pos := t.find(key)
	if pos >= 0 {
		it := t.slots[slot][pos]
		it.isStr, it.s, it.n = isStr, s, n
		if t.def.AutoExpire > 0 {
			it.expire = now + int64(t.def.AutoExpire)
		}
		return
	}
	it := &item{name: key, hash: htable.HashString(key), isStr: isStr, s: s, n: n}
	if t.def.AutoExpire > 0 {
		it.expire = now + int64(t.def.AutoExpire)
	}
	l := t.slots[slot]
	i := 0
	for i < len(l) && l[i].hash <= it.hash {
		i++
	}
	l = append(l, nil)
	copy(l[i+1:], l[i:])
	l[i] = it
	t.slots[slot] = l
}

// SetStr stores a string item.
func (f *FakeHTable) SetStr(tbl, key, val string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.get(tbl).set(key, true, val, 0, f.now().Unix())
}

// SetInt stores an integer item.
func (f *FakeHTable) SetInt(tbl, key string, val int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.get(tbl).set(key, false, "", val, f.now().Unix())
}

// Fill stores n string items "key<i>" = "value<i>".
func (f *FakeHTable) Fill(tbl string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.get(tbl)
	now := f.now().Unix()
	for i := 0; i < n; i++ {
		k := "key" + strconv.Itoa(i)
		t.set(k, true, "value"+strconv.Itoa(i), 0, now)
	}
}

// Methods returns the htable.* methods with Kamailio 5.6's scan formats,
// flags and fault texts.
func (f *FakeHTable) Methods() []rpc.Method {
	pf := func(msg string) *rpc.Fault { return &rpc.Fault{Code: 500, Message: msg} }
	setFault := pf("Not enough parameters (htable name, key name and value)")
	setxFault := pf("Not enough parameters (htable name, key name, value and expire)")
	nameFault := pf("No htable name given")
	const noTable, setxFailed = "No such htable", "Failed to set the item"
	return []rpc.Method{
		{Name: "htable.get", Params: "SS", ParamFault: pf("Not enough parameters (htable name and key name)"),
			Help: "Get one key from a hash table.", Handler: f.onTable(noTable, f.rpcGet)},
		{Name: "htable.delete", Params: "SS", ParamFault: pf("Not enough parameters (htable name & key name"),
			Help: "Delete one key from a hash table.", Handler: f.onTable(noTable, f.rpcDelete)},
		{Name: "htable.sets", Params: "SS.S", ParamFault: setFault,
			Help: "Set one key in a hash table to a string value.", Handler: f.onTable(noTable, f.rpcSet(true))},
		{Name: "htable.seti", Params: "SS.d", ParamFault: setFault,
			Help: "Set one key in a hash table to an integer value.", Handler: f.onTable(noTable, f.rpcSet(false))},
		{Name: "htable.setex", Params: "SS.d", ParamFault: pf("Not enough parameters (htable name, item name and expire)"),
			Help: "Set expire in a hash table.", Handler: f.onTable(noTable, f.rpcSetex)},
		{Name: "htable.setxs", Params: "SS.Sd", ParamFault: setxFault,
			Help: "Set one key in a hash table to a string value and its expire value.", Handler: f.onTable(setxFailed, f.rpcSetx(true))},
		{Name: "htable.setxi", Params: "SS.dd", ParamFault: setxFault,
			Help: "Set one key in a hash table to an integer value and its expire value.", Handler: f.onTable(setxFailed, f.rpcSetx(false))},
		{Name: "htable.dump", Params: "S", ParamFault: nameFault, Flags: rpc.RetArray,
			Help: "Dump the contents of hash table.", Handler: f.onTable(noTable, f.rpcDump)},
		{Name: "htable.listTables", Flags: rpc.RetArray,
			Help: "List all htables.", Handler: f.eachTable(f.rpcList)},
		{Name: "htable.stats", Flags: rpc.RetArray,
			Help: "Statistics about htables.", Handler: f.eachTable(f.rpcStats)},
		{Name: "htable.flush", Params: "S", ParamFault: nameFault,
			Help: "Flush hash table.", Handler: f.onTable(noTable, f.rpcFlush)},
		{Name: "htable.reload", Help: "Reload hash table.",
			Handler: func(c *rpc.Call) { c.Fault(500, "No htable db_url") }},
		{Name: "htable.store", Help: "Store hash table to database.",
			Handler: func(c *rpc.Call) { c.Fault(500, "No htable db_url") }},
	}
}

// Register adds the methods to r.
func (f *FakeHTable) Register(r *rpc.Registry) error { return r.Register(f.Methods()...) }

// onTable returns a handler that runs h, under the lock, on the table the
// first argument names, or answers fault 500 msg when there is none.
func (f *FakeHTable) onTable(msg string, h func(*rpc.Call, *table)) rpc.Handler {
	return func(c *rpc.Call) {
		f.mu.Lock()
		defer f.mu.Unlock()
		t := f.get(c.ArgStr(0))
		if t == nil {
			c.Fault(500, "%s", msg)
			return
		}
		h(c, t)
	}
}

// eachTable returns a handler that runs h, under the lock, on every table
// from the last defined to the first (Kamailio's order), or answers fault
// 500 "No htables" when there is none.
func (f *FakeHTable) eachTable(h func(*rpc.Call, *table)) rpc.Handler {
	return func(c *rpc.Call) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if len(f.tables) == 0 {
			c.Fault(500, "No htables")
			return
		}
		for i := len(f.tables) - 1; i >= 0; i-- {
			h(c, f.tables[i])
		}
	}
}

func (f *FakeHTable) rpcGet(c *rpc.Call, t *table) {
	slot, pos := t.find(c.ArgStr(1))
	now := f.now().Unix()
	if pos < 0 || (t.def.AutoExpire > 0 && t.slots[slot][pos].expire != 0 && t.slots[slot][pos].expire < now) {
		c.Fault(500, "Key name doesn't exist in htable.")
		return
	}
	it := t.slots[slot][pos]
	expire := "NEVER"
	if it.expire != 0 {
		expire = time.Unix(it.expire, 0).Format("2006-01-02 15:04:05")
	}
	v := c.AddStruct().Struct("item").Str("name", it.name)
	if it.isStr {
		v.Str("value", it.s).Int("flags", 2)
	} else {
		v.Int("value", int(it.n)).Int("flags", 0)
	}
	v.Str("expire", expire)
}

func (f *FakeHTable) rpcDelete(c *rpc.Call, t *table) {
	slot, pos := t.find(c.ArgStr(1))
	if pos < 0 {
		c.Fault(404, "Key not found in htable.")
		return
	}
	t.slots[slot] = append(t.slots[slot][:pos], t.slots[slot][pos+1:]...)
	c.Printf("Ok. Key deleted.")
}

func (f *FakeHTable) rpcSet(isStr bool) func(*rpc.Call, *table) {
	return func(c *rpc.Call, t *table) {
		t.set(c.ArgStr(1), isStr, c.ArgStr(2), int32(c.ArgInt(2)), f.now().Unix())
		c.Printf("Ok. Key set to new value.")
	}
}

func (f *FakeHTable) rpcSetex(c *rpc.Call, t *table) {
	if t.def.AutoExpire > 0 {
		if slot, pos := t.find(c.ArgStr(1)); pos >= 0 {
			it := t.slots[slot][pos]
			if n := c.ArgInt(2); n > 0 {
				it.expire = f.now().Unix() + n
			} else {
				it.expire = 0
			}
		}
	}
	c.Printf("Ok")
}

func (f *FakeHTable) rpcSetx(isStr bool) func(*rpc.Call, *table) {
	return func(c *rpc.Call, t *table) {
		now := f.now().Unix()
		t.set(c.ArgStr(1), isStr, c.ArgStr(2), int32(c.ArgInt(2)), now)
		_, pos := t.find(c.ArgStr(1))
		slot, _ := t.find(c.ArgStr(1))
		exp := c.ArgInt(3)
		if t.def.AutoExpire > 0 && exp > 0 {
			exp += now
		}
		t.slots[slot][pos].expire = exp
		c.Printf("Ok. Key set to new value.")
	}
}

func (f *FakeHTable) rpcDump(c *rpc.Call, t *table) {
	for i, l := range t.slots {
		if len(l) == 0 {
			continue
		}
		s := c.AddStruct().Int("entry", i).Int("size", len(l)).Array("slot")
		for _, it := range l {
			v := s.Struct().Str("name", it.name)
			if it.isStr {
				v.Str("value", it.s).Str("type", "str")
			} else {
				v.Int("value", int(it.n)).Str("type", "int")
			}
		}
		if c.Err() != nil {
			return
		}
	}
}

func (f *FakeHTable) rpcList(c *rpc.Call, t *table) {
	c.AddStruct().Str("name", t.def.Name).Str("dbtable", "").Int("dbmode", 0).
		Int("expire", t.def.AutoExpire).Int("updateexpire", 1).Int("size", len(t.slots)).Int("dmqreplicate", 0)
}

func (f *FakeHTable) rpcStats(c *rpc.Call, t *table) {
	all, mn, mx := 0, -1, 0
	for _, l := range t.slots {
		all += len(l)
		if mn < 0 || len(l) < mn {
			mn = len(l)
		}
		mx = max(mx, len(l))
	}
	c.AddStruct().Str("name", t.def.Name).Int("slots", len(t.slots)).Int("all", all).Int("min", mn).Int("max", mx)
}

func (f *FakeHTable) rpcFlush(c *rpc.Call, t *table) {
	for i := range t.slots {
		t.slots[i] = nil
	}
	c.Printf("Ok. Htable flushed.")
}

// DumpGenerator returns a method "bench.dump" that emits a reply shaped
// exactly like htable.dump for a virtual table of n string items spread
// over 2^sizeBits slots, generated on the fly (no table in memory), to
// measure the RPC path alone.
func DumpGenerator(n, sizeBits int) rpc.Method {
	return rpc.Method{
		Name: "bench.dump", Flags: rpc.RetArray, Help: "Dump a generated table (benchmarks).",
		Handler: func(c *rpc.Call) {
			slots := 1 << sizeBits
			per := n / slots
			extra := n % slots
			k := 0
			var key, val []byte
			for i := 0; i < slots; i++ {
				cnt := per
				if i < extra {
					cnt++
				}
				if cnt == 0 {
					continue
				}
				s := c.AddStruct().Int("entry", i).Int("size", cnt).Array("slot")
				for j := 0; j < cnt; j++ {
					key = strconv.AppendInt(append(key[:0], "key"...), int64(k), 10)
					val = strconv.AppendInt(append(val[:0], "value"...), int64(k), 10)
					s.Struct().Str("name", string(key)).Str("value", string(val)).Str("type", "str")
					k++
				}
				if c.Err() != nil {
					return
				}
			}
		},
	}
}

// String renders a table for debugging.
func (f *FakeHTable) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := ""
	for _, t := range f.tables {
		s += fmt.Sprintf("%s:", t.def.Name)
		for i, l := range t.slots {
			for _, it := range l {
				s += fmt.Sprintf(" [%d]%s", i, it.name)
			}
		}
		s += "\n"
	}
	return s
}
