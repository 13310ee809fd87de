package sipio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// kdmq builds a KDMQ request like Kamailio's DMQ module sends (without Via:
// Do adds it).
func kdmq(t testing.TB, to netip.AddrPort, body []byte, callID string) *sip.Request {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(fmt.Sprintf("sip:htable@%s", to), &u); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest("KDMQ", u)
	req.AppendHeader(sip.NewHeader("To", fmt.Sprintf("<sip:htable@%s>", to)))
	req.AppendHeader(sip.NewHeader("From", "<sip:htable@127.0.0.1:15062>;tag=go-5f1e"))
	req.AppendHeader(sip.NewHeader("CSeq", "10 KDMQ"))
	req.AppendHeader(sip.NewHeader("Call-ID", callID))
	req.AppendHeader(sip.NewHeader("Max-Forwards", "1"))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/json"))
	req.SetBody(body)
	return req
}

// fakePeer is a UDP SIP peer whose answer to each received request is
// decided by a function of the transmission count.
type fakePeer struct {
	c     *net.UDPConn
	mu    sync.Mutex
	seen  int
	last  []byte
	reply func(n int, req []byte) []string // replies to send for the n-th transmission (1-based)
}

func newFakePeer(t *testing.T, reply func(n int, req []byte) []string) *fakePeer {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{c: c, reply: reply}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 70000)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := append([]byte(nil), buf[:n]...)
			p.mu.Lock()
			p.seen++
			k := p.seen
			p.last = req
			p.mu.Unlock()
			for _, r := range p.reply(k, req) {
				c.WriteToUDPAddrPort([]byte(r), viaAddr(req, from))
			}
		}
	}()
	return p
}

func (p *fakePeer) addr() netip.AddrPort {
	return p.c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (p *fakePeer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// viaAddr is where a reply to req goes (its Via sent-by).
func viaAddr(req []byte, from netip.AddrPort) netip.AddrPort {
	_, next, _ := firstLine(req)
	dst := from
	scanHeaders(req, next, func(name, value []byte) bool {
		if kindOfBytes(name) == hdrVia {
			if h, ok := parseVia(string(value)); ok {
				if a, err := netip.ParseAddr(h.host); err == nil && h.port != 0 {
					dst = netip.AddrPortFrom(a, uint16(h.port))
				}
			}
			return false
		}
		return true
	})
	return dst
}

// replyTo builds a minimal reply to a raw request.
func replyTo(req []byte, code int, reason string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, reason)
	_, next, _ := firstLine(req)
	scanHeaders(req, next, func(name, value []byte) bool {
		switch kindOfBytes(name) {
		case hdrVia, hdrFrom, hdrTo, hdrCallID, hdrCSeq:
			fmt.Fprintf(&b, "%s: %s\r\n", name, value)
		}
		return true
	})
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func fastClient() ClientConfig {
	return ClientConfig{Timeout: 2 * time.Second, T1: 40 * time.Millisecond, T2: 160 * time.Millisecond}
}

func TestDoUDP(t *testing.T) {
	cases := []struct {
		name     string
		reply    func(n int, req []byte) []string
		timeout  time.Duration
		wantCode int
		wantErr  error
		minSent  int
	}{
		{"answers at once", func(n int, req []byte) []string { return []string{replyTo(req, 200, "OK")} }, 0, 200, nil, 1},
		{"answers the third transmission", func(n int, req []byte) []string {
			if n < 3 {
				return nil
			}
			return []string{replyTo(req, 202, "Accepted")}
		}, 0, 202, nil, 3},
		{"provisional then final", func(n int, req []byte) []string {
			if n == 1 {
				return []string{replyTo(req, 100, "Trying")}
			}
			if n < 3 {
				return nil
			}
			return []string{replyTo(req, 486, "Busy Here")}
		}, 0, 486, nil, 3},
		{"error reply is returned, not an error", func(n int, req []byte) []string { return []string{replyTo(req, 500, "Server Internal Error")} }, 0, 500, nil, 1},
		{"never answers", func(n int, req []byte) []string { return nil }, 300 * time.Millisecond, 0, ErrTimeout, 2},
		{"answers with another branch", func(n int, req []byte) []string {
			return []string{strings.Replace(replyTo(req, 200, "OK"), "branch=z9hG4bK", "branch=z9hG4bKx", 1)}
		}, 300 * time.Millisecond, 0, ErrTimeout, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cc := fastClient()
			if tc.timeout > 0 {
				cc.Timeout = tc.timeout
			}
			var r srvRef
			s, _ := startServer(t, Config{Handler: func(*Msg) {}, Client: cc}, &r)
			p := newFakePeer(t, tc.reply)
			res, err := s.Do(context.Background(), kdmq(t, p.addr(), []byte(`{"action":1}`), "c-"+tc.name), Target{Transport: UDP, Addr: p.addr()})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if res.StatusCode != tc.wantCode {
				t.Fatalf("code %d, want %d", res.StatusCode, tc.wantCode)
			}
			if n := p.count(); n < tc.minSent {
				t.Fatalf("peer saw %d transmissions, want at least %d", n, tc.minSent)
			}
			if tc.minSent > 1 && s.Stats().Retransmissions == 0 {
				t.Fatal("no retransmission counted")
			}
			// the request was well formed: Via with our socket and a branch
			p.mu.Lock()
			last := string(p.last)
			p.mu.Unlock()
			if !strings.Contains(last, fmt.Sprintf("Via: SIP/2.0/UDP %s;branch=z9hG4bK", s.Listeners()[0].Addr)) || !strings.Contains(last, "Max-Forwards: 1\r\n") {
				t.Fatalf("request sent:\n%s", last)
			}
			if s.client.active() {
				t.Fatal("pending entry left behind")
			}
		})
	}
}

func TestDoPendingBounded(t *testing.T) {
	cc := fastClient()
	cc.MaxPending = 2
	s, _ := startServer(t, Config{Handler: func(*Msg) {}, Client: cc})
	p := newFakePeer(t, func(int, []byte) []string { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s.Do(ctx, kdmq(t, p.addr(), nil, fmt.Sprint("pend-", i)), Target{Transport: UDP, Addr: p.addr()})
		}(i)
	}
	waitFor(2*time.Second, func() bool { return s.client.n.Load() == 2 })
	_, err := s.Do(ctx, kdmq(t, p.addr(), nil, "pend-3"), Target{Transport: UDP, Addr: p.addr()})
	cancel()
	wg.Wait()
	if !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("third Do: %v", err)
	}
	if s.client.n.Load() != 0 {
		t.Fatal("pending entries left")
	}
}

// TestDoKDMQBetweenServers sends KDMQ requests with a 60 KB body from one
// server to another, over TCP (connection reused) and over UDP (no MTU
// limit), and checks that a Do made inside a handler running on the only
// worker does not deadlock.
func TestDoKDMQBetweenServers(t *testing.T) {
	body := bytes.Repeat([]byte(`{"htname":"t","cname":"k","type":2,"strval":"v","expire":0},`), 1000)[:60000]
	got := make(chan []byte, 10)
	var rb srvRef
	b, baddr := startServer(t, Config{Handler: func(m *Msg) {
		if m.Req != nil && m.Req.Method == "KDMQ" {
			got <- append([]byte(nil), m.Req.Body()...)
			rb.get().Respond(m, 200, "OK", nil)
		}
	}}, &rb)
	_ = b
	var ra srvRef
	a, aaddr := startServer(t, Config{Workers: 1, Client: fastClient(), Handler: func(m *Msg) {
		// a request to A makes A ask B first (from the handler, on the only worker)
		if m.Req == nil {
			return
		}
		res, err := ra.get().Do(context.Background(), kdmq(t, baddr, []byte(`{"action":1}`), "nested"), Target{Transport: UDP, Addr: baddr})
		if err != nil {
			ra.get().Respond(m, 500, "Nested Do Failed", nil)
			return
		}
		ra.get().Respond(m, res.StatusCode, res.Reason, nil)
	}}, &ra)

	for _, tp := range []Transport{TCP, TCP, UDP} {
		res, err := a.Do(context.Background(), kdmq(t, baddr, body, "big-"+tp.String()+fmt.Sprint(time.Now().UnixNano())), Target{Transport: tp, Addr: baddr})
		if err != nil {
			t.Fatalf("%s: %v", tp, err)
		}
		if res.StatusCode != 200 {
			t.Fatalf("%s: %d", tp, res.StatusCode)
		}
		select {
		case g := <-got:
			if !bytes.Equal(g, body) {
				t.Fatalf("%s: body of %d bytes arrived as %d bytes", tp, len(body), len(g))
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: B did not see the request", tp)
		}
	}
	if st := a.Stats(); st.TCPDialed != 1 {
		t.Fatalf("TCP connection not reused: %d dials", st.TCPDialed)
	}

	// nested Do from A's only worker
	c := newUDPClient(t)
	c.send(t, aaddr, options("z9hG4bK-nest", fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-nest", c.port())))
	if r := c.recv(t, 3*time.Second); !strings.HasPrefix(r, "SIP/2.0 200 OK") {
		t.Fatalf("nested Do: %q", r)
	}
	<-got
}

func TestDoTooLargeForUDP(t *testing.T) {
	s, _ := startServer(t, Config{Handler: func(*Msg) {}})
	dst := netip.MustParseAddrPort("127.0.0.1:9")
	_, err := s.Do(context.Background(), kdmq(t, dst, make([]byte, 65500), "big"), Target{Transport: UDP, Addr: dst})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

func TestDoRejectsInjectedHeader(t *testing.T) {
	s, _ := startServer(t, Config{Handler: func(*Msg) {}})
	dst := netip.MustParseAddrPort("127.0.0.1:9")
	req := kdmq(t, dst, nil, "inj")
	req.AppendHeader(sip.NewHeader("X-Key", "value-from-htable\r\nX-Evil: 1"))
	if _, err := s.Do(context.Background(), req, Target{Transport: UDP, Addr: dst}); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("err = %v", err)
	}
	if err := s.Send(req, Target{Transport: UDP, Addr: dst}); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("Send err = %v", err)
	}
}

func TestDoAfterStop(t *testing.T) {
	port := freePort(t, loopback)
	s, err := NewServer(Config{Listen: []ListenSpec{{Transport: UDP, Host: "127.0.0.1", Port: port}}, Handler: func(*Msg) {}, Logger: quietLogger(), Client: fastClient()})
	if err != nil {
		t.Fatal(err)
	}
	dst := netip.MustParseAddrPort("127.0.0.1:9")
	if _, err := s.Do(context.Background(), kdmq(t, dst, nil, "x"), Target{Transport: UDP, Addr: dst}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("before start: %v", err)
	}
	s.Start(context.Background())
	p := newFakePeer(t, func(int, []byte) []string { return nil })
	done := make(chan error, 1)
	go func() {
		_, err := s.Do(context.Background(), kdmq(t, p.addr(), nil, "y"), Target{Transport: UDP, Addr: p.addr()})
		done <- err
	}()
	waitFor(time.Second, func() bool { return p.count() > 0 })
	s.Stop(context.Background())
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Fatalf("waiting Do after Stop: %v", err)
	}
}
