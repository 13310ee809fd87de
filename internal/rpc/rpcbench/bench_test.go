package rpcbench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/ctlcli"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/testutil"
)

func sipht(b *testing.B, extra ...rpc.Method) (ctlSpec, httpURL string, f *rpctest.FakeHTable) {
	b.Helper()
	dir := testutil.ShortTempDir(b)
	return Serve(b, filepath.Join(dir, "ctl"), []rpctest.TableDef{{Name: "t", Size: 4}, {Name: "big", Size: 16}}, extra...)
}

func benchCtl(b *testing.B, spec string) {
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := ctlcli.Main([]string{"-s", spec, "htable.get", "t", "alice"}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// BenchmarkGet measures htable.get calls per second on one connection
// (BINRPC, HTTP keep-alive) and with a new connection per call like kamcmd
// (sipht ctl), against sipht and against Kamailio 5.6 with the same
// client when Kamailio is installed.
func BenchmarkGet(b *testing.B) {
	ctlSpec, url, _ := sipht(b)
	var k *rpctest.Kamailio
	if _, err := os.Stat("/usr/sbin/kamailio"); err == nil {
		k = rpctest.StartKamailio(b, "t=>size=4;")
		c, _ := binrpc.Dial(context.Background(), "unixs:"+k.CtlSocket, binrpc.ClientOptions{})
		c.Call(context.Background(), "htable.sets", rpc.Str("t"), rpc.Str("alice"), rpc.Str("hello"))
		c.Close()
	}
	b.Run("binrpc/sipht", func(b *testing.B) { BINRPCGet(b, ctlSpec) })
	b.Run("http/sipht", func(b *testing.B) { HTTPGet(b, url) })
	b.Run("ctl-per-call/sipht", func(b *testing.B) { benchCtl(b, ctlSpec) })
	if k != nil {
		b.Run("binrpc/kamailio", func(b *testing.B) { BINRPCGet(b, "unixs:"+k.CtlSocket) })
		b.Run("http/kamailio", func(b *testing.B) { HTTPGet(b, "http://"+k.HTTPAddr+"/RPC") })
		b.Run("ctl-per-call/kamailio", func(b *testing.B) { benchCtl(b, "unixs:"+k.CtlSocket) })
	}
}

// BenchmarkDump measures a dump of n items end to end in one process
// (server and client): time, bytes of output, and the peak heap growth,
// over BINRPC printed by sipht ctl (kamcmd format and --json) and over
// HTTP JSON-RPC. "gen" dumps a generated table (the RPC path alone),
// "table" the fake htable filled with n items (the table's own memory
// is allocated before the measurement).
func BenchmarkDump(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		ctlSpec, url, f := sipht(b, rpctest.DumpGenerator(n, 16))
		name := fmt.Sprintf("%dk", n/1000)
		run := func(b *testing.B, fn func(w io.Writer) error) {
			var peak uint64
			var out CountWriter
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				out.N = 0
				p := rpctest.PeakHeap(func() {
					if err := fn(&out); err != nil {
						b.Fatal(err)
					}
				})
				peak = max(peak, p)
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(out.N)/(1<<20), "output-MB")
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/dump")
		}
		ctl := func(args ...string) func(w io.Writer) error {
			return func(w io.Writer) error {
				var e strings.Builder
				if code := ctlcli.Main(append([]string{"-s", ctlSpec}, args...), w, &e); code != 0 {
					return fmt.Errorf("exit %d: %s", code, e.String())
				}
				return nil
			}
		}
		httpDump := func(method string) func(w io.Writer) error {
			return func(w io.Writer) error {
				resp, err := http.Post(url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","method":"`+method+`","params":["big"],"id":1}`))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				_, err = io.Copy(w, resp.Body)
				return err
			}
		}
		b.Run(name+"/gen/binrpc-ctl", func(b *testing.B) { run(b, ctl("bench.dump")) })
		b.Run(name+"/gen/binrpc-ctl-json", func(b *testing.B) { run(b, ctl("--json", "bench.dump")) })
		b.Run(name+"/gen/http", func(b *testing.B) { run(b, httpDump("bench.dump")) })
		f.Fill("big", n)
		b.Run(name+"/table/binrpc-ctl", func(b *testing.B) { run(b, ctl("htable.dump", "big")) })
		b.Run(name+"/table/http", func(b *testing.B) { run(b, httpDump("htable.dump")) })
		f.Fill("big", 0)
	}
}
