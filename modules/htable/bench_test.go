package htable

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/ctlcli"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/servertest"
)

// BenchmarkScript measures script statements on the hot path, one route
// run per op, with the engine call they boil down to side by side. The
// key is $si (a PV returning an existing string, as the core module's
// does). Reads of integer items, increments and integer writes of
// existing keys must not allocate.
//
//	go test -run '^$' -bench BenchmarkScript -benchmem ./modules/htable
func BenchmarkScript(b *testing.B) {
	cases := []struct{ name, stmt string }{
		{"read", `$var(x) = $sht(t=>$si);`},
		{"read_missing_initval", `$var(x) = $sht(t=>nokey);`},
		{"shtinc", `$var(x) = $shtinc(t=>$si);`},
		{"write_int", `$sht(t=>$si) = 5;`},
		{"seed_read_plus_one_write", `$sht(t=>$si) = $sht(t=>$si) + 1;`},
		{"write_str", `$sht(t=>s) = "value";`},
		{"shtex_read", `$var(x) = $shtex(t=>$si);`},
		{"var_only_baseline", `$var(x) = 1;`},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			runScript(b, "t=>size=8;initval=0;autoexpire=3600", "", tc.stmt)
		})
	}
	// The same writes with the table persisted by write-behind: the hot
	// path only records the change for the writer goroutine.
	for _, tc := range cases[3:5] { // write_int, seed_read_plus_one_write
		b.Run(tc.name+"_dbmode2", func(b *testing.B) {
			wb := `modparam("htable", "db_url", "sqlite://` + b.TempDir() + `/wb.db")` + "\n"
			runScript(b, "t=>size=8;initval=0;autoexpire=3600;dbtable=t;dbmode=2", wb, tc.stmt)
		})
	}
	b.Run("engine_GetInitBytes", func(b *testing.B) {
		e := load(b, config([]string{"t=>size=8;initval=0;autoexpire=3600"}, ""))
		tab := e.mod.Table("t")
		tab.SetInt(kitSI, 1)
		key := []byte(kitSI)
		b.ReportAllocs()
		for range b.N {
			tab.GetInitBytes(key)
		}
	})
	b.Run("engine_AddBytes", func(b *testing.B) {
		e := load(b, config([]string{"t=>size=8;initval=0;autoexpire=3600"}, ""))
		tab := e.mod.Table("t")
		key := []byte(kitSI)
		b.ReportAllocs()
		for range b.N {
			tab.AddBytes(key, 1)
		}
	})
}

// runScript measures the request route made of stmt on a table defined
// by def, with t=>$si holding 1 and t=>s "old"; extra goes before the route.
func runScript(b *testing.B, def, extra, stmt string) {
	e := load(b, config([]string{def}, extra+body(stmt)))
	tab := e.mod.Table("t")
	tab.SetInt(kitSI, 1)
	tab.SetStr("s", "old")
	r := e.srv.Program.RequestRoute()
	c := e.ctx
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c.Reset(nil)
		r.Run(c)
	}
}

// TestHotPathZeroAlloc pins the zero-allocation promise of
// BenchmarkScript.
func TestHotPathZeroAlloc(t *testing.T) {
	for _, stmt := range []string{
		`$var(x) = $sht(t=>$si);`,
		`$var(x) = $shtinc(t=>$si);`,
		`$sht(t=>$si) = 5;`,
		`$sht(t=>$si) = $sht(t=>$si) + 1;`,
	} {
		e := load(t, config([]string{"t=>size=8;initval=0;autoexpire=3600"}, body(stmt)))
		e.mod.Table("t").SetInt(kitSI, 1)
		r := e.srv.Program.RequestRoute()
		if n := testing.AllocsPerRun(200, func() { e.ctx.Reset(nil); r.Run(e.ctx) }); n != 0 {
			t.Errorf("%s: %v allocations per run", stmt, n)
		}
	}
	e := load(t, config([]string{"ipban=>size=8"}, ""))
	e.mod.Table("ipban").SetStr("192.0.2.7", "flood")
	check, err := e.mod.BanChecker("ipban")
	if err != nil {
		t.Fatal(err)
	}
	addr := netipMust("192.0.2.7")
	if n := testing.AllocsPerRun(200, func() { check(addr) }); n != 0 {
		t.Errorf("BanChecker: %v allocations per call", n)
	}
}

// BenchmarkRPCGet measures htable.get over BINRPC (the ctl module's unix
// stream socket) and JSON-RPC over HTTP (xhttp + jsonrpcs), one client,
// on sipht and on Kamailio 5.6.3 side by side.
//
//	go test -run '^$' -bench BenchmarkRPCGet ./modules/htable
func BenchmarkRPCGet(b *testing.B) {
	r, ctl, httpAddr := startSipht(b, []string{"t=>size=8"}, "request_route { exit; }\n")
	modOf(r).Table("t").SetStr("alice", "hello")
	k := rpctest.StartKamailio(b, "t=>size=8")
	rpctest.Kamcmd(b, "-s", "unixs:"+k.CtlSocket, "htable.sets", "t", "alice", "hello")
	b.Run("binrpc/sipht", func(b *testing.B) { benchBINRPCGet(b, ctl) })
	b.Run("binrpc/kamailio", func(b *testing.B) { benchBINRPCGet(b, "unixs:"+k.CtlSocket) })
	b.Run("http/sipht", func(b *testing.B) { benchHTTPGet(b, httpAddr) })
	b.Run("http/kamailio", func(b *testing.B) { benchHTTPGet(b, k.HTTPAddr) })
}

func benchBINRPCGet(b *testing.B, spec string) {
	ctx := context.Background()
	c, err := binrpc.Dial(ctx, spec, binrpc.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	args := []rpc.Value{rpc.Str("t"), rpc.Str("alice")}
	b.ResetTimer()
	for range b.N {
		rep, err := c.Call(ctx, "htable.get", args...)
		if err != nil {
			b.Fatal(err)
		}
		if rep.IsFault() {
			b.Fatal("fault")
		}
		rep.Discard()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

func benchHTTPGet(b *testing.B, addr string) {
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	body := []byte(rpctest.JSONRequest("htable.get", "1", `"t"`, `"alice"`))
	b.ResetTimer()
	for range b.N {
		resp, err := cl.Post("http://"+addr+"/RPC", "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// peakHeap samples the heap while fn runs and returns the peak above the
// heap in use before, and the bytes allocated meanwhile.
func peakHeap(fn func()) (peak, allocated uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	total := ms.TotalAlloc
	var max atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > max.Load() {
				max.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	runtime.ReadMemStats(&ms)
	allocated = ms.TotalAlloc - total
	if max.Load() < base {
		return 0, allocated
	}
	return max.Load() - base, allocated
}

// BenchmarkDump1M dumps a table of 1M items through `sipht ctl` (BINRPC)
// and JSON-RPC over HTTP, reporting time, the peak extra heap of the
// process (server and streaming client together, garbage not yet
// collected included) and the bytes allocated while dumping. The table
// itself holds about 70 MiB; the reply streams, nothing holds it whole.
//
//	go test -run '^$' -bench BenchmarkDump1M -benchtime 1x ./modules/htable
func BenchmarkDump1M(b *testing.B) {
	const n = 1_000_000
	r, ctl, httpAddr := startSipht(b, []string{"big=>size=16"}, "request_route { exit; }\n")
	tab := modOf(r).Table("big")
	key := make([]byte, 0, 32)
	val := make([]byte, 0, 32)
	for i := range n {
		key = strconv.AppendInt(append(key[:0], "key"...), int64(i), 10)
		val = strconv.AppendInt(append(val[:0], "value"...), int64(i), 10)
		tab.SetStrBytes(key, val)
	}
	b.Run("ctl", func(b *testing.B) {
		var out countWriter
		var peak, alloc uint64
		b.ResetTimer()
		for range b.N {
			out = 0
			p, a := peakHeap(func() {
				var e bytes.Buffer
				if code := ctlcli.Main([]string{"-s", ctl, "htable.dump", "big"}, &out, &e); code != 0 {
					b.Fatalf("ctl: %d %s", code, e.String())
				}
			})
			peak, alloc = max(peak, p), a
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(alloc)/(1<<20), "alloc-MiB")
		b.ReportMetric(float64(out)/(1<<20), "output-MiB")
	})
	b.Run("http", func(b *testing.B) {
		addr := httpAddr
		body := rpctest.JSONRequest("htable.dump", "1", `"big"`)
		var size int64
		var peak, alloc uint64
		b.ResetTimer()
		for range b.N {
			p, a := peakHeap(func() {
				resp, err := http.Post("http://"+addr+"/RPC", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				size, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatal(resp.Status)
				}
			})
			peak, alloc = max(peak, p), a
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(alloc)/(1<<20), "alloc-MiB")
		b.ReportMetric(float64(size)/(1<<20), "output-MiB")
	})
}

type countWriter int64

func (w *countWriter) Write(p []byte) (int, error) { *w += countWriter(len(p)); return len(p), nil }

// BenchmarkSIPThroughput sends OPTIONS over loopback UDP (8 clients, each
// waiting for its reply) to a server whose route writes a new key per
// request ($sht(t=>$ci)) and a counter, with the table persisted by
// write-behind (dbmode=2 on SQLite, MariaDB or PostgreSQL) or kept in
// memory only (dbmode=0). cpu-µs/req counts the whole test process (the
// clients too), not the database servers.
//
//	go test -run '^$' -bench BenchmarkSIPThroughput -benchtime 20000x ./modules/htable
func BenchmarkSIPThroughput(b *testing.B) {
	routes := map[string]string{
		// worst case: every request a new key to persist
		"newkey": `$sht(t=>$ci) = $shtinc(t=>total);`,
		// the seed's pattern: a counter per source (one key here)
		"counter": `$sht(t=>$si) = $sht(t=>$si) + 1;`,
	}
	for _, wl := range []string{"newkey", "counter"} {
		for _, mode := range []string{"dbmode0", "dbmode2", "dbmode2-mysql", "dbmode2-postgres"} {
			b.Run(wl+"/"+mode, func(b *testing.B) {
				benchSIP(b, mode, "request_route {\n\t"+routes[wl]+"\n\tsl_send_reply(\"200\", \"OK\");\n\texit;\n}\n")
			})
		}
	}
}

func benchSIP(b *testing.B, mode, route string) {
	registerKit()
	def := "t=>size=14;initval=0;autoexpire=3600"
	extra := ""
	if url := benchDBURL(b, mode); url != "" {
		def += ";dbtable=t;dbmode=2"
		extra = `modparam("htable", "db_url", "` + url + `")` + "\n"
	}
	r := servertest.Start(b, config([]string{def}, extra+route))
	const clients = 8
	var next, retries atomic.Int64
	cpu0 := cpuTime()
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("udp", r.UDP)
			if err != nil {
				b.Error(err)
				return
			}
			defer conn.Close()
			buf := make([]byte, 4096)
			local := conn.LocalAddr().String()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				msg := fmt.Sprintf("OPTIONS sip:bench@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-%d-%d\r\nFrom: <sip:b@x>;tag=%d\r\nTo: <sip:bench@x>\r\nCall-ID: bench-%d-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
					r.UDP, local, c, i, i, c, i)
				cid := []byte(fmt.Sprintf("Call-ID: bench-%d-%d\r\n", c, i))
				for attempt := 0; ; attempt++ {
					conn.Write([]byte(msg))
					got := false
					conn.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
					for {
						n, err := conn.Read(buf)
						if err != nil {
							break
						}
						if bytes.Contains(buf[:n], cid) {
							got = true
							break
						}
					}
					if got {
						break
					}
					if attempt == 20 {
						b.Errorf("no reply to %d", i)
						return
					}
					retries.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if wb := modOf(r).state("t").wb.Load(); wb != nil {
		// count the database work of this run too
		if err := wb.w.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(retries.Load()), "retransmits")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/req")
}

// benchDBURL returns the db_url of a fresh database for a dbmode2 mode
// ("" for dbmode0): SQLite in a temp dir, or a new database on the local
// MariaDB or PostgreSQL server (skipped when absent); the module creates
// the table.
func benchDBURL(b *testing.B, mode string) string {
	switch mode {
	case "dbmode2":
		return "sqlite://" + b.TempDir() + "/wb.db"
	case "dbmode2-mysql":
		return dbtest.URL(b, db.MySQL)
	case "dbmode2-postgres":
		return dbtest.URL(b, db.Postgres)
	}
	return ""
}

func netipMust(s string) netip.Addr { return netip.MustParseAddr(s) }

// cpuTime is the CPU time (user + system) the test process has used:
// unlike wall time it hardly depends on what else runs on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
