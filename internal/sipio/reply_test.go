package sipio

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestParseVia(t *testing.T) {
	cases := []struct {
		in                     string
		ok                     bool
		tp, host, port, branch string
		rport, received        bool
		restAfterFirst         string
	}{
		{in: "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1", ok: true, tp: "UDP", host: "127.0.0.1", port: "5060", branch: "z9hG4bK-1"},
		{in: "SIP/2.0/TCP example.com;branch=z9;rport", ok: true, tp: "TCP", host: "example.com", branch: "z9", rport: true},
		{in: "SIP / 2.0 / UDP [::1]:5070;rport=;received=1.2.3.4", ok: true, tp: "UDP", host: "::1", port: "5070", rport: true, received: true},
		{in: "SIP/2.0/UDP 1.2.3.4:5060 ; branch=z9 ; RPORT", ok: true, tp: "UDP", host: "1.2.3.4", port: "5060", branch: "z9", rport: true},
		{in: "SIP/2.0/UDP a:1;branch=x, SIP/2.0/UDP b:2;branch=y", ok: true, tp: "UDP", host: "a", port: "1", branch: "x", restAfterFirst: ", SIP/2.0/UDP b:2;branch=y"},
		{in: `SIP/2.0/UDP a;x="q;,uoted";branch=b`, ok: true, tp: "UDP", host: "a", branch: "b"},
		{in: "SIP/2.0/UDP", ok: false},
		{in: "SIP/2.0/UDP ", ok: false},
		{in: "SIP/2.0/UDPhost", ok: false},
		{in: "garbage", ok: false},
		{in: "SIP/2.0/UDP host:0", ok: false},
		{in: "SIP/2.0/UDP host:99999", ok: false},
		{in: "SIP/2.0/UDP host:x", ok: false},
		{in: "SIP/2.0/UDP [::1", ok: false},
		{in: "SIP/2.0/UDP [1.2.3.4]:5060", ok: false},
		{in: "SIP/2.0/UDP host;", ok: false},
		{in: "SIP/2.0/UDP host;a=\"unterminated", ok: false},
		{in: "SIP/2.0/UDP host (comment)", ok: false},
	}
	for _, tc := range cases {
		h, ok := parseVia(tc.in)
		if ok != tc.ok {
			t.Errorf("parseVia(%q) ok=%v", tc.in, ok)
			continue
		}
		if !ok {
			continue
		}
		if h.transport != tc.tp || h.host != tc.host || h.portStr != tc.port || h.branch != tc.branch || h.hasRport != tc.rport || h.hasReceived != tc.received {
			t.Errorf("parseVia(%q) = %+v", tc.in, h)
		}
		if tc.in[h.end:] != tc.restAfterFirst {
			t.Errorf("parseVia(%q) rest %q, want %q", tc.in, tc.in[h.end:], tc.restAfterFirst)
		}
	}
}

// TestViaReceivedRport checks the top Via of stateless replies against what
// Kamailio 5.6.3's sl_send_reply wrote for the same requests (captured on
// loopback; the source was 127.0.0.1:PORT).
func TestViaReceivedRport(t *testing.T) {
	src := netip.MustParseAddrPort("127.0.0.1:36159")
	src6 := netip.MustParseAddrPort("[::1]:49261")
	cases := []struct {
		name  string
		via   string
		src   netip.AddrPort
		force bool
		want  string
		dst   string // where the reply goes
	}{
		{"same ip, no rport: untouched", "SIP/2.0/UDP 127.0.0.1:36159;branch=z9hG4bK-1", src, false,
			"SIP/2.0/UDP 127.0.0.1:36159;branch=z9hG4bK-1", "127.0.0.1:36159"},
		{"rport asked: rport filled, received added even for the same ip", "SIP/2.0/UDP 127.0.0.1:36159;branch=z9hG4bK-2;rport", src, false,
			"SIP/2.0/UDP 127.0.0.1:36159;branch=z9hG4bK-2;rport=36159;received=127.0.0.1", "127.0.0.1:36159"},
		{"other ip with rport", "SIP/2.0/UDP 127.0.0.2:43594;branch=z9hG4bK-3;rport", src, false,
			"SIP/2.0/UDP 127.0.0.2:43594;branch=z9hG4bK-3;rport=36159;received=127.0.0.1", "127.0.0.1:36159"},
		{"other ip, no rport: received only, reply to Via port", "SIP/2.0/UDP 127.0.0.2:46132;branch=z9hG4bK-4", src, false,
			"SIP/2.0/UDP 127.0.0.2:46132;branch=z9hG4bK-4;received=127.0.0.1", "127.0.0.1:46132"},
		{"host name, empty rport value replaced in place", "SIP/2.0/UDP example.com:57649;branch=z9hG4bK-5;rport=;x=1", src, false,
			"SIP/2.0/UDP example.com:57649;branch=z9hG4bK-5;rport=36159;x=1;received=127.0.0.1", "127.0.0.1:36159"},
		{"force_rport, same ip", "SIP/2.0/UDP 127.0.0.1:56075;branch=z9hG4bK-6", src, true,
			"SIP/2.0/UDP 127.0.0.1:56075;branch=z9hG4bK-6;rport=36159", "127.0.0.1:36159"},
		{"force_rport, other ip", "SIP/2.0/UDP 127.0.0.2:39296;branch=z9hG4bK-6", src, true,
			"SIP/2.0/UDP 127.0.0.2:39296;branch=z9hG4bK-6;rport=36159;received=127.0.0.1", "127.0.0.1:36159"},
		{"existing rport value and received (Kamailio appends a second received)", "SIP/2.0/UDP 127.0.0.1:33004;branch=z9hG4bK-7;rport=123;received=9.9.9.9", src, false,
			"SIP/2.0/UDP 127.0.0.1:33004;branch=z9hG4bK-7;rport=36159;received=9.9.9.9;received=127.0.0.1", "127.0.0.1:36159"},
		// Kamailio 5.6 puts this received after the LAST hop of the line; we
		// put it on the first hop, where RFC 3261 wants it.
		{"two hops on one line", "SIP/2.0/UDP 127.0.0.1:52352;branch=z9hG4bK-8;rport, SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-x", src, false,
			"SIP/2.0/UDP 127.0.0.1:52352;branch=z9hG4bK-8;rport=36159;received=127.0.0.1, SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-x", "127.0.0.1:36159"},
		{"no port in Via: reply to 5060", "SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-8", src, false,
			"SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-8", "127.0.0.1:5060"},
		{"IPv6 Via host, IPv4 source", "SIP/2.0/UDP [::1]:47883;branch=z9hG4bK-8;rport", src, false,
			"SIP/2.0/UDP [::1]:47883;branch=z9hG4bK-8;rport=36159;received=127.0.0.1", "127.0.0.1:36159"},
		{"IPv6 source: received without brackets", "SIP/2.0/UDP 127.0.0.1:1234;branch=z9hG4bK-1;rport", src6, false,
			"SIP/2.0/UDP 127.0.0.1:1234;branch=z9hG4bK-1;rport=49261;received=::1", "[::1]:49261"},
		{"IPv6 same host", "SIP/2.0/UDP [::1]:49261;branch=z9hG4bK-1", src6, false,
			"SIP/2.0/UDP [::1]:49261;branch=z9hG4bK-1", "[::1]:49261"},
		// Kamailio 5.6 mangles an upper-case RPORT into "R<port>" and adds no
		// received; parameter names are case-insensitive (RFC 3261 §7.3.1).
		{"upper-case RPORT", "SIP/2.0/UDP 127.0.0.1:56453;BRANCH=z9hG4bK-8;RPORT", src, false,
			"SIP/2.0/UDP 127.0.0.1:56453;BRANCH=z9hG4bK-8;RPORT=36159;received=127.0.0.1", "127.0.0.1:36159"},
		{"blanks around ;", "SIP/2.0/UDP 127.0.0.1:50315 ; branch=z9hG4bK-8 ; rport", src, false,
			"SIP/2.0/UDP 127.0.0.1:50315 ; branch=z9hG4bK-8 ; rport=36159;received=127.0.0.1", "127.0.0.1:36159"},
		{"trailing blanks before the next hop", "SIP/2.0/UDP 127.0.0.2:5060;branch=a  , SIP/2.0/UDP b", src, false,
			"SIP/2.0/UDP 127.0.0.2:5060;branch=a;received=127.0.0.1  , SIP/2.0/UDP b", "127.0.0.1:5060"},
	}
	for _, tc := range cases {
		h, ok := parseVia(tc.via)
		if !ok {
			t.Errorf("%s: parseVia failed", tc.name)
			continue
		}
		if got := string(appendViaValue(nil, tc.via, &h, tc.src, tc.force)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
		if got := replyAddr(tc.src, &h, tc.force).String(); got != tc.dst {
			t.Errorf("%s: reply goes to %s, want %s", tc.name, got, tc.dst)
		}
	}
}

func TestHasTagParam(t *testing.T) {
	for in, want := range map[string]bool{
		"<sip:x@127.0.0.1>":                            false,
		"<sip:x@127.0.0.1>;tag=existing":               true,
		"<sip:x@127.0.0.1>;TAG=e":                      true,
		"<sip:x@127.0.0.1> ; tag = e":                  true,
		`"a;tag=b" <sip:x@127.0.0.1;tag=inuri>`:        false,
		`"a;tag=b" <sip:x@127.0.0.1;tag=inuri>;tag=ok`: true,
		"sip:x@127.0.0.1;tag=1":                        true,
		"sip:x@127.0.0.1;tagx=1":                       false,
		"<sip:x@127.0.0.1>;x=1;tag":                    true,
		`"unterminated <sip:x>;tag=1`:                  false,
		"<sip:x@y":                                     false,
		"Bob <sip:bob@biloxi.com>;tag=a6c85cf":         true,
		"<sip:x@y>;tagged=1":                           false,
	} {
		if got := hasTagParam(in); got != want {
			t.Errorf("hasTagParam(%q) = %v", in, got)
		}
	}
}

// kamailioRequest is the request whose reply Kamailio 5.6.3 produced as
// kamailioReply (sl_send_reply("404","Not Here") + append_to_reply).
const kamailioRequest = "OPTIONS sip:h@127.0.0.1:17060 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:52352;branch=z9hG4bK-8;rport\r\n" +
	"From: <sip:a@b>;tag=ft1\r\n" +
	"To: <sip:x@127.0.0.1>\r\n" +
	"Call-ID: c1@x\r\n" +
	"CSeq: 7 OPTIONS\r\n" +
	"Max-Forwards: 70\r\n" +
	"Content-Length: 0\r\n\r\n"

const kamailioReply = "SIP/2.0 404 Not Here\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:52352;branch=z9hG4bK-8;rport=52352;received=127.0.0.1\r\n" +
	"From: <sip:a@b>;tag=ft1\r\n" +
	"To: <sip:x@127.0.0.1>;tag=TAG\r\n" +
	"Call-ID: c1@x\r\n" +
	"CSeq: 7 OPTIONS\r\n" +
	"X-A: b\r\n" +
	"Server: kamailio (5.6.3 (x86_64/linux))\r\n" +
	"Content-Length: 0\r\n\r\n"

func testServer(t testing.TB) *Server {
	t.Helper()
	s, err := NewServer(Config{
		Listen:       []ListenSpec{{Transport: UDP, Host: "127.0.0.1", Port: 5060}},
		Handler:      func(*Msg) {},
		ServerHeader: "kamailio (5.6.3 (x86_64/linux))",
		Logger:       quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func parseMsg(t testing.TB, s *Server, raw string, src string) *Msg {
	t.Helper()
	msg, err := s.parser.ParseSIP([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		t.Fatal("not a request")
	}
	if err := checkRequest(req); err != nil {
		t.Fatal(err)
	}
	return &Msg{Req: req, Raw: []byte(raw), Source: netip.MustParseAddrPort(src), Transport: UDP}
}

func TestAppendResponseKamailioShape(t *testing.T) {
	s := testServer(t)
	m := parseMsg(t, s, kamailioRequest, "127.0.0.1:52352")
	got, err := s.AppendResponse(nil, m, 404, "Not Here", &ReplyOptions{Headers: []Field{{"X-A", "b"}}})
	if err != nil {
		t.Fatal(err)
	}
	tag := s.ToTag(m)
	if want := strings.Replace(kamailioReply, "TAG", tag, 1); string(got) != want {
		t.Fatalf("reply:\n%s\nwant:\n%s", got, want)
	}
	if len(tag) != 41 || tag[32] != '.' || !s.IsLocalToTag(tag) || s.IsLocalToTag("2580992359066b42b513252e6d502cf5.80c4a21b") {
		t.Fatalf("tag %q has not Kamailio's shape or is not recognised", tag)
	}
}

func TestAppendResponseRules(t *testing.T) {
	s := testServer(t)
	req := "INVITE sip:b@127.0.0.1 SIP/2.0\r\n" +
		"v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-a\r\n" +
		"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-b\r\n" +
		"Record-Route: <sip:p1;lr>\r\n" +
		"f: <sip:a@b>;tag=1\r\n" +
		"t: <sip:b@c>\r\n" +
		"i: cid\r\n" +
		"CSeq: 1 INVITE\r\n" +
		"Contact: <sip:a@127.0.0.1>\r\n" +
		"Content-Length: 0\r\n\r\n"
	m := parseMsg(t, s, req, "127.0.0.1:5070")
	for _, tc := range []struct {
		code    int
		rr, tag bool
	}{{100, false, false}, {180, true, true}, {200, true, true}, {302, false, true}, {486, false, true}} {
		b, err := s.AppendResponse(nil, m, tc.code, "X", nil)
		if err != nil {
			t.Fatal(err)
		}
		r := string(b)
		if strings.Contains(r, "Record-Route: <sip:p1;lr>\r\n") != tc.rr {
			t.Errorf("%d: Record-Route copied = %v", tc.code, !tc.rr)
		}
		if strings.Contains(r, "t: <sip:b@c>;tag=") != tc.tag {
			t.Errorf("%d: To-tag added = %v:\n%s", tc.code, !tc.tag, r)
		}
		if strings.Contains(r, "Contact") {
			t.Errorf("%d: Contact copied", tc.code)
		}
		if !strings.Contains(r, "v: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-a\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-b\r\n") {
			t.Errorf("%d: Vias not copied in order:\n%s", tc.code, r)
		}
	}
	// body and content type
	b, err := s.AppendResponse(nil, m, 200, "OK", &ReplyOptions{Body: []byte("v=0\r\n"), ContentType: "application/sdp", ToTag: "mytag"})
	if err != nil {
		t.Fatal(err)
	}
	if r := string(b); !strings.HasSuffix(r, "Content-Type: application/sdp\r\nServer: kamailio (5.6.3 (x86_64/linux))\r\nContent-Length: 5\r\n\r\nv=0\r\n") || !strings.Contains(r, "t: <sip:b@c>;tag=mytag\r\n") {
		t.Errorf("reply with body:\n%s", r)
	}
}

func TestToTagStable(t *testing.T) {
	s := testServer(t)
	m1 := parseMsg(t, s, kamailioRequest, "127.0.0.1:52352")
	m2 := parseMsg(t, s, kamailioRequest, "127.0.0.1:52352") // a retransmission
	other := parseMsg(t, s, strings.Replace(kamailioRequest, "z9hG4bK-8", "z9hG4bK-9", 1), "127.0.0.1:52352")
	otherPort := parseMsg(t, s, strings.Replace(kamailioRequest, ":52352;", ":52353;", 1), "127.0.0.1:52352")
	if s.ToTag(m1) != s.ToTag(m2) {
		t.Fatal("retransmission got another tag")
	}
	if s.ToTag(m1) == s.ToTag(other) || s.ToTag(m1) == s.ToTag(otherPort) {
		t.Fatal("different requests got the same tag")
	}
	// same config -> same prefix (stable across restarts); another secret -> another prefix
	s2 := testServer(t)
	if s2.ToTag(m1) != s.ToTag(m1) {
		t.Fatal("tag not stable across server instances with the same config")
	}
	s3, _ := NewServer(Config{Listen: s.cfg.Listen, Handler: func(*Msg) {}, TagSecret: []byte("other")})
	if s3.ToTag(m1)[:32] == s.ToTag(m1)[:32] {
		t.Fatal("TagSecret does not change the prefix")
	}
}

func TestReplyBuildersRejectInjection(t *testing.T) {
	s := testServer(t)
	m := parseMsg(t, s, kamailioRequest, "127.0.0.1:52352")
	bad := []struct {
		name   string
		reason string
		o      *ReplyOptions
	}{
		{"reason CRLF", "OK\r\nX-Evil: 1", nil},
		{"reason LF", "OK\nX", nil},
		{"reason NUL", "OK\x00", nil},
		{"header value", "OK", &ReplyOptions{Headers: []Field{{"X-A", "a\r\nX-Evil: 1"}}}},
		{"header name", "OK", &ReplyOptions{Headers: []Field{{"X-A: b\r\nX-B", "c"}}}},
		{"empty header name", "OK", &ReplyOptions{Headers: []Field{{"", "c"}}}},
		{"content type", "OK", &ReplyOptions{Body: []byte("x"), ContentType: "text/plain\r\nX: y"}},
		{"to tag", "OK", &ReplyOptions{ToTag: "a;b=c"}},
	}
	for _, tc := range bad {
		if _, err := s.AppendResponse(nil, m, 200, tc.reason, tc.o); !errors.Is(err, ErrBadHeader) {
			t.Errorf("%s: err = %v, want ErrBadHeader", tc.name, err)
		}
	}
	if _, err := s.AppendResponse(nil, m, 700, "X", nil); err == nil {
		t.Error("code 700 accepted")
	}
	// a header value the script changed after parsing is checked too
	m.Req.AppendHeader(sip.NewHeader("Call-ID", "x"))
	m.Req.RemoveHeader("Call-ID")
	m.Req.AppendHeader(sip.NewHeader("Call-ID", "cid\nX-Evil: 1"))
	if _, err := s.AppendResponse(nil, m, 200, "OK", nil); !errors.Is(err, ErrBadHeader) {
		t.Errorf("modified Call-ID with LF: %v", err)
	}
}

func TestCheckWire(t *testing.T) {
	s := testServer(t)
	m := parseMsg(t, s, kamailioRequest, "127.0.0.1:52352")
	res, err := s.NewResponse(m, 200, "OK", nil)
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(res.String())
	if err := checkWire(b, 0, len(res.Headers())); err != nil {
		t.Fatalf("clean reply rejected: %v", err)
	}
	for _, h := range []sip.Header{
		sip.NewHeader("X-Evil", "a\r\nX-Injected: 1"),
		sip.NewHeader("X-Evil", "a\nb"),
		sip.NewHeader("X-Evil", "a\rb"),
		sip.NewHeader("X-Evil", "a\x00b"),
		sip.NewHeader("X-Evil: 1\r\nX-Other", "b"),
	} {
		r := res.Clone()
		r.AppendHeader(h)
		if err := checkWire([]byte(r.String()), 0, len(r.Headers())); !errors.Is(err, ErrBadHeader) {
			t.Errorf("%q: not rejected (%v)", h.String(), err)
		}
	}
	r := res.Clone()
	r.Reason = "OK\r\nX-Injected: 1"
	if err := checkWire([]byte(r.String()), 0, len(r.Headers())); !errors.Is(err, ErrBadHeader) {
		t.Errorf("reason injection not rejected: %v", err)
	}
}

// TestSipgoLazyResponsePitfall documents why NewResponse exists: with the
// lazy parser, sipgo's NewResponseFromRequest neither fills rport/received
// nor adds a To-tag to what it serialises.
func TestSipgoLazyResponsePitfall(t *testing.T) {
	s := testServer(t)
	m := parseMsg(t, s, kamailioRequest, "127.0.0.1:52352")
	m.Req.SetSource("127.0.0.1:52352")
	res := sip.NewResponseFromRequest(m.Req, 200, "OK", nil)
	out := res.String()
	if strings.Contains(out, "rport=52352") || strings.Contains(out, "To: <sip:x@127.0.0.1>;tag=") {
		t.Skipf("sipgo now serialises its lazy-parsed changes; NewResponse may be simplified:\n%s", out)
	}
	ours, err := s.NewResponse(m, 200, "OK", nil)
	if err != nil {
		t.Fatal(err)
	}
	if o := ours.String(); !strings.Contains(o, "rport=52352;received=127.0.0.1") || !strings.Contains(o, "To: <sip:x@127.0.0.1>;tag=") {
		t.Fatalf("NewResponse:\n%s", o)
	}
}
