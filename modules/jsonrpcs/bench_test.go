package jsonrpcs_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/rpc/rpcbench"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
)

// direct starts the transports alone on a registry (what
// internal/rpc/rpcbench measures): the baseline for the module numbers.
func direct(b *testing.B, dir string, items int) (ctlSpec, url string) {
	ctlSpec, url, _ = rpcbench.Serve(b, filepath.Join(dir, "direct"), []rpctest.TableDef{{Name: "t", Size: 4}}, rpctest.DumpGenerator(items, 12))
	return ctlSpec, url
}

// throughModules starts a whole sipht with ctl, xhttp and jsonrpcs: BINRPC
// through the ctl module, JSON-RPC through event_route[xhttp:request] on
// the SIP TCP socket.
func throughModules(b *testing.B, dir string, items int) (ctlSpec, url string) {
	rpctest.RegisterModule()
	sock := filepath.Join(dir, "ctl")
	r := servertest.Start(b, fmt.Sprintf(`#!KAMAILIO
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
children=2
loadmodule "ctl.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "rpctest_htable.so"
modparam("ctl", "binrpc", "unixs:%s")
modparam("jsonrpcs", "transport", 1)
modparam("rpctest_htable", "dump_items", %d)
request_route { exit; }
event_route[xhttp:request] {
	if ($hu =~ "^/RPC") { jsonrpc_dispatch(); exit; }
	xhttp_reply("404", "Not Found", "text/plain", "no");
}
`, sock, items))
	rpctest.PostRPC(b, r.TCP, rpctest.JSONRequest("htable.sets", "1", `"t"`, `"alice"`, `"hello"`))
	return "unixs:" + sock, "http://" + r.TCP + "/RPC"
}

// BenchmarkRPC measures htable.get calls per second on one connection
// (BINRPC; HTTP keep-alive) through the modules of a running sipht
// (ctl; xhttp event route + jsonrpc_dispatch() on the SIP TCP socket),
// through the transports alone (as internal/rpc/rpcbench), and through
// Kamailio 5.6 with the same client when it is installed. Run:
//
//	go test -run '^$' -bench RPC -benchtime 5000x ./modules/jsonrpcs/
func BenchmarkRPC(b *testing.B) {
	dir := testutil.ShortTempDir(b)
	dCtl, dURL := direct(b, dir, 10)
	mCtl, mURL := throughModules(b, dir, 10)
	var k *rpctest.Kamailio
	if _, err := os.Stat("/usr/sbin/kamailio"); err == nil {
		k = rpctest.StartKamailio(b, "t=>size=4;")
		rpctest.PostRPC(b, k.HTTPAddr, rpctest.JSONRequest("htable.sets", "1", `"t"`, `"alice"`, `"hello"`))
	}
	b.Run("binrpc/module", func(b *testing.B) { rpcbench.BINRPCGet(b, mCtl) })
	b.Run("binrpc/direct", func(b *testing.B) { rpcbench.BINRPCGet(b, dCtl) })
	b.Run("http/module", func(b *testing.B) { rpcbench.HTTPGet(b, mURL) })
	b.Run("http/direct", func(b *testing.B) { rpcbench.HTTPGet(b, dURL) })
	if k != nil {
		b.Run("binrpc/kamailio", func(b *testing.B) { rpcbench.BINRPCGet(b, "unixs:"+k.CtlSocket) })
		b.Run("http/kamailio", func(b *testing.B) { rpcbench.HTTPGet(b, "http://"+k.HTTPAddr+"/RPC") })
	}
}

// BenchmarkDumpHTTP measures a 1,000,000-item generated dump over HTTP
// JSON-RPC through the xhttp event route and through the transport alone:
// time per dump and peak heap growth (the reply streams, memory does not
// grow with it). Run:
//
//	go test -run '^$' -bench DumpHTTP -benchtime 1x ./modules/jsonrpcs/
func BenchmarkDumpHTTP(b *testing.B) {
	const n = 1_000_000
	dir := testutil.ShortTempDir(b)
	_, dURL := direct(b, dir, n)
	_, mURL := throughModules(b, dir, n)
	run := func(b *testing.B, url string) {
		var peak uint64
		var out rpcbench.CountWriter
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			out.N = 0
			peak = max(peak, rpctest.PeakHeap(func() {
				resp, err := http.Post(url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","method":"bench.dump","id":1}`))
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				if _, err := io.Copy(&out, resp.Body); err != nil {
					b.Fatal(err)
				}
			}))
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(out.N)/(1<<20), "output-MB")
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/dump")
	}
	b.Run("module", func(b *testing.B) { run(b, mURL) })
	b.Run("direct", func(b *testing.B) { run(b, dURL) })
}
