package htable

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// TestModel runs random operations against a table and a plain map and
// compares them, in tables small enough that slots get crowded (index
// building, tombstones, compaction, string growth/shrink).
func TestModel(t *testing.T) {
	for _, size := range []uint32{0, 2, 4} {
		for _, keySpace := range []int{5, 40, 400, 3000} {
			t.Run(fmt.Sprintf("size=%d/keys=%d", size, keySpace), func(t *testing.T) {
				runModel(t, size, keySpace, 20000, uint64(size)*1000+uint64(keySpace))
			})
		}
	}
}

func runModel(t *testing.T, size uint32, keySpace, steps int, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := NewDef("m")
	d.Size = size
	tb, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	model := map[string]Value{}
	key := func() string {
		// Kamailio-clustered keys: IPv4-like strings and case variants.
		n := rng.IntN(keySpace)
		k := fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
		switch {
		case n%7 == 0:
			k = strings.ToUpper("k" + k)
		case n%5 == 0:
			k = "user-" + k + "@a-long-domain.example.com" // stored in the arena
		}
		return k
	}
	for step := 0; step < steps; step++ {
		k := key()
		switch r := rng.IntN(100); {
		case r < 30:
			n := rng.Int64N(1000)
			if err := tb.SetInt(k, n); err != nil {
				t.Fatal(err)
			}
			model[k] = Int(n)
		case r < 50:
			s := strings.Repeat("v", rng.IntN(40))
			if err := tb.SetStr(k, s); err != nil {
				t.Fatal(err)
			}
			model[k] = Str(s)
		case r < 65:
			got := tb.Delete(k)
			_, want := model[k]
			if got != want {
				t.Fatalf("step %d Delete(%q) = %v, want %v", step, k, got, want)
			}
			delete(model, k)
		case r < 80:
			n, ok := tb.Add(k, 3)
			mv, exists := model[k]
			if !exists || mv.IsStr() {
				if ok {
					t.Fatalf("step %d Add(%q) ok on missing/string", step, k)
				}
			} else {
				if !ok || n != mv.Int()+3 {
					t.Fatalf("step %d Add(%q) = %d %v, want %d", step, k, n, ok, mv.Int()+3)
				}
				model[k] = Int(n)
			}
		case r < 81:
			prefix := fmt.Sprintf("10.%d", rng.IntN(3))
			n, err := tb.RemoveNames(MatchPrefix, prefix)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for mk := range model {
				if strings.HasPrefix(mk, prefix) {
					delete(model, mk)
					want++
				}
			}
			if n != want {
				t.Fatalf("RemoveNames(sw, %q) = %d, want %d", prefix, n, want)
			}
		default:
			v, ok := tb.Get(k)
			mv, exists := model[k]
			if ok != exists || !v.Equal(mv) {
				t.Fatalf("step %d Get(%q) = %v %v, want %v %v", step, k, v, ok, mv, exists)
			}
		}
	}
	// Full comparison, and dump order.
	if tb.Len() != len(model) {
		t.Fatalf("Len = %d, model %d", tb.Len(), len(model))
	}
	seen := 0
	lastSlot := -1
	err = tb.Dump(func(sv SlotView) error {
		if sv.Index <= lastSlot {
			t.Fatalf("slot %d after %d", sv.Index, lastSlot)
		}
		lastSlot = sv.Index
		for i, it := range sv.Items {
			k := string(it.Key)
			if int(Hash(it.Key)&uint32(tb.Slots()-1)) != sv.Index {
				t.Fatalf("key %q in slot %d", k, sv.Index)
			}
			if i > 0 && Hash(sv.Items[i-1].Key) > Hash(it.Key) {
				t.Fatalf("slot %d not ordered by hash", sv.Index)
			}
			if !it.Value().Equal(model[k]) {
				t.Fatalf("dump %q = %v, model %v", k, it.Value(), model[k])
			}
			seen++
		}
		return nil
	})
	if err != nil || seen != len(model) {
		t.Fatalf("dump saw %d, model %d (%v)", seen, len(model), err)
	}
	// Internal invariants.
	for i := 0; i < tb.nslots; i++ {
		s := tb.slotIfAny(i)
		checkSlot(t, tb, &s.d)
	}
}

func checkSlot(t *testing.T, tb *Table, d *slotData) {
	t.Helper()
	n, arenaUsed := 0, 0
	cells := d.tab()
	for i := range cells {
		e := &cells[i]
		if !e.used() {
			continue
		}
		if e.dead() {
			t.Fatalf("dead entry left at %d", i)
		}
		n++
		arenaUsed += int(e.arenaSize())
		if got := d.find(e.khash, e.h2, d.key(e)); got != i {
			t.Fatalf("find(%q) = %d, want %d", d.key(e), got, i)
		}
		if e.expire != 0 && (d.minExp == 0 || e.expire < d.minExp) {
			t.Fatalf("minExp %d > expire %d", d.minExp, e.expire)
		}
		if e.seq >= d.seq {
			t.Fatalf("seq %d >= next %d", e.seq, d.seq)
		}
	}
	if n != int(d.n) {
		t.Fatalf("n %d, counted %d", d.n, n)
	}
	if d.x != nil && len(d.x.arena)-arenaUsed != int(d.x.garbage) {
		t.Fatalf("garbage %d, counted %d", d.x.garbage, len(d.x.arena)-arenaUsed)
	}
	if d.cap > 0 && (d.n*8 > d.cap*7) {
		t.Fatalf("load %d/%d", d.n, d.cap)
	}
}

// probeStats returns the mean and max Robin Hood distance of the table.
func probeStats(tb *Table) (mean float64, maxd uint32) {
	total, n := 0, 0
	for i := 0; i < tb.nslots; i++ {
		d := &tb.slotIfAny(i).d
		cells := d.tab()
		for j := range cells {
			if e := &cells[j]; e.used() {
				k := dist(e.h2, uint32(j), d.cap)
				total += int(k)
				n++
				maxd = max(maxd, k)
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return float64(total) / float64(n), maxd
}

func TestCrowdedSlotIndex(t *testing.T) {
	// 20,000 IPv4 keys in an 8-slot table: every slot is crowded.
	d := NewDef("c")
	d.Size = 3
	tb, _ := New(d)
	var keys []string
	for i := 0; i < 20000; i++ {
		keys = append(keys, fmt.Sprintf("10.0.%d.%d", i>>8, i&255))
	}
	for i, k := range keys {
		tb.SetInt(k, int64(i))
	}
	for i, k := range keys {
		if v, ok := tb.Get(k); !ok || v.Int() != int64(i) {
			t.Fatalf("Get(%q) = %v %v", k, v, ok)
		}
	}
	if mean, maxd := probeStats(tb); mean > 3 || maxd > 64 {
		t.Errorf("probe distance mean %.2f max %d", mean, maxd)
	}
	// Delete most, check the rest and that memory shrinks.
	before := tb.Stats().MemBytes
	for i, k := range keys {
		if i%10 != 0 {
			tb.Delete(k)
		}
	}
	after := tb.Stats().MemBytes
	if after > before/3 {
		t.Errorf("memory after deleting 90%%: %d, before %d", after, before)
	}
	for i, k := range keys {
		_, ok := tb.Get(k)
		if ok != (i%10 == 0) {
			t.Fatalf("Get(%q) ok=%v", k, ok)
		}
	}
	for i := 0; i < tb.nslots; i++ {
		checkSlot(t, tb, &tb.flat[i].d)
	}
	got := []string{}
	for it := tb.Iter(); it.Next(); {
		got = append(got, it.Key())
	}
	if len(got) != 2000 {
		t.Fatalf("iterated %d", len(got))
	}
	sort.Strings(got)
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			t.Fatalf("duplicate %q", got[i])
		}
	}
}
