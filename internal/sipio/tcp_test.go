package sipio

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFrameStream(t *testing.T) {
	msg := "OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabc"
	cases := []struct {
		in                string
		skip, pings, size int
		err               error
	}{
		{in: "", size: 0},
		{in: "\r\n", skip: 2},
		{in: "\r\n\r\n", skip: 4, pings: 1},
		{in: "\r\n\r\n\r\n\r\n" + msg, skip: 8, pings: 2, size: len(msg)},
		{in: "\r\n" + msg + "REST", skip: 2, size: len(msg)},
		{in: msg[:10], size: 0},
		{in: msg[:len(msg)-1], size: 0},
		{in: "OPTIONS sip:a SIP/2.0\r\nX: y\r\n\r\n", err: errNoContentLength},
		{in: "OPTIONS sip:a SIP/2.0\r\nContent-Length: x\r\n\r\n", err: errBadContentLen},
		{in: "OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab", err: errBadContentLen},
		{in: "OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab", size: len("OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na")},
		{in: "OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999\r\n\r\n", err: errStreamTooLarge},
		{in: "OPTIONS sip:a SIP/2.0\r\nContent-Length: 9999999999\r\n\r\n", err: errBadContentLen},
		{in: strings.Repeat("x", 70000), err: errStreamTooLarge},
	}
	for _, tc := range cases {
		skip, pings, size, err := frameStream([]byte(tc.in), 65535)
		if skip != tc.skip || pings != tc.pings || size != tc.size || err != tc.err {
			t.Errorf("frameStream(%.40q) = %d, %d, %d, %v; want %d, %d, %d, %v", tc.in, skip, pings, size, err, tc.skip, tc.pings, tc.size, tc.err)
		}
	}
}

func dialTCP(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

// closedByPeer reports whether the server closed the connection.
func closedByPeer(c net.Conn, r *bufio.Reader) bool {
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := io.ReadAll(r)
	return err == nil // EOF: ReadAll returns nil
}

func TestTCPLimitsAndErrors(t *testing.T) {
	var r srvRef
	s, addr := startServer(t, Config{Handler: okHandler(&r), TCP: TCPConfig{MaxConns: 2, IdleTimeout: 300 * time.Millisecond}}, &r)

	t.Run("oversize message closes the connection", func(t *testing.T) {
		c, br := dialTCP(t, addr.String())
		fmt.Fprintf(c, "MESSAGE sip:a SIP/2.0\r\nContent-Length: 70000\r\n\r\n")
		if !closedByPeer(c, br) {
			t.Fatal("connection not closed")
		}
	})
	t.Run("missing Content-Length closes the connection", func(t *testing.T) {
		c, br := dialTCP(t, addr.String())
		fmt.Fprintf(c, "OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/TCP a;branch=z9hG4bK-x\r\n\r\n")
		if !closedByPeer(c, br) {
			t.Fatal("connection not closed")
		}
	})
	t.Run("unparsable request gets 400 on the connection", func(t *testing.T) {
		c, br := dialTCP(t, addr.String())
		fmt.Fprint(c, strings.Replace(options("z9hG4bK-tg", "SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-tg"), "sip:ping@127.0.0.1 SIP", "sip:[x SIP", 1))
		got, err := readTCPMessage(br)
		if err != nil || !strings.HasPrefix(got, "SIP/2.0 400 Bad Request\r\n") {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("idle connection is closed", func(t *testing.T) {
		c, br := dialTCP(t, addr.String())
		if !closedByPeer(c, br) {
			t.Fatal("idle connection not closed")
		}
	})
	t.Run("connection limit", func(t *testing.T) {
		waitFor(2*time.Second, func() bool { return s.Stats().TCPOpen == 0 })
		c1, _ := dialTCP(t, addr.String())
		c2, _ := dialTCP(t, addr.String())
		waitFor(2*time.Second, func() bool { return s.Stats().TCPOpen == 2 })
		c3, br3 := dialTCP(t, addr.String())
		if !closedByPeer(c3, br3) {
			t.Fatal("third connection accepted")
		}
		if d := s.Stats().Dropped[DropTCPLimit]; d == 0 {
			t.Fatal("limit drop not counted")
		}
		c1.Close()
		c2.Close()
	})
	waitFor(2*time.Second, func() bool { return s.Stats().TCPOpen == 0 })
	if n := s.Stats().TCPOpen; n != 0 {
		t.Fatalf("%d connections still counted open", n)
	}
}

// TestTCPOrderAndLateReply: messages of one connection reach the handler in
// order even with several workers, and a reply sent after the handler
// returned (on a cloned Msg) still goes out; when the connection is gone, the
// reply opens a new one to the source IP and the Via port (RFC 3261 §18.2.2).
func TestTCPOrderAndLateReply(t *testing.T) {
	var mu sync.Mutex
	var order []string
	clones := make(chan *Msg, 100)
	var r srvRef
	s, addr := startServer(t, Config{Workers: 4, Handler: func(m *Msg) {
		mu.Lock()
		order = append(order, m.Req.CallID().Value())
		mu.Unlock()
		clones <- m.Clone()
	}}, &r)
	// a listener standing for the client's own SIP port (its Via sent-by)
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	backPort := back.Addr().(*net.TCPAddr).Port

	c, br := dialTCP(t, addr.String())
	const n = 50
	var all strings.Builder
	for i := 0; i < n; i++ {
		all.WriteString(options(fmt.Sprintf("z9hG4bK-o%d", i), fmt.Sprintf("SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK-o%d", backPort, i)))
	}
	c.Write([]byte(all.String()))
	for i := 0; i < n; i++ {
		m := <-clones
		if err := s.Respond(m, 200, "OK", nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		if got, err := readTCPMessage(br); err != nil || !strings.HasPrefix(got, "SIP/2.0 200") {
			t.Fatalf("reply %d: %q %v", i, got, err)
		}
	}
	mu.Lock()
	for i, id := range order {
		if id != fmt.Sprintf("z9hG4bK-o%d@test", i) {
			t.Fatalf("handler order %v", order)
		}
	}
	mu.Unlock()

	// one more request, then the client closes before the reply
	c.Write([]byte(options("z9hG4bK-late", fmt.Sprintf("SIP/2.0/TCP 127.0.0.1:%d;branch=z9hG4bK-late", backPort))))
	m := <-clones
	c.Close()
	waitFor(2*time.Second, func() bool { return s.Stats().TCPOpen == 0 })
	go func() {
		if err := s.Respond(m, 200, "OK", nil); err != nil {
			t.Errorf("late reply: %v", err)
		}
	}()
	back.(*net.TCPListener).SetDeadline(time.Now().Add(3 * time.Second))
	bc, err := back.Accept()
	if err != nil {
		t.Fatalf("no connection back to the Via port: %v", err)
	}
	defer bc.Close()
	bc.SetDeadline(time.Now().Add(3 * time.Second))
	got, err := readTCPMessage(bufio.NewReader(bc))
	if err != nil || !strings.HasPrefix(got, "SIP/2.0 200") || !strings.Contains(got, "z9hG4bK-late") {
		t.Fatalf("late reply: %q %v", got, err)
	}
}
