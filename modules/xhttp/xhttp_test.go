package xhttp_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/modules/xhttp"
)

// testMod stands in for sl (test_sl() answers SIP statelessly) and for a
// module with an HTTP endpoint (test_stream() streams a big reply,
// $test_hdr(name) reads a header of the message the script sees).
type testMod struct{ host *module.Host }

func (m *testMod) Params() []module.Param { return nil }

func (m *testMod) Init(h *module.Host) error {
	m.host = h
	x, err := xhttp.Find(h)
	if err != nil {
		return err
	}
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 20 << 20
		if r.URL.Query().Get("n") != "" {
			fmt.Sscan(r.URL.Query().Get("n"), &n)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := []byte(strings.Repeat("x", 64<<10))
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	})
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %q", r.Method, r.URL.Path, b)
	})
	for _, f := range []script.Func{
		x.DispatchFunc("test_stream", "test_xhttp", stream),
		x.DispatchFunc("test_echo", "test_xhttp", echo),
		{Name: "test_sl", Module: "test_xhttp", Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				if err := h.SIP.Respond(c.Msg, 200, "OK", nil); err != nil {
					return -1
				}
				return 1
			}, nil
		}},
	} {
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return h.Script.AddPV(script.PVClass{Name: "test_hdr", Inner: script.InnerRequired, Module: "test_xhttp",
		Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			name := pc.Inner
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				if c.Msg == nil || c.Msg.Req == nil {
					return script.Null
				}
				switch name {
				case "$method":
					return script.Str(string(c.Msg.Req.Method))
				case "$body":
					return script.Str(string(c.Msg.Req.Body()))
				case "$source":
					return script.Str(c.Msg.Source.String())
				case "$worker":
					return script.Int(int64(c.Msg.Worker))
				}
				if h := c.Msg.Req.GetHeader(name); h != nil {
					return script.Str(h.Value())
				}
				return script.Null
			}}, nil
		}})
}

var registerOnce sync.Once

func register() {
	registerOnce.Do(func() {
		module.Register(module.Info{Name: "test_xhttp", New: func() module.Module { return &testMod{} }})
	})
}

const baseCfg = `#!KAMAILIO
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
children=2
loadmodule "xhttp.so"
loadmodule "test_xhttp.so"
%s
request_route { test_sl(); }
event_route[xhttp:request] {
	if ($hu =~ "^/hello") {
		xhttp_reply("200", "OK", "text/plain", "hello $hu path=$(hu{url.path}) qs=$(hu{url.querystring})\n");
		exit;
	}
	if ($hu == "/custom") {
		xhttp_reply(299, "Custom Thing", "", "custom");
		exit;
	}
	if ($hu == "/twice") {
		xhttp_reply("201", "Created", "text/plain", "first");
		xhttp_reply("202", "Accepted", "text/plain", "second");
		exit;
	}
	if ($hu == "/msg") {
		xhttp_reply("200", "OK", "text/plain", "$test_hdr($method) $test_hdr(Host) $test_hdr(X-Test) $test_hdr($body)");
		exit;
	}
	if ($hu =~ "^/stream") { test_stream(); exit; }
	if ($hu =~ "^/echo") { test_echo(); exit; }
	if ($hu == "/both") { test_echo(); xhttp_reply("200", "OK", "text/plain", "late"); exit; }
	if ($hu == "/silent") { exit; }
	xhttp_reply("404", "Not Found", "text/plain", "Not Found: $hu\n");
}
`

func start(t *testing.T, modparams string) *servertest.Running {
	t.Helper()
	register()
	return servertest.Start(t, fmt.Sprintf(baseCfg, modparams))
}

// startOneWorker runs the config with a single SIP worker.
func startOneWorker(t *testing.T) *servertest.Running {
	t.Helper()
	register()
	return servertest.Start(t, strings.Replace(fmt.Sprintf(baseCfg, ""), "children=2", "children=1", 1))
}

type resp struct {
	status string
	code   int
	hdr    http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url, body string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "yes")
	r, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp{r.Status, r.StatusCode, r.Header, string(b)}
}

func TestXHTTPReply(t *testing.T) {
	r := start(t, "")
	base := "http://" + r.TCP
	c := &http.Client{Timeout: 10 * time.Second}
	cases := []struct {
		method, path, body string
		status, ctype, out string
	}{
		{"GET", "/hello?a=1&b=2", "", "200 OK", "text/plain", "hello /hello?a=1&b=2 path=/hello qs=a=1&b=2\n"},
		{"GET", "/hello", "", "200 OK", "text/plain", "hello /hello path=/hello qs=\n"},
		{"GET", "/custom", "", "299 Custom Thing", "", "custom"},
		{"GET", "/twice", "", "201 Created", "text/plain", "first"},
		{"POST", "/msg", "the body", "200 OK", "text/plain", "POST " + r.TCP + " yes the body"},
		{"PUT", "/echo/x", "data", "200 OK", "text/plain; charset=utf-8", `PUT /echo/x "data"`},
		{"GET", "/both", "", "200 OK", "text/plain; charset=utf-8", `GET /both ""`},
		{"GET", "/silent", "", "404 Not Found", "text/plain", "Not Found\n"},
		{"GET", "/nothing", "", "404 Not Found", "text/plain", "Not Found: /nothing\n"},
	}
	for _, tc := range cases {
		got := do(t, c, tc.method, base+tc.path, tc.body)
		if got.status != tc.status || got.hdr.Get("Content-Type") != tc.ctype || got.body != tc.out {
			t.Errorf("%s %s: got %q %q %q, want %q %q %q", tc.method, tc.path,
				got.status, got.hdr.Get("Content-Type"), got.body, tc.status, tc.ctype, tc.out)
		}
		if got.hdr.Get("Server") == "" {
			t.Errorf("%s %s: no Server header", tc.method, tc.path)
		}
	}
	if !strings.Contains(r.Logs.String(), "already answered") {
		t.Errorf("a second answer is not logged:\n%s", r.Logs.String())
	}
	// keep-alive: the client reused its connections (the custom reason
	// phrase closed one)
	if n := r.Srv.SIP().Stats().HTTPConns; n > 3 {
		t.Errorf("%d HTTP connections for %d requests: keep-alive not working", n, len(cases))
	}
}

func TestXHTTPBodyLimitAndHead(t *testing.T) {
	r := start(t, "")
	c := &http.Client{Timeout: 10 * time.Second}
	got := do(t, c, "POST", "http://"+r.TCP+"/echo", strings.Repeat("a", xhttp.MaxBodySize+1))
	if got.code != 413 {
		t.Errorf("big body: %s", got.status)
	}
	got = do(t, c, "HEAD", "http://"+r.TCP+"/hello", "")
	if got.code != 200 || got.body != "" {
		t.Errorf("HEAD: %s %q", got.status, got.body)
	}
}

func TestXHTTPURLFilters(t *testing.T) {
	r := start(t, `modparam("xhttp", "url_skip", "^/hello/skip")
modparam("xhttp", "url_match", "^/hello")`)
	c := &http.Client{Timeout: 10 * time.Second}
	for path, want := range map[string]int{"/hello/x": 200, "/hello/skip/x": 404, "/custom": 404} {
		if got := do(t, c, "GET", "http://"+r.TCP+path, ""); got.code != want {
			t.Errorf("%s: %s, want %d", path, got.status, want)
		}
	}
}

// A reply of 20 MB streams to a client that stops reading while SIP keeps
// being answered by the only SIP worker (the route ran there, the reply
// does not); SIP over the HTTP port works too.
func TestXHTTPStreamsWithoutHoldingWorkers(t *testing.T) {
	r := startOneWorker(t)
	conn, err := net.Dial("tcp", r.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReaderSize(conn, 1024)
	hr, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// read a little, then let the reply wait (the server blocks writing)
	io.ReadFull(hr.Body, make([]byte, 100<<10))

	cl := servertest.Dial(t, r.UDP)
	for i := 0; i < 4; i++ {
		rep := cl.Do(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""))
		if servertest.Status(rep) != 200 {
			t.Fatalf("SIP while streaming: %q", rep)
		}
	}
	// SIP over TCP on the HTTP port
	sc, err := net.Dial("tcp", r.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	req := strings.Replace(servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""), "SIP/2.0/UDP {via}", "SIP/2.0/TCP "+sc.LocalAddr().String(), 1)
	io.WriteString(sc, req)
	sc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(sc).ReadString('\n')
	if err != nil || line != "SIP/2.0 200 OK\r\n" {
		t.Fatalf("SIP over TCP on the HTTP port: %q %v", line, err)
	}
	n, err := io.Copy(io.Discard, hr.Body)
	if err != nil || n+100<<10 != 20<<20 {
		t.Fatalf("stream: %d bytes, %v", n+100<<10, err)
	}
}

func TestXHTTPConcurrent(t *testing.T) {
	r := start(t, "")
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				got := do(t, c, "POST", fmt.Sprintf("http://%s/echo/%d/%d", r.TCP, i, j), "b")
				if want := fmt.Sprintf("POST /echo/%d/%d \"b\"", i, j); got.body != want {
					t.Errorf("got %q want %q", got.body, want)
				}
			}
		}(i)
	}
	wg.Wait()
}

func TestXHTTPConfigErrors(t *testing.T) {
	register()
	load := func(src string) error {
		srv, err := server.Load(server.Options{Source: []byte(src), Logger: slog.New(logging.NewTextHandler(io.Discard, logging.LevelWarn))})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Run(ctx)
	}
	head := "listen=udp:127.0.0.1:0\nlisten=tcp:127.0.0.1:0\nloadmodule \"xhttp.so\"\n"
	cases := map[string]string{
		head + `modparam("xhttp","event_callback","ksr_x")` + "\nevent_route[xhttp:request]{exit;}\n": "KEMI",
		head + `modparam("xhttp","url_match","(")` + "\nevent_route[xhttp:request]{exit;}\n":          "url_match",
		head + "request_route{exit;}\n":                                             "no event_route[xhttp:request]",
		head + "event_route[xhttp:request]{xhttp_reply(\"99\",\"x\",\"\",\"\");}\n": "out of range",
	}
	for src, want := range cases {
		err := load(src)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config\n%s\nerror %v, want %q", src, err, want)
		}
	}
}
