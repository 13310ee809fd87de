package dmqrepl

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	ht "github.com/sipht/sipht/htable"
)

// TestStateMemory measures the replication state kept per key (reported,
// not asserted beyond a loose bound).
func TestStateMemory(t *testing.T) {
	const n = 100000
	r := &Replicator{ids: newIDTable(), clk: hlc{wall: time.Now}}
	r.o.defaults()
	r.self, _ = r.ids.intern("sip:127.0.0.1:5060#x")
	r.selfOnce.Do(func() {})
	ts := &tstate{name: "t"}
	for i := range ts.shards {
		ts.shards[i].m = map[string]*keyState{}
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, k := range keys {
		v := r.tick()
		r.setState(ts, k, &keyState{ver: v, base: ht.Int(1), exp: 1800000000, xver: v})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes of replication state per key (keys themselves included)", per)
	if per > 400 {
		t.Errorf("%.0f bytes per key", per)
	}
	runtime.KeepAlive(ts)
}
