package htable

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeClock is an injectable Clock.
type fakeClock struct{ t atomic.Int64 }

func newFakeClock(t int64) *fakeClock { c := &fakeClock{}; c.t.Store(t); return c }
func (c *fakeClock) Now() int64       { return c.t.Load() }
func (c *fakeClock) Set(t int64)      { c.t.Store(t) }
func (c *fakeClock) Add(d int64)      { c.t.Add(d) }

const t0 = 1_700_000_000

// The expiry matrix: every operation x autoexpire off/on x updateexpire
// 0/1 x item missing/live/expired.
//
// Setup: the table has autoexpire=10 (when on); item "k" = 5 is set at t0
// (unless missing); the operation runs at t0+4 ("live": 6 s left) or
// t0+11 ("expired": the item expired at t0+10 but the sweeper has not run).
// Without autoexpire nothing expires, so "expired" is just an older item.
//
// Each cell is "<op result> | <Get k> <TTL k>" seen right after the op.
func TestExpiryMatrix(t *testing.T) {
	type op struct {
		name string
		init bool // table has initval=100
		run  func(tb *Table) string
		// want: [autoexpire off: ue0 missing, live, expired, ue1 missing,
		// live, expired], [autoexpire on: same order]
		want [12]string
	}
	ops := []op{
		{name: "Get", run: func(tb *Table) string { v, ok := tb.Get("k"); return fmt.Sprint(v, ok) },
			want: [12]string{
				"<null> false | <null> 0", "5 true | 5 0", "5 true | 5 0", "<null> false | <null> 0", "5 true | 5 0", "5 true | 5 0",
				"<null> false | <null> 0", "5 true | 5 6", "<null> false | <null> 0", "<null> false | <null> 0", "5 true | 5 6", "<null> false | <null> 0"}},
		{name: "GetInit", init: true, run: func(tb *Table) string { return tb.GetInit("k").String() },
			want: [12]string{
				"100 | <null> 0", "5 | 5 0", "5 | 5 0", "100 | <null> 0", "5 | 5 0", "5 | 5 0",
				"100 | <null> 0", "5 | 5 6", "100 | <null> 0", "100 | <null> 0", "5 | 5 6", "100 | <null> 0"}},
		{name: "Lookup", run: func(tb *Table) string {
			it, ok := tb.Lookup("k")
			return fmt.Sprint(it.Value, it.Expire-t0*b2i(it.Expire > 0), ok)
		},
			want: [12]string{
				"<null> 0 false | <null> 0", "5 0 true | 5 0", "5 0 true | 5 0", "<null> 0 false | <null> 0", "5 0 true | 5 0", "5 0 true | 5 0",
				"<null> 0 false | <null> 0", "5 10 true | 5 6", "<null> 0 false | <null> 0", "<null> 0 false | <null> 0", "5 10 true | 5 6", "<null> 0 false | <null> 0"}},
		{name: "SetInt", run: func(tb *Table) string { return errStr(tb.SetInt("k", 7)) },
			want: [12]string{
				"ok | 7 0", "ok | 7 0", "ok | 7 0", "ok | 7 0", "ok | 7 0", "ok | 7 0",
				// updateexpire=0 keeps the lifetime of a live item; an expired
				// item restarts (Kamailio leaves it expired: PR #4079).
				"ok | 7 10", "ok | 7 6", "ok | 7 10", "ok | 7 10", "ok | 7 10", "ok | 7 10"}},
		{name: "SetStr", run: func(tb *Table) string { return errStr(tb.SetStr("k", "seven")) },
			want: [12]string{
				"ok | seven 0", "ok | seven 0", "ok | seven 0", "ok | seven 0", "ok | seven 0", "ok | seven 0",
				"ok | seven 10", "ok | seven 6", "ok | seven 10", "ok | seven 10", "ok | seven 10", "ok | seven 10"}},
		{name: "SetWithExpire", run: func(tb *Table) string { return errStr(tb.SetWithExpire("k", Int(7), 30)) },
			want: [12]string{
				"ok | 7 0", "ok | 7 0", "ok | 7 0", "ok | 7 0", "ok | 7 0", "ok | 7 0",
				"ok | 7 30", "ok | 7 30", "ok | 7 30", "ok | 7 30", "ok | 7 30", "ok | 7 30"}},
		{name: "SetNull", run: func(tb *Table) string { return errStr(tb.Set("k", Value{})) },
			want: [12]string{
				"ok | <null> 0", "ok | <null> 0", "ok | <null> 0", "ok | <null> 0", "ok | <null> 0", "ok | <null> 0",
				"ok | <null> 0", "ok | <null> 0", "ok | <null> 0", "ok | <null> 0", "ok | <null> 0", "ok | <null> 0"}},
		{name: "Delete", run: func(tb *Table) string { return fmt.Sprint(tb.Delete("k")) },
			want: [12]string{
				"false | <null> 0", "true | <null> 0", "true | <null> 0", "false | <null> 0", "true | <null> 0", "true | <null> 0",
				"false | <null> 0", "true | <null> 0", "false | <null> 0", "false | <null> 0", "true | <null> 0", "false | <null> 0"}},
		{name: "Inc/initval", init: true, run: func(tb *Table) string { n, ok := tb.Inc("k"); return fmt.Sprint(n, ok) },
			want: [12]string{
				"101 true | 101 0", "6 true | 6 0", "6 true | 6 0", "101 true | 101 0", "6 true | 6 0", "6 true | 6 0",
				// An expired counter restarts from initval with a fresh
				// lifetime, also with updateexpire=0 (Kamailio PR #4103).
				"101 true | 101 10", "6 true | 6 6", "101 true | 101 10", "101 true | 101 10", "6 true | 6 10", "101 true | 101 10"}},
		{name: "Dec/noinit", run: func(tb *Table) string { n, ok := tb.Dec("k"); return fmt.Sprint(n, ok) },
			want: [12]string{
				"0 false | <null> 0", "4 true | 4 0", "4 true | 4 0", "0 false | <null> 0", "4 true | 4 0", "4 true | 4 0",
				"0 false | <null> 0", "4 true | 4 6", "0 false | <null> 0", "0 false | <null> 0", "4 true | 4 10", "0 false | <null> 0"}},
		{name: "TTL", run: func(tb *Table) string { return fmt.Sprint(tb.TTL("k")) },
			want: [12]string{
				"0 | <null> 0", "0 | 5 0", "0 | 5 0", "0 | <null> 0", "0 | 5 0", "0 | 5 0",
				"0 | <null> 0", "6 | 5 6", "0 | <null> 0", "0 | <null> 0", "6 | 5 6", "0 | <null> 0"}},
		{name: "SetExpire20", run: func(tb *Table) string { return fmt.Sprint(tb.SetExpire("k", 20)) },
			want: [12]string{
				"false | <null> 0", "false | 5 0", "false | 5 0", "false | <null> 0", "false | 5 0", "false | 5 0",
				"false | <null> 0", "true | 5 20", "false | <null> 0", "false | <null> 0", "true | 5 20", "false | <null> 0"}},
		{name: "SetExpire0", run: func(tb *Table) string { return fmt.Sprint(tb.SetExpire("k", 0)) },
			want: [12]string{
				"false | <null> 0", "false | 5 0", "false | 5 0", "false | <null> 0", "false | 5 0", "false | 5 0",
				"false | <null> 0", "true | 5 0", "false | <null> 0", "false | <null> 0", "true | 5 0", "false | <null> 0"}},
		{name: "CountNames**", run: func(tb *Table) string { n, _ := tb.CountNames("**"); return fmt.Sprint(n) },
			want: rows3("0", "1", "1", "0", "1", "0")},
		{name: "CountNames~~", run: func(tb *Table) string { n, _ := tb.CountNames("~~^K$"); return fmt.Sprint(n) },
			want: rows3("0", "1", "1", "0", "1", "0")},
		{name: "CountValues eq", run: func(tb *Table) string { n, _ := tb.CountValues("eq5"); return fmt.Sprint(n) },
			want: rows3("0", "1", "1", "0", "1", "0")},
		{name: "HasName", run: func(tb *Table) string { ok, _ := tb.HasName(MatchEqual, "k"); return fmt.Sprint(ok) },
			want: rows3("false", "true", "true", "false", "true", "false")},
		{name: "Len", run: func(tb *Table) string { return fmt.Sprint(tb.Len()) },
			want: rows3("0", "1", "1", "0", "1", "0")},
		{name: "Stats", run: func(tb *Table) string { st := tb.Stats(); return fmt.Sprint(st.Items, st.MaxSlot) },
			want: rows3("0 0", "1 1", "1 1", "0 0", "1 1", "0 0")},
		{name: "Dump", run: func(tb *Table) string {
			n := 0
			tb.Dump(func(sv SlotView) error { n += len(sv.Items); return nil })
			return fmt.Sprint(n)
		}, want: rows3("0", "1", "1", "0", "1", "0")},
		{name: "Iter", run: func(tb *Table) string {
			n := 0
			for it := tb.Iter(); it.Next(); {
				n++
			}
			return fmt.Sprint(n)
		}, want: rows3("0", "1", "1", "0", "1", "0")},
		{name: "Export", run: func(tb *Table) string {
			n := 0
			tb.Export(func(Item) error { n++; return nil })
			return fmt.Sprint(n)
		}, want: rows3("0", "1", "1", "0", "1", "0")},
		{name: "List", run: func(tb *Table) string { items, _, _ := tb.List(Cursor{}, 10, ""); return fmt.Sprint(len(items)) },
			want: rows3("0", "1", "1", "0", "1", "0")},
		{name: "RemoveNames", run: func(tb *Table) string { n, _ := tb.RemoveNames(MatchPrefix, "k"); return fmt.Sprint(n) },
			want: [12]string{
				"0 | <null> 0", "1 | <null> 0", "1 | <null> 0", "0 | <null> 0", "1 | <null> 0", "1 | <null> 0",
				"0 | <null> 0", "1 | <null> 0", "0 | <null> 0", "0 | <null> 0", "1 | <null> 0", "0 | <null> 0"}},
		{name: "Sweep", run: func(tb *Table) string { return fmt.Sprint(tb.Sweep(), " ", physical(tb)) },
			want: [12]string{
				"0 0 | <null> 0", "0 1 | 5 0", "0 1 | 5 0", "0 0 | <null> 0", "0 1 | 5 0", "0 1 | 5 0",
				"0 0 | <null> 0", "0 1 | 5 6", "1 0 | <null> 0", "0 0 | <null> 0", "0 1 | 5 6", "1 0 | <null> 0"}},
	}
	states := []string{"missing", "live", "expired"}
	for _, o := range ops {
		for ae := 0; ae < 2; ae++ {
			for ue := 0; ue < 2; ue++ {
				for si, state := range states {
					name := fmt.Sprintf("%s/autoexpire=%d/updateexpire=%d/%s", o.name, ae*10, ue, state)
					t.Run(name, func(t *testing.T) {
						clk := newFakeClock(t0)
						d := NewDef("m")
						d.AutoExpire = uint32(ae * 10)
						d.UpdateExpire = uint32(ue)
						if o.init {
							d.HasInitVal, d.InitVal = true, 100
						}
						tb, err := New(d, WithClock(clk.Now))
						if err != nil {
							t.Fatal(err)
						}
						if state != "missing" {
							tb.SetInt("k", 5)
						}
						if state == "expired" {
							clk.Set(t0 + 11)
						} else {
							clk.Set(t0 + 4)
						}
						got := o.run(tb)
						want := o.want[ae*6+ue*3+si]
						if strings.Contains(want, " | ") {
							v, _ := tb.Get("k")
							got += " | " + v.String() + " " + fmt.Sprint(tb.TTL("k"))
						}
						if got != want {
							t.Errorf("got %q, want %q", got, want)
						}
					})
				}
			}
		}
	}
}

// rows3 builds a matrix row set for ops whose result does not depend on
// updateexpire: off(missing, live, expired), on(missing, live, expired).
func rows3(offM, offL, offE, onM, onL, onE string) [12]string {
	return [12]string{offM, offL, offE, offM, offL, offE, onM, onL, onE, onM, onL, onE}
}

// physical counts entries still stored (expired ones included).
func physical(tb *Table) int {
	n := 0
	for i := 0; i < tb.nslots; i++ {
		s := tb.slotIfAny(i)
		s.mu.Lock()
		n += int(s.d.n)
		s.mu.Unlock()
	}
	return n
}

func errStr(err error) string {
	if err != nil {
		return err.Error()
	}
	return "ok"
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
