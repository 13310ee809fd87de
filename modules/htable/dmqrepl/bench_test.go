package dmqrepl

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/modules/dmq/dmqtest"
)

// The replication benchmark drives a pair of nodes with SIP, the same way
// for sipht and for Kamailio 5.6, and looks at the second node with SIP:
//
//   - MESSAGE to node 1: the script stores $sht(r=>$ci) and answers 200;
//   - OPTIONS with X-Key to node 2: 200 when $sht(r=>key) exists, 404 if not;
//   - INFO to node 2: 200 with the item count as reason phrase.
//
// Throughput: N distinct keys written through node 1 (64 requests in
// flight), until node 2 counts all of them. Latency: keys written one by
// one at a modest rate, each polled on node 2 every 0.5 ms until it shows.
//
// Until sipht's htable module (with $sht) and sl are in, the sipht nodes
// run a small test module with the same three behaviours.

var benchOnce sync.Once

// benchRegs maps a node's SIP address to the registry its bench_* functions use.
var benchRegs sync.Map

type benchMod struct{ h *module.Host }

func (m *benchMod) Params() []module.Param { return nil }
func (m *benchMod) Init(h *module.Host) error {
	m.h = h
	table := func(c *script.Ctx) *ht.Table {
		v, ok := benchRegs.Load(c.Msg.Local.String())
		if !ok {
			return nil
		}
		return v.(*ht.Registry).Table("r")
	}
	add := func(name string, fn func(c *script.Ctx, t *ht.Table) (int, string)) error {
		return h.Script.AddFunc(script.Func{Name: name, Module: "dmqbench", Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				t := table(c)
				if t == nil {
					return -1
				}
				code, reason := fn(c, t)
				h.SIP.Respond(c.Msg, code, reason, nil)
				return 1
			}, nil
		}})
	}
	// bench(): MESSAGE stores $ci, OPTIONS looks up X-Key, INFO counts
	return add("bench", func(c *script.Ctx, t *ht.Table) (int, string) {
		switch c.Msg.Req.Method {
		case "MESSAGE":
			t.SetStr(c.Msg.Req.CallID().Value(), "v")
			return 200, "OK"
		case "OPTIONS":
			if h := c.Msg.Req.GetHeader("X-Key"); h != nil && t.Has(h.Value()) {
				return 200, "found"
			}
			return 404, "absent"
		}
		return 200, strconv.Itoa(t.Len())
	})
}

const benchTable = "r=>size=14;dmqreplicate=1"

// benchSipht starts two sipht nodes and returns their SIP addresses;
// ext=false runs them with sipht_extensions 0 (Kamailio's protocol).
func benchSipht(b *testing.B, ext bool) (string, string) {
	benchOnce.Do(func() {
		module.Register(module.Info{Name: "dmqbench", New: func() module.Module { return &benchMod{} }})
	})
	route := `bench(); exit;`
	mk := func(ip string, notify []string) *rnode {
		n := &rnode{t: nil, defs: []string{benchTable}, opts: Options{SyncInterval: -1}}
		var params []string
		if !ext {
			params = []string{`"sipht_extensions", 0`}
		}
		n.node = dmqtest.Start(b, dmqtest.Options{IP: ip, Notify: notify, DMQParams: params, Before: "loadmodule \"dmqbench.so\"\n", Route: route})
		n.attachB(b)
		benchRegs.Store(n.node.Addr(), n.reg)
		b.Cleanup(func() { n.rep.Stop() })
		return n
	}
	a := mk("127.0.0.51", nil)
	c := mk("127.0.0.52", []string{a.node.URI()})
	dmqtest.Eventually(b, 10*time.Second, func() bool {
		return len(a.node.DMQ().Active()) == 1 && len(c.node.DMQ().Active()) == 1 && a.node.DMQ().Active()[0].Info.Sipht == ext
	}, "sipht pair not joined")
	return a.node.Addr(), c.node.Addr()
}

func (n *rnode) attachB(b testing.TB) {
	n.reg = ht.NewRegistry()
	for _, d := range n.defs {
		if _, err := n.reg.Define(d); err != nil {
			b.Fatal(err)
		}
	}
	rep, err := New(n.reg, n.node.DMQ(), n.opts)
	if err != nil {
		b.Fatal(err)
	}
	n.rep = rep
	rep.Start(nil)
}

// benchKamailio starts two Kamailio 5.6 nodes with shm MB of shared memory.
func benchKamailio(b *testing.B, shm int) (string, string) {
	route := `if ($rm == "MESSAGE") { $sht(r=>$ci) = "v"; sl_send_reply("200", "OK"); exit; }
	if ($rm == "OPTIONS") { if ($sht(r=>$hdr(X-Key)) != $null) { sl_send_reply("200", "found"); } else { sl_send_reply("404", "absent"); } exit; }
	if ($rm == "INFO") { sl_send_reply("200", "$shtcn(r=>**)"); exit; }`
	k1 := dmqtest.StartKamailio(b, dmqtest.KamailioOptions{IP: "127.0.0.53", Tables: []string{"r=>size=14;dmqreplicate=1;"}, Route: route, ShmMB: shm})
	k2 := dmqtest.StartKamailio(b, dmqtest.KamailioOptions{IP: "127.0.0.54", Notify: []string{k1.URI()}, Tables: []string{"r=>size=14;dmqreplicate=1;"}, Route: route, ShmMB: shm})
	dmqtest.Eventually(b, 15*time.Second, func() bool {
		return strings.Count(k1.Kamcmd(b, "dmq.list_nodes"), "status: active") == 2 &&
			strings.Count(k2.Kamcmd(b, "dmq.list_nodes"), "status: active") == 2
	}, "kamailio pair not joined")
	b.Cleanup(func() {
		if testing.Verbose() {
			b.Logf("k1 log: %d lines with 'no more shm'", strings.Count(k1.Log(), "no more shm"))
		}
	})
	return k1.Addr(), k2.Addr()
}

// sipClient sends requests and collects replies by Call-ID.
type sipClient struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	waiting map[string]chan string
	seq     atomic.Uint64
}

func newSIPClient(b testing.TB) *sipClient {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 50)})
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadBuffer(8 << 20)
	cl := &sipClient{conn: c, waiting: map[string]chan string{}}
	go cl.read()
	b.Cleanup(func() { c.Close() })
	return cl
}

func (c *sipClient) read() {
	buf := make([]byte, 65536)
	for {
		n, _, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		msg := string(buf[:n])
		i := strings.Index(msg, "\r\nCall-ID: ")
		if i < 0 {
			continue
		}
		id := msg[i+11:]
		id = id[:strings.Index(id, "\r\n")]
		c.mu.Lock()
		ch := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if ch != nil {
			line := msg[:strings.Index(msg, "\r\n")]
			ch <- line
		}
	}
}

// do sends a request and returns the status line ("" after 2 s).
func (c *sipClient) do(to *net.UDPAddr, method, callID string, hdr string) string {
	ch := make(chan string, 1)
	c.mu.Lock()
	c.waiting[callID] = ch
	c.mu.Unlock()
	s := c.seq.Add(1)
	local := c.conn.LocalAddr().String()
	msg := fmt.Sprintf("%s sip:bench@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-b%d;rport\r\nFrom: <sip:b@%s>;tag=%d\r\nTo: <sip:bench@%s>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n",
		method, to, local, s, local, s, to, callID, method, hdr)
	c.conn.WriteToUDP([]byte(msg), to)
	select {
	case line := <-ch:
		return line
	case <-time.After(2 * time.Second):
		c.mu.Lock()
		delete(c.waiting, callID)
		c.mu.Unlock()
		return ""
	}
}

func (c *sipClient) count(to *net.UDPAddr) int {
	line := c.do(to, "INFO", fmt.Sprintf("cnt-%d", c.seq.Add(1)), "")
	n, _ := strconv.Atoi(strings.TrimPrefix(line, "SIP/2.0 200 "))
	return n
}

type benchResult struct {
	rate          float64
	written, seen int
	p50, p99      time.Duration
}

func runReplicationBench(b *testing.B, n1, n2 string, n int) benchResult {
	a1, _ := net.ResolveUDPAddr("udp", n1)
	a2, _ := net.ResolveUDPAddr("udp", n2)
	cl := newSIPClient(b)
	prefix := fmt.Sprintf("k%d-", time.Now().UnixNano())
	// throughput
	start := time.Now()
	var ok atomic.Int64
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if strings.HasPrefix(cl.do(a1, "MESSAGE", prefix+strconv.Itoa(i), ""), "SIP/2.0 200") {
				ok.Add(1)
			}
		}(i)
	}
	wg.Wait()
	var res benchResult
	res.written = int(ok.Load())
	deadline := time.Now().Add(60 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		res.seen = cl.count(a2)
		if res.seen >= res.written {
			break
		}
		if res.seen == last && time.Since(start) > 20*time.Second {
			break // stuck: report what arrived
		}
		last = res.seen
		time.Sleep(5 * time.Millisecond)
	}
	res.rate = float64(res.seen) / time.Since(start).Seconds()
	// latency, one key at a time, 200 writes/s
	const samples = 300
	lat := make([]time.Duration, 0, samples)
	for i := 0; i < samples; i++ {
		key := fmt.Sprintf("%slat-%d", prefix, i)
		if !strings.HasPrefix(cl.do(a1, "MESSAGE", key, ""), "SIP/2.0 200") {
			continue
		}
		t0 := time.Now()
		for time.Since(t0) < 2*time.Second {
			if strings.HasPrefix(cl.do(a2, "OPTIONS", fmt.Sprintf("probe-%d", cl.seq.Add(1)), "X-Key: "+key+"\r\n"), "SIP/2.0 200") {
				lat = append(lat, time.Since(t0))
				break
			}
			time.Sleep(500 * time.Microsecond)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.p50 = lat[len(lat)/2]
		res.p99 = lat[len(lat)*99/100]
	}
	return res
}

// BenchmarkReplication: go test -run XXX -bench Replication -benchtime 1x ./modules/htable/dmqrepl/
func BenchmarkReplication(b *testing.B) {
	const n = 20000
	for _, sys := range []struct {
		name  string
		start func(*testing.B) (string, string)
	}{
		{"sipht", func(b *testing.B) (string, string) { return benchSipht(b, true) }},
		{"sipht-kamailio-protocol", func(b *testing.B) (string, string) { return benchSipht(b, false) }},
		{"kamailio-5.6-shm512", func(b *testing.B) (string, string) { return benchKamailio(b, 512) }},
		{"kamailio-5.6-shm64", func(b *testing.B) (string, string) { return benchKamailio(b, 64) }},
	} {
		b.Run(sys.name, func(b *testing.B) {
			n1, n2 := sys.start(b)
			b.ResetTimer()
			var r benchResult
			for i := 0; i < b.N; i++ {
				r = runReplicationBench(b, n1, n2, n)
			}
			b.StopTimer()
			b.ReportMetric(r.rate, "updates/s")
			b.ReportMetric(float64(r.p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(r.p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(r.written-r.seen), "lost")
			b.Logf("%s: %d written through node 1, %d visible on node 2, %.0f updates/s; visibility p50 %v p99 %v",
				sys.name, r.written, r.seen, r.rate, r.p50, r.p99)
		})
	}
}

func tailStr(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
