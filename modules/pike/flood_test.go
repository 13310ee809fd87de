package pike_test

import (
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/sipio"
)

// floodRoute drops what pike blocks and answers the rest.
const floodRoute = `if (!pike_check_req()) { exit; }
sl_send_reply("200", "OK");`

// legitClient registers from src every interval until stop is closed and
// counts the answers. Like a UA over UDP it retransmits a REGISTER that
// got no reply (every 250 ms, 4 sends in all); a REGISTER whose 200 does
// not come within 1 s of the first send is lost. Replies are matched by
// Call-ID, so a late 200 is not taken for the next REGISTER's.
type legitClient struct {
	sent, answered atomic.Int64
	done           chan struct{}
}

func startLegit(t *testing.T, src, dst string, interval time.Duration, stop <-chan struct{}) *legitClient {
	l := &legitClient{done: make(chan struct{})}
	c := servertest.DialFrom(t, src+":0", dst)
	go func() {
		defer close(l.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			l.sent.Add(1)
			req := servertest.Request("REGISTER", "sip:127.0.0.1", []string{"Contact: <sip:pbx@" + c.Addr() + ">", "Expires: 60"}, "")
			callID := "Call-ID: " + servertest.Header(req, "Call-ID") + "\r\n"
		attempts:
			for range 4 {
				c.Send(t, req)
				deadline := time.Now().Add(250 * time.Millisecond)
				for {
					r := c.Read(t, time.Until(deadline))
					if r == "" {
						break // retransmit
					}
					if strings.HasPrefix(r, "SIP/2.0 200") && strings.Contains(r, callID) {
						l.answered.Add(1)
						break attempts
					}
				}
			}
		}
	}()
	return l
}

// paced calls send(i) for i in [from, to) at about rate per second.
func paced(from, to, rate int, send func(i int)) {
	start := time.Now()
	for i := from; i < to; i++ {
		send(i)
		if (i-from)%64 == 63 {
			due := start.Add(time.Duration(i-from+1) * time.Second / time.Duration(rate))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

// TestFloodSpoofedSources: a flood from hundreds of thousands of distinct
// (spoofed) 127.x.y.z sources and ports through the real UDP path. pike's
// tree stays at max_nodes, the heap stays flat, and an allowed PBX keeps
// getting answers to its REGISTERs.
func TestFloodSpoofedSources(t *testing.T) {
	n, rate := 300_000, 40_000
	if testing.Short() || raceEnabled {
		n, rate = 40_000, 20_000
	}
	const maxNodes = 20_000
	r := start(t, config(`
modparam("pike", "sampling_time_unit", 2)
modparam("pike", "reqs_density_per_unit", 16)
modparam("pike", "max_nodes", 20000)
modparam("pike", "early_drop", 1)
modparam("pike", "allow", "127.0.0.2")`, floodRoute))
	dst := netip.MustParseAddrPort(r.UDP)
	raw := newRawSender(t, dst)
	det := pikeModule(t, r).Detector()
	var buf []byte
	send := func(i int) {
		src := spoofed(i)
		buf = optionsFrom(buf[:0], src, i)
		if err := raw.send(src, buf); err != nil {
			t.Fatal(err)
		}
	}
	// fill the tree first
	paced(0, 40_000, rate, send)
	time.Sleep(200 * time.Millisecond)
	before := heapInUse()
	nodesBefore := det.Stats().Nodes

	stop := make(chan struct{})
	legit := startLegit(t, "127.0.0.2", r.UDP, 10*time.Millisecond, stop)
	t0 := time.Now()
	paced(40_000, 40_000+n, rate, send)
	el := time.Since(t0)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-legit.done
	after := heapInUse()
	st, ps := r.Srv.SIP().Stats(), det.Stats()
	t.Logf("%d spoofed sources in %v: OPTIONS handled %d, queue-full drops %d, filtered %d; pike %+v (nodes before %d); heap %d KiB -> %d KiB; PBX answered %d/%d",
		n, el.Round(time.Millisecond), st.RequestsIn["OPTIONS"], st.Dropped[sipio.DropQueueFull], st.Dropped[sipio.DropFiltered],
		ps, nodesBefore, before>>10, after>>10, legit.answered.Load(), legit.sent.Load())
	if ps.Nodes > maxNodes || ps.Evicted == 0 {
		t.Errorf("pike nodes %d (max %d), evicted %d", ps.Nodes, maxNodes, ps.Evicted)
	}
	if int(st.RequestsIn["OPTIONS"]) < n/2 {
		t.Errorf("the server handled only %d of %d flood requests: not a flood test", st.RequestsIn["OPTIONS"], n)
	}
	if after > before+8<<20 {
		t.Errorf("heap grew from %d KiB to %d KiB", before>>10, after>>10)
	}
	if s, a := legit.sent.Load(), legit.answered.Load(); s < 10 || a < s*8/10 {
		t.Errorf("PBX answered %d of %d", a, s)
	}
}

// TestFloodBlockedSources: a flood from a few sources that pike blocks is
// dropped before parsing (early drop), at full speed, while the PBX keeps
// getting answers; the flood sources stay blocked while they flood.
func TestFloodBlockedSources(t *testing.T) {
	dur := 3 * time.Second
	if testing.Short() || raceEnabled {
		dur = time.Second
	}
	r := start(t, config(`
modparam("pike", "sampling_time_unit", 2)
modparam("pike", "reqs_density_per_unit", 16)
modparam("pike", "early_drop", 1)
modparam("pike", "allow", "127.0.0.2")`, floodRoute))
	dst := netip.MustParseAddrPort(r.UDP)
	raw := newRawSender(t, dst)
	det := pikeModule(t, r).Detector()
	attackers := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.66:5060"), netip.MustParseAddrPort("127.0.0.67:5070"),
		netip.MustParseAddrPort("127.9.8.7:40000"), netip.MustParseAddrPort("127.200.1.1:5060"),
	}
	stop := make(chan struct{})
	legit := startLegit(t, "127.0.0.2", r.UDP, 10*time.Millisecond, stop)
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	before := r.Srv.SIP().Stats()
	t0 := time.Now()
	go func() {
		defer wg.Done()
		var buf []byte
		for i := 0; time.Since(t0) < dur; i++ {
			src := attackers[i%len(attackers)]
			buf = optionsFrom(buf[:0], src, i)
			if raw.send(src, buf) == nil {
				sent.Add(1)
			}
			if i%4096 == 0 {
				runtime.Gosched()
			}
		}
	}()
	wg.Wait()
	el := time.Since(t0)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-legit.done
	st, ps := r.Srv.SIP().Stats(), det.Stats()
	filtered := st.Dropped[sipio.DropFiltered] - before.Dropped[sipio.DropFiltered]
	parsed := st.RequestsIn["OPTIONS"] - before.RequestsIn["OPTIONS"]
	t.Logf("blocked-source flood: %d sent in %v (%.0f/s); dropped before parsing %d, parsed %d; pike %+v; PBX answered %d/%d",
		sent.Load(), el.Round(time.Millisecond), float64(sent.Load())/el.Seconds(), filtered, parsed, ps, legit.answered.Load(), legit.sent.Load())
	for _, a := range attackers {
		if !det.IsBlocked(a.Addr()) {
			t.Errorf("%s not blocked at the end of its flood", a.Addr())
		}
	}
	// parsed: the requests before each source's detection, and those
	// already queued for the workers when it came (at most a queue-full
	// per source)
	if limit := uint64(len(attackers) * (40 + st.QueueCap)); parsed > limit {
		t.Errorf("%d flood requests were parsed (more than %d): early drop did not work", parsed, limit)
	}
	if filtered < uint64(sent.Load())/4 {
		t.Errorf("only %d of %d dropped early", filtered, sent.Load())
	}
	if s, a := legit.sent.Load(), legit.answered.Load(); s < 10 || a < s*9/10 {
		t.Errorf("PBX answered %d of %d", a, s)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
