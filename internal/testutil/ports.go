package testutil

import (
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
)

// FreeUDPPort returns a UDP port that was free on ip (e.g. "127.0.0.1") a
// moment ago.
func FreeUDPPort(t testing.TB, ip string) int {
	t.Helper()
	c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	return portOf(t, "UDP", ip, c, err)
}

// FreeTCPPort returns a TCP port that was free on ip a moment ago.
func FreeTCPPort(t testing.TB, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	return portOf(t, "TCP", ip, l, err)
}

// portOf returns the port of s, a net.PacketConn or a net.Listener that
// Listen* returned with err, and closes s.
func portOf(t testing.TB, what, ip string, s io.Closer, err error) int {
	t.Helper()
	if err != nil {
		t.Fatalf("finding a free %s port on %s: %v", what, ip, err)
	}
	defer s.Close()
	if c, ok := s.(net.PacketConn); ok {
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	return s.(net.Listener).Addr().(*net.TCPAddr).Port
}

var portMu sync.Mutex

// FreePort returns a port that was free for both UDP and TCP on ip a moment
// ago (for servers that listen on both with one port).
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("finding a free port on %s: %v", ip, err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatalf("no port free for both UDP and TCP on %s", ip)
	return 0
}

// ShortTempDir returns a new temporary directory with a short path, removed
// at the end of the test: a unix socket path must stay under 108 bytes,
// which t.TempDir (named after the test) does not promise.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "sipht-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
