package htable

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

func TestUpdate(t *testing.T) {
	clk := newFakeClock(1000)
	tb := mustTable(t, "u=>size=4;autoexpire=100", WithClock(clk.Now))
	var got []Change
	tb.Subscribe(func(c *Change) { got = append(got, *c) })
	w := tb.As(OriginRemote)

	// insert with an explicit absolute expiry
	m, err := w.Update("k", func(cur Item, ok bool) Mutation {
		if ok {
			t.Errorf("missing key reported live: %+v", cur)
		}
		return Mutation{Op: MutSet, Value: Str("v1"), Expire: 1500}
	})
	if err != nil || m.Op != MutSet || m.Expire != 1500 {
		t.Fatalf("insert: %+v %v", m, err)
	}
	if it, ok := tb.Lookup("k"); !ok || it.Value.Str() != "v1" || it.Expire != 1500 {
		t.Fatalf("after insert: %+v %v", it, ok)
	}
	// read-only call: sees the item, changes nothing, no event
	n := len(got)
	w.Update("k", func(cur Item, ok bool) Mutation {
		if !ok || cur.Value.Str() != "v1" || cur.Expire != 1500 {
			t.Errorf("cur = %+v %v", cur, ok)
		}
		return Mutation{}
	})
	if len(got) != n {
		t.Errorf("MutNone emitted %d changes", len(got)-n)
	}
	// update to an int, never expiring
	w.Update("k", func(Item, bool) Mutation { return Mutation{Op: MutSet, Value: Int(7)} })
	if it, ok := tb.Lookup("k"); !ok || it.Value.Int() != 7 || it.Expire != 0 {
		t.Fatalf("after update: %+v %v", it, ok)
	}
	clk.Add(10000)
	if _, ok := tb.Lookup("k"); !ok {
		t.Fatal("expire 0 should mean never")
	}
	// an expired item is reported missing and can be revived
	tb.SetWithExpire("e", Int(1), 5)
	clk.Add(6)
	w.Update("e", func(cur Item, ok bool) Mutation {
		if ok {
			t.Errorf("expired item reported live")
		}
		return Mutation{Op: MutSet, Value: Int(2), Expire: clk.Now() + 50}
	})
	if v, ok := tb.Get("e"); !ok || v.Int() != 2 {
		t.Fatalf("revived: %v %v", v, ok)
	}
	// delete
	w.Update("k", func(Item, bool) Mutation { return Mutation{Op: MutDelete} })
	if tb.Has("k") {
		t.Fatal("not deleted")
	}
	last := got[len(got)-1]
	if last.Op != OpDelete || last.Origin != OriginRemote || !last.Applied || last.Key != "k" {
		t.Errorf("delete event %+v", last)
	}
	// deleting a missing key: event not applied
	w.Update("nope", func(Item, bool) Mutation { return Mutation{Op: MutDelete} })
	if last = got[len(got)-1]; last.Op != OpDelete || last.Applied {
		t.Errorf("missing delete event %+v", last)
	}
	// null value deletes
	tb.SetInt("z", 1)
	w.Update("z", func(Item, bool) Mutation { return Mutation{Op: MutSet} })
	if tb.Has("z") {
		t.Error("null set did not delete")
	}
	if _, err := w.Update(strings.Repeat("x", MaxKeyLen+1), func(Item, bool) Mutation { return Mutation{} }); !errors.Is(err, ErrKeyTooLong) {
		t.Errorf("long key: %v", err)
	}
	for _, c := range got {
		if c.Op == OpSet && c.Key == "k" && c.Origin != OriginRemote {
			t.Errorf("origin not kept: %+v", c)
		}
	}
}

func TestUpdateNoAutoexpireIgnoresExpire(t *testing.T) {
	tb := mustTable(t, "n=>size=2")
	tb.As(OriginRemote).Update("k", func(Item, bool) Mutation { return Mutation{Op: MutSet, Value: Int(1), Expire: 5} })
	if it, ok := tb.Lookup("k"); !ok || it.Expire != 0 {
		t.Fatalf("%+v %v", it, ok)
	}
}

func TestUpdateMaxItems(t *testing.T) {
	tb := mustTable(t, "m=>size=1;maxitems=2")
	for _, k := range []string{"a", "b", "c"} {
		if _, err := tb.As(OriginRemote).Update(k, func(Item, bool) Mutation { return Mutation{Op: MutSet, Value: Int(1)} }); err != nil {
			t.Fatal(err)
		}
	}
	if n := tb.Len(); n != 2 {
		t.Fatalf("len %d, want 2 (bounded)", n)
	}
}

// Update is atomic with respect to other writers of the key: concurrent
// read-modify-write increments through Update never lose one.
func TestUpdateAtomic(t *testing.T) {
	tb := mustTable(t, "a=>size=4")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				tb.As(OriginRemote).Update("n", func(cur Item, ok bool) Mutation {
					v := int64(0)
					if ok {
						v = cur.Value.Int()
					}
					return Mutation{Op: MutSet, Value: Int(v + 1)}
				})
				tb.Add("n", 1)
			}
		}()
	}
	wg.Wait()
	if v, _ := tb.Get("n"); v.Int() != 8000 {
		t.Fatalf("n = %d, want 8000", v.Int())
	}
}
