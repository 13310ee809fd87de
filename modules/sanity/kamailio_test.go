package sanity_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/servertest"
	_ "github.com/sipht/sipht/modules/sanity"
	_ "github.com/sipht/sipht/modules/textops"
)

const base = `OPTIONS sip:test@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK-x1
From: <sip:alice@127.0.0.1>;tag=1
To: <sip:test@127.0.0.1>
Call-ID: san-1@127.0.0.1
CSeq: 1 OPTIONS
Max-Forwards: 70
Content-Length: 0

`

// mutate replaces old by new in the base request.
func mutate(old, new string) string { return strings.Replace(base, old, new, 1) }

func TestCompareSanity(t *testing.T) {
	check := `if (sanity_check()) { LOG("passed"); } else { LOG("failed $rc"); } REPLY("200", "after");`
	full := `if (sanity_check("17895", "7")) { LOG("passed"); } else { LOG("failed $rc"); } REPLY("200", "after");`
	all := `if (sanity_check("32767", "15")) { LOG("passed"); } else { LOG("failed $rc"); } REPLY("200", "after");`
	reqs := []struct{ name, req string }{
		{"good", base},
		{"bad ruri scheme", mutate("OPTIONS sip:test@127.0.0.1", "OPTIONS foo:test@127.0.0.1")},
		{"ruri bad port", mutate("OPTIONS sip:test@127.0.0.1", "OPTIONS sip:test@127.0.0.1:99999")},
		{"ruri empty user", mutate("OPTIONS sip:test@127.0.0.1", "OPTIONS sip:@127.0.0.1")},
		{"tel ruri", mutate("OPTIONS sip:test@127.0.0.1", "OPTIONS tel:+1234")},
		{"cseq method mismatch", mutate("CSeq: 1 OPTIONS", "CSeq: 1 INVITE")},
		{"cseq method case", mutate("CSeq: 1 OPTIONS", "CSeq: 1 options")},
		{"cseq too big", mutate("CSeq: 1 OPTIONS", "CSeq: 4294967297 OPTIONS")},
		{"cseq max", mutate("CSeq: 1 OPTIONS", "CSeq: 4294967295 OPTIONS")},
		{"expires bad", mutate("Max-Forwards: 70", "Max-Forwards: 70\nExpires: abc")},
		{"expires too big", mutate("Max-Forwards: 70", "Max-Forwards: 70\nExpires: 99999999999")},
		{"expires ok", mutate("Max-Forwards: 70", "Max-Forwards: 70\nExpires: 3600")},
		{"expires trailing", mutate("Max-Forwards: 70", "Max-Forwards: 70\nExpires: 3600 x")},
		{"proxy-require", mutate("Max-Forwards: 70", "Max-Forwards: 70\nProxy-Require: foo, bar")},
		{"proxy-require known", mutate("Max-Forwards: 70", "Max-Forwards: 70\nProxy-Require: ext1")},
		{"bad From uri", mutate("From: <sip:alice@127.0.0.1>;tag=1", "From: <foo:alice@127.0.0.1>;tag=1")},
		{"bad To uri", mutate("To: <sip:test@127.0.0.1>", "To: <sip:test@[::1>")},
		{"bad Contact uri", mutate("Max-Forwards: 70", "Max-Forwards: 70\nContact: <sip:a@b:x>")},
		{"Contact star", mutate("Max-Forwards: 70", "Max-Forwards: 70\nContact: *")},
		{"two from tags", mutate("From: <sip:alice@127.0.0.1>;tag=1", "From: <sip:alice@127.0.0.1>;tag=1;tag=2")},
		{"digest ok", mutate("Max-Forwards: 70", `Max-Forwards: 70
Authorization: Digest username="a", realm="r", nonce="n", uri="sip:x", response="0123"`)},
		{"digest missing realm", mutate("Max-Forwards: 70", `Max-Forwards: 70
Authorization: Digest username="a", nonce="n", uri="sip:x", response="0123"`)},
		{"digest empty user", mutate("Max-Forwards: 70", `Max-Forwards: 70
Authorization: Digest username="", realm="r", nonce="n", uri="sip:x", response="0123"`)},
		{"digest empty nonce", mutate("Max-Forwards: 70", `Max-Forwards: 70
Proxy-Authorization: Digest username="a", realm="r", nonce="", uri="sip:x", response="0123"`)},
		{"digest qop without cnonce", mutate("Max-Forwards: 70", `Max-Forwards: 70
Authorization: Digest username="a", realm="r", nonce="n", uri="sip:x", response="0123", qop=auth, nc=00000001`)},
		{"basic auth", mutate("Max-Forwards: 70", "Max-Forwards: 70\nAuthorization: Basic YTpi")},
		{"content-length mismatch", mutate("Content-Length: 0\n\n", "Content-Length: 0\n\nabc")},
		{"ack", strings.NewReplacer("OPTIONS sip:", "ACK sip:", "CSeq: 1 OPTIONS", "CSeq: 1 INVITE").Replace(base)},
	}
	var cases []modtest.Case
	for _, r := range reqs {
		cases = append(cases, modtest.Case{Name: r.name + " (default)", Request: r.req, Body: check})
		cases = append(cases, modtest.Case{Name: r.name + " (17895/7)", Request: r.req, Body: full})
		cases = append(cases, modtest.Case{Name: r.name + " (all)", Request: r.req, Body: all})
	}
	modtest.Compare(t, []string{"sanity", "textops"}, `modparam("sanity", "autodrop", 0)
modparam("sanity", "proxy_require", "ext1, ext2")`, cases)
}

// Requests Kamailio's parser refuses before the script runs (SIP/3.0, two
// From headers) or that sipht's transport refuses (a CSeq number that is
// not a number): sanity_check answers them as Kamailio's module would.
func TestSanityOnlySipht(t *testing.T) {
	s := modtest.Start(t, []string{"sanity"}, `modparam("sanity", "autodrop", 0)`, `request_route {
	if (sanity_check("32767", "15")) { t_log("passed"); } else { t_log("failed $rc"); }
}`)
	for _, tc := range []struct {
		name, req string
		code      int
		reason    string
	}{
		{"version 3.0", mutate("sip:test@127.0.0.1 SIP/2.0", "sip:test@127.0.0.1 SIP/3.0"), 505, "Version Not Supported (R-URI)"},
		{"two From", mutate("Max-Forwards: 70", "Max-Forwards: 70\nFrom: <sip:x@y>;tag=2"), 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Probe.Reset()
			c := servertest.Dial(t, s.UDP)
			c.Send(t, strings.ReplaceAll(strings.ReplaceAll(tc.req, "\r\n", "\n"), "\n", "\r\n"))
			r := c.Read(t, 2*time.Second)
			if l := s.Probe.WaitLines(1); len(l) != 1 || l[0] != "failed -1" {
				t.Errorf("lines %q, want [failed -1]", l)
			}
			if tc.code == 0 {
				if r != "" {
					t.Errorf("unexpected reply %q", r)
				}
				return
			}
			if servertest.Status(r) != tc.code || !strings.Contains(r, " "+tc.reason+"\r\n") {
				t.Errorf("reply %q, want %d %s", r, tc.code, tc.reason)
			}
		})
	}
}

func TestCompareSanityAutodrop(t *testing.T) {
	cases := []modtest.Case{
		{Name: "autodrop ends the script", Request: mutate("CSeq: 1 OPTIONS", "CSeq: 99999999999 OPTIONS"),
			Body: `sanity_check(); LOG("not reached $rc");`},
		{Name: "arguments out of range", Request: base, Body: `sanity_check("0"); LOG("rc $rc"); sanity_check("1", "16"); LOG("rc $rc"); sanity_check("32768"); LOG("rc $rc");`},
		{Name: "dynamic arguments", Request: base, Body: `$var(c) = 4; if (sanity_check("$var(c)", "1")) { LOG("ok $rc"); }`},
	}
	modtest.Compare(t, []string{"sanity", "textops"}, "", cases)
}

func TestCompareSanityNoreply(t *testing.T) {
	cases := []modtest.Case{
		{Name: "noreply then sanity_reply", Request: mutate("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"),
			Body: `if (!sanity_check()) { LOG("failed $rc"); sanity_reply(); }`},
		{Name: "sanity_reply without failure", Request: base, Body: `sanity_reply(); LOG("rc $rc");`},
	}
	modtest.Compare(t, []string{"sanity", "textops"}, `modparam("sanity", "autodrop", 0)
modparam("sanity", "noreply", 1)`, cases)
}
