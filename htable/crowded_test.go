package htable

import (
	"slices"
	"strconv"
	"sync"
	"testing"
)

// The crowded-slot benchmark: 1,000,000 keys "10.a.b.c" in a size=16 table
// (65,536 slots). Kamailio's hash clusters them: 41,807 slots are used and
// the fullest holds 661 items. BenchmarkCrowdedGet reads keys of the 64
// fullest slots, and of random slots, from sipht's table and from a
// Kamailio-style chain (the slot's items sorted by hash, walked from the
// start: what Kamailio's lookup does, minus its pointer chasing).

var (
	crowdOnce  sync.Once
	crowdTable *Table
	crowdKeys  []string // keys of the fullest slots
	allKeys    []string
	chains     map[int][]chainItem
)

type chainItem struct {
	h   uint32
	key string
	v   int64
}

func ipKey(i int) string {
	return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
}

func crowdSetup() {
	crowdOnce.Do(func() {
		d := NewDef("crowd")
		d.Size = 16
		d.AutoExpire = 300
		t, _ := New(d)
		allKeys = make([]string, 1000000)
		for i := range allKeys {
			allKeys[i] = ipKey(i)
			t.SetInt(allKeys[i], int64(i))
		}
		crowdTable = t
		type slotSize struct{ idx, n int }
		var sizes []slotSize
		chains = map[int][]chainItem{}
		t.Dump(func(sv SlotView) error {
			sizes = append(sizes, slotSize{sv.Index, len(sv.Items)})
			ch := make([]chainItem, len(sv.Items))
			for j, it := range sv.Items {
				ch[j] = chainItem{Hash(it.Key), string(it.Key), it.Int}
			}
			chains[sv.Index] = ch
			return nil
		})
		slices.SortFunc(sizes, func(a, b slotSize) int { return b.n - a.n })
		for _, s := range sizes[:64] {
			for _, it := range chains[s.idx] {
				crowdKeys = append(crowdKeys, it.key)
			}
		}
	})
}

// chainGet is Kamailio's lookup: walk the slot's hash-ordered list.
func chainGet(key string) (int64, bool) {
	h := HashString(key)
	ch := chains[int(h&0xffff)]
	i := 0
	for i < len(ch) && ch[i].h < h {
		i++
	}
	for ; i < len(ch) && ch[i].h == h; i++ {
		if ch[i].key == key {
			return ch[i].v, true
		}
	}
	return 0, false
}

func TestCrowdedTableShape(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1M-item table")
	}
	crowdSetup()
	st := crowdTable.Stats()
	if st.Items != 1000000 || st.MaxSlot != 661 {
		t.Errorf("items %d, fullest slot %d (Kamailio: 661)", st.Items, st.MaxSlot)
	}
	used := 0
	crowdTable.Dump(func(SlotView) error { used++; return nil })
	if used != 41807 {
		t.Errorf("%d slots used, want 41807", used)
	}
	for _, k := range crowdKeys[:1000] {
		v, ok := crowdTable.Get(k)
		w, _ := chainGet(k)
		if !ok || v.Int() != w {
			t.Fatalf("%s: %v %v, chain %d", k, v, ok, w)
		}
	}
	mean, maxd := probeStats(crowdTable)
	t.Logf("1M IPv4 keys, size=16: fullest slot %d items, probe distance mean %.2f max %d", st.MaxSlot, mean, maxd)
}

func BenchmarkCrowdedGet(b *testing.B) {
	crowdSetup()
	sets := []struct {
		name string
		keys []string
	}{{"fullest-slots", crowdKeys}, {"random", allKeys}}
	for _, ks := range sets {
		b.Run(ks.name+"/htable", func(b *testing.B) {
			b.ReportAllocs()
			x := uint64(88172645463325252)
			for i := 0; i < b.N; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				crowdTable.Get(ks.keys[x%uint64(len(ks.keys))])
			}
		})
		b.Run(ks.name+"/kamailio-chain", func(b *testing.B) {
			x := uint64(88172645463325252)
			for i := 0; i < b.N; i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				chainGet(ks.keys[x%uint64(len(ks.keys))])
			}
		})
	}
}
