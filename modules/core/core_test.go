package core_test

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/cfg"
	icore "github.com/sipht/sipht/internal/core"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/sipio"
	_ "github.com/sipht/sipht/modules/all"
	"github.com/sipht/sipht/modules/core"
)

// rewriteCtx returns a Ctx processing a request for ruri, and the Routing
// state of a fresh registry.
func rewriteCtx(t *testing.T, ruri string) (*script.Ctx, *core.Routing) {
	t.Helper()
	reg := script.NewRegistry()
	rs := core.RoutingOf(reg)
	f := mustParse(t, "request_route { exit; }")
	p, err := script.Compile(f, reg, script.Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := "OPTIONS " + ruri + " SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK-1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	m, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := p.NewCtx()
	c.Reset(&sipio.Msg{Req: m.(*sip.Request), Raw: []byte(raw), Transport: sipio.UDP})
	return c, rs.Get(c)
}

// The rewriting rules of Kamailio's action.c (the same cases run against
// Kamailio in test/diff TestPVsMatchKamailio/ruri_rewrites and tel_rewrites).
func TestRewrite(t *testing.T) {
	tests := []struct {
		ruri string
		op   core.RewriteOp
		s    string
		n    int
		want string
	}{
		{"sip:bob:pw@example.com:5070;lr?subject=x", core.SetHost, "example.net", 0, "sip:bob:pw@example.net:5070;lr?subject=x"},
		{"sip:bob:pw@example.com:5070;lr", core.SetUser, "carol", 0, "sip:carol:pw@example.com:5070;lr"},
		{"sip:bob:pw@example.com", core.SetUser, "", 0, "sip:example.com"},
		{"sip:bob:pw@example.com", core.SetUserPass, "eve", 0, "sip:eve@example.com"},
		{"sip:bob@example.com", core.Prefix, "00", 0, "sip:00bob@example.com"},
		{"sip:example.com", core.Prefix, "00", 0, "sip:00@example.com"},
		{"sip:12345@h", core.Strip, "", 2, "sip:345@h"},
		{"sip:12345@h", core.Strip, "", 5, "sip:h"},
		{"sip:12345@h", core.Strip, "", 9, "sip:h"},
		{"sip:12345@h", core.StripTail, "", 2, "sip:123@h"},
		{"sip:a@h:5070;transport=tcp", core.SetPort, "5099", 0, "sip:a@h:5099;transport=tcp"},
		{"sip:a@h:5070", core.SetPort, "", 0, "sip:a@h"},
		{"sip:a@h:5070;x=1", core.SetHostPort, "10.0.0.1:6000", 0, "sip:a@10.0.0.1:6000;x=1"},
		{"sip:a@h:5070;x=1;transport=tcp;y=2", core.SetHostPortTrans, "g:7", 0, "sip:a@g:7;x=1;y=2"},
		{"sip:a@h;transport=tcp", core.SetHostPortTrans, "g", 0, "sip:a@g"},
		{"tel:+4930123;phone-context=x", core.SetHost, "gw", 0, "sip:+4930123;phone-context=x@gw;user=phone"},
		{"tel:+4930123", core.Prefix, "00", 0, "tel:00+4930123"},
		{"sip:123@h", core.SetUserPhone, "", 0, "sip:123@h;user=phone"},
		{"sip:123@h;user=phone", core.SetUserPhone, "", 0, "sip:123@h;user=phone"},
	}
	for _, tt := range tests {
		_, rt := rewriteCtx(t, tt.ruri)
		if err := rt.Rewrite(tt.op, tt.s, tt.n); err != nil {
			t.Errorf("%s op %d %q: %v", tt.ruri, tt.op, tt.s, err)
			continue
		}
		if got := rt.URI(); got != tt.want {
			t.Errorf("%s op %d %q: got %q, want %q", tt.ruri, tt.op, tt.s, got, tt.want)
		}
		if rt.OrigURI() != tt.ruri {
			t.Errorf("OrigURI changed: %q", rt.OrigURI())
		}
	}
	_, rt := rewriteCtx(t, "tel:+1")
	if err := rt.Rewrite(core.SetPort, "5060", 0); err == nil {
		t.Error("setport on a tel: URI must fail")
	}
	_, rt = rewriteCtx(t, "sip:a@h")
	rt.SetURI("not a uri")
	if err := rt.Rewrite(core.SetUser, "x", 0); err == nil {
		t.Error("rewriting an unparsable R-URI must fail")
	}
	rt.RevertURI()
	if rt.URI() != "sip:a@h" || rt.HasNewURI() {
		t.Errorf("revert: %q", rt.URI())
	}
	if err := rt.Rewrite(core.SetHost, strings.Repeat("h", 1100), 0); err == nil {
		t.Error("a URI longer than MAX_URI_SIZE must be refused")
	}
}

func TestMyself(t *testing.T) {
	var m core.Myself
	if m.Match("127.0.0.1", 0) {
		t.Fatal("matches before Build")
	}
	ls := []sipio.Listener{
		{Transport: sipio.UDP, Addr: netip.MustParseAddrPort("127.0.0.1:15064"),
			Spec: sipio.ListenSpec{Host: "LocalHost"}},
		{Transport: sipio.TCP, Addr: netip.MustParseAddrPort("[::1]:15065"), Spec: sipio.ListenSpec{Host: "::1"}},
	}
	p := icore.Defaults()
	p.AutoAliases = false
	p.Aliases = []icore.Alias{{Host: "example.com"}, {Host: "other.example", Port: 5080}}
	m.Build(context.Background(), ls, p)
	tests := []struct {
		host string
		port uint16
		want bool
	}{
		{"127.0.0.1", 15064, true},
		{"127.0.0.1", 5060, false}, // the facts sheet's verified case
		{"127.0.0.1", 0, true},
		{"localhost", 15064, true},
		{"LOCALHOST", 15064, true},
		{"[::1]", 15065, true},
		{"::1", 15065, true},
		{"::1", 15064, false},
		{"EXAMPLE.com", 9999, true},
		{"other.example", 5080, true},
		{"other.example", 5060, false},
		{"other.example", 0, true},
		{"10.0.0.1", 15064, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		if got := m.Match(tt.host, tt.port); got != tt.want {
			t.Errorf("Match(%q, %d) = %v, want %v", tt.host, tt.port, got, tt.want)
		}
	}
	if !m.MatchTransport("127.0.0.1", 15064, sipio.UDP) || m.MatchTransport("127.0.0.1", 15064, sipio.TCP) ||
		!m.MatchTransport("example.com", 1, sipio.TCP) {
		t.Error("MatchTransport")
	}
	for uri, want := range map[string]bool{
		"sip:x@127.0.0.1:15064": true, "sip:x@127.0.0.1": false, "sip:x@example.com": true,
		"sips:x@other.example:5080": true, "tel:+1": false, "garbage": false,
	} {
		if got := m.MatchURI(uri); got != want {
			t.Errorf("MatchURI(%q) = %v, want %v", uri, got, want)
		}
	}
}

// forward() sends the request statelessly to the R-URI, the rewritten
// R-URI or $du, with our Via on top and the R-URI in the request line.
func TestForward(t *testing.T) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	port := sink.LocalAddr().(*net.UDPAddr).Port
	r := servertest.Start(t, `
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "sl.so"
request_route {
	if ($rU == "plain") { forward(); exit; }
	if ($rU == "du") { $du = "sip:127.0.0.1:`+itoa(port)+`"; forward(); exit; }
	if ($rU == "rewrite") { $rU = "new"; $rd = "127.0.0.1"; $rp = "`+itoa(port)+`"; append_hf("X-Added: 1\r\n"); forward(); exit; }
	if ($rU == "hostport") { forward("127.0.0.1", `+itoa(port)+`); exit; }
	if ($rU == "bad") { if (!forward()) { sl_reply_error(); } exit; }
}
`)
	c := servertest.Dial(t, r.UDP)
	read := func() string {
		sink.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 65535)
		n, _, err := sink.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("nothing forwarded: %v\nlogs:\n%s", err, r.Logs.String())
		}
		return string(buf[:n])
	}
	for _, tt := range []struct {
		ruri, wantLine, wantHdr string
	}{
		{"sip:plain@127.0.0.1:" + itoa(port), "OPTIONS sip:plain@127.0.0.1:" + itoa(port) + " SIP/2.0", ""},
		{"sip:du@192.0.2.1", "OPTIONS sip:du@192.0.2.1 SIP/2.0", ""},
		{"sip:rewrite@192.0.2.1", "OPTIONS sip:new@127.0.0.1:" + itoa(port) + " SIP/2.0", "X-Added: 1"},
		{"sip:hostport@192.0.2.1", "OPTIONS sip:hostport@192.0.2.1 SIP/2.0", ""},
	} {
		c.Send(t, servertest.Request("OPTIONS", tt.ruri, nil, ""))
		got := read()
		line, _, _ := strings.Cut(got, "\r\n")
		if line != tt.wantLine {
			t.Errorf("%s: request line %q, want %q", tt.ruri, line, tt.wantLine)
		}
		if !strings.Contains(got, "\r\nVia: SIP/2.0/UDP 127.0.0.1:") {
			t.Errorf("%s: no Via of ours:\n%s", tt.ruri, got)
		}
		if tt.wantHdr != "" && !strings.Contains(got, tt.wantHdr) {
			t.Errorf("%s: %q missing:\n%s", tt.ruri, tt.wantHdr, got)
		}
	}
	// an unresolvable destination: forward fails, sl_reply_error answers
	rep := c.Do(t, servertest.Request("OPTIONS", "sip:bad@no-such-host.invalid", nil, ""))
	if !strings.HasPrefix(rep, "SIP/2.0 478 Unresolvable destination (478/SL)") {
		t.Errorf("sl_reply_error after a failed forward: %q", rep)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func mustParse(t *testing.T, src string) *cfg.File {
	t.Helper()
	f, err := cfg.Parse("t.cfg", []byte(src), cfg.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}
