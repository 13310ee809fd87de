package htable

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentInc: many goroutines increment the same keys and their own
// keys; every count is exact.
func TestConcurrentInc(t *testing.T) {
	clk := newFakeClock(t0)
	tb := mustTable(t, "c=>size=4;autoexpire=3600;initval=0", WithClock(clk.Now))
	const workers, rounds = 16, 2000
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			own := []byte(fmt.Sprintf("own-%d", w))
			for i := 0; i < rounds; i++ {
				tb.Inc("shared")
				tb.AddBytes(own, 2)
				tb.Add(fmt.Sprintf("spread-%d", i%64), 1)
				if i%100 == 0 {
					clk.Add(1) // time moves; nothing expires within the hour
				}
			}
		}(w)
	}
	wg.Wait()
	if v, _ := tb.Get("shared"); v.Int() != workers*rounds {
		t.Errorf("shared = %v, want %d", v, workers*rounds)
	}
	for w := 0; w < workers; w++ {
		if v, _ := tb.Get(fmt.Sprintf("own-%d", w)); v.Int() != 2*rounds {
			t.Errorf("own-%d = %v", w, v)
		}
	}
	sum := int64(0)
	for i := 0; i < 64; i++ {
		v, _ := tb.Get(fmt.Sprintf("spread-%d", i))
		sum += v.Int()
	}
	if sum != workers*rounds {
		t.Errorf("spread sum %d", sum)
	}
	if st := tb.Stats(); st.Incs != 3*workers*rounds {
		t.Errorf("Stats.Incs = %d", st.Incs)
	}
}

// TestConcurrentMixed runs every kind of operation at once (for the race
// detector and for deadlocks): writers, readers, the sweeper with a handler
// that uses the table, iterators, dumps, regex removals, user locks,
// subscribers and resets.
func TestConcurrentMixed(t *testing.T) {
	clk := newFakeClock(t0)
	r := NewRegistry(WithClock(clk.Now))
	tb, _ := r.Define("x=>size=3;autoexpire=5;initval=0;maxitems=500")
	var changes atomic.Int64
	r.Subscribe(func(c *Change) { changes.Add(1) })
	tb.OnExpired(func(it Item) { tb.Get(it.Key); tb.Inc("expired-count") })
	var wg sync.WaitGroup
	stop := make(chan struct{})
	run := func(f func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				f(i)
			}
		}()
	}
	key := func(i int) string { return fmt.Sprintf("10.0.%d.%d", i%7, i%251) }
	run(func(i int) { tb.SetInt(key(i), int64(i)) })
	run(func(i int) { tb.SetStr(key(i+3), fmt.Sprint("v", i)) })
	run(func(i int) { tb.Inc(key(i + 5)) })
	run(func(i int) { tb.Get(key(i)); tb.TTL(key(i)); tb.Delete(key(i * 3)) })
	run(func(i int) { clk.Add(1); tb.Sweep() })
	run(func(i int) {
		for it := tb.Iter(); it.Next(); {
			if it.Value().Int()%5 == 0 {
				it.Remove()
			}
		}
	})
	run(func(i int) {
		tb.Dump(func(sv SlotView) error { return nil })
		tb.CountNames("~~^10\\.0\\.1")
		tb.Stats()
	})
	run(func(i int) {
		tb.RemoveNames(MatchPrefix, "10.0.3.")
		if i%50 == 0 {
			tb.Reset()
		}
	})
	run(func(i int) {
		tb.Lock(key(i), &i)
		tb.Inc(key(i))
		tb.Unlock(key(i), &i)
	})
	for i := 0; i < 3000 && !t.Failed(); i++ {
		runtime.Gosched()
		tb.Has(key(i))
	}
	close(stop)
	wg.Wait()
	if changes.Load() == 0 {
		t.Error("no changes seen")
	}
	if n := tb.nitems.Load(); n < 0 || n > 500+16 {
		t.Errorf("item count %d out of bounds", n)
	}
	if n := physical(tb); int64(n) != tb.nitems.Load() {
		t.Errorf("stored %d, counter %d", n, tb.nitems.Load())
	}
}

// TestEvictionFlood: a table with maxitems under a flood of distinct keys
// (spoofed source IPs) keeps its item count and memory flat.
func TestEvictionFlood(t *testing.T) {
	clk := newFakeClock(t0)
	tb := mustTable(t, "ipban=>size=8;autoexpire=300;initval=0;maxitems=1000", WithClock(clk.Now))
	tb.SetExpire("pinned", 0)
	tb.SetStr("pinned", "admin")
	tb.SetExpire("pinned", 0) // never expires: evicted last
	var memAt10k int64
	for i := 0; i < 200000; i++ {
		k := fmt.Sprintf("%d.%d.%d.%d", i>>24&255, i>>16&255, i>>8&255, i&255)
		if _, ok := tb.Inc(k); !ok {
			t.Fatalf("Inc(%s) failed", k)
		}
		if i%1000 == 0 {
			clk.Add(1)
		}
		if i == 10000 {
			memAt10k = tb.Stats().MemBytes
		}
	}
	st := tb.Stats()
	if st.Items > 1000 || st.Items < 900 {
		t.Errorf("items %d, want about 1000", st.Items)
	}
	if st.Evicted < 199000 {
		t.Errorf("evictions %d", st.Evicted)
	}
	if st.MemBytes > memAt10k*3/2 {
		t.Errorf("memory grew from %d to %d", memAt10k, st.MemBytes)
	}
	if v, ok := tb.Get("pinned"); !ok || v.Str() != "admin" {
		t.Errorf("never-expiring item evicted: %v %v", v, ok)
	}
	t.Logf("maxitems=1000 after 200k distinct keys: %d items, %d evictions, %d bytes", st.Items, st.Evicted, st.MemBytes)

	// Updates of existing keys never evict; the least recently updated
	// item of the slot goes first.
	tb2 := mustTable(t, "lru=>size=0;autoexpire=100;maxitems=8", WithClock(clk.Now))
	for i := 0; i < 8; i++ {
		tb2.SetInt(fmt.Sprint("k", i), 1)
		clk.Add(1)
	}
	for i := 0; i < 8; i++ {
		if i != 3 {
			tb2.SetInt(fmt.Sprint("k", i), 2) // refresh all but k3
		}
	}
	ev := tb2.Stats().Evicted
	if ev != 0 {
		t.Errorf("updates evicted %d", ev)
	}
	// A new key in k3's slot evicts k3 (the one expiring soonest there).
	var newKey string
	for i := 0; ; i++ {
		newKey = fmt.Sprint("n", i)
		if tb2.SlotOf(newKey) == tb2.SlotOf("k3") {
			break
		}
	}
	tb2.SetInt(newKey, 1)
	if tb2.Has("k3") || !tb2.Has(newKey) || tb2.Len() != 8 {
		t.Errorf("k3 not evicted: len %d", tb2.Len())
	}
	// Without autoexpire: oldest first.
	tb3 := mustTable(t, "fifo=>size=0;maxitems=2")
	tb3.SetInt("a", 1)
	tb3.SetInt("b", 1)
	tb3.SetInt("c", 1)
	if tb3.Len() != 2 || !tb3.Has("c") {
		t.Errorf("fifo len %d", tb3.Len())
	}
}
