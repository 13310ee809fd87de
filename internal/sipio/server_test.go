package sipio

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestUDPOptionsOK(t *testing.T) {
	var r srvRef
	s, addr := startServer(t, Config{Handler: okHandler(&r), ServerHeader: "sipht test"}, &r)
	c := newUDPClient(t)
	c.send(t, addr, options("z9hG4bK-1", fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-1;rport", c.port())))
	got := c.recv(t, 2*time.Second)
	want := "SIP/2.0 200 OK\r\n" +
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-1;rport=%d;received=127.0.0.1\r\n", c.port(), c.port()) +
		"From: <sip:a@example.com>;tag=f1\r\n" +
		"To: <sip:ping@127.0.0.1>;tag=" + s.ToTagForTest(fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-1;rport", c.port())) + "\r\n" +
		"Call-ID: z9hG4bK-1@test\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Server: sipht test\r\n" +
		"Content-Length: 0\r\n\r\n"
	if got != want {
		t.Fatalf("reply:\n%q\nwant:\n%q", got, want)
	}
	waitFor(time.Second, func() bool { return s.Stats().RepliesOut[200] == 1 })
	st := s.Stats()
	if st.RequestsIn["OPTIONS"] != 1 || st.RepliesOut[200] != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestTCPOptionsOKPartialWrites(t *testing.T) {
	var r srvRef
	_, addr := startServer(t, Config{Handler: okHandler(&r)}, &r)
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// three requests, written in awkward pieces: byte by byte, split inside
	// the header end, and two messages in one write
	var msgs []string
	for i := 0; i < 4; i++ {
		msgs = append(msgs, options(fmt.Sprintf("z9hG4bK-t%d", i), fmt.Sprintf("SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-t%d", i)))
	}
	for _, ch := range []byte(msgs[0]) {
		c.Write([]byte{ch})
	}
	m1 := msgs[1]
	cut := strings.Index(m1, "\r\n\r\n") + 2
	c.Write([]byte(m1[:cut]))
	time.Sleep(20 * time.Millisecond)
	c.Write([]byte(m1[cut:]))
	c.Write([]byte("\r\n\r\n" + msgs[2] + msgs[3])) // a keep-alive ping, then two messages
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	pongSeen := false
	for i := 0; i < 4; i++ {
		// skip a pong (bare CRLF) if it comes first
		if b, _ := br.Peek(2); string(b) == "\r\n" {
			br.Discard(2)
			pongSeen = true
		}
		got, err := readTCPMessage(br)
		if err != nil {
			t.Fatalf("reply %d: %v (%q)", i, err, got)
		}
		if !strings.HasPrefix(got, "SIP/2.0 200 OK\r\n") || !strings.Contains(got, fmt.Sprintf("branch=z9hG4bK-t%d\r\n", i)) {
			t.Fatalf("reply %d out of order or wrong:\n%s", i, got)
		}
	}
	if !pongSeen {
		t.Error("no CRLF pong for the CRLFCRLF ping")
	}
}

// ToTagForTest computes the tag the server gives a request with this top Via.
func (s *Server) ToTagForTest(via string) string {
	hop, ok := parseVia(via)
	if !ok {
		return "?"
	}
	return string(s.appendToTag(nil, &hop))
}

func TestLargeDatagramAccepted(t *testing.T) {
	got := make(chan int, 1)
	var r srvRef
	_, addr := startServer(t, Config{Handler: func(m *Msg) {
		got <- len(m.Req.Body())
		r.get().Respond(m, 200, "OK", nil)
	}}, &r)
	c := newUDPClient(t)
	c.c.SetWriteBuffer(1 << 20)
	body := strings.Repeat("x", 65000-400)
	msg := "MESSAGE sip:big@127.0.0.1 SIP/2.0\r\n" +
		fmt.Sprintf("Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-big\r\n", c.port()) +
		"From: <sip:a@example.com>;tag=f1\r\nTo: <sip:big@127.0.0.1>\r\nCall-ID: big@test\r\nCSeq: 1 MESSAGE\r\n" +
		"Content-Type: text/plain\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)) + body
	if len(msg) > 65000 || len(msg) < 64000 {
		t.Fatalf("test message is %d bytes", len(msg))
	}
	c.send(t, addr, msg)
	select {
	case n := <-got:
		if n != len(body) {
			t.Fatalf("body %d bytes, want %d", n, len(body))
		}
	case <-time.After(3 * time.Second):
		t.Fatal("65,000-byte datagram not delivered")
	}
	if r := c.recv(t, 2*time.Second); !strings.HasPrefix(r, "SIP/2.0 200 OK") {
		t.Fatalf("no reply: %q", r)
	}
}

func TestGarbageGets400OrIsDropped(t *testing.T) {
	handled := make(chan string, 10)
	s, addr := startServer(t, Config{Handler: func(m *Msg) { handled <- "handled" }})
	c := newUDPClient(t)
	via := fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-g1", c.port())
	cases := []struct {
		name   string
		msg    string
		answer bool
	}{
		{"bad request-URI", strings.Replace(options("z9hG4bK-g1", via), "sip:ping@127.0.0.1 SIP", "sip:[bad SIP", 1), true},
		{"body shorter than Content-Length", strings.Replace(options("z9hG4bK-g1", via), "Content-Length: 0\r\n\r\n", "Content-Length: 10\r\n\r\nabc", 1), true},
		{"missing From", strings.Replace(options("z9hG4bK-g1", via), "From: <sip:a@example.com>;tag=f1\r\n", "", 1), true},
		{"header without colon", strings.Replace(options("z9hG4bK-g1", via), "Max-Forwards: 70", "Max-Forwards 70", 1), true},
		{"missing Call-ID", strings.Replace(options("z9hG4bK-g1", via), "Call-ID: z9hG4bK-g1@test\r\n", "", 1), false},
		{"ACK", strings.Replace(strings.Replace(options("z9hG4bK-g1", via), "CSeq: 1 OPTIONS", "CSeq: 1 ACK", 1), "OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\n", "ACK sip:[bad SIP/2.0\r\n", 1), false},
		{"bad Via", strings.Replace(options("z9hG4bK-g1", via), via, "garbage", 1), false},
		{"a broken reply", "SIP/2.0 200 OK\r\nVia: x\r\n\r\n", false},
		{"binary", "\x00\x01\x02\xff\xfe\r\n\r\n", false},
	}
	for _, tc := range cases {
		before := s.Stats()
		c.send(t, addr, tc.msg)
		r := c.recv(t, 300*time.Millisecond)
		if tc.answer {
			if !strings.HasPrefix(r, "SIP/2.0 400 Bad Request\r\n") || !strings.Contains(r, ";received=127.0.0.1") && !strings.Contains(r, "branch=z9hG4bK-g1") {
				t.Errorf("%s: want 400, got %q", tc.name, r)
			}
			if !strings.Contains(r, "To: <sip:ping@127.0.0.1>;tag=") && tc.name != "missing To" {
				t.Errorf("%s: 400 without To-tag: %q", tc.name, r)
			}
		} else if r != "" {
			t.Errorf("%s: want no reply, got %q", tc.name, r)
		}
		waitFor(time.Second, func() bool { return s.Stats().ParseErrors > before.ParseErrors })
		after := s.Stats()
		if after.ParseErrors != before.ParseErrors+1 {
			t.Errorf("%s: parse errors %d -> %d", tc.name, before.ParseErrors, after.ParseErrors)
		}
	}
	select {
	case h := <-handled:
		t.Fatalf("garbage reached the handler: %s", h)
	default:
	}
}

func TestFilterDropsBeforeParsing(t *testing.T) {
	var r srvRef
	var seen counter
	s, addr := startServer(t, Config{
		Handler: okHandler(&r),
		Filter: func(src netip.AddrPort, tp Transport) bool {
			seen.Add(1)
			return src.Port()%2 == 0 // drop odd source ports
		},
	}, &r)
	var odd, even *udpClient
	for odd == nil || even == nil {
		c := newUDPClient(t)
		if c.port()%2 == 0 && even == nil {
			even = c
		} else if c.port()%2 == 1 && odd == nil {
			odd = c
		}
	}
	odd.send(t, addr, options("z9hG4bK-o", fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-o", odd.port())))
	even.send(t, addr, options("z9hG4bK-e", fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-e", even.port())))
	if r := even.recv(t, 2*time.Second); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("even source not answered: %q", r)
	}
	if r := odd.recv(t, 200*time.Millisecond); r != "" {
		t.Fatalf("odd source answered: %q", r)
	}
	if d := s.Stats().Dropped[DropFiltered]; d != 1 {
		t.Fatalf("filtered drops = %d", d)
	}
	// garbage from a filtered source is not even parsed
	odd.send(t, addr, "garbage")
	waitFor(time.Second, func() bool { return s.Stats().Dropped[DropFiltered] == 2 })
	if st := s.Stats(); st.ParseErrors != 0 || st.Dropped[DropFiltered] != 2 {
		t.Fatalf("stats after filtered garbage: parse errors %d, filtered %d", st.ParseErrors, st.Dropped[DropFiltered])
	}
}

func TestQueueFullDropsAndCounts(t *testing.T) {
	release := make(chan struct{})
	var started sync.Once
	startedCh := make(chan struct{})
	s, addr := startServer(t, Config{Workers: 1, QueueSize: 4, Handler: func(m *Msg) {
		started.Do(func() { close(startedCh) })
		<-release
	}})
	c := newUDPClient(t)
	c.send(t, addr, options("z9hG4bK-q0", ""))
	<-startedCh
	for i := 1; i <= 20; i++ {
		c.send(t, addr, options(fmt.Sprintf("z9hG4bK-q%d", i), ""))
	}
	ok := waitFor(2*time.Second, func() bool { return s.Stats().Dropped[DropQueueFull] == 16 })
	close(release)
	if !ok {
		t.Fatalf("queue-full drops = %d, want 16", s.Stats().Dropped[DropQueueFull])
	}
	waitFor(2*time.Second, func() bool { return s.Stats().RequestsIn["OPTIONS"] == 5 })
	if n := s.Stats().RequestsIn["OPTIONS"]; n != 5 {
		t.Fatalf("handled %d, want 5", n)
	}
}

func TestWorkerIndexAndHandlerPanic(t *testing.T) {
	var mu sync.Mutex
	workers := map[int]bool{}
	var r srvRef
	s, addr := startServer(t, Config{Workers: 3, Handler: func(m *Msg) {
		mu.Lock()
		workers[m.Worker] = true
		mu.Unlock()
		if strings.Contains(m.Req.CallID().Value(), "panic") {
			panic("boom")
		}
		r.get().Respond(m, 200, "OK", nil)
	}}, &r)
	c := newUDPClient(t)
	c.send(t, addr, options("z9hG4bK-panic", ""))
	for i := 0; i < 30; i++ {
		c.send(t, addr, options(fmt.Sprintf("z9hG4bK-w%d", i), fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-w%d", c.port(), i)))
		if r := c.recv(t, 2*time.Second); !strings.HasPrefix(r, "SIP/2.0 200") {
			t.Fatalf("no reply after a handler panic: %q", r)
		}
	}
	if d := s.Stats().Dropped[DropHandlerPanic]; d != 1 {
		t.Fatalf("handler panics counted: %d", d)
	}
	mu.Lock()
	defer mu.Unlock()
	for w := range workers {
		if w < 0 || w >= 3 {
			t.Fatalf("worker index %d out of range", w)
		}
	}
	if len(workers) < 2 {
		t.Fatalf("messages were not spread over workers: %v", workers)
	}
}

func TestStopFinishesInFlight(t *testing.T) {
	inHandler := make(chan struct{})
	var r srvRef
	port := freePort(t, loopback)
	s, err := NewServer(Config{
		Listen: []ListenSpec{{Transport: UDP, Host: "127.0.0.1", Port: port}},
		Logger: quietLogger(),
		Handler: func(m *Msg) {
			close(inHandler)
			time.Sleep(100 * time.Millisecond) // still working when Stop is called
			r.get().Respond(m, 200, "OK", nil)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.p.Store(s)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newUDPClient(t)
	c.send(t, netip.AddrPortFrom(loopback, port), options("z9hG4bK-stop", fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-stop", c.port())))
	<-inHandler
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if r := c.recv(t, time.Second); !strings.HasPrefix(r, "SIP/2.0 200") {
		t.Fatalf("in-flight request not answered before the socket closed: %q", r)
	}
	// the socket is closed: the port can be bound again
	u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, port)))
	if err != nil {
		t.Fatalf("port still in use after Stop: %v", err)
	}
	u.Close()
	if err := s.Stop(ctx); err == nil {
		t.Fatal("second Stop did not report the server as stopped")
	}
}

func TestIPv6(t *testing.T) {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		testutilMissingIPv6(t, err)
		return
	}
	defer c.Close()
	specs, err := ParseListen("[::1]")
	if err != nil {
		t.Fatal(err)
	}
	p := freePort(t, netip.MustParseAddr("::1"))
	for i := range specs {
		specs[i].Port = p // never the default 5060 in tests
	}
	var r srvRef
	s, _ := startServer(t, Config{Listen: specs, Handler: okHandler(&r)}, &r)
	ls := s.Listeners()
	if len(ls) != 2 || !ls[0].Addr.Addr().Is6() {
		t.Fatalf("listeners %+v", ls)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	msg := options("z9hG4bK-v6", fmt.Sprintf("SIP/2.0/UDP [::1]:%d;branch=z9hG4bK-v6;rport", port))
	c.WriteToUDPAddrPort([]byte(msg), ls[0].Addr)
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("Via: SIP/2.0/UDP [::1]:%d;branch=z9hG4bK-v6;rport=%d;received=::1\r\n", port, port); !strings.Contains(string(buf[:n]), want) {
		t.Fatalf("reply:\n%s\nwant %s", buf[:n], want)
	}
	// the client over IPv6, UDP and TCP, to ourselves
	for _, tp := range []Transport{UDP, TCP} {
		res, err := s.Do(context.Background(), kdmq(t, ls[0].Addr, nil, "v6-"+tp.String()), Target{Transport: tp, Addr: ls[0].Addr})
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s Do over IPv6: %v %v", tp, res, err)
		}
	}
}

func testutilMissingIPv6(t *testing.T, err error) {
	t.Skipf("IPv6 loopback not available: %v", err)
}

// Requests of an OrderedMethods method from one source reach the handler
// in the order they were sent, however many workers there are; other
// requests are spread over the workers.
func TestOrderedMethodsKeepSourceOrder(t *testing.T) {
	var mu sync.Mutex
	var seqs []int
	workers := map[string]map[int]bool{"KDMQ": {}, "OPTIONS": {}}
	s, addr := startServer(t, Config{Workers: 4, OrderedMethods: []string{"KDMQ"}, Handler: func(m *Msg) {
		mu.Lock()
		defer mu.Unlock()
		workers[string(m.Req.Method)][m.Worker] = true
		if m.Req.Method == "KDMQ" {
			seqs = append(seqs, int(m.Req.CSeq().SeqNo))
			time.Sleep(time.Duration(len(seqs)%3) * 100 * time.Microsecond) // uneven handling times
		}
	}})
	c := newUDPClient(t)
	const n = 300
	for i := 1; i <= n; i++ {
		kdmq := strings.Replace(options(fmt.Sprintf("z9hG4bK-k%d", i), ""), "OPTIONS", "KDMQ", -1)
		kdmq = strings.Replace(kdmq, "CSeq: 1 KDMQ", fmt.Sprintf("CSeq: %d KDMQ", i), 1)
		c.send(t, addr, kdmq)
		c.send(t, addr, options(fmt.Sprintf("z9hG4bK-o%d", i), ""))
	}
	waitFor(5*time.Second, func() bool { return s.Stats().RequestsIn["KDMQ"] == n && s.Stats().RequestsIn["OPTIONS"] == n })
	mu.Lock()
	defer mu.Unlock()
	if len(seqs) != n {
		t.Fatalf("handled %d KDMQ, want %d", len(seqs), n)
	}
	for i, q := range seqs {
		if q != i+1 {
			t.Fatalf("KDMQ #%d handled as the %dth: order %v", q, i+1, seqs[max(0, i-3):min(len(seqs), i+3)])
		}
	}
	if len(workers["KDMQ"]) != 1 || len(workers["OPTIONS"]) < 2 {
		t.Fatalf("workers used: %v", workers)
	}
}
