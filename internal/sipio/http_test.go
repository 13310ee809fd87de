package sipio

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSniffHTTP(t *testing.T) {
	cases := []struct {
		in   string
		want sniffResult
	}{
		{"GET / HTTP/1.1\r\n", sniffHTTPConn},
		{"GET /metrics HTTP/1.0\n", sniffHTTPConn},
		{"POST /RPC HTTP/1.1\r\nHost: x\r\n\r\n", sniffHTTPConn},
		{"OPTIONS * HTTP/1.1\r\n", sniffHTTPConn},
		{"M-SEARCH * HTTP/1.1\r\n", sniffHTTPConn},
		{"GET / HTTP/1.1", sniffNeedMore},
		{"G", sniffNeedMore},
		{"OPTIONS sip:a@b SIP/2.0\r\n", sniffSIP},
		{"OPTIONS sip:a@b SIP/2.0", sniffNeedMore},
		{"SIP/2.0 200 OK\r\n", sniffSIP},
		{"\r\n\r\n", sniffSIP},
		{"get / HTTP/1.1\r\n", sniffSIP},
		{"GET / HTTP/2.0\r\n", sniffSIP},
		{"GET HTTP/1.1\r\n", sniffSIP},
		{"GET  HTTP/1.1\r\n", sniffSIP},
		{"GET/ HTTP/1.1\r\n", sniffSIP},
		{"PRI * HTTP/2.0\r\n", sniffSIP},
		{"INVITE sip:x HTTP/1.1\r\n", sniffHTTPConn}, // an HTTP version is an HTTP request, whatever the method
		{"GET /" + strings.Repeat("a", sniffMaxLine), sniffSIP},
	}
	for _, c := range cases {
		if got := sniffHTTP([]byte(c.in)); got != c.want {
			t.Errorf("sniffHTTP(%.40q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func FuzzSniffHTTP(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1\r\n", "OPTIONS sip:a SIP/2.0\r\n", "\r\n", "X"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		r := sniffHTTP(b)
		if r == sniffHTTPConn && !strings.Contains(string(b), " HTTP/1.") {
			t.Fatalf("%q judged HTTP", b)
		}
	})
}

// httpChanListener feeds handed-over connections to an http.Server.
type httpChanListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newChanListener() *httpChanListener {
	return &httpChanListener{ch: make(chan net.Conn, 16), closed: make(chan struct{})}
}

func (l *httpChanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *httpChanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *httpChanListener) Addr() net.Addr { return &net.TCPAddr{} }

func TestHTTPOnSIPSocket(t *testing.T) {
	var r srvRef
	var sipSeen atomic.Int64
	h := okHandler(&r)
	s, addr := startServer(t, Config{Handler: func(m *Msg) { sipSeen.Add(1); h(m) }}, &r)

	ln := newChanListener()
	var gotRemote atomic.Value
	s.SetHTTPHandler(func(c net.Conn, local, remote netip.AddrPort) {
		gotRemote.Store(remote)
		if local != addr {
			t.Errorf("local = %s, want %s", local, addr)
		}
		ln.ch <- c
	})
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		fmt.Fprintf(w, "%s %s %s", req.Method, req.RequestURI, body)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })

	t.Run("HTTP requests, keep-alive, split first line", func(t *testing.T) {
		c, br := dialTCP(t, addr.String())
		// the request line arrives in pieces
		io.WriteString(c, "PO")
		time.Sleep(20 * time.Millisecond)
		io.WriteString(c, "ST /RPC HT")
		time.Sleep(20 * time.Millisecond)
		io.WriteString(c, "TP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
		for i := 0; i < 2; i++ {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			want := "POST /RPC hello"
			if i == 1 {
				want = "GET /metrics "
			}
			if resp.StatusCode != 200 || string(b) != want {
				t.Fatalf("reply %d %q, want 200 %q", resp.StatusCode, b, want)
			}
			if i == 0 {
				io.WriteString(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
			}
		}
		if ra, _ := gotRemote.Load().(netip.AddrPort); ra.String() != c.LocalAddr().String() {
			t.Errorf("remote = %v, want %s", ra, c.LocalAddr())
		}
	})
	t.Run("SIP on the same port still works", func(t *testing.T) {
		c, br := dialTCP(t, addr.String())
		io.WriteString(c, options("z9hG4bK-tcp1", "SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-tcp1"))
		msg, err := readTCPMessage(br)
		if err != nil || !strings.HasPrefix(msg, "SIP/2.0 200 OK\r\n") {
			t.Fatalf("reply %q, %v", msg, err)
		}
		// a second message on the same connection that looks like HTTP
		// is not sniffed: only the first line of a connection is
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if !closedByPeer(c, br) {
			t.Fatal("an HTTP request after SIP on one connection should be SIP garbage (no Content-Length: closed)")
		}
	})
	t.Run("CRLF keep-alive first is SIP", func(t *testing.T) {
		c, br := dialTCP(t, addr.String())
		io.WriteString(c, "\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "\r\n" {
			t.Fatalf("pong %q, %v", line, err)
		}
	})
	st := s.Stats()
	if st.HTTPConns != 1 {
		t.Errorf("HTTPConns = %d, want 1", st.HTTPConns)
	}
	if sipSeen.Load() != 1 {
		t.Errorf("SIP handler saw %d messages, want 1", sipSeen.Load())
	}
	// the handed-over connection is not in the SIP table
	if !waitFor(2*time.Second, func() bool { return s.Stats().TCPOpen <= 2 }) {
		t.Errorf("TCPOpen = %d", s.Stats().TCPOpen)
	}

	t.Run("handler removed: HTTP is SIP again", func(t *testing.T) {
		s.SetHTTPHandler(nil)
		c, br := dialTCP(t, addr.String())
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if !closedByPeer(c, br) {
			t.Fatal("not closed")
		}
	})
}

func TestHTTPHandOverSurvivesStop(t *testing.T) {
	var r srvRef
	s, addr := startServer(t, Config{Handler: okHandler(&r)}, &r)
	conns := make(chan net.Conn, 1)
	s.SetHTTPHandler(func(c net.Conn, _, _ netip.AddrPort) { conns <- c })
	c, _ := dialTCP(t, addr.String())
	io.WriteString(c, "GET / HTTP/1.1\r\n\r\n")
	var hc net.Conn
	select {
	case hc = <-conns:
	case <-time.After(5 * time.Second):
		t.Fatal("not handed over")
	}
	defer hc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// the SIP server does not close a connection it handed over: its
	// owner does
	br := bufio.NewReader(hc)
	line, err := br.ReadString('\n')
	if err != nil || line != "GET / HTTP/1.1\r\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	io.WriteString(hc, "HTTP/1.1 204 No Content\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("resp %v, %v", resp, err)
	}
}

func TestExec(t *testing.T) {
	s0, err := NewServer(Config{Handler: func(*Msg) {}, Listen: []ListenSpec{{Transport: UDP, Host: "127.0.0.1"}}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s0.Exec(context.Background(), func(int) {}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("before Start: %v", err)
	}

	// the handler blocks worker 0 until released, to show Exec runs on
	// the workers and waits for room
	var r srvRef
	s, _ := startServer(t, Config{Handler: okHandler(&r), Workers: 3, QueueSize: 1}, &r)
	if s.Workers() != 3 {
		t.Fatalf("Workers = %d", s.Workers())
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[int]int{}
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.Exec(context.Background(), func(w int) {
				mu.Lock()
				seen[w]++
				mu.Unlock()
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	total := 0
	for w, n := range seen {
		if w < 0 || w >= 3 {
			t.Errorf("worker index %d", w)
		}
		total += n
	}
	if total != 60 {
		t.Errorf("ran %d times, want 60", total)
	}

	if err := s.Exec(context.Background(), func(int) { panic("boom") }); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("panic: %v", err)
	}
	// the worker survived the panic
	if err := s.Exec(context.Background(), func(int) {}); err != nil {
		t.Errorf("after panic: %v", err)
	}

	// a cancelled context while the queues are full
	block := make(chan struct{})
	started := make(chan struct{}, 3)
	for i := 0; i < 3; i++ {
		go s.Exec(context.Background(), func(int) { started <- struct{}{}; <-block })
	}
	for i := 0; i < 3; i++ {
		<-started
	}
	for i := 0; i < 3; i++ { // fill the queues (size 1)
		go s.Exec(context.Background(), func(int) {})
	}
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Exec(ctx, func(int) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("full queues: %v", err)
	}
	close(block)

	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	s.Stop(sctx)
	if err := s.Exec(context.Background(), func(int) {}); !errors.Is(err, ErrServerClosed) {
		t.Errorf("after Stop: %v", err)
	}
}
