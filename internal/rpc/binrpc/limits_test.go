package binrpc

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/testutil"
)

// expectClosed waits until the server closes c (read returns EOF or an
// error other than our own deadline).
func expectClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", within)
		}
		return
	}
}

func getBob(t *testing.T, spec string) {
	t.Helper()
	c, err := Dial(context.Background(), spec, ClientOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("other client cannot connect: %v", err)
	}
	defer c.Close()
	rep, err := c.Call(context.Background(), "htable.get", rpc.Str("t"), rpc.Str("bob"))
	if err != nil || rep.IsFault() {
		t.Fatalf("other client not served: %v", err)
	}
	rep.Discard()
}

func faultOf(t *testing.T, pkt []byte) string {
	t.Helper()
	h, n, err := ParseHeader(pkt)
	if err != nil || h.Type != TypeFault {
		t.Fatalf("not a fault: %x", pkt)
	}
	d := NewDecoder(pkt[n:], false)
	code, _ := d.Next()
	msg, _ := d.Next()
	return strings.TrimSpace(strings.Join([]string{strconv.Itoa(int(code.Int)), string(msg.Str)}, " "))
}

// TestHugeLengthField: a header announcing a 4 GiB body gets a fault and a
// closed connection, without the server allocating for it.
func TestHugeLengthField(t *testing.T) {
	s, path := startServer(t, testRegistry(t), Options{})
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(unhex(t, `a1 0f ff ff ff ff 12 34 56 78 91 0c "htable.dump" 00`))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	pkt := readPacket(t, c)
	if got := faultOf(t, pkt); !strings.HasPrefix(got, "400 bad request: packet too big") {
		t.Fatalf("fault %q", got)
	}
	if h, _, _ := ParseHeader(pkt); h.Cookie != 0x12345678 {
		t.Fatalf("cookie %x", h.Cookie)
	}
	expectClosed(t, c, 2*time.Second)
	getBob(t, s.Spec())
}

// TestHalfPacket: a client that never finishes its packet is disconnected
// after ReadTimeout and does not delay other clients.
func TestHalfPacket(t *testing.T) {
	s, path := startServer(t, testRegistry(t), Options{ReadTimeout: 300 * time.Millisecond})
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(unhex(t, `a1 03 64 00 00 00 01 91 0c "htable."`)) // announces 100 bytes
	for i := 0; i < 5; i++ {
		getBob(t, s.Spec())
	}
	expectClosed(t, c, 5*time.Second)
	// a header cut in the middle
	c2, _ := net.Dial("unix", path)
	defer c2.Close()
	c2.Write([]byte{0xa1, 0x0f, 0xff})
	getBob(t, s.Spec())
	expectClosed(t, c2, 5*time.Second)
}

// TestIdleConnections: MaxConns idle connections do not stop service for
// long: new connections beyond the limit are closed at once, and idle ones
// are dropped after IdleTimeout.
func TestIdleConnections(t *testing.T) {
	s, path := startServer(t, testRegistry(t), Options{MaxConns: 4, IdleTimeout: 500 * time.Millisecond})
	var idle []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	getBob(t, s.Spec()) // the 4th slot still serves
	c4, _ := net.Dial("unix", path)
	defer c4.Close()
	time.Sleep(50 * time.Millisecond)
	c5, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c5.Close()
	c5.Write(AppendRequest(nil, 1, "core.version", nil))
	expectClosed(t, c5, 2*time.Second) // over the limit: closed without a reply
	for _, c := range append(idle, c4) {
		expectClosed(t, c, 5*time.Second)
	}
	getBob(t, s.Spec())
}

// TestBadPackets: garbage gets Kamailio's 400 faults and a closed
// connection.
func TestBadPackets(t *testing.T) {
	_, path := startServer(t, testRegistry(t), Options{})
	cases := map[string]string{
		`b2 00 01 01 00`:                          "400 bad request: corrupted packet",
		`a1 10 02 05 11 00`:                       "400 bad request: corrupted packet", // a reply sent to the server
		`a1 00 02 05 10 07`:                       "400 bad request method: record doesn't match type",
		`a1 00 00 05`:                             "400 bad request method: end of packet encountered",
		`a1 00 04 05 91 0c "ht"`:                  "400 bad request method: more data needed",
		`a1 00 0e 05 91 0c "htable.get" 00 00 00`: "",
	}
	for in, want := range cases {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write(unhex(t, in))
		if want == "" {
			// trailing garbage after a full packet: the packet is served
			readPacket(t, c)
			c.Close()
			continue
		}
		if got := faultOf(t, readPacket(t, c)); got != want {
			t.Errorf("%s: fault %q, want %q", in, got, want)
		}
		expectClosed(t, c, 2*time.Second)
		c.Close()
	}
}

// TestReplyLimits: MaxReplySize and the datagram limit give faults.
func TestReplyLimits(t *testing.T) {
	r := rpc.NewRegistry()
	r.MustRegister(rpctest.DumpGenerator(1000, 2))
	_, path := startServer(t, r, Options{MaxReplySize: 1000})
	got := faultOf(t, exchange(t, path, AppendRequest(nil, 1, "bench.dump", nil)))
	if got != "500 reply too big (limit 1000 bytes)" {
		t.Fatalf("%q", got)
	}
	dpath := filepath.Join(testutil.ShortTempDir(t), "d")
	r2 := rpc.NewRegistry()
	r2.MustRegister(rpctest.DumpGenerator(5000, 2))
	s, err := Listen(t.Context(), "unixd:"+dpath, Options{Registry: r2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := Dial(t.Context(), s.Spec(), ClientOptions{Timeout: 5 * time.Second, ReplyDir: filepath.Dir(dpath)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep, err := c.Call(t.Context(), "bench.dump")
	if err != nil {
		t.Fatal(err)
	}
	f, err := rep.Fault()
	if err != nil || !strings.Contains(f.Message, "too big for a datagram") {
		t.Fatalf("%v %v", f, err)
	}
}

// TestSlowReader: a client that stops reading a big reply is dropped after
// WriteTimeout without holding up others.
func TestSlowReader(t *testing.T) {
	r := testRegistry(t)
	r.MustRegister(rpctest.DumpGenerator(40000, 4))
	s, path := startServer(t, r, Options{WriteTimeout: 300 * time.Millisecond})
	full := len(exchange(t, path, AppendRequest(nil, 1, "bench.dump", nil)))
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(AppendRequest(nil, 1, "bench.dump", nil))
	time.Sleep(200 * time.Millisecond)
	getBob(t, s.Spec())
	time.Sleep(2 * time.Second)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("connection not closed")
		}
	}
	if n >= int64(full) {
		t.Fatalf("read %d bytes of %d: the whole reply was sent to a stalled reader", n, full)
	}
}

func TestSocketFile(t *testing.T) {
	dir := testutil.ShortTempDir(t)
	path := filepath.Join(dir, "ctl")
	r := testRegistry(t)
	// not a socket: refused
	os.WriteFile(path, []byte("x"), 0o600)
	if _, err := Listen(t.Context(), "unixs:"+path, Options{Registry: r}); err == nil {
		t.Fatal("replaced a regular file")
	}
	os.Remove(path)
	// a stale socket file is replaced
	l, _ := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	l.SetUnlinkOnClose(false)
	l.Close()
	s, err := Listen(t.Context(), "unixs:"+path, Options{Registry: r})
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	// a live one is not
	if _, err := Listen(t.Context(), "unixs:"+path, Options{Registry: r}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("live socket replaced: %v", err)
	}
	s.Close()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("socket file left behind")
	}
	// mode and owner parameters; context cancellation closes
	ctx, cancel := context.WithCancel(context.Background())
	s, err = Listen(ctx, path, Options{Registry: r, Mode: 0o660, User: strconv.Itoa(os.Getuid()), Group: strconv.Itoa(os.Getgid())})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o660 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cancelled server kept its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := Listen(t.Context(), path, Options{Registry: r, User: "no-such-user-xyz"}); err == nil {
		t.Fatal("unknown user accepted")
	}
}

func TestParseSpecs(t *testing.T) {
	cases := []struct {
		spec   string
		listen bool
		want   string
	}{
		{"unixs:/run/x/ctl", true, "unixs:/run/x/ctl"},
		{"unix:/run/x/ctl", true, "unixs:/run/x/ctl"},
		{"unixd:/run/x/ctl", true, "unixd:/run/x/ctl"},
		{"/run/x/ctl", true, "unixs:/run/x/ctl"},
		{"tcp:127.0.0.1:2046", true, "tcp:127.0.0.1:2046"},
		{"tcp:2046", true, "tcp:*:2046"},
		{"tcp:localhost", true, "tcp:localhost:2049"},
		{"udp:*:2047", true, "udp:*:2047"},
		{"127.0.0.1:2047", true, "udp:127.0.0.1:2047"},
		{"localhost", true, "udp:localhost:2049"},
		{"tcp:[::1]:2049", true, "tcp:[::1]:2049"},
		{"UDP:host:2049", true, "udp:host:2049"},
		{"/tmp/kamailio_ctl", false, "unixs:/tmp/kamailio_ctl"},
		{"somename", false, "unixs:somename"},
		{"host:2049", false, "udp:host:2049"},
	}
	for _, tc := range cases {
		var a Address
		var err error
		if tc.listen {
			a, err = ParseListenSpec(tc.spec)
		} else {
			a, err = ParseClientSpec(tc.spec, ProtoUnixStream)
		}
		if err != nil || a.String() != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.spec, a, err, tc.want)
		}
	}
	for _, bad := range []string{"", "tcp:host:notaport", "unixs:", "tcp:[::1"} {
		if a, err := ParseListenSpec(bad); err == nil {
			t.Errorf("%q accepted: %v", bad, a)
		}
	}
	if got := DefaultSpec(""); got != "unixs:/var/run/kamailio/kamailio_ctl" {
		t.Errorf("default spec %q", got)
	}
}
