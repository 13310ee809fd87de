package htable_test

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

	"github.com/sipht/sipht/modules/dmq/dmqtest"
)

// The replication benchmark runs the same config on a pair of sipht nodes
// and on a pair of Kamailio 5.6 nodes, drives node 1 with SIP and looks at
// node 2 with SIP:
//
//   - MESSAGE to node 1: $sht(r=>$ci) = "v", 200;
//   - OPTIONS with X-Key to node 2: 200 when $sht(r=>key) exists, 404 if not;
//   - INFO to node 2: 200 with the item count as reason phrase.
//
// Throughput: 20,000 distinct keys written through node 1 (64 requests in
// flight), until node 2 counts all of them. Latency: 300 keys written one by
// one, each polled on node 2 every 0.5 ms until it shows.
//
//	go test -run XXX -bench DMQReplication -benchtime 1x ./modules/htable/

const benchRoute = `if ($rm == "MESSAGE") { $sht(r=>$ci) = "v"; sl_send_reply("200", "OK"); exit; }
	if ($rm == "OPTIONS") { if ($sht(r=>$hdr(X-Key)) != $null) { sl_send_reply("200", "found"); } else { sl_send_reply("404", "absent"); } exit; }
	if ($rm == "INFO") { sl_send_reply("200", "$shtcn(r=>**)"); exit; }`

const benchTableDef = "r=>size=14;dmqreplicate=1;"

// benchSipht starts two sipht nodes with the benchmark config; ext=false
// runs them with sipht_extensions 0 (Kamailio's protocol only).
func benchSipht(b *testing.B, ext bool) (string, string) {
	mk := func(ip string, notify []string) *dmqtest.Node {
		params := []string{}
		if !ext {
			params = append(params, `"sipht_extensions", 0`)
		}
		return dmqtest.Start(b, dmqtest.Options{IP: ip, Notify: notify, DMQParams: params, Route: benchRoute,
			Before: `loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "htable.so"
modparam("htable", "enable_dmq", 1)
modparam("htable", "htable", "` + benchTableDef + `")
`})
	}
	a := mk("127.0.0.51", nil)
	c := mk("127.0.0.52", []string{a.URI()})
	dmqtest.Eventually(b, 10*time.Second, func() bool {
		return len(a.DMQ().Active()) == 1 && len(c.DMQ().Active()) == 1 && a.DMQ().Active()[0].Info.Sipht == ext
	}, "sipht pair not joined")
	return a.Addr(), c.Addr()
}

// benchKamailio starts two Kamailio 5.6 nodes with shm MB of shared memory.
func benchKamailio(b *testing.B, shm int) (string, string) {
	k1 := dmqtest.StartKamailio(b, dmqtest.KamailioOptions{IP: "127.0.0.53", Tables: []string{benchTableDef}, Route: benchRoute, ShmMB: shm})
	k2 := dmqtest.StartKamailio(b, dmqtest.KamailioOptions{IP: "127.0.0.54", Notify: []string{k1.URI()}, Tables: []string{benchTableDef}, Route: benchRoute, ShmMB: shm})
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

type benchResult struct {
	rate          float64
	written, seen int
	p50, p99      time.Duration
}

func runReplicationBench(b *testing.B, n1, n2 string, n int) benchResult {
	a1, _ := net.ResolveUDPAddr("udp", n1)
	a2, _ := net.ResolveUDPAddr("udp", n2)
	cl := dmqtest.NewSIPClient(b)
	prefix := fmt.Sprintf("k%d-", time.Now().UnixNano())
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
			if strings.HasPrefix(cl.Do(a1, "MESSAGE", prefix+strconv.Itoa(i), ""), "SIP/2.0 200") {
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
		res.seen = cl.Count(a2)
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
	const samples = 300
	lat := make([]time.Duration, 0, samples)
	for i := 0; i < samples; i++ {
		key := fmt.Sprintf("%slat-%d", prefix, i)
		if !strings.HasPrefix(cl.Do(a1, "MESSAGE", key, ""), "SIP/2.0 200") {
			continue
		}
		t0 := time.Now()
		for time.Since(t0) < 2*time.Second {
			if strings.HasPrefix(cl.Do(a2, "OPTIONS", fmt.Sprintf("probe-%d", cl.Seq()), "X-Key: "+key+"\r\n"), "SIP/2.0 200") {
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

func BenchmarkDMQReplication(b *testing.B) {
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
