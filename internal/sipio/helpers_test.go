package sipio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// freePort finds a port free for both UDP and TCP on ip.
func freePort(t testing.TB, ip netip.Addr) uint16 {
	t.Helper()
	return uint16(testutil.FreePort(t, ip.String()))
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer starts a server on 127.0.0.1 (UDP and TCP, same port) with
// cfg's handler and options, and stops it at test end.
func startServer(t testing.TB, cfg Config, ref ...*srvRef) (*Server, netip.AddrPort) {
	t.Helper()
	port := freePort(t, loopback)
	if cfg.Listen == nil {
		cfg.Listen = []ListenSpec{{Transport: UDP, Host: "127.0.0.1", Port: port}, {Transport: TCP, Host: "127.0.0.1", Port: port}}
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ref {
		r.p.Store(s)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s, netip.AddrPortFrom(loopback, port)
}

// srvRef lets a handler reach the server that is created after it.
type srvRef struct{ p atomic.Pointer[Server] }

func (r *srvRef) get() *Server {
	for {
		if s := r.p.Load(); s != nil {
			return s
		}
		time.Sleep(time.Millisecond)
	}
}

// okHandler replies 200 OK statelessly to every request.
func okHandler(r *srvRef) Handler {
	return func(m *Msg) {
		if m.Req != nil && m.Req.Method != "ACK" {
			r.get().Respond(m, 200, "OK", nil)
		}
	}
}

func options(branch, via string) string {
	if via == "" {
		via = "SIP/2.0/UDP 127.0.0.1:5999;branch=" + branch + ";rport"
	}
	return "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n" +
		"Via: " + via + "\r\n" +
		"From: <sip:a@example.com>;tag=f1\r\n" +
		"To: <sip:ping@127.0.0.1>\r\n" +
		"Call-ID: " + branch + "@test\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\n" +
		"Content-Length: 0\r\n\r\n"
}

// udpClient is a UDP socket for sending requests to the server.
type udpClient struct {
	c *net.UDPConn
}

func newUDPClient(t testing.TB) *udpClient {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{c: c}
}

func (u *udpClient) port() int { return u.c.LocalAddr().(*net.UDPAddr).Port }

func (u *udpClient) send(t testing.TB, to netip.AddrPort, msg string) {
	t.Helper()
	if _, err := u.c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		t.Fatal(err)
	}
}

// recv waits up to d for a datagram; "" on timeout.
func (u *udpClient) recv(t testing.TB, d time.Duration) string {
	t.Helper()
	buf := make([]byte, 70000)
	u.c.SetReadDeadline(time.Now().Add(d))
	n, _, err := u.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return ""
	}
	return string(buf[:n])
}

// readTCPMessage reads one SIP message (headers + Content-Length body).
func readTCPMessage(r *bufio.Reader) (string, error) {
	var b strings.Builder
	cl := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		b.WriteString(line)
		if line == "\r\n" {
			break
		}
		if i := strings.IndexByte(line, ':'); i > 0 && strings.EqualFold(strings.TrimSpace(line[:i]), "content-length") {
			fmt.Sscan(strings.TrimSpace(line[i+1:]), &cl)
		}
	}
	body := make([]byte, cl)
	if _, err := io.ReadFull(r, body); err != nil {
		return b.String(), err
	}
	b.Write(body)
	return b.String(), nil
}

// waitFor polls cond for up to d (never used to assert timing: only to let
// asynchronous work finish).
func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return cond()
}

type counter struct{ atomic.Int64 }
