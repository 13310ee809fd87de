package htable

import (
	"runtime"
	"testing"
)

// TestMemoryPerItem: 1M keys "10.a.b.c" with int values in a size=16
// table take at most 96 bytes per item, key included (Kamailio 5.6.3
// measured 192). Heap bytes after GC; the keys are built on the fly, so
// the table's own copy is what remains.
func TestMemoryPerItem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1M-item table")
	}
	const n = 1000000
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	d := NewDef("m")
	d.Size = 16
	d.AutoExpire = 300
	d.HasInitVal = true
	tb, _ := New(d)
	for i := 0; i < n; i++ {
		tb.SetInt(ipKey(i), int64(i))
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	per := float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
	est := float64(tb.Stats().MemBytes) / n
	t.Logf("1M IPv4 keys, int values, size=16: %.1f bytes/item (heap), %.1f estimated by Stats", per, est)
	if per > 96 {
		t.Errorf("%.1f bytes per item, want <= 96", per)
	}
	if est < per*0.9 || est > per*1.1 {
		t.Errorf("Stats.MemBytes %.1f per item, heap says %.1f", est, per)
	}
	runtime.KeepAlive(tb)
}
