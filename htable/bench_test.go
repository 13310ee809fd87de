package htable_test

// Side-by-side benchmarks: htable against sync.Map and the Go TTL caches
// in go.mod (otter v2, ttlcache v3, go-cache), each doing the same work on
// the same 1,000,000 IPv4-like string keys "10.a.b.c". Run them with
// bench/htable.sh, which prints the ratios.

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jellydator/ttlcache/v3"
	"github.com/maypok86/otter/v2"
	gocache "github.com/patrickmn/go-cache"

	"github.com/sipht/sipht/htable"
)

const (
	benchKeys = 1000000
	benchTTL  = 300 * time.Second
)

var (
	keysOnce sync.Once
	keys     []string // keys the stores are filled with
	lookups  []string // the same keys, separate copies: what the benchmarks look up
)

// ipKey is the i-th key "10.a.b.c".
func ipKey(i int) string {
	return "10." + strconv.Itoa(i>>16&255) + "." + strconv.Itoa(i>>8&255) + "." + strconv.Itoa(i&255)
}

// benchKeySet returns the keys to fill the stores with and the keys to
// look up. The lookup keys are copies, as in a server where the key of a
// request is built from the request and never is the string the item was
// stored with (a cache that keeps the caller's string would otherwise
// compare keys by pointer, without reading them). HTBENCH_SAMEKEYS=1
// looks up with the stored strings instead.
func benchKeySet() (fill, lookup []string) {
	keysOnce.Do(func() {
		keys = make([]string, benchKeys)
		lookups = make([]string, benchKeys)
		for i := range keys {
			keys[i] = ipKey(i)
			lookups[i] = strings.Clone(keys[i])
		}
		if os.Getenv("HTBENCH_SAMEKEYS") != "" {
			lookups = keys // look up with the very strings stored
		}
	})
	return keys, lookups
}

// store is the work every implementation does.
type store interface {
	get(k string) (int64, bool)
	set(k string, v int64)
	// incExpire adds 1 (creating the key at 1) and restarts its lifetime.
	incExpire(k string) int64
}

// --- htable

type htStore struct{ t *htable.Table }

func (s htStore) get(k string) (int64, bool) { v, ok := s.t.Get(k); return v.Int(), ok }
func (s htStore) set(k string, v int64)      { s.t.SetInt(k, v) }
func (s htStore) incExpire(k string) int64   { n, _ := s.t.Inc(k); return n }

var benchCtx, benchStop = context.WithCancel(context.Background())

// newHT returns a table in a running registry (coarse clock, sweeper), as
// sipht runs it: size=16 (65,536 slots), autoexpire=300, initval=0.
func newHT(sysClock bool) htStore {
	var r *htable.Registry
	if sysClock {
		r = htable.NewRegistry(htable.WithClock(htable.SystemClock))
	} else {
		r = htable.NewRegistry()
	}
	go r.Run(benchCtx)
	t, err := r.Define("bench=>size=16;autoexpire=300;initval=0")
	if err != nil {
		panic(err)
	}
	return htStore{t}
}

// --- sync.Map (no expiry of its own: the entry carries it)

type smEntry struct {
	n   atomic.Int64
	exp atomic.Int64
}

type smStore struct{ m *sync.Map }

func (s smStore) get(k string) (int64, bool) {
	e, ok := s.m.Load(k)
	if !ok {
		return 0, false
	}
	en := e.(*smEntry)
	if en.exp.Load() < time.Now().UnixNano() {
		return 0, false
	}
	return en.n.Load(), true
}

func (s smStore) set(k string, v int64) {
	e, ok := s.m.Load(k)
	if !ok {
		e, _ = s.m.LoadOrStore(k, new(smEntry))
	}
	en := e.(*smEntry)
	en.n.Store(v)
	en.exp.Store(time.Now().Add(benchTTL).UnixNano())
}

func (s smStore) incExpire(k string) int64 {
	e, ok := s.m.Load(k)
	if !ok {
		e, _ = s.m.LoadOrStore(k, new(smEntry))
	}
	en := e.(*smEntry)
	en.exp.Store(time.Now().Add(benchTTL).UnixNano())
	return en.n.Add(1)
}

// --- otter v2: expiry restarted on every write; Compute for the increment

type otterStore struct{ c *otter.Cache[string, int64] }

func newOtter() otterStore {
	return otterStore{otter.Must(&otter.Options[string, int64]{
		ExpiryCalculator: otter.ExpiryWriting[string, int64](benchTTL),
		InitialCapacity:  benchKeys,
	})}
}

func (s otterStore) get(k string) (int64, bool) { return s.c.GetIfPresent(k) }
func (s otterStore) set(k string, v int64)      { s.c.Set(k, v) }
func (s otterStore) incExpire(k string) int64 {
	n, _ := s.c.Compute(k, func(old int64, found bool) (int64, otter.ComputeOp) { return old + 1, otter.WriteOp })
	return n
}

// --- ttlcache v3: no atomic update, so the increment runs under a striped
// lock (256 stripes) around Get+Set.

type ttlStore struct {
	c     *ttlcache.Cache[string, int64]
	locks *[256]sync.Mutex
}

func newTTL() ttlStore {
	return ttlStore{c: ttlcache.New[string, int64](ttlcache.WithTTL[string, int64](benchTTL), ttlcache.WithDisableTouchOnHit[string, int64]()), locks: new([256]sync.Mutex)}
}

func (s ttlStore) get(k string) (int64, bool) {
	it := s.c.Get(k)
	if it == nil {
		return 0, false
	}
	return it.Value(), true
}
func (s ttlStore) set(k string, v int64) { s.c.Set(k, v, ttlcache.DefaultTTL) }
func (s ttlStore) incExpire(k string) int64 {
	m := &s.locks[htable.HashString(k)&255]
	m.Lock()
	var n int64
	if it := s.c.Get(k); it != nil {
		n = it.Value()
	}
	n++
	s.c.Set(k, n, ttlcache.DefaultTTL)
	m.Unlock()
	return n
}

// --- go-cache: IncrementInt64 keeps the old expiry (it cannot restart it
// atomically), so it does less work than the others here.

type goStore struct{ c *gocache.Cache }

func newGoCache() goStore { return goStore{gocache.New(benchTTL, 0)} }

func (s goStore) get(k string) (int64, bool) {
	v, ok := s.c.Get(k)
	if !ok {
		return 0, false
	}
	return v.(int64), true
}
func (s goStore) set(k string, v int64) { s.c.SetDefault(k, v) }
func (s goStore) incExpire(k string) int64 {
	n, err := s.c.IncrementInt64(k, 1)
	if err != nil {
		s.c.Add(k, int64(1), gocache.DefaultExpiration)
		return 1
	}
	return n
}

// impls are built once and filled with all keys (value = index).
var impls = []struct {
	name  string
	build func() store
	once  sync.Once
	s     store
}{
	{name: "htable", build: func() store { return newHT(false) }},
	{name: "htable-sysclock", build: func() store { return newHT(true) }},
	{name: "syncmap", build: func() store { return smStore{new(sync.Map)} }},
	{name: "otter", build: func() store { return newOtter() }},
	{name: "ttlcache", build: func() store { return newTTL() }},
	{name: "gocache", build: func() store { return newGoCache() }},
}

func filled(i int) store {
	im := &impls[i]
	im.once.Do(func() {
		ks, _ := benchKeySet()
		s := im.build()
		for j, k := range ks {
			s.set(k, int64(j))
		}
		im.s = s
		runtime.GC() // do not let the fill's garbage slow the measurement
	})
	return im.s
}

// BenchmarkParallel runs Get, Set and Inc-with-expiry from all CPUs on
// random keys of the 1M-key set. The stores hold all keys.
func BenchmarkParallel(b *testing.B) {
	_, ks := benchKeySet()
	ops := []struct {
		name string
		f    func(s store, k string)
	}{
		{"Get", func(s store, k string) { s.get(k) }},
		{"Set", func(s store, k string) { s.set(k, 7) }},
		{"IncExpire", func(s store, k string) { s.incExpire(k) }},
	}
	for _, op := range ops {
		for i := range impls {
			b.Run(op.name+"/"+impls[i].name, func(b *testing.B) {
				s := filled(i)
				var seed atomic.Uint64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					x := seed.Add(0x9E3779B97F4A7C15)
					for pb.Next() {
						x ^= x << 13
						x ^= x >> 7
						x ^= x << 17
						op.f(s, ks[(x>>32)*benchKeys>>32])
					}
				})
			})
		}
	}
}

// BenchmarkMemoryPerItem stores 1M keys "10.a.b.c" with int values and
// reports the heap bytes per item after GC, key storage included
// (Kamailio 5.6.3: 192 bytes per item in a size=16 table). It runs the
// measurement once whatever b.N is.
func BenchmarkMemoryPerItem(b *testing.B) {
	builders := []struct {
		name  string
		build func() (store, func())
	}{
		{"htable", func() (store, func()) {
			t, _ := htable.New(mustDef("m=>size=16;autoexpire=300;initval=0"))
			return htStore{t}, nil
		}},
		{"syncmap", func() (store, func()) { return smStore{new(sync.Map)}, nil }},
		{"otter", func() (store, func()) { s := newOtter(); return s, func() { s.c.StopAllGoroutines() } }},
		{"ttlcache", func() (store, func()) { return newTTL(), nil }},
		{"gocache", func() (store, func()) { return newGoCache(), nil }},
	}
	for _, bl := range builders {
		b.Run(bl.name, func(b *testing.B) {
			per, items := measure(func() store {
				s, _ := bl.build()
				for i := 0; i < benchKeys; i++ {
					s.set(ipKey(i), int64(i))
				}
				return s
			})
			b.ReportMetric(per, "bytes/item")
			b.ReportMetric(float64(items), "items")
		})
	}
}

func mustDef(spec string) htable.Def {
	d, err := htable.ParseDef(spec)
	if err != nil {
		panic(err)
	}
	return d
}

// measure returns the heap bytes per key that fill keeps alive.
func measure(fill func() store) (float64, int) {
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m0)
	s := fill()
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if _, ok := s.get(ipKey(benchKeys - 1)); !ok {
		panic("last key missing")
	}
	runtime.KeepAlive(s)
	return float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / benchKeys, benchKeys
}

// BenchmarkZeroAlloc shows 0 allocs/op for Get and Inc of existing keys
// with []byte keys (the script's path).
func BenchmarkZeroAlloc(b *testing.B) {
	s := filled(0).(htStore)
	buf := []byte("10.1.2.3")
	b.Run("GetBytes", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.t.GetBytes(buf)
		}
	})
	b.Run("AddBytes", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			s.t.AddBytes(buf, 1)
		}
	})
}
