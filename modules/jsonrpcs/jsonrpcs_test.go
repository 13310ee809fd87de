package jsonrpcs_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
	_ "github.com/sipht/sipht/modules/all"
)

// route is the event_route[xhttp:request] body run by both servers.
const route = `
	if ($hu =~ "^/RPC") { jsonrpc_dispatch(); exit; }
	if ($hu == "/exec") {
		jsonrpc_exec("{\"jsonrpc\":\"2.0\",\"method\":\"core.echo\",\"params\":[\"x\",\"y\"],\"id\":1}");
		xhttp_reply("200", "OK", "text/plain", "$jsonrpl(code)|$jsonrpl(text)|$jsonrpl(body)");
		exit;
	}
	if ($hu == "/execerr") {
		jsonrpc_exec("{\"jsonrpc\":\"2.0\",\"method\":\"htable.get\",\"params\":[\"nosuch\",\"x\"],\"id\":\"s\"}");
		xhttp_reply("200", "OK", "text/plain", "$jsonrpl(code)|$jsonrpl(text)|$jsonrpl(body)");
		exit;
	}
	if ($hu == "/execbad") {
		if (!jsonrpc_exec("nojson")) { xhttp_reply("200", "OK", "text/plain", "failed"); exit; }
		xhttp_reply("200", "OK", "text/plain", "succeeded");
		exit;
	}
	xhttp_reply("404", "Not Found", "text/plain", "no");
`

func startSipht(t *testing.T, dir, extra string) *servertest.Running {
	t.Helper()
	rpctest.RegisterModule()
	return servertest.Start(t, fmt.Sprintf(`#!KAMAILIO
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "rpctest_htable.so"
modparam("jsonrpcs", "transport", 0)
modparam("jsonrpcs", "fifo_name", "%s/rpc.fifo")
modparam("jsonrpcs", "fifo_reply_dir", "%s")
modparam("jsonrpcs", "dgram_socket", "%s/rpc.sock")
%s
request_route { exit; }
event_route[xhttp:request] {%s}
`, dir, dir, dir, extra, route))
}

func get(t *testing.T, addr, path string) rpctest.HTTPReply {
	t.Helper()
	r, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return rpctest.HTTPReply{Status: r.Status, CType: r.Header.Get("Content-Type"), Body: string(b)}
}

// TestVsKamailio sends the JSON-RPC comparison script over HTTP through
// event_route[xhttp:request] + jsonrpc_dispatch() of a running sipht and
// of a real Kamailio 5.6, then jsonrpc_exec/$jsonrpl, a plain xhttp_reply,
// and requests over the datagram socket and the FIFO: same status line,
// Content-Type and bytes.
func TestVsKamailio(t *testing.T) {
	k := rpctest.StartKamailioRoute(t, route, "t=>size=4;", "iv=>size=3;initval=7;autoexpire=100")
	dir := testutil.ShortTempDir(t)
	r := startSipht(t, dir, "")

	for _, body := range rpctest.JSONScript {
		byShape := strings.HasPrefix(body, "!")
		body = strings.TrimPrefix(body, "!")
		w := rpctest.PostRPC(t, k.HTTPAddr, body)
		g := rpctest.PostRPC(t, r.TCP, body)
		if byShape {
			w.Body, g.Body = rpctest.ShapeJSON(w.Body), rpctest.ShapeJSON(g.Body)
		}
		if w != g {
			t.Errorf("request %s\n--- kamailio: %s [%s]\n%s\n--- sipht: %s [%s]\n%s", body, w.Status, w.CType, w.Body, g.Status, g.CType, g.Body)
		}
	}
	for _, path := range []string{"/exec", "/execerr", "/execbad", "/nothing"} {
		if w, g := get(t, k.HTTPAddr, path), get(t, r.TCP, path); w != g {
			t.Errorf("GET %s\n--- kamailio: %s [%s]\n%s\n--- sipht: %s [%s]\n%s", path, w.Status, w.CType, w.Body, g.Status, g.CType, g.Body)
		}
	}

	rpctest.PostRPC(t, k.HTTPAddr, rpctest.JSONRequest("htable.sets", "1", `"t"`, `"alice"`, `"hello"`))
	rpctest.PostRPC(t, r.TCP, rpctest.JSONRequest("htable.sets", "1", `"t"`, `"alice"`, `"hello"`))
	docs := []string{
		rpctest.JSONRequest("htable.get", "1", `"t"`, `"alice"`),
		rpctest.JSONRequest("htable.get", `"x"`, `"t"`, `"nokey"`),
		rpctest.JSONRequest("htable.dump", "3", `"t"`),
		rpctest.JSONRequest("no.such", "4"),
		rpctest.JSONRequest("core.echo", "5", `"a"`, `7`),
		rpctest.JSONRequest("jsonrpc.echo", "6", `"a"`, `7`),
		rpctest.JSONRequest("jsonrpc.echo", "7"),
	}
	for _, d := range docs {
		if w, g := rpctest.DatagramCall(t, dir, k.DgramSock, d), rpctest.DatagramCall(t, dir, filepath.Join(dir, "rpc.sock"), d); w != g {
			t.Errorf("datagram %s\n--- kamailio\n%s\n--- sipht\n%s", d, w, g)
		}
		if w, g := rpctest.FIFOCall(t, k.FIFO, "/tmp", d), rpctest.FIFOCall(t, filepath.Join(dir, "rpc.fifo"), dir, d); w != g {
			t.Errorf("fifo %s\n--- kamailio\n%s\n--- sipht\n%s", d, w, g)
		}
	}
}

// TestDefaultsInRundir: with the default transport (FIFO and datagram) and
// names, the FIFO and the socket are created in the runtime directory
// (created too), with mode 0660, and removed at stop; jsonrpc_dispatch()
// is then off (as in Kamailio) and says so.
func TestDefaultsInRundir(t *testing.T) {
	rpctest.RegisterModule()
	dir := testutil.ShortTempDir(t)
	run := filepath.Join(dir, "run")
	t.Cleanup(func() { // after the server stopped
		for _, f := range []string{"kamailio_rpc.fifo", "kamailio_rpc.sock"} {
			if _, err := os.Stat(filepath.Join(run, f)); !os.IsNotExist(err) {
				t.Errorf("%s left after stop: %v", f, err)
			}
		}
	})
	r := servertest.Start(t, fmt.Sprintf(`#!KAMAILIO
rundir=%q
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "rpctest_htable.so"
modparam("jsonrpcs", "fifo_reply_dir", %q)
modparam("jsonrpcs", "pretty_format", 0)
request_route { exit; }
event_route[xhttp:request] { jsonrpc_dispatch(); }
`, run, dir))
	for _, f := range []string{"kamailio_rpc.fifo", "kamailio_rpc.sock"} {
		st, err := os.Stat(filepath.Join(run, f))
		if err != nil || st.Mode().Perm() != 0o660 {
			t.Errorf("%s: %v %v", f, st, err)
		}
	}
	d := rpctest.JSONRequest("core.echo", "1", `"a"`)
	want := `{"jsonrpc":"2.0","result":["a"],"id":1}`
	if got := rpctest.DatagramCall(t, dir, filepath.Join(run, "kamailio_rpc.sock"), d); got != want {
		t.Errorf("datagram: %q", got)
	}
	if got := rpctest.FIFOCall(t, filepath.Join(run, "kamailio_rpc.fifo"), dir, d); got != want+"\n" && got != want {
		t.Errorf("fifo: %q", got)
	}
	if got := rpctest.PostRPC(t, r.TCP, d); got.Status != "404 Not Found" {
		t.Errorf("HTTP with transport 6: %s %s", got.Status, got.Body)
	}
	logs := r.Logs.String()
	for _, want := range []string{"jsonrpc_dispatch() will fail", "jsonrpc over http not initialized - check transport param"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestHTTPStreamsBigDump: a 200,000-item dump through the event route is
// streamed (chunked), not built in memory first.
func TestHTTPStreamsBigDump(t *testing.T) {
	dir := testutil.ShortTempDir(t)
	r := startSipht(t, dir, `modparam("rpctest_htable", "dump_items", 200000)
modparam("jsonrpcs", "pretty_format", 0)`)
	c, err := net.Dial("tcp", r.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := rpctest.JSONRequest("bench.dump", "1")
	fmt.Fprintf(c, "POST /RPC HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("not streamed: %s, length %d, %v", resp.Status, resp.ContentLength, resp.TransferEncoding)
	}
	n := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	sc.Split(scanWord(`"name":`))
	for sc.Scan() {
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 200000 {
		t.Errorf("%d items, want 200000", n)
	}
}

// scanWord splits a stream at each occurrence of w (the tokens count them).
func scanWord(w string) bufio.SplitFunc {
	return func(data []byte, atEOF bool) (int, []byte, error) {
		if i := strings.Index(string(data), w); i >= 0 {
			return i + len(w), data[:i], nil
		}
		if atEOF {
			return len(data), nil, nil
		}
		if len(data) > len(w) {
			return len(data) - len(w), nil, nil
		}
		return 0, nil, nil
	}
}

func TestConfigErrors(t *testing.T) {
	load := func(src string) error {
		_, err := server.Load(server.Options{Source: []byte(src), Logger: slog.New(logging.NewTextHandler(io.Discard, logging.LevelWarn))})
		return err
	}
	head := "listen=udp:127.0.0.1:0\nloadmodule \"jsonrpcs.so\"\n"
	for src, want := range map[string]string{
		head + `modparam("jsonrpcs", "transport", 1)` + "\n":   "needs the xhttp module",
		head + `modparam("jsonrpcs", "transport", 99)` + "\n":  "transport 99",
		head + `modparam("jsonrpcs", "fifo_mode", 0)` + "\n":   "bad file mode",
		head + "request_route { $var(x) = $jsonrpl(nope); }\n": "unknown inner name",
		head + "request_route { jsonrpc_exec(); }\n":           "jsonrpc_exec",
	} {
		if err := load(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", src, err, want)
		}
	}
}
