package sipio

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// FuzzRawInput feeds raw bytes to everything that reads them before or
// instead of sipgo's parser: TCP stream framing, the read-goroutine reply
// matcher, the worker's parse/check/400 path, and a handler that replies.
// None of it may panic, and what the server writes must be a well-formed
// reply.
func FuzzRawInput(f *testing.F) {
	for _, s := range []string{
		options("z9hG4bK-1", ""),
		kamailioRequest,
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-fz\r\nCSeq: 10 KDMQ\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:[bad SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;rport\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nt: <sip:a>\r\n\r\n",
		"\r\n\r\n",
		"OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999999999\r\n\r\n",
		"OPTIONS sip:a SIP/2.0\r\nl: 5\r\nl: 6\r\n\r\nabcdef",
		"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n , SIP/2.0/UDP b\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	s, err := NewServer(Config{
		Listen:       []ListenSpec{{Transport: UDP, Host: "127.0.0.1", Port: 0}},
		Handler:      func(*Msg) {},
		Logger:       quietLogger(),
		ServerHeader: "fuzz",
	})
	if err != nil {
		f.Fatal(err)
	}
	var lastReply []byte
	s.cfg.Handler = func(m *Msg) {
		if m.Req == nil {
			s.ForwardReply(m) // errors expected; panics not
			return
		}
		s.Forward(m, Target{Transport: UDP, Addr: netip.MustParseAddrPort("127.0.0.1:9")})
		b, err := s.AppendResponse(nil, m, 200, "OK", &ReplyOptions{Headers: []Field{{"X-A", "b"}}})
		if err != nil {
			return
		}
		lastReply = b
		res, err := s.NewResponse(m, 404, "Not Here", nil)
		if err != nil {
			panic("a reply we built does not parse: " + err.Error() + "\n" + string(b))
		}
		_ = res
	}
	s.queues = make([]chan packet, 1)
	s.client.add(pendKey{"z9hG4bK-fz", "KDMQ"}, 10)
	// replies go to a loopback port nobody listens on
	src := netip.MustParseAddrPort("127.0.0.1:9")
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { uc.Close() })
	sock := &udpSocket{conn: uc, local: uc.LocalAddr().(*net.UDPAddr).AddrPort()}
	// pretend to be started with that one socket, so Forward/ForwardReply run
	s.udp = []*udpSocket{sock}
	s.listeners = []Listener{{Transport: UDP, Addr: sock.local, Addrs: []netip.Addr{sock.local.Addr()}}}
	s.published.Store(&s.listeners)
	s.state = 1
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 70000 {
			return
		}
		frameStream(data, 65535)
		s.client.matchRaw(s, data)
		lastReply = nil
		p := packet{data: data, src: src, udp: sock}
		s.process(&worker{}, &p)
		if lastReply != nil {
			if err := checkWire(lastReply, 0, strings.Count(string(lastReply), "\r\n")-2); err != nil {
				t.Fatalf("malformed reply: %v\n%q", err, lastReply)
			}
		}
	})
}

// FuzzVia checks that a Via rewritten for a reply still parses, keeps its
// branch and gains the source as received/rport when it should.
func FuzzVia(f *testing.F) {
	for _, s := range []string{
		"SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport",
		"SIP/2.0/TCP [::1]:5070;rport=;received=1.2.3.4, SIP/2.0/UDP b",
		"SIP / 2.0 / UDP h ; branch = x ; RPORT",
		`SIP/2.0/UDP a;x="q;,\"uoted";branch=b`,
	} {
		f.Add(s, true)
	}
	src := netip.MustParseAddrPort("10.1.2.3:40000")
	f.Fuzz(func(t *testing.T, v string, force bool) {
		h, ok := parseVia(v)
		if !ok {
			return
		}
		out := string(appendViaValue(nil, v, &h, src, force))
		h2, ok := parseVia(out)
		if !ok {
			t.Fatalf("rewritten Via does not parse: %q -> %q", v, out)
		}
		if h2.branch != h.branch || h2.host != h.host || h2.port != h.port {
			t.Fatalf("rewrite changed the hop: %q -> %q", v, out)
		}
		if (h.hasRport || force) && !h2.hasRport {
			t.Fatalf("rport lost: %q -> %q", v, out)
		}
		if h.needReceived(src.Addr()) && !strings.Contains(out[:h2.end], ";received=10.1.2.3") {
			t.Fatalf("received missing: %q -> %q", v, out)
		}
		hasTagParam(v)
	})
}
