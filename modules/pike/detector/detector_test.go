package detector

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// hits sends n hits from addr and returns the results.
func hits(d *Detector, addr string, n int) []Result {
	a := ip(addr)
	out := make([]Result, n)
	for i := range out {
		out[i] = d.Check(a)
	}
	return out
}

// pattern builds an expected result list: pattern(Pass, 6, NewlyBlocked, 1).
func pattern(pairs ...any) []Result {
	var out []Result
	for i := 0; i+1 < len(pairs); i += 2 {
		for n := 0; n < pairs[i+1].(int); n++ {
			out = append(out, pairs[i].(Result))
		}
	}
	return out
}

func mustInvariants(t *testing.T, d *Detector) {
	t.Helper()
	if err := d.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestKamailioObservedSequence is the fact sheet's observation on Kamailio
// 5.6.3: x=3, unit 2 s, 14 rapid requests from 127.0.0.1 give 1 six times,
// -2 once, then -1.
func TestKamailioObservedSequence(t *testing.T) {
	d, _ := newTest(2, 3, 120, DefaultMaxNodes)
	got := hits(d, "127.0.0.1", 14)
	want := pattern(Pass, 6, NewlyBlocked, 1, Blocked, 7)
	if !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	mustInvariants(t, d)
	if s := d.Stats(); s.Nodes != 4 || s.Blocked != 1 || s.Detected != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestFreshAddressThresholds: how many rapid hits a fresh address passes
// before it is blocked. The path must first be grown: the first-byte node
// splits once it has max(2, x/4) hits and every deeper level after one more
// hit, then the leaf needs x leaf hits. So a fresh IPv4 address is blocked
// at hit max(2,x/4)+2+x, an IPv6 one at max(2,x/4)+14+x. The x=3 and x=16
// cases are checked against Kamailio 5.6.3 by test/e2e's pike tests.
func TestFreshAddressThresholds(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		maxHits int
		blockAt int
	}{
		{"127.0.0.1", 3, 7},
		{"127.0.0.1", 4, 8}, // x/4 = 1
		{"127.0.0.1", 8, 12},
		{"127.0.0.1", 16, 22},
		{"127.0.0.1", 30, 39},   // Kamailio's default: between x and 3x
		{"10.1.2.3", 100, 127},  // x/4 = 25
		{"::1", 3, 19},          // 16 + 3
		{"2001:db8::7", 16, 34}, // 4 + 14 + 16
		{"2001:db8::7", 30, 51}, // between x and 9x
	} {
		t.Run(fmt.Sprintf("%s/x=%d", tc.addr, tc.maxHits), func(t *testing.T) {
			d, _ := newTest(2, tc.maxHits, 120, DefaultMaxNodes)
			got := hits(d, tc.addr, tc.blockAt+3)
			want := pattern(Pass, tc.blockAt-1, NewlyBlocked, 1, Blocked, 3)
			if !slices.Equal(got, want) {
				t.Fatalf("got %v\nwant %v", got, want)
			}
			mustInvariants(t, d)
		})
	}
}

// TestSharedPrefix: a neighbour of a known address only has to grow its
// leaf: x+1 hits.
func TestSharedPrefix(t *testing.T) {
	for _, x := range []int{3, 16} {
		d, _ := newTest(60, x, 120, DefaultMaxNodes)
		hits(d, "127.0.0.8", 3*x+10)
		got := hits(d, "127.0.0.9", x+2)
		want := pattern(Pass, x, NewlyBlocked, 1, Blocked, 1)
		if !slices.Equal(got, want) {
			t.Fatalf("x=%d: got %v\nwant %v", x, got, want)
		}
		mustInvariants(t, d)
	}
}

// TestWindows: a blocked source stays blocked while a whole window had x
// hits or more, and is unblocked at the first window boundary after a
// window with fewer.
func TestWindows(t *testing.T) {
	var unblocked []netip.Addr
	c := newClock()
	d, err := New(Config{SamplingUnit: 2, MaxHits: 3, RemoveLatency: 120, MaxNodes: 1000, Now: c.Now,
		OnUnblock: func(a netip.Addr) { unblocked = append(unblocked, a) }})
	if err != nil {
		t.Fatal(err)
	}
	src := "127.0.0.1"
	hits(d, src, 7) // blocked at the 7th
	if !d.IsBlocked(ip(src)) {
		t.Fatal("not blocked")
	}
	// window 1: 3 more hits (>= x): still blocked after the boundary
	c.advance(d, 2)
	if !d.IsBlocked(ip(src)) || len(unblocked) != 0 {
		t.Fatal("unblocked at the first boundary though the window had 4 leaf hits")
	}
	if got := hits(d, src, 3); !slices.Equal(got, pattern(Blocked, 3)) {
		t.Fatalf("window 1: %v", got)
	}
	// window 2: 2 hits (< x), but the previous window had 3: still blocked
	c.advance(d, 2)
	if got := hits(d, src, 2); !slices.Equal(got, pattern(Blocked, 2)) {
		t.Fatalf("window 2: %v", got)
	}
	// boundary after a window with 2 hits: unblocked
	c.advance(d, 2)
	if d.IsBlocked(ip(src)) || !slices.Equal(unblocked, []netip.Addr{ip(src)}) {
		t.Fatalf("not unblocked (unblocked=%v)", unblocked)
	}
	// previous window 2 hits: the 3rd hit now makes the current window hot
	if got := hits(d, src, 4); !slices.Equal(got, pattern(Pass, 2, NewlyBlocked, 1, Blocked, 1)) {
		t.Fatalf("window 3: %v", got)
	}
	if s := d.Stats(); s.Detected != 2 {
		t.Fatalf("detected %d, want 2", s.Detected)
	}
	// a quiet period of two windows forgets everything but the nodes
	c.advance(d, 4)
	if d.IsBlocked(ip(src)) {
		t.Fatal("still blocked after two quiet windows")
	}
	if got := hits(d, src, 3); !slices.Equal(got, pattern(Pass, 2, NewlyBlocked, 1)) {
		t.Fatalf("after quiet: %v", got)
	}
	mustInvariants(t, d)
}

// TestWindowBoundaryDuringBurst: hits spread over two windows are judged
// per window: 2 + 2 hits with x=3 never block a known leaf.
func TestWindowBoundaryDuringBurst(t *testing.T) {
	d, c := newTest(2, 3, 120, 1000)
	hits(d, "127.0.0.1", 4) // grow the path: the leaf exists, no leaf hit yet
	c.advance(d, 2)
	c.advance(d, 2) // counters now zero
	if got := hits(d, "127.0.0.1", 2); !slices.Equal(got, pattern(Pass, 2)) {
		t.Fatal(got)
	}
	c.advance(d, 2)
	// previous window 2, current 1 then 2: average (2+2)/2 = 2 < 3
	if got := hits(d, "127.0.0.1", 2); !slices.Equal(got, pattern(Pass, 2)) {
		t.Fatal(got)
	}
	if got := hits(d, "127.0.0.1", 1); !slices.Equal(got, pattern(NewlyBlocked, 1)) {
		t.Fatal(got)
	}
}

// TestRemoveLatency: a leaf is removed remove_latency seconds after its
// last hit; its parents then expire one level per remove_latency, and the
// tree ends empty. A prefix that is hit without growing is not refreshed.
func TestRemoveLatency(t *testing.T) {
	d, c := newTest(2, 3, 10, 1000)
	hits(d, "127.0.0.1", 5) // path of 4 nodes, leaf with one leaf hit
	c.advance(d, 5)
	hits(d, "127.0.0.1", 1) // refreshes the leaf: removed at second 15
	c.advance(d, 9)
	if got := d.Stats().Nodes; got != 4 {
		t.Fatalf("at 14 s: %d nodes, want 4", got)
	}
	c.advance(d, 1)
	if got := d.Stats().Nodes; got != 3 {
		t.Fatalf("at 15 s: %d nodes, want 3 (leaf removed)", got)
	}
	mustInvariants(t, d)
	c.advance(d, 10)
	if got := d.Stats().Nodes; got != 2 {
		t.Fatalf("at 25 s: %d nodes, want 2", got)
	}
	c.advance(d, 20)
	if got := d.Stats().Nodes; got != 0 {
		t.Fatalf("at 45 s: %d nodes, want 0", got)
	}
	mustInvariants(t, d)

	// a first-byte node hit once per second with x=16 (x/4=4 hits a
	// window needed to grow): never grows, not refreshed, removed after
	// 10 s and created anew by the next hit
	d, c = newTest(10, 16, 10, 1000)
	for i := 0; i < 12; i++ {
		d.Check(ip("192.0.2.1"))
		c.advance(d, 1)
		if i < 3 && d.Stats().Nodes != 1 {
			t.Fatalf("second %d: %d nodes", i, d.Stats().Nodes)
		}
	}
	mustInvariants(t, d)
}

// TestRemoveLatencyZero: Kamailio's remove_latency 0 removes nodes at the
// next timer run, one level per run.
func TestRemoveLatencyZero(t *testing.T) {
	d, c := newTest(2, 3, 0, 1000)
	hits(d, "127.0.0.1", 6)
	c.advance(d, 1)
	if n := d.Stats().Nodes; n != 3 {
		t.Fatalf("%d nodes after one run, want 3", n)
	}
	c.advance(d, 3)
	if n := d.Stats().Nodes; n != 0 {
		t.Fatalf("%d nodes, want 0", n)
	}
	mustInvariants(t, d)
}

// TestAllowList: allowed sources always pass and are not counted.
func TestAllowList(t *testing.T) {
	d, _ := newTest(2, 3, 120, 1000, "10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.0/120")
	for _, a := range []string{"10.1.2.3", "2001:db8::1", "192.0.2.77", "::ffff:10.9.9.9"} {
		if got := hits(d, a, 50); !slices.Equal(got, pattern(Pass, 50)) {
			t.Fatalf("%s: %v", a, got)
		}
		if !d.Allowed(ip(a)) {
			t.Fatalf("%s not allowed", a)
		}
	}
	if n := d.Stats().Nodes; n != 0 {
		t.Fatalf("allowed sources created %d nodes", n)
	}
	if got := hits(d, "11.0.0.1", 7); got[6] != NewlyBlocked {
		t.Fatalf("a source outside the list: %v", got)
	}
	if d.Allowed(ip("11.0.0.1")) {
		t.Fatal("11.0.0.1 allowed")
	}
}

// TestMappedAndZonedAddresses: an IPv4-mapped IPv6 source is the IPv4
// source; a zone is ignored.
func TestMappedAndZonedAddresses(t *testing.T) {
	d, _ := newTest(2, 3, 120, 1000)
	hits(d, "::ffff:127.0.0.1", 3)
	hits(d, "127.0.0.1", 3)
	if r := d.Check(ip("::ffff:127.0.0.1")); r != NewlyBlocked {
		t.Fatalf("7th hit: %v", r)
	}
	d.Check(ip("fe80::1%eth0"))
	if got := d.Top(SelectAll); len(got) != 1 || got[0].IP != ip("127.0.0.1") {
		t.Fatalf("top: %+v", got)
	}
	if r := d.Check(netip.Addr{}); r != Pass {
		t.Fatal("invalid address not passed")
	}
}

// TestSeparateFamilies: Kamailio shares one tree between IPv4 and IPv6,
// so 7f00:1:: would grow 127.0.0.1's path; here the families are apart.
func TestSeparateFamilies(t *testing.T) {
	d, _ := newTest(2, 3, 120, 1000)
	hits(d, "7f00:1::", 30)
	if got := hits(d, "127.0.0.1", 7); got[6] != NewlyBlocked || got[5] != Pass {
		t.Fatalf("127.0.0.1 after an IPv6 flood: %v", got)
	}
	mustInvariants(t, d)
}

// TestTop: pike.top's selection, order, counters and statuses.
func TestTop(t *testing.T) {
	d, c := newTest(60, 3, 120, 1000)
	hits(d, "127.0.0.8", 12)   // blocked, 8 leaf hits
	hits(d, "127.0.0.9", 2)    // leaf created, 1 leaf hit
	hits(d, "10.0.0.1", 5)     // leaf with 1 leaf hit
	hits(d, "192.0.2.1", 2)    // a prefix only: not listed
	hits(d, "2001:db8::1", 20) // leaf hits 4: hot
	c.advance(d, 5)
	all := d.Top(SelectAll)
	var got []string
	for _, e := range all {
		got = append(got, fmt.Sprintf("%s %d/%d %s exp=%d", e.IP, e.LeafHitsPrev, e.LeafHitsCurr, e.Status, e.Expires))
	}
	// walk: first byte 10, then 32 (2001:), then 127 (newest child .9
	// before .8), then reversed. With x=3, x/4 is 0, so every leaf that
	// is not hot is WARM.
	want := []string{
		"127.0.0.8 0/8 HOT exp=115",
		"127.0.0.9 0/1 WARM exp=115",
		"2001:db8::1 0/4 HOT exp=115",
		"10.0.0.1 0/1 WARM exp=115",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("top ALL:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	hot := d.Top(SelectHot)
	if len(hot) != 2 || hot[0].IP != ip("127.0.0.8") || hot[1].IP != ip("2001:db8::1") {
		t.Fatalf("top HOT: %+v", hot)
	}
	if w := d.Top(SelectWarm); len(w) != 0 {
		t.Fatalf("top WARM: %+v", w)
	}
	// after two window shifts without hits nothing is hot, leaves remain
	c.advance(d, 120)
	if hot := d.Top(SelectHot); len(hot) != 0 {
		t.Fatalf("top HOT after quiet windows: %+v", hot)
	}
}

// TestTopWarm: a leaf just grown from a busy prefix inherits its hits and
// shows WARM in the ALL list (x=16: inner hits >= 4).
func TestTopWarm(t *testing.T) {
	d, _ := newTest(60, 16, 120, 1000)
	hits(d, "127.0.0.8", 8)
	// the third-byte node has 4 hits; 127.0.0.9's first hit grows its leaf
	// with 4 inherited hits, its second one is a leaf hit
	hits(d, "127.0.0.9", 2)
	for _, e := range d.Top(SelectAll) {
		want := StatusNone
		if e.IP == ip("127.0.0.9") {
			want = StatusWarm
		}
		if e.Status != want {
			t.Fatalf("%s: status %q (hits %d/%d), want %q", e.IP, e.Status, e.HitsPrev, e.HitsCurr, want)
		}
	}
}

// TestUnblock: pike.rm resets a source.
func TestUnblock(t *testing.T) {
	d, _ := newTest(60, 3, 120, 1000)
	hits(d, "127.0.0.1", 8)
	if found, was := d.Unblock(ip("127.0.0.1")); !found || !was {
		t.Fatalf("unblock: found=%v was=%v", found, was)
	}
	if d.IsBlocked(ip("127.0.0.1")) {
		t.Fatal("still blocked")
	}
	if got := hits(d, "127.0.0.1", 4); !slices.Equal(got, pattern(Pass, 2, NewlyBlocked, 1, Blocked, 1)) {
		t.Fatalf("after unblock: %v", got)
	}
	if found, was := d.Unblock(ip("127.0.0.2")); found || was {
		t.Fatal("unknown address found")
	}
	hits(d, "127.0.0.2", 1) // leaf created, never hit as a leaf
	if found, _ := d.Unblock(ip("127.0.0.2")); found {
		t.Fatal("a leaf without leaf hits is not listed by pike.top, so not found either")
	}
	d.Unblock(ip("127.0.0.1"))
	if found, was := d.Unblock(ip("127.0.0.1")); !found || was {
		t.Fatalf("not blocked: found=%v was=%v", found, was)
	}
	mustInvariants(t, d)
}

// TestDropHot: hits dropped early keep the source blocked like hits seen
// by pike_check_req, and stop counting once it is unblocked.
func TestDropHot(t *testing.T) {
	d, c := newTest(2, 3, 5, 1000)
	src := ip("127.0.0.1")
	if d.DropHot(src) {
		t.Fatal("dropped before any block")
	}
	hits(d, "127.0.0.1", 7)
	for i := 0; i < 10; i++ {
		if !d.DropHot(src) {
			t.Fatal("not dropped while blocked")
		}
	}
	if d.DropHot(ip("127.0.0.2")) {
		t.Fatal("other source dropped")
	}
	// the pending drops show in pike.top
	if e := d.Top(SelectHot); len(e) != 1 || e[0].LeafHitsCurr != 13 {
		t.Fatalf("top: %+v", e)
	}
	// a flood that goes on for longer than remove_latency: dropped early
	// only, the leaf stays (refreshed) and blocked
	for s := 0; s < 20; s++ {
		for i := 0; i < 3; i++ {
			d.DropHot(src)
		}
		c.advance(d, 1)
		if !d.IsBlocked(src) {
			t.Fatalf("unblocked at second %d while flooding", s)
		}
	}
	mustInvariants(t, d)
	// the flood stops: unblocked after the next full window
	c.advance(d, 4)
	if d.IsBlocked(src) || d.DropHot(src) {
		t.Fatal("still blocked after the flood stopped")
	}
	if s := d.Stats(); s.HotDrops != 70 || s.Detected != 1 {
		t.Fatalf("stats %+v", s)
	}
	// and removed after remove_latency
	c.advance(d, 30)
	if n := d.Stats().Nodes; n != 0 {
		t.Fatalf("%d nodes left", n)
	}
	mustInvariants(t, d)
}

// TestBoundedEviction: a full tree evicts its oldest entries, so a flood of
// one-shot sources cannot grow it, while an attacker inside the flood is
// still detected and stays listed.
func TestBoundedEviction(t *testing.T) {
	const maxNodes = 2000
	d, c := newTest(2, 16, 120, maxNodes)
	rng := rand.New(rand.NewPCG(1, 2))
	attacker := ip("198.51.100.7")
	var res []Result
	for i := 0; i < 200000; i++ {
		var a [4]byte
		v := rng.Uint32()
		a[0], a[1], a[2], a[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		d.Check(netip.AddrFrom4(a))
		if i%100 == 0 {
			// the attacker: 20 requests per second, the flood 10,000
			res = append(res, d.Check(attacker))
		}
		if i%10000 == 9999 {
			c.advance(d, 1)
			if err := d.checkInvariants(); err != nil {
				t.Fatalf("after %d: %v", i, err)
			}
		}
	}
	s := d.Stats()
	t.Logf("stats after 200,000 spoofed sources: %+v", s)
	if s.Nodes > maxNodes || s.Evicted == 0 {
		t.Fatalf("nodes %d, evicted %d", s.Nodes, s.Evicted)
	}
	at := slices.Index(res, NewlyBlocked)
	if at < 0 || !d.IsBlocked(attacker) {
		t.Fatalf("attacker not detected: %v", res[:40])
	}
	t.Logf("attacker blocked at its hit %d", at+1)
	if hot := d.Top(SelectHot); len(hot) == 0 || hot[0].IP != attacker {
		t.Fatalf("top HOT: %+v", hot)
	}
}

// TestTinyTree: with MaxNodes 16 an IPv6 path fills the tree and nothing
// breaks; hits that cannot grow the tree pass.
func TestTinyTree(t *testing.T) {
	d, _ := newTest(2, 3, 120, MinMaxNodes)
	got := hits(d, "2001:db8::1", 25)
	if got[18] != NewlyBlocked {
		t.Fatalf("%v", got)
	}
	for i := 0; i < 100; i++ {
		d.Check(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}))
		mustInvariants(t, d)
	}
	if n := d.Stats().Nodes; n > MinMaxNodes {
		t.Fatalf("%d nodes", n)
	}
}

// TestMillionsOfSpoofedSources feeds millions of distinct addresses
// (IPv4 and IPv6) to the detector directly: the tree stays at its bound,
// the heap stays flat, and an attacker in the flood is detected.
func TestMillionsOfSpoofedSources(t *testing.T) {
	n := 3_000_000
	if testing.Short() || raceEnabled {
		n = 400_000
	}
	d, c := newTest(2, 30, 120, DefaultMaxNodes)
	rng := rand.New(rand.NewPCG(3, 4))
	attacker := ip("203.0.113.9")
	var heap []uint64
	detected := -1
	for i := 0; i < n; i++ {
		v := rng.Uint64()
		if i%8 == 0 {
			var a [16]byte
			a[0], a[1] = 0x20, 0x01
			for k := 2; k < 16; k++ {
				a[k] = byte(v >> (8 * (k % 8)))
			}
			d.Check(netip.AddrFrom16(a))
		} else {
			d.Check(netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}))
		}
		if i%2000 == 0 && d.Check(attacker) == NewlyBlocked {
			detected = i
		}
		if i%50000 == 49999 {
			c.advance(d, 1) // a flood of 50,000 packets per second
		}
		if i%500000 == 499999 {
			heap = append(heap, heapInUse())
		}
	}
	s := d.Stats()
	t.Logf("%d sources: %+v; heap in use per 500,000: %v KiB", n, s, kib(heap))
	if s.Nodes > DefaultMaxNodes {
		t.Fatalf("%d nodes", s.Nodes)
	}
	if detected < 0 {
		t.Fatal("attacker (25 requests per second in the flood) not detected")
	}
	if len(heap) >= 2 {
		// the tree is full after the first samples; the heap must not grow
		// further (allow 20% for map/slice slack)
		first, last := heap[1], heap[len(heap)-1]
		if last > first+first/5 {
			t.Fatalf("heap grew from %d KiB to %d KiB", first>>10, last>>10)
		}
	}
	if err := d.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

func kib(v []uint64) []uint64 {
	out := make([]uint64, len(v))
	for i, x := range v {
		out[i] = x >> 10
	}
	return out
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestConcurrent runs checks, early drops, ticks and listings at once
// (for the race detector) and verifies the bookkeeping afterwards.
func TestConcurrent(t *testing.T) {
	d, c := newTest(1, 5, 3, 5000)
	var mu sync.Mutex // guards the fake clock
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := 0; i < 20000; i++ {
				a := netip.AddrFrom4([4]byte{127, 0, byte(rng.IntN(4)), byte(rng.IntN(64))})
				switch i % 4 {
				case 0, 1:
					d.Check(a)
				case 2:
					d.DropHot(a)
				case 3:
					if i%400 == 3 {
						d.Top(SelectAll)
						d.Unblock(a)
					}
				}
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			mu.Lock()
			c.advance(d, 1)
			mu.Unlock()
			runtime.Gosched()
		}
	}()
	wg.Wait()
	mustInvariants(t, d)
}

// TestConfigErrors: out-of-range settings are refused with a reason.
func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{SamplingUnit: 0, MaxHits: 30, RemoveLatency: 120, MaxNodes: 100},
		{SamplingUnit: 2, MaxHits: 0, RemoveLatency: 120, MaxNodes: 100},
		{SamplingUnit: 2, MaxHits: 65536, RemoveLatency: 120, MaxNodes: 100},
		{SamplingUnit: 2, MaxHits: 30, RemoveLatency: -1, MaxNodes: 100},
		{SamplingUnit: 2, MaxHits: 30, RemoveLatency: 120, MaxNodes: 15},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	if _, err := New(DefaultConfig()); err != nil {
		t.Fatal(err)
	}
}

// FuzzDetector interprets the input as a sequence of operations on a small
// tree and checks the bookkeeping after each.
func FuzzDetector(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 0, 1, 0, 1, 3, 0, 1, 5})
	f.Add([]byte("\x00\x01\x00\x01\x00\x01\x00\x01\x00\x01\x00\x01\x00\x01\x02\x01\x04\x01\x03\x03\x03"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		d, c := newTest(2, 3, 4, 40)
		for i := 0; i+1 < len(ops) && i < 4000; i += 2 {
			op, arg := ops[i]%6, ops[i+1]
			a := netip.AddrFrom4([4]byte{127, arg >> 6, (arg >> 3) & 7, arg & 7})
			if arg&0x80 != 0 {
				a = netip.AddrFrom16([16]byte{0x20, 1, 13, 0xb8, 14: arg >> 4, 15: arg & 15})
			}
			switch op {
			case 0, 1:
				d.Check(a)
			case 2:
				d.DropHot(a)
			case 3:
				c.advance(d, int(arg%4))
			case 4:
				d.Unblock(a)
			case 5:
				d.Top(SelectAll)
			}
			if err := d.checkInvariants(); err != nil {
				t.Fatalf("op %d: %v", i/2, err)
			}
		}
	})
}
