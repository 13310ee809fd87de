package webui

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/rpc"
)

// engineMethods serves htable.list and htable.dump from a real engine
// table with the htable module's reply shapes (the module itself is not
// on main yet), for the benchmarks: htable.list is cut by the engine's
// Table.List, htable.dump streams Table.Dump.
func engineMethods(t *ht.Table, withList bool) []rpc.Method {
	ms := []rpc.Method{
		{Name: "htable.dump", Params: "S", Flags: rpc.RetArray, Handler: func(c *rpc.Call) {
			t.Dump(func(sv ht.SlotView) error {
				s := c.AddStruct().Int("entry", sv.Index).Int("size", len(sv.Items)).Array("slot")
				for i := range sv.Items {
					v := &sv.Items[i]
					e := s.Struct().Str("name", string(v.Key))
					if v.Kind == ht.KindStr {
						e.Str("value", string(v.Str)).Str("type", "str")
					} else {
						e.Int("value", int(v.Int)).Str("type", "int")
					}
				}
				return c.Err()
			})
		}},
		{Name: "htable.listTables", Flags: rpc.RetArray, Handler: func(c *rpc.Call) {
			c.AddStruct().Str("name", t.Name()).Str("dbtable", "").Int("dbmode", 0).Int("expire", 0).
				Int("updateexpire", 1).Int("size", t.Slots()).Int("dmqreplicate", 0)
		}},
		{Name: "htable.stats", Flags: rpc.RetArray, Handler: func(c *rpc.Call) {
			st := t.Stats()
			c.AddStruct().Str("name", t.Name()).Int("slots", st.Slots).Int("all", st.Items).Int("min", st.MinSlot).Int("max", st.MaxSlot)
		}},
	}
	if withList {
		ms = append(ms, rpc.Method{Name: "htable.list", Params: "S*.S.d.S", Handler: func(c *rpc.Call) {
			var cur ht.Cursor
			if s := c.ArgStr(1); s != "" && s != "0" {
				a, b, _ := strings.Cut(s, ":")
				cur.Slot, _ = strconv.Atoi(a)
				cur.Pos, _ = strconv.Atoi(b)
			}
			items, next, more := t.List(cur, int(c.ArgInt(2)), c.ArgStr(3))
			nt := ""
			if more {
				nt = strconv.Itoa(next.Slot) + ":" + strconv.Itoa(next.Pos)
			}
			a := c.AddStruct().Str("table", t.Name()).Int("count", len(items)).Str("next", nt).Array("items")
			for _, it := range items {
				e := a.Struct().Str("name", it.Key)
				if it.Value.IsStr() {
					e.Str("value", it.Value.Str()).Str("type", "str")
				} else {
					e.Long("value", it.Value.Int()).Str("type", "int")
				}
				e.Long("expire", it.Expire).Long("ttl", 0)
			}
		}})
	}
	return ms
}

var (
	bigOnce  sync.Once
	bigTable *ht.Table
)

// big is a 1,000,000-item table like the seed's counters: keys
// "10.a.b.c", integer values, 2^16 slots.
func big(b *testing.B) *ht.Table {
	bigOnce.Do(func() {
		t, err := ht.New(ht.Def{Name: "Big", Size: 16})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < 1_000_000; i++ {
			k := "10." + strconv.Itoa(i>>16) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
			t.SetInt(k, int64(i%7))
		}
		bigTable = t
	})
	return bigTable
}

// BenchmarkTablePage renders one 50-item page of a 1M-item table, from
// the request to the last byte of HTML: with htable.list (what the page
// uses) and with the htable.dump fallback, first page, a deep page and a
// search for a name that matches nothing (a full scan either way).
func BenchmarkTablePage(b *testing.B) {
	t := big(b)
	for _, bc := range []struct {
		name   string
		list   bool
		target string
	}{
		{"list/first", true, "/ui/table?t=Big"},
		{"list/deep", true, "/ui/table?t=Big&c=40000:0&p=0&pg=2"},
		{"list/search-hit", true, "/ui/table?t=Big&q=10.3.7."},
		{"list/search-miss", true, "/ui/table?t=Big&q=nomatch"},
		{"dump/first", false, "/ui/table?t=Big"},
		{"dump/deep", false, "/ui/table?t=Big&c=600000&p=0&pg=2"},
		{"dump/search-miss", false, "/ui/table?t=Big&q=nomatch"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			reg := rpc.NewRegistry()
			reg.MustRegister(engineMethods(t, bc.list)...)
			h, err := NewHandler(reg, nil, Config{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, bc.target, nil)
			req.RemoteAddr = "127.0.0.1:1"
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != 200 || (bc.target != "/ui/table?t=Big&q=nomatch" && strings.Count(w.Body.String(), "<tr data-key=") == 0) {
				b.Fatalf("%d\n%.2000s", w.Code, w.Body.String())
			}
			b.ResetTimer()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
			}
		})
	}
}
