package htable

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/rpc"
)

// rpcMethods are Kamailio 5.6's htable.* commands (same scan formats,
// flags, reply shapes and fault texts), 5.8's htable.dmqsync and
// htable.dmqresync, and sipht's htable.list.
func (m *Module) rpcMethods() []rpc.Method {
	pf := func(msg string) *rpc.Fault { return &rpc.Fault{Code: 500, Message: msg} }
	setFault := pf("Not enough parameters (htable name, key name and value)")
	setxFault := pf("Not enough parameters (htable name, key name, value and expire)")
	nameFault := pf("No htable name given")
	return []rpc.Method{
		{Name: "htable.dump", Params: "S", ParamFault: nameFault, Flags: rpc.RetArray,
			Help: "Dump the contents of hash table.", Handler: m.rpcDump},
		{Name: "htable.delete", Params: "SS", ParamFault: pf("Not enough parameters (htable name & key name"),
			Help: "Delete one key from a hash table.", Handler: m.rpcDelete},
		{Name: "htable.get", Params: "SS", ParamFault: pf("Not enough parameters (htable name and key name)"),
			Help: "Get one key from a hash table.", Handler: m.rpcGet},
		{Name: "htable.sets", Params: "SS.S", ParamFault: setFault,
			Help: "Set one key in a hash table to a string value.", Handler: m.rpcSet(true)},
		{Name: "htable.seti", Params: "SS.d", ParamFault: setFault,
			Help: "Set one key in a hash table to an integer value.", Handler: m.rpcSet(false)},
		{Name: "htable.setex", Params: "SS.d", ParamFault: pf("Not enough parameters (htable name, item name and expire)"),
			Help: "Set expire in a hash table for the item referenced by key.", Handler: m.rpcSetex},
		{Name: "htable.setxs", Params: "SS.Sd", ParamFault: setxFault,
			Help: "Set one key in a hash table to a string value and its expire value.", Handler: m.rpcSetx(true)},
		{Name: "htable.setxi", Params: "SS.dd", ParamFault: setxFault,
			Help: "Set one key in a hash table to an integer value and its expire value.", Handler: m.rpcSetx(false)},
		{Name: "htable.listTables", Flags: rpc.RetArray, Help: "List all htables.", Handler: m.rpcListTables},
		{Name: "htable.reload", Help: "Reload hash table from database.", Handler: m.rpcReload},
		{Name: "htable.store", Help: "Store hash table to database.", Handler: m.rpcStore},
		{Name: "htable.stats", Flags: rpc.RetArray, Help: "Statistics about htables.", Handler: m.rpcStats},
		{Name: "htable.flush", Params: "S", ParamFault: nameFault, Help: "Flush hash table.", Handler: m.rpcFlush},
		{Name: "htable.dmqsync", Params: "*S", Help: "Perform DMQ sync action.", Handler: m.rpcDMQSync},
		{Name: "htable.dmqresync", Params: "S", ParamFault: nameFault,
			Help: "Perform DMQ re-sync action.", Handler: m.rpcDMQResync},
		{Name: "htable.list", Params: "S*.S.d.S", ParamFault: nameFault,
			Help:    "List items of a hash table page by page: htable.list <table> [cursor] [limit] [name filter] (sipht).",
			Handler: m.rpcList},
	}
}

// rpcTable returns the table named by argument 0, or faults.
func (m *Module) rpcTable(c *rpc.Call, fault string) *ht.Table {
	t := m.table(c.ArgStr(0))
	if t == nil {
		c.Fault(500, "%s", fault)
	}
	return t
}

func (m *Module) rpcGet(c *rpc.Call) {
	t := m.rpcTable(c, "No such htable")
	if t == nil {
		return
	}
	it, ok := t.Lookup(c.ArgStr(1))
	if !ok {
		c.Fault(500, "Key name doesn't exist in htable.")
		return
	}
	expire := "NEVER"
	if it.Expire != 0 {
		expire = time.Unix(it.Expire, 0).Format("2006-01-02 15:04:05")
	}
	s := c.AddStruct().Struct("item").Str("name", it.Key)
	if it.Value.IsStr() {
		s.Str("value", it.Value.Str()).Int("flags", 2)
	} else {
		s.Int("value", int(it.Value.Int32())).Int("flags", 0)
	}
	s.Str("expire", expire)
}

func (m *Module) rpcDelete(c *rpc.Call) {
	t := m.rpcTable(c, "No such htable")
	if t == nil {
		return
	}
	if !t.Delete(c.ArgStr(1)) {
		c.Fault(404, "Key not found in htable.")
		return
	}
	c.Printf("Ok. Key deleted.")
}

func (m *Module) rpcSet(str bool) rpc.Handler {
	return func(c *rpc.Call) {
		t := m.rpcTable(c, "No such htable")
		if t == nil {
			return
		}
		var err error
		if str {
			err = t.SetStr(c.ArgStr(1), c.ArgStr(2))
		} else {
			err = t.SetInt(c.ArgStr(1), c.ArgInt(2))
		}
		if err != nil {
			m.log.Error("cannot set item", "table", t.Name(), "key", c.ArgStr(1), "err", err)
			c.Fault(500, "Failed to set the item")
			return
		}
		c.Printf("Ok. Key set to new value.")
	}
}

func (m *Module) rpcSetex(c *rpc.Call) {
	t := m.rpcTable(c, "No such htable")
	if t == nil {
		return
	}
	t.SetExpire(c.ArgStr(1), c.ArgInt(2))
	c.Printf("Ok")
}

func (m *Module) rpcSetx(str bool) rpc.Handler {
	return func(c *rpc.Call) {
		t := m.rpcTable(c, "Failed to set the item")
		if t == nil {
			return
		}
		v := ht.Int(c.ArgInt(2))
		if str {
			v = ht.Str(c.ArgStr(2))
		}
		if err := t.SetWithExpire(c.ArgStr(1), v, c.ArgInt(3)); err != nil {
			m.log.Error("cannot set item", "table", t.Name(), "key", c.ArgStr(1), "err", err)
			c.Fault(500, "Failed to set the item")
			return
		}
		c.Printf("Ok. Key set to new value.")
	}
}

// rpcDump streams the table slot by slot: each slot is copied under its
// lock and written while no lock is held, so memory stays bounded by one
// slot whatever the table's size.
func (m *Module) rpcDump(c *rpc.Call) {
	t := m.rpcTable(c, "No such htable")
	if t == nil {
		return
	}
	t.Dump(func(sv ht.SlotView) error {
		a := c.AddStruct().Int("entry", sv.Index).Int("size", len(sv.Items)).Array("slot")
		for i := range sv.Items {
			it := &sv.Items[i]
			s := a.Struct().Str("name", string(it.Key))
			if it.Kind == ht.KindStr {
				s.Str("value", string(it.Str)).Str("type", "str")
			} else {
				s.Int("value", int(int32(it.Int))).Str("type", "int")
			}
		}
		return c.Err()
	})
}

func (m *Module) rpcListTables(c *rpc.Call) {
	if m.reg == nil || m.reg.Len() == 0 {
		c.Fault(500, "No htables")
		return
	}
	for _, t := range m.reg.Tables() {
		d := t.Def()
		dbt := d.DBTable
		if len(dbt) > 127 {
			dbt = dbt[:127]
		}
		c.AddStruct().Str("name", d.Name).Str("dbtable", dbt).Int("dbmode", int(int32(d.DBMode))).
			Int("expire", int(int32(d.AutoExpire))).Int("updateexpire", int(int32(d.UpdateExpire))).
			Int("size", t.Slots()).Int("dmqreplicate", int(int32(d.DMQReplicate)))
	}
}

func (m *Module) rpcStats(c *rpc.Call) {
	if m.reg == nil || m.reg.Len() == 0 {
		c.Fault(500, "No htables")
		return
	}
	for _, t := range m.reg.Tables() {
		st := t.Stats()
		c.AddStruct().Str("name", t.Name()).Int("slots", st.Slots).Int("all", st.Items).
			Int("min", st.MinSlot).Int("max", st.MaxSlot)
	}
}

func (m *Module) rpcFlush(c *rpc.Call) {
	t := m.rpcTable(c, "No such htable")
	if t == nil {
		return
	}
	t.Reset()
	c.Printf("Ok. Htable flushed.")
}

// rpcDB checks db_url and the connection, then reads the table name,
// in Kamailio's order (the database checks come before the parameters).
func (m *Module) rpcDB(c *rpc.Call) (*db.DB, *tableState) {
	if m.p.dbURL == "" {
		c.Fault(500, "No htable db_url")
		return nil, nil
	}
	d, err := m.openDB(c.Context())
	if err != nil {
		m.log.Error("cannot open the htable database", "err", err)
		c.Fault(500, "Failed to open htable db connection")
		return nil, nil
	}
	var name string
	if n, _ := c.Scan("S", &name); n < 1 {
		c.Fault(500, "No htable name given")
		return nil, nil
	}
	st := m.state(name)
	if st == nil {
		c.Fault(500, "No such htable")
		return nil, nil
	}
	if st.t.Def().DBTable == "" {
		c.Fault(500, "No database htable")
		return nil, nil
	}
	return d, st
}

func (m *Module) rpcReload(c *rpc.Call) {
	d, st := m.rpcDB(c)
	if st == nil {
		return
	}
	if err := m.reloadTable(c.Context(), d, st); err != nil {
		m.log.Error("htable reload failed", "table", st.t.Name(), "err", err)
		c.Fault(500, "Htable reload failed")
		return
	}
	c.Printf("Ok. Htable reloaded.")
}

func (m *Module) rpcStore(c *rpc.Call) {
	d, st := m.rpcDB(c)
	if st == nil {
		return
	}
	def := st.t.Def()
	if def.Cols != nil {
		m.log.Warn("htable with cols= is not stored", "table", def.Name)
		c.Printf("Ok. Htable successfully stored to DB.")
		return
	}
	var err error
	if wb := st.wb.Load(); wb != nil {
		start := time.Now()
		var s db.SaveStats
		s, err = wb.w.SaveAll(c.Context(), m.rows(st.t))
		st.dbm.save(s.Written, time.Since(start), err)
	} else {
		err = m.saveTable(c.Context(), d, st)
	}
	if err != nil {
		m.log.Error("htable store failed", "table", def.Name, "err", err)
		c.Fault(500, "Storing htable failed")
		return
	}
	c.Printf("Ok. Htable successfully stored to DB.")
}

// SetDMQSync installs the function behind htable.dmqsync and
// htable.dmqresync: it asks the DMQ peers for a full copy of table (all
// tables with dmqreplicate when table is ""). The DMQ replication code
// calls it once at start.
func (m *Module) SetDMQSync(fn func(ctx context.Context, table string) error) {
	m.syncMu.Lock()
	m.dmqSync = fn
	m.syncMu.Unlock()
}

func (m *Module) dmqSyncFn() func(ctx context.Context, table string) error {
	m.syncMu.RLock()
	defer m.syncMu.RUnlock()
	return m.dmqSync
}

func (m *Module) rpcDMQSync(c *rpc.Call) {
	fn := m.dmqSyncFn()
	if fn == nil {
		m.log.Error("htable.dmqsync: DMQ replication is not enabled (modparam enable_dmq)")
		c.Fault(500, "HTable DMQ Sync Failed")
		return
	}
	name := ""
	if c.NArgs() > 0 {
		name = c.ArgStr(0)
		if m.table(name) == nil {
			c.Fault(500, "No such htable")
			return
		}
	}
	if err := fn(c.Context(), name); err != nil {
		m.log.Error("htable.dmqsync failed", "table", name, "err", err)
		c.Fault(500, "HTable DMQ Sync Failed")
		return
	}
	c.Printf("Ok")
}

func (m *Module) rpcDMQResync(c *rpc.Call) {
	t := m.rpcTable(c, "No such htable")
	if t == nil {
		return
	}
	fn := m.dmqSyncFn()
	if fn == nil {
		m.log.Error("htable.dmqresync: DMQ replication is not enabled (modparam enable_dmq)")
		c.Fault(500, "HTable DMQ Sync Failed")
		return
	}
	t.Reset()
	if err := fn(c.Context(), t.Name()); err != nil {
		m.log.Error("htable.dmqresync failed", "table", t.Name(), "err", err)
		c.Fault(500, "HTable DMQ Sync Failed")
		return
	}
	c.Printf("Ok")
}

// List limits of htable.list.
const (
	listDefault = 100
	listMax     = 10000
)

// rpcList is sipht's htable.list <table> [cursor] [limit] [filter]: one
// page of items in dump order, names containing filter, and the cursor of
// the next page ("" at the end). The cursor is "slot:position".
func (m *Module) rpcList(c *rpc.Call) {
	t := m.rpcTable(c, "No such htable")
	if t == nil {
		return
	}
	var cur ht.Cursor
	if c.NArgs() > 1 && c.ArgStr(1) != "" && c.ArgStr(1) != "0" {
		var err error
		cur, err = parseCursor(c.ArgStr(1))
		if err != nil {
			c.Fault(400, "Bad cursor: %v", err)
			return
		}
	}
	limit := listDefault
	if c.NArgs() > 2 {
		limit = int(c.ArgInt(2))
		if limit <= 0 || limit > listMax {
			c.Fault(400, "Bad limit %d (1 to %d)", limit, listMax)
			return
		}
	}
	filter := ""
	if c.NArgs() > 3 {
		filter = c.ArgStr(3)
	}
	items, next, more := t.List(cur, limit, filter)
	now := t.Now()
	nextText := ""
	if more {
		nextText = strconv.Itoa(next.Slot) + ":" + strconv.Itoa(next.Pos)
	}
	s := c.AddStruct().Str("table", t.Name()).Int("count", len(items)).Str("next", nextText)
	a := s.Array("items")
	for _, it := range items {
		e := a.Struct().Str("name", it.Key)
		if it.Value.IsStr() {
			e.Str("value", it.Value.Str()).Str("type", "str")
		} else {
			e.Long("value", it.Value.Int()).Str("type", "int")
		}
		ttl := int64(0)
		if it.Expire != 0 {
			ttl = max(it.Expire-now, 0)
		}
		e.Long("expire", it.Expire).Long("ttl", ttl)
	}
}

func parseCursor(s string) (ht.Cursor, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return ht.Cursor{}, fmt.Errorf("%q is not slot:position", s)
	}
	slot, err1 := strconv.Atoi(a)
	pos, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || slot < 0 || pos < 0 {
		return ht.Cursor{}, fmt.Errorf("%q is not slot:position", s)
	}
	return ht.Cursor{Slot: slot, Pos: pos}, nil
}
