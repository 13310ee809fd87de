package jsonrpc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/testutil"
)

func listen(t *testing.T, r *rpc.Registry, o HTTPOptions) *HTTPServer {
	t.Helper()
	o.Registry = r
	s, err := ListenHTTP(t.Context(), "127.0.0.1:0", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestParseRequest(t *testing.T) {
	req, err := ParseRequest([]byte(`{"Method":"m","JSONRPC":"2.0","params":{"z":1,"a":"x","m":[1,{"q":2}],"n":null,"b":true},"id":"7","method":"ignored"}`), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !req.Valid() || req.Method != "m" || req.ID != (ID{Kind: IDString, S: "7"}) {
		t.Fatalf("%+v", req)
	}
	kinds := []rpc.Kind{rpc.KindDouble, rpc.KindStr, rpc.KindArray, rpc.KindNull, rpc.KindBool}
	if len(req.Params) != len(kinds) {
		t.Fatalf("params %+v", req.Params)
	}
	for i, k := range kinds {
		if req.Params[i].Kind != k {
			t.Errorf("param %d kind %v", i, req.Params[i].Kind)
		}
	}
	for _, bad := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01x}`, `[1,]`, `{"a":"\u12"}`, `tru`, `"unterminated`,
		`{"jsonrpc":"2.0","method":"m","params":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`} {
		if _, err := ParseRequest([]byte(bad), Limits{}); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	if _, err := ParseRequest([]byte(`{"params":[`+strings.Repeat("1,", 10)+`1]}`), Limits{MaxParams: 5}); err == nil {
		t.Error("too many params accepted")
	}
	req, _ = ParseRequest([]byte(`{"id":null,"jsonrpc":2}`), Limits{})
	if req.ID.Kind != IDNull || req.HasVersion {
		t.Errorf("%+v", req)
	}
	req, _ = ParseRequest([]byte(`{"params":["\ud83d\ude00\n\"\\x"]}`), Limits{})
	if req.Params[0].S != "😀\n\"\\x" {
		t.Errorf("%q", req.Params[0].S)
	}
}

func TestNumberFormat(t *testing.T) {
	cases := map[float64]string{
		0: "0", 1: "1", -5: "-5", 2147483647: "2147483647", 2147483648: "2147483648", 1.5: "1.500000",
		1e10: "10000000000", 1e-7: "1.000000e-07", 1.5e10: "15000000000", 12345678901.5: "1.234568e+10",
	}
	for f, want := range cases {
		if got := string(AppendNumber(nil, f)); got != want {
			t.Errorf("%v: %s want %s", f, got, want)
		}
	}
}

func TestHTTPBehaviour(t *testing.T) {
	r, f := testRegistry(t)
	f.SetStr("t", "alice", "hello")
	s := listen(t, r, HTTPOptions{})
	addr := s.Addr().String()
	// a body that is not JSON: a Parse Error reply (Kamailio closes)
	got := post(t, addr, `{"jsonrpc":`)
	if got.Status != "500 Parse Error" || !strings.Contains(got.Body, `"code":	-32700`) || !strings.Contains(got.Body, `"id":	null`) {
		t.Errorf("parse error: %+v", got)
	}
	resp, err := http.Get(s.URL())
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %v %v", resp, err)
	}
	resp, err = http.Post("http://"+addr+"/other", "application/json", strings.NewReader(req("core.version", "1")))
	if err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("other path: %v %v", resp, err)
	}
	resp, err = http.Post(s.URL()+"/x", "application/json", strings.NewReader(strings.Repeat(" ", 2<<20)))
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("big body: %v %v", resp, err)
	}
	// keep-alive survives successful calls through the standard client
	for i := 0; i < 3; i++ {
		resp, err := http.Post(s.URL(), "application/json", strings.NewReader(req("htable.get", "1", `"t"`, `"alice"`)))
		if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Length") == "" {
			t.Fatalf("get: %v %v", resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// the standard client also reads a fault with a custom reason phrase
	resp, err = http.Post(s.URL(), "application/json", strings.NewReader(req("htable.get", "1", `"nosuch"`, `"x"`)))
	if err != nil || resp.Status != "500 No such htable" {
		t.Fatalf("fault: %v %v", resp, err)
	}
	resp.Body.Close()

	// CloseOnParseError and PlainStatus
	s2 := listen(t, r, HTTPOptions{HandlerOptions: HandlerOptions{CloseOnParseError: true, PlainStatus: true, Compact: true}})
	if got := post(t, s2.Addr().String(), `nope`); !strings.HasPrefix(got.Status, "NO REPLY") {
		t.Errorf("CloseOnParseError: %+v", got)
	}
	got = post(t, s2.Addr().String(), req("htable.get", "1", `"nosuch"`, `"x"`))
	if got.Status != "500 Internal Server Error" || got.Body != `{"jsonrpc":"2.0","error":{"code":500,"message":"No such htable"},"id":1}` {
		t.Errorf("plain/compact: %+v", got)
	}
	got = post(t, s2.Addr().String(), req("htable.get", "1", `"t"`, `"alice"`))
	if got.Body != `{"jsonrpc":"2.0","result":{"item":{"name":"alice","value":"hello","flags":2,"expire":"NEVER"}},"id":1}` {
		t.Errorf("compact result: %s", got.Body)
	}
}

// TestHTTPStreaming: a RET_ARRAY reply bigger than StreamThreshold is sent
// chunked as it is produced; a fault before the threshold is a proper
// fault; one after it cuts the connection.
func TestHTTPStreaming(t *testing.T) {
	r := rpc.NewRegistry()
	r.MustRegister(rpctest.DumpGenerator(50000, 8))
	r.MustRegister(rpc.Method{Name: "late.fault", Flags: rpc.RetArray, Handler: func(c *rpc.Call) {
		n := c.ArgInt(0)
		for i := 0; i < 100000; i++ {
			if int64(i) == n {
				c.Fault(500, "failed after %d values", i)
				return
			}
			c.AddStr("some value to make the reply grow")
		}
	}, Params: "d"})
	s := listen(t, r, HTTPOptions{HandlerOptions: HandlerOptions{StreamThreshold: 4096}})
	resp, err := http.Post(s.URL(), "application/json", strings.NewReader(req("bench.dump", "1")))
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 {
		t.Errorf("not streamed: length %d %v", resp.ContentLength, resp.TransferEncoding)
	}
	var env struct {
		Result []struct {
			Slot []map[string]any
		}
		ID int
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	items := 0
	for _, s := range env.Result {
		items += len(s.Slot)
	}
	if len(env.Result) != 256 || items != 50000 || env.ID != 1 {
		t.Fatalf("%d slots, %d items, id %d", len(env.Result), items, env.ID)
	}
	got := post(t, s.Addr().String(), req("late.fault", "2", "10"))
	if got.Status != "500 failed after 10 values" {
		t.Errorf("early fault: %+v", got)
	}
	resp, err = http.Post(s.URL(), "application/json", strings.NewReader(req("late.fault", "3", "50000")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(resp.Body)
	if err == nil {
		t.Fatal("a fault after streaming started was not signalled by a cut connection")
	}
}

// TestHTTPConnectionLimits: MaxConns bounds connections, idle or slow
// clients are dropped by the timeouts, and others are still served.
func TestHTTPConnectionLimits(t *testing.T) {
	r, _ := testRegistry(t)
	s := listen(t, r, HTTPOptions{MaxConns: 3, ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	addr := s.Addr().String()
	var conns []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// a slowloris: half a request line
	conns[1].Write([]byte("POST /RPC HTTP/1.1\r\nHost: x\r\n"))
	if got := post(t, addr, req("core.version", "1")); got.Status != "200 OK" {
		t.Fatalf("third connection not served: %+v", got)
	}
	// both stalled connections are closed by the timeouts
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err := bufio.NewReader(c).ReadString('\n')
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("stalled connection not closed")
		}
	}
	if got := post(t, addr, req("core.version", "2")); got.Status != "200 OK" {
		t.Fatalf("not served after: %+v", got)
	}
}

func TestDatagramServer(t *testing.T) {
	r, _ := testRegistry(t)
	r.MustRegister(rpctest.DumpGenerator(5000, 4))
	dir := testutil.ShortTempDir(t)
	sock := filepath.Join(dir, "rpc.sock")
	ds, err := ListenDatagram(t.Context(), sock, DatagramOptions{Registry: r})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(sock); st.Mode().Perm() != 0o660 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if got := dgramCall(t, dir, sock, req("bench.dump", "1")); !strings.Contains(got, `"message":	"reply too big (limit 65456 bytes)"`) {
		t.Errorf("too big: %.200s", got)
	}
	if got := dgramCall(t, dir, sock, `garbage`); !strings.Contains(got, "Parse Error") {
		t.Errorf("garbage: %q", got)
	}
	if got := dgramCall(t, dir, sock, req("core.echo", `"x"`, `"a"`)); !strings.Contains(got, `"result":	["a"]`) {
		t.Errorf("echo: %q", got)
	}
	ds.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Error("socket left behind")
	}
	us, err := ListenDatagram(t.Context(), "udp:127.0.0.1:0", DatagramOptions{Registry: r, Compact: true})
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	c, err := net.Dial("udp", us.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, req("core.echo", "3", `"u"`))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != `{"jsonrpc":"2.0","result":["u"],"id":3}` {
		t.Errorf("udp: %q %v", buf[:n], err)
	}
}

func TestFIFOServer(t *testing.T) {
	r, _ := testRegistry(t)
	dir := testutil.ShortTempDir(t)
	path := filepath.Join(dir, "rpc.fifo")
	os.WriteFile(path, nil, 0o600)
	if _, err := ListenFIFO(t.Context(), path, FIFOOptions{Registry: r, ReplyDir: dir}); err == nil {
		t.Fatal("replaced a regular file")
	}
	os.Remove(path)
	fs, err := ListenFIFO(t.Context(), path, FIFOOptions{Registry: r, ReplyDir: dir, MaxRequestSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	if got := fifoCall(t, path, dir, req("core.echo", "1", `"a {b} \"c"`)); !strings.Contains(got, `"result":	["a {b} \"c"]`) {
		t.Errorf("echo: %q", got)
	}
	// an oversized request is skipped; the next one is served
	w, _ := os.OpenFile(path, os.O_WRONLY, 0)
	fmt.Fprintf(w, `{"reply_name":"nobody","jsonrpc":"2.0","method":"core.echo","params":["%s"]}`, strings.Repeat("x", 500))
	w.Close()
	if got := fifoCall(t, path, dir, req("core.version", "2")); !strings.Contains(got, `"result":	"sipht 0.0.1`) {
		t.Errorf("after big request: %q", got)
	}
	// a reply_name with a path is refused (no reply)
	w, _ = os.OpenFile(path, os.O_WRONLY, 0)
	fmt.Fprint(w, `{"reply_name":"../etc/x","jsonrpc":"2.0","method":"core.version"}`)
	w.Close()
	if got := fifoCall(t, path, dir, req("core.version", "3")); !strings.Contains(got, `"id":	3`) {
		t.Errorf("after bad reply_name: %q", got)
	}
}

func TestReadDocument(t *testing.T) {
	in := `  {"a":"}{", 'b':'}'}garbage{"x":{"y":1}}{"big":"` + strings.Repeat("z", 100) + `"}{"after":1}`
	br := bufio.NewReader(strings.NewReader(in))
	var docs []string
	for {
		d, big, err := ReadDocument(br, 50, nil)
		if err != nil {
			break
		}
		if big {
			docs = append(docs, "BIG")
			continue
		}
		docs = append(docs, strings.TrimSpace(string(d)))
	}
	want := []string{`{"a":"}{", 'b':'}'}`, `garbage{"x":{"y":1}}`, "BIG", `{"after":1}`}
	if fmt.Sprint(docs) != fmt.Sprint(want) {
		t.Fatalf("%q", docs)
	}
}

func TestExec(t *testing.T) {
	r, _ := testRegistry(t)
	d := &Dispatcher{Registry: r}
	st, out, err := d.Exec(t.Context(), []byte(req("core.echo", "1", `"a"`)), "cfg")
	if err != nil || st.Code != 200 || string(out) != `{"jsonrpc":"2.0","result":["a"],"id":1}` {
		t.Fatalf("%+v %q %v", st, out, err)
	}
	st, out, _ = d.Exec(t.Context(), []byte(`x`), "cfg")
	if st.Code != 500 || !strings.Contains(string(out), "-32700") {
		t.Fatalf("%+v %q", st, out)
	}
}
