package rpcbench

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/jsonrpc"
	"github.com/sipht/sipht/internal/rpc/rpctest"
)

// Serve starts the RPC transports alone on a registry holding the core
// methods, a rpctest.FakeHTable with tables (t[alice] = "hello") and
// extra: BINRPC on the unix stream socket sock and JSON-RPC over HTTP on a
// free loopback port, both closed at the end of the benchmark. It returns
// the ctl spec ("unixs:<sock>"), the URL to POST to, and the table.
func Serve(b *testing.B, sock string, tables []rpctest.TableDef, extra ...rpc.Method) (ctlSpec, url string, f *rpctest.FakeHTable) {
	b.Helper()
	r := rpc.NewRegistry()
	if err := rpc.RegisterCore(r, rpc.CoreInfo{}); err != nil {
		b.Fatal(err)
	}
	f = rpctest.NewFakeHTable(tables...)
	f.SetStr("t", "alice", "hello")
	if err := f.Register(r); err != nil {
		b.Fatal(err)
	}
	r.MustRegister(extra...)
	s, err := binrpc.Listen(context.Background(), "unixs:"+sock, binrpc.Options{Registry: r})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	hs, err := jsonrpc.ListenHTTP(context.Background(), "127.0.0.1:0", jsonrpc.HTTPOptions{HandlerOptions: jsonrpc.HandlerOptions{Registry: r}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { hs.Close() })
	return s.Spec(), hs.URL(), f
}

// BINRPCGet calls htable.get t alice b.N times on one BINRPC connection
// to spec and reports calls/s.
func BINRPCGet(b *testing.B, spec string) {
	c, err := binrpc.Dial(context.Background(), spec, binrpc.ClientOptions{Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	args := []rpc.Value{rpc.Str("t"), rpc.Str("alice")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rep, err := c.Call(ctx, "htable.get", args...)
		if err != nil || rep.IsFault() {
			b.Fatal(err)
		}
		if err := rep.Discard(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// HTTPGet posts htable.get t alice b.N times to url over HTTP keep-alive
// and reports calls/s.
func HTTPGet(b *testing.B, url string) {
	body := []byte(`{"jsonrpc":"2.0","method":"htable.get","params":["t","alice"],"id":1}`)
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := cl.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}

// CountWriter counts the bytes written to it.
type CountWriter struct{ N int64 }

func (c *CountWriter) Write(p []byte) (int, error) { c.N += int64(len(p)); return len(p), nil }
