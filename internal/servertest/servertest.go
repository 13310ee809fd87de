// Package servertest runs a sipht server from a config text inside a test
// and talks SIP to it over loopback UDP, so module tests exercise the real
// loader, script and transport.
package servertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/core"
	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/testutil"
)

// Running is a server started by Start; it is stopped at test cleanup.
type Running struct {
	Srv  *server.Server
	UDP  string // the first UDP listener, host:port
	TCP  string // the first TCP listener, host:port ("" when none)
	Logs *testutil.Buffer
}

// Start loads src (a complete config) and runs it until the test ends.
// Every listen= socket of the config is opened on a free port of its
// address (the port written is ignored: like Kamailio, sipht reads ":0" as
// 5060, and tests must never bind well-known ports); r.UDP and r.TCP say
// where. Logs go to r.Logs in sipht's stderr format at debug level (xlog
// lines look like Kamailio's).
func Start(t testing.TB, src string, opts ...func(*server.Options)) *Running {
	t.Helper()
	logs := &testutil.Buffer{}
	o := server.Options{Source: []byte(src), SourceName: t.Name() + ".cfg",
		Logger: slog.New(logging.NewTextHandler(logs, logging.LevelDebug))}
	for _, f := range opts {
		f(&o)
	}
	if o.ListenOverride == nil && o.File == "" {
		o.ListenOverride = freePorts(t, o)
	}
	srv, err := server.Load(o)
	if err != nil {
		t.Fatalf("load config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = srv.Run(ctx); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("server Run: %v", runErr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("server did not stop within 30 s")
		}
	})
	select {
	case <-srv.Ready():
	case <-done:
		t.Fatalf("server Run: %v\nlogs:\n%s", runErr, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("server not ready after 20 s")
	}
	r := &Running{Srv: srv, Logs: logs}
	for _, l := range srv.SIP().Listeners() {
		switch {
		case l.Transport == sipio.UDP && r.UDP == "":
			r.UDP = l.Addr.String()
		case l.Transport == sipio.TCP && r.TCP == "":
			r.TCP = l.Addr.String()
		}
	}
	return r
}

// freePorts returns the config's listen sockets with port 0 (free ports).
func freePorts(t testing.TB, o server.Options) []sipio.ListenSpec {
	f, err := cfg.Parse(o.SourceName, o.Source, cfg.Options{Defines: o.Defines})
	if err != nil {
		return nil // Load reports it
	}
	p, _ := core.FromFile(f, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if p == nil {
		return nil
	}
	out := make([]sipio.ListenSpec, len(p.Listen))
	for i, l := range p.Listen {
		l.Port = 0
		out[i] = l
	}
	return out
}

// Client is a UDP socket that sends requests to a server and reads replies.
type Client struct {
	conn *net.UDPConn
	to   *net.UDPAddr
}

// Dial opens a client socket on 127.0.0.1 (a random port) towards addr.
func Dial(t testing.TB, addr string) *Client {
	t.Helper()
	return DialFrom(t, "127.0.0.1:0", addr)
}

// DialFrom opens a client socket bound to local (e.g. "127.0.0.7:0", to
// test per-source behaviour) towards addr.
func DialFrom(t testing.TB, local, addr string) *Client {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp", local)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", la)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &Client{conn: c, to: ra}
}

// Addr returns the client's local address (what the server sees as $si:$sp).
func (c *Client) Addr() string { return c.conn.LocalAddr().String() }

// Send sends a raw message. "{via}" in it is replaced by the client's
// address, so templates can write "Via: SIP/2.0/UDP {via};branch=...".
func (c *Client) Send(t testing.TB, raw string) {
	t.Helper()
	raw = strings.ReplaceAll(raw, "{via}", c.Addr())
	if _, err := c.conn.WriteToUDP([]byte(raw), c.to); err != nil {
		t.Fatal(err)
	}
}

// Read waits up to timeout for one datagram and returns it ("" on timeout).
func (c *Client) Read(t testing.TB, timeout time.Duration) string {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 65535)
	n, _, err := c.conn.ReadFromUDP(buf)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return ""
		}
		t.Fatal(err)
	}
	return string(buf[:n])
}

// Do sends raw and returns the first reply whose status is final (>= 200),
// failing the test after 5 s.
func (c *Client) Do(t testing.TB, raw string) string {
	t.Helper()
	c.Send(t, raw)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r := c.Read(t, time.Until(deadline))
		if r == "" {
			break
		}
		if !strings.HasPrefix(r, "SIP/2.0 1") {
			return r
		}
	}
	t.Fatalf("no final reply to:\n%s", raw)
	return ""
}

var seq int

// Request builds a request with the mandatory headers (Via with {via},
// From, To, Call-ID, CSeq, Max-Forwards) plus extra header lines and an
// optional body. Each call gets a new Call-ID and branch.
func Request(method, ruri string, extra []string, body string) string {
	seq++
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP {via};branch=z9hG4bK-st%d;rport\r\n", seq)
	fmt.Fprintf(&b, "From: <sip:alice@example.com>;tag=f%d\r\n", seq)
	fmt.Fprintf(&b, "To: <%s>\r\n", ruri)
	fmt.Fprintf(&b, "Call-ID: st-%d@test\r\n", seq)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", seq, method)
	b.WriteString("Max-Forwards: 70\r\n")
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// Status returns the status code of a reply ("SIP/2.0 401 ..." -> 401).
func Status(reply string) int {
	var code int
	fmt.Sscanf(reply, "SIP/2.0 %d", &code)
	return code
}

// Header returns the value of the first header called name in a message
// (case-insensitive), or "".
func Header(msg, name string) string {
	for _, line := range strings.Split(msg, "\r\n") {
		if line == "" {
			break
		}
		if i := strings.IndexByte(line, ':'); i > 0 && strings.EqualFold(strings.TrimSpace(line[:i]), name) {
			return strings.TrimSpace(line[i+1:])
		}
	}
	return ""
}
