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
		if n%7 == 0 {
			k = strings.ToUpper("k" + k)
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
		if s.d == nil {
			continue
		}
		checkSlot(t, tb, s.d)
	}
}

func checkSlot(t *testing.T, tb *Table, d *slotData) {
	t.Helper()
	live, garbage := 0, len(d.arena)
	for i := range d.ents {
		e := &d.ents[i]
		if e.dead() {
			continue
		}
		live++
		garbage -= int(e.size())
		if got := d.find(e.khash, d.key(e), tb.seed); got != i {
			t.Fatalf("find(%q) = %d, want %d", d.key(e), got, i)
		}
	}
	if live != d.live {
		t.Fatalf("live %d, counted %d", d.live, live)
	}
	if garbage != d.garbage {
		t.Fatalf("garbage %d, counted %d", d.garbage, garbage)
	}
	if d.index != nil {
		n := 0
		for _, v := range d.index {
			if v != 0 {
				n++
			}
		}
		if n != d.indexed {
			t.Fatalf("indexed %d, counted %d", d.indexed, n)
		}
	}
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
	for i := 0; i < tb.nslots; i++ {
		if dd := tb.flat[i].d; dd != nil && dd.live > smallMax && dd.index == nil {
			t.Fatalf("slot %d with %d items has no index", i, dd.live)
		}
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
		if dd := tb.flat[i].d; dd != nil {
			checkSlot(t, tb, dd)
		}
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
