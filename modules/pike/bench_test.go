package pike_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	siphtserver "github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/sipio"
)

// The benchmarks measure the server's CPU per received datagram through the
// real UDP path. The datagrams come from a separate sender process (this
// test binary re-run as TestPikeBenchSender with raw sockets) so that the
// benchmark process's CPU time (getrusage) is the server's alone.
//
//	go test ./modules/pike -run '^$' -bench ServerCPU -benchtime 200000x
//	go test ./modules/pike -run '^$' -bench FloodAbsorb

const senderEnv = "SIPHT_PIKE_BENCH_SENDER"

// senderJob is what the sender process does.
type senderJob struct {
	Dst     string        // server address
	Sources []string      // source ip:port list, used round robin; empty: spoofed distinct sources
	N       int           // datagrams to send (0: until Dur is over)
	Rate    int           // datagrams per second (0: as fast as possible)
	Dur     time.Duration // with N == 0
}

// TestPikeBenchSender is the sender process of the benchmarks; it does
// nothing in a normal test run.
func TestPikeBenchSender(t *testing.T) {
	js := os.Getenv(senderEnv)
	if js == "" {
		t.Skip("only run by the benchmarks, as their sender process")
	}
	var job senderJob
	if err := json.Unmarshal([]byte(js), &job); err != nil {
		t.Fatal(err)
	}
	raw := newRawSender(t, netip.MustParseAddrPort(job.Dst))
	var srcs []netip.AddrPort
	for _, s := range job.Sources {
		srcs = append(srcs, netip.MustParseAddrPort(s))
	}
	var buf []byte
	sent := 0
	start := time.Now()
	for i := 0; ; i++ {
		if job.N > 0 && i >= job.N || job.N == 0 && i%256 == 0 && time.Since(start) >= job.Dur {
			break
		}
		src := spoofed(i)
		if len(srcs) > 0 {
			src = srcs[i%len(srcs)]
		}
		buf = optionsFrom(buf[:0], src, i)
		if raw.send(src, buf) == nil {
			sent++
		}
		if job.Rate > 0 && i%64 == 63 {
			if d := time.Until(start.Add(time.Duration(i+1) * time.Second / time.Duration(job.Rate))); d > 0 {
				time.Sleep(d)
			}
		}
	}
	fmt.Printf("SENT %d %d\n", sent, time.Since(start).Nanoseconds())
}

// runSender runs the sender process and returns how many datagrams it sent
// and for how long.
func runSender(b *testing.B, job senderJob) (int, time.Duration) {
	b.Helper()
	js, _ := json.Marshal(job)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPikeBenchSender$", "-test.v")
	cmd.Env = append(os.Environ(), senderEnv+"="+string(js))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("sender: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var n int
		var ns int64
		if _, err := fmt.Sscanf(sc.Text(), "SENT %d %d", &n, &ns); err == nil {
			return n, time.Duration(ns)
		}
	}
	b.Fatalf("sender said nothing useful:\n%s", out)
	return 0, 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// handled is how many flood datagrams (OPTIONS) the server has dealt with
// in some way: dropped early, dropped for a full queue, or parsed.
func handled(st sipio.Stats) uint64 {
	return st.Dropped[sipio.DropFiltered] + st.Dropped[sipio.DropQueueFull] + st.ParseErrors + st.RequestsIn["OPTIONS"]
}

// settle waits until the server's counters stop moving.
func settle(r *servertest.Running) {
	last := handled(r.Srv.SIP().Stats())
	for {
		time.Sleep(50 * time.Millisecond)
		n := handled(r.Srv.SIP().Stats())
		if n == last {
			return
		}
		last = n
	}
}

// udpKernelDrops reads the host's UDP receive-buffer drops.
func udpKernelDrops() uint64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		if i := slices.Index(names, "RcvbufErrors"); i > 0 && i < len(f) {
			v, _ := strconv.ParseUint(f[i], 10, 64)
			return v
		}
	}
	return 0
}

// benchServer starts the server the benchmarks use: pike with early drop
// and a ban table (htable ipban, holding 127.0.0.77), 127.0.0.2 allowed.
func benchServer(b *testing.B) *servertest.Running {
	servertest.RegisterStub()
	src := `loadmodule "servertest_stub.so"
loadmodule "htable.so"
loadmodule "pike.so"
modparam("htable", "htable", "ipban=>size=8;autoexpire=300")
modparam("pike", "sampling_time_unit", 2)
modparam("pike", "reqs_density_per_unit", 16)
modparam("pike", "early_drop", 1)
modparam("pike", "early_drop_table", "ipban")
modparam("pike", "allow", "127.0.0.2")
request_route {
	if (!pike_check_req()) { exit; }
	sl_send_reply("200", "OK");
}
`
	r := servertest.Start(b, src, func(o *siphtserver.Options) {
		o.ListenOverride = []sipio.ListenSpec{{Transport: sipio.UDP, Host: "127.0.0.1"}}
		o.Logger = quiet
	})
	rpcJSON(b, r, "htable.seti", "ipban", "127.0.0.77", "1")
	return r
}

// BenchmarkServerCPU: server CPU per datagram, side by side: dropped
// before parsing (a source pike blocks; a source in the ban table) versus
// fully processed (parse, script with pike_check_req, 200 reply) from an
// allowed source and from distinct spoofed sources (pike counts each).
func BenchmarkServerCPU(b *testing.B) {
	r := benchServer(b)
	// make 127.0.0.66 blocked
	c := servertest.DialFrom(b, "127.0.0.66:0", r.UDP)
	for i := 0; i < 40; i++ {
		c.Send(b, servertest.Request("OPTIONS", "sip:127.0.0.1", nil, ""))
	}
	time.Sleep(100 * time.Millisecond)
	if !pikeModule(b, r).Detector().IsBlocked(netip.MustParseAddr("127.0.0.66")) {
		b.Fatal("127.0.0.66 not blocked")
	}
	for _, bc := range []struct {
		name    string
		sources []string
		rate    int
	}{
		{"dropped_pike_blocked", []string{"127.0.0.66:5060"}, 150_000},
		{"dropped_pike_blocked_unpaced", []string{"127.0.0.66:5060"}, 0},
		{"dropped_ban_table", []string{"127.0.0.77:5060"}, 150_000},
		{"processed_allowed", []string{"127.0.0.2:5060"}, 20_000},
		{"processed_spoofed", nil, 20_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st0, k0 := r.Srv.SIP().Stats(), udpKernelDrops()
			cpu0, t0 := cpuTime(), time.Now()
			sent, _ := runSender(b, senderJob{Dst: r.UDP, Sources: bc.sources, N: b.N, Rate: bc.rate})
			settle(r)
			cpu, el := cpuTime()-cpu0, time.Since(t0)
			st := r.Srv.SIP().Stats()
			h := handled(st) - handled(st0)
			if h == 0 {
				b.Fatal("the server handled nothing")
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(h), "cpu-ns/datagram")
			b.ReportMetric(float64(h)/el.Seconds(), "datagrams/s")
			b.ReportMetric(float64(h)/float64(sent), "handled/sent")
			b.Logf("%s: sent %d, handled %d (filtered %d, parsed %d, queue-full %d), kernel drops %d, server CPU %v in %v",
				bc.name, sent, h, st.Dropped[sipio.DropFiltered]-st0.Dropped[sipio.DropFiltered],
				st.RequestsIn["OPTIONS"]-st0.RequestsIn["OPTIONS"], st.Dropped[sipio.DropQueueFull]-st0.Dropped[sipio.DropQueueFull],
				udpKernelDrops()-k0, cpu.Round(time.Millisecond), el.Round(time.Millisecond))
		})
	}
}

// BenchmarkFloodAbsorb: a 3 s flood as fast as one sender core can send it
// from 4 sources pike has blocked and 1 in the ban table, while an allowed
// PBX registers every 10 ms. It reports the flood rate the server read and
// dropped, the kernel's drops, the PBX's answer ratio and its worst
// latency, and the server's CPU use. It runs one flood whatever b.N is
// (with the default -benchtime the framework stops after it).
func BenchmarkFloodAbsorb(b *testing.B) {
	r := benchServer(b)
	attackers := []string{"127.0.0.66:5060", "127.0.0.67:5060", "127.9.8.7:40000", "127.200.1.1:5060"}
	for _, a := range attackers {
		c := servertest.DialFrom(b, strings.Split(a, ":")[0]+":0", r.UDP)
		for i := 0; i < 40; i++ {
			c.Send(b, servertest.Request("OPTIONS", "sip:127.0.0.1", nil, ""))
		}
	}
	time.Sleep(100 * time.Millisecond)
	{
		stop := make(chan struct{})
		lat := make(chan time.Duration, 1000)
		pbx := servertest.DialFrom(b, "127.0.0.2:0", r.UDP)
		var sentReg, okReg int
		done := make(chan struct{})
		go func() {
			defer close(done)
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				sentReg++
				t0 := time.Now()
				pbx.Send(b, servertest.Request("REGISTER", "sip:127.0.0.1", []string{"Contact: <sip:pbx@" + pbx.Addr() + ">"}, ""))
				if rep := pbx.Read(b, 500*time.Millisecond); strings.HasPrefix(rep, "SIP/2.0 200") {
					okReg++
					select {
					case lat <- time.Since(t0):
					default:
					}
				}
			}
		}()
		st0, k0, cpu0 := r.Srv.SIP().Stats(), udpKernelDrops(), cpuTime()
		sent, dur := runSender(b, senderJob{Dst: r.UDP, Sources: append(attackers, "127.0.0.77:5060"), Dur: 3 * time.Second})
		settle(r)
		cpu := cpuTime() - cpu0
		close(stop)
		<-done
		close(lat)
		var worst time.Duration
		for l := range lat {
			worst = max(worst, l)
		}
		st := r.Srv.SIP().Stats()
		filtered := st.Dropped[sipio.DropFiltered] - st0.Dropped[sipio.DropFiltered]
		b.ReportMetric(float64(sent)/dur.Seconds(), "offered/s")
		b.ReportMetric(float64(filtered)/dur.Seconds(), "dropped-early/s")
		b.ReportMetric(100*float64(okReg)/float64(max(sentReg, 1)), "pbx-answered-%")
		b.ReportMetric(float64(worst.Microseconds())/1000, "pbx-worst-ms")
		b.ReportMetric(100*cpu.Seconds()/dur.Seconds(), "server-cpu-%")
		b.Logf("flood: sent %d in %v, dropped early %d, parsed %d, kernel drops %d; PBX %d/%d answered, worst %v; server CPU %v",
			sent, dur.Round(time.Millisecond), filtered, st.RequestsIn["OPTIONS"]-st0.RequestsIn["OPTIONS"], udpKernelDrops()-k0,
			okReg, sentReg, worst.Round(time.Microsecond), cpu.Round(time.Millisecond))
	}
}
