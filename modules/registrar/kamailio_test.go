package registrar_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
	"github.com/sipht/sipht/modules/auth"
	_ "github.com/sipht/sipht/modules/auth_db"
	_ "github.com/sipht/sipht/modules/db_sqlite"
	_ "github.com/sipht/sipht/modules/internal/modtest"
	_ "github.com/sipht/sipht/modules/registrar"
	_ "github.com/sipht/sipht/modules/usrloc"
)

// The differential test sends the same requests to the real Kamailio 5.6
// and to sipht, both running the same routing logic (written with
// Kamailio's sl/textops/pv functions for Kamailio and with the modtest
// helpers for sipht, which has those modules on other branches), and
// compares the normalised replies.

const diffRealm = "example.com"

// route is one X-Test branch: what it calls, in both dialects.
type route struct {
	test     string
	kamailio string // statements for Kamailio
	sipht    string // statements for sipht
}

func rcReply(call string) route {
	return route{kamailio: call + "; $var(rc) = $rc; sl_send_reply(\"299\", \"rc=$var(rc)\");",
		sipht: call + "; t_reply(\"299\", \"rc=$rc\");"}
}

func routes() []route {
	var rs []route
	add := func(test string, r route) {
		r.test = test
		rs = append(rs, r)
	}
	add("check", rcReply(`auth_check("`+diffRealm+`", "subscriber", "1")`))
	add("check3", rcReply(`auth_check("`+diffRealm+`", "subscriber", "3")`))
	add("www", rcReply(`www_authenticate("`+diffRealm+`", "subscriber")`))
	add("proxy", rcReply(`proxy_authenticate("`+diffRealm+`", "subscriber")`))
	add("sub1", rcReply(`is_subscriber("sip:alice@`+diffRealm+`", "subscriber", "1")`))
	add("sub3", rcReply(`is_subscriber("sip:alice@`+diffRealm+`", "subscriber", "3")`))
	add("nosub", rcReply(`is_subscriber("sip:nobody@`+diffRealm+`", "subscriber", "3")`))
	for _, f := range []string{"0", "1", "2", "4", "16", "17"} {
		add("chal"+f, route{kamailio: `auth_challenge("` + diffRealm + `", "` + f + `");`, sipht: `auth_challenge("` + diffRealm + `", "` + f + `");`})
	}
	add("wwwchal", route{kamailio: `www_challenge("` + diffRealm + `", "0");`, sipht: `www_challenge("` + diffRealm + `", "0");`})
	add("proxychal", route{kamailio: `proxy_challenge("` + diffRealm + `", "1");`, sipht: `proxy_challenge("` + diffRealm + `", "1");`})
	add("save", route{kamailio: `save("location");`, sipht: `save("location");`})
	authSave := `if (!auth_check("` + diffRealm + `", "subscriber", "1")) { auth_challenge("` + diffRealm + `", "1"); exit; } save("location");`
	add("authsave", route{kamailio: authSave, sipht: authSave})
	add("save-norpl", rcReply(`save("location", "2")`))
	add("lookup", route{kamailio: `lookup("location"); $var(rc) = $rc; sl_send_reply("299", "rc=$var(rc) ru=$ru du=$du");`,
		sipht: `lookup("location"); t_route_reply("299");`})
	add("registered", rcReply(`registered("location")`))
	add("unregister", rcReply(`unregister("location", "sip:alice@`+diffRealm+`")`))
	return rs
}

func kamailioConfig(params string) string {
	var b strings.Builder
	b.WriteString(kamailioBase(params))
	b.WriteString("request_route {\n\tif ($hdr(X-Ready) != $null) { sl_send_reply(\"200\", \"pong\"); exit; }\n")
	for _, r := range routes() {
		fmt.Fprintf(&b, "\tif ($hdr(X-Test) == \"%s\") { %s exit; }\n", r.test, r.kamailio)
	}
	b.WriteString("\tsl_send_reply(\"404\", \"no test\");\n}\n")
	return b.String()
}

// startKamailio runs Kamailio on cfg, in which "{port}" is replaced by a
// free UDP port, "{mpath}" by the modules directory and "{dir}" by dir, the
// working directory. It waits until the SIP port answers and returns its
// address; a port taken meanwhile by another process is tried again.
func startKamailio(t *testing.T, cfg, dir string) string {
	t.Helper()
	mpath := kamailio.ModuleDir(t, "db_sqlite", "auth_db", "usrloc", "registrar", "ctl")
	for attempt := 0; ; attempt++ {
		port := testutil.FreeUDPPort(t, "127.0.0.1")
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		text := strings.NewReplacer("{port}", fmt.Sprint(port), "{mpath}", mpath, "{dir}", dir).Replace(cfg)
		p := kamailio.Launch(t, kamailio.Options{Config: text, Dir: dir})
		err := p.Wait(kamailio.AnswersOptions(addr), 0)
		if err == nil {
			// let every worker finish its start-up
			time.Sleep(100 * time.Millisecond)
			return addr
		}
		p.Stop()
		if attempt == 2 || !strings.Contains(p.Log(), "bind") {
			t.Fatalf("%v:\n%s", err, testutil.Tail(p.Log(), 8192))
		}
	}
}

// kamailioBase is the Kamailio config without its routes.
func kamailioBase(params string) string {
	var b strings.Builder
	b.WriteString(`#!KAMAILIO
debug=2
log_stderror=yes
children=1
auto_aliases=no
listen=udp:127.0.0.1:{port}
mpath="{mpath}"
loadmodule "kex.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "db_sqlite.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unixs:{dir}/ctl")
modparam("auth_db", "db_url", "sqlite:///{dir}/sipht.db")
`)
	b.WriteString(params)
	return b.String()
}

func siphtConfig(dir, params string) string {
	var b strings.Builder
	b.WriteString(siphtBase(dir, params))
	b.WriteString("request_route {\n")
	for _, r := range routes() {
		fmt.Fprintf(&b, "\tif (t_hdr(\"X-Test\", \"%s\")) { %s exit; }\n", r.test, r.sipht)
	}
	b.WriteString("\tt_reply(\"404\", \"no test\");\n}\n")
	return b.String()
}

// siphtBase is the sipht config without its routes.
func siphtBase(dir, params string) string {
	var b strings.Builder
	b.WriteString(`#!KAMAILIO
listen=udp:127.0.0.1:0
children=1
loadmodule "modtest"
loadmodule "db_sqlite.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("auth_db", "db_url", "sqlite:///` + dir + `/sipht.db")
`)
	b.WriteString(params)
	return b.String()
}

// side is one server under test and its client.
type side struct {
	t     *testing.T
	name  string
	conn  *net.UDPConn
	srv   *net.UDPAddr
	cseq  int
	nonce string
	n     int
}

func newSide(t *testing.T, name, addr string) *side {
	ra, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &side{t: t, name: name, conn: c, srv: ra, cseq: 100}
}

func (s *side) client() string { return s.conn.LocalAddr().String() }

// do sends raw and returns the final reply ("" when none came in 3 s).
func (s *side) do(raw string) string {
	s.n++
	raw = strings.ReplaceAll(raw, "{via}", s.client())
	raw = strings.ReplaceAll(raw, "{branch}", "z9hG4bK-diff"+strconv.Itoa(s.n))
	if _, err := s.conn.WriteToUDP([]byte(raw), s.srv); err != nil {
		s.t.Fatal(err)
	}
	buf := make([]byte, 65535)
	deadline := time.Now().Add(3 * time.Second)
	for {
		s.conn.SetReadDeadline(deadline)
		n, _, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return ""
		}
		r := string(buf[:n])
		if !strings.HasPrefix(r, "SIP/2.0 1") {
			return r
		}
	}
}

// req describes one request.
type req struct {
	method, ruri, from, to, callID string
	cseq                           int // 0: next
	test                           string
	hdrs                           []string
	// creds, when set, builds the credentials header from a fresh nonce
	creds func(nonce string) string
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

func (s *side) build(r req) string {
	if r.method == "" {
		r.method = "REGISTER"
	}
	if r.ruri == "" {
		r.ruri = "sip:" + diffRealm
	}
	if r.from == "" {
		r.from = "alice"
	}
	if r.to == "" {
		r.to = r.from
	}
	if r.callID == "" {
		r.callID = "diff-" + r.from + "@test"
	}
	cseq := r.cseq
	switch cseq {
	case 0:
		s.cseq++
		cseq = s.cseq
	case -1: // repeat the last one
		cseq = s.cseq
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch={branch};rport\r\n", r.method, r.ruri)
	fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=ft%d\r\nTo: <sip:%s@%s>\r\n", r.from, diffRealm, cseq, r.to, diffRealm)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\n", r.callID, cseq, r.method)
	if r.test != "" {
		fmt.Fprintf(&b, "X-Test: %s\r\n", r.test)
	}
	for _, h := range r.hdrs {
		b.WriteString(h + "\r\n")
	}
	if r.creds != nil {
		b.WriteString(r.creds(s.nonce) + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func (s *side) challenge() {
	rep := s.do(s.build(req{test: "chal0"}))
	m := nonceRE.FindStringSubmatch(rep)
	if m == nil {
		s.t.Fatalf("%s: no challenge in %q", s.name, rep)
	}
	s.nonce = m[1]
}

var (
	tagRE     = regexp.MustCompile(`(?m)^(To: [^\r\n]*;tag=)[^;\r\n]+`)
	serverRE  = regexp.MustCompile(`(?m)^Server: [^\r\n]*\r\n`)
	expiresRE = regexp.MustCompile(`expires=(\d+)`)
	rspauthRE = regexp.MustCompile(`rspauth="[0-9a-f]+"`)
)

// normalize removes what legitimately differs: the client address, the
// To-tag, nonces and the Server header. Contact expires values are
// compared separately with one second of tolerance.
func (s *side) normalize(rep string) (string, []int) {
	rep = strings.ReplaceAll(rep, s.client(), "<client>")
	rep = strings.ReplaceAll(rep, strconv.Itoa(s.conn.LocalAddr().(*net.UDPAddr).Port), "<port>")
	rep = tagRE.ReplaceAllString(rep, "${1}<tag>")
	rep = nonceRE.ReplaceAllString(rep, `nonce="<nonce>"`)
	rep = serverRE.ReplaceAllString(rep, "")
	rep = rspauthRE.ReplaceAllString(rep, `rspauth="<rspauth>"`)
	var exp []int
	rep = expiresRE.ReplaceAllStringFunc(rep, func(m string) string {
		n, _ := strconv.Atoi(m[len("expires="):])
		exp = append(exp, n)
		return "expires=<N>"
	})
	return rep, exp
}

type step struct {
	name  string
	req   req
	sleep time.Duration
	// keepNonce makes the credentials from the previous step's nonce
	keepNonce bool
	// differs, when set, is sipht's expected status line where sipht
	// differs from Kamailio on purpose (docs/kamailio-differences.md)
	differs string
}

func cred(kind, user, pass, realm, method, qop string) func(string) string {
	return credAlg(kind, user, pass, realm, method, qop, "", 1)
}

func credAlg(kind, user, pass, realm, method, qop, alg string, nc int) func(string) string {
	return func(nonce string) string {
		chal := fmt.Sprintf(`Digest realm="%s", nonce="%s"`, realm, nonce)
		if alg != "" {
			chal += ", algorithm=" + alg
		}
		if qop != "" {
			chal += `, qop="` + qop + `"`
		}
		ch, err := digest.ParseChallenge(chal)
		if err != nil {
			panic(err)
		}
		cr, err := digest.Digest(ch, digest.Options{Method: method, URI: "sip:" + diffRealm, Username: user, Password: pass, Count: nc, Cnonce: "0a4f113b"})
		if err != nil {
			panic(err)
		}
		return kind + ": " + strings.Replace(cr.String(), ", algorithm=MD5", "", 1)
	}
}

func authSteps() []step {
	valid := cred("Authorization", "alice", "secret", diffRealm, "REGISTER", "")
	return []step{
		{name: "no credentials", req: req{test: "check"}},
		{name: "challenge 0", req: req{test: "chal0"}},
		{name: "challenge qop auth", req: req{test: "chal1"}},
		{name: "challenge qop auth-int", req: req{test: "chal2"}},
		{name: "challenge flag 4", req: req{test: "chal4"}},
		{name: "challenge stale", req: req{test: "chal16"}},
		{name: "challenge qop stale", req: req{test: "chal17"}},
		{name: "challenge INVITE", req: req{method: "INVITE", ruri: "sip:bob@" + diffRealm, test: "chal0"}},
		{name: "www_challenge", req: req{method: "MESSAGE", test: "wwwchal"}},
		{name: "proxy_challenge", req: req{test: "proxychal"}},
		{name: "valid", req: req{test: "check", creds: valid}},
		{name: "wrong password", req: req{test: "check", creds: cred("Authorization", "alice", "bad", diffRealm, "REGISTER", "")}},
		{name: "unknown user", req: req{test: "check", from: "carol", creds: cred("Authorization", "carol", "x", diffRealm, "REGISTER", "")}},
		{name: "user mismatch", req: req{test: "check", from: "bob", creds: valid}},
		{name: "From/To mismatch", req: req{test: "check", from: "alice", to: "bob", creds: valid}},
		{name: "tampered nonce", req: req{test: "check", creds: func(n string) string { return valid(n[:len(n)-4] + "AAAA") }}},
		{name: "qop auth", req: req{test: "check", creds: cred("Authorization", "alice", "secret", diffRealm, "REGISTER", "auth")}},
		{name: "realm mismatch", req: req{test: "check", creds: cred("Authorization", "alice", "secret", "other.org", "REGISTER", "")}},
		{name: "username only", req: req{test: "check", hdrs: []string{`Authorization: Digest username="alice"`}}},
		{name: "Basic", req: req{test: "check", hdrs: []string{`Authorization: Basic YWxpY2U6c2VjcmV0`}}},
		{name: "missing response", req: req{test: "check", creds: func(n string) string {
			return fmt.Sprintf(`Authorization: Digest username="alice", realm="%s", nonce="%s", uri="sip:%s"`, diffRealm, n, diffRealm)
		}}},
		{name: "short response", req: req{test: "check", creds: func(n string) string {
			return fmt.Sprintf(`Authorization: Digest username="alice", realm="%s", nonce="%s", uri="sip:%s", response="abc"`, diffRealm, n, diffRealm)
		}}},
		{name: "malformed", req: req{test: "check", hdrs: []string{`Authorization: Digest username="alice`}}},
		{name: "ACK", req: req{method: "ACK", test: "check"}},
		{name: "CANCEL", req: req{method: "CANCEL", test: "check"}},
		{name: "INVITE proxy credentials", req: req{method: "INVITE", ruri: "sip:bob@" + diffRealm, test: "check",
			creds: cred("Proxy-Authorization", "alice", "secret", diffRealm, "INVITE", "")}},
		{name: "INVITE user differs from To (flag 1 checks From)", req: req{method: "INVITE", to: "bob", test: "check",
			creds: cred("Proxy-Authorization", "alice", "secret", diffRealm, "INVITE", "")}},
		{name: "MESSAGE from another user, flag 3 skips", req: req{method: "MESSAGE", from: "bob", test: "check3",
			creds: cred("Proxy-Authorization", "alice", "secret", diffRealm, "MESSAGE", "")}},
		{name: "MESSAGE from another user, flag 1", req: req{method: "MESSAGE", from: "bob", test: "check",
			creds: cred("Proxy-Authorization", "alice", "secret", diffRealm, "MESSAGE", "")}},
		{name: "www_authenticate", req: req{test: "www", from: "bob", creds: valid}},
		{name: "proxy_authenticate", req: req{test: "proxy", creds: cred("Proxy-Authorization", "alice", "secret", diffRealm, "REGISTER", "")}},
		{name: "PRACK", req: req{method: "PRACK", test: "proxy"}},
		{name: "is_subscriber 1", req: req{test: "sub1"}, differs: "SIP/2.0 299 rc=1"},
		{name: "is_subscriber 3", req: req{test: "sub3"}},
		{name: "is_subscriber unknown", req: req{test: "nosub"}},
		{name: "stale nonce (nonce_expire 2)", sleep: 3 * time.Second, req: req{test: "check", creds: valid}},
	}
}

func contact(h string) []string { return []string{"Contact: " + h} }

func registrarSteps() []step {
	long := "<sip:" + strings.Repeat("a", 520) + "@127.0.0.2>"
	return []step{
		{name: "first binding", req: req{test: "save", hdrs: contact("<sip:alice@127.0.0.2:5555>")}},
		{name: "two more, q and expires", req: req{test: "save", hdrs: []string{
			`Contact: <sip:alice@127.0.0.2:5556;transport=udp>;q=0.5;expires=100, "Al" <sip:alice@127.0.0.2:5557>;q=1`, "Expires: 200"}}},
		{name: "query", req: req{test: "save"}},
		{name: "refresh with a new q", req: req{test: "save", hdrs: contact("<sip:alice@127.0.0.2:5556;transport=udp>;q=0.7")}},
		{name: "star without Expires", req: req{test: "save", hdrs: contact("*")}},
		{name: "star with a contact", req: req{test: "save", hdrs: []string{"Contact: *", "Contact: <sip:x@127.0.0.2>", "Expires: 0"}}},
		{name: "star", req: req{test: "save", hdrs: []string{"Contact: *", "Expires: 0"}}},
		{name: "remove one not there", req: req{test: "save", hdrs: contact("<sip:alice@127.0.0.2:5555>;expires=0")}},
		{name: "below min_expires", req: req{test: "save", hdrs: contact("<sip:alice@127.0.0.2:5555>;expires=10")}},
		{name: "bad q", req: req{test: "save", hdrs: contact("<sip:alice@127.0.0.2:5558>;q=2")}},
		{name: "bad Expires header", req: req{test: "save", hdrs: []string{"Contact: <sip:alice@127.0.0.2:5555>", "Expires: abc"}}},
		{name: "bad expires param", req: req{test: "save", hdrs: contact("<sip:alice@127.0.0.2:5555>;expires=1x")}},
		{name: "above max_expires", req: req{test: "save", hdrs: contact("<sip:alice@127.0.0.2:5555>;expires=99999")}},
		{name: "out of order CSeq", req: req{test: "save", cseq: 5, hdrs: contact("<sip:alice@127.0.0.2:5555>")}},
		{name: "retransmission (same CSeq)", req: req{test: "save", cseq: -1, hdrs: contact("<sip:alice@127.0.0.2:5555>")}},
		{name: "another Call-ID", req: req{test: "save", callID: "other@test", cseq: 1, hdrs: contact("<sip:alice@127.0.0.2:5555>;expires=300")}},
		{name: "no angle brackets", req: req{test: "save", from: "bob", hdrs: contact("sip:bob@127.0.0.2:5558;expires=30")}},
		{name: "methods and received params, Allow", req: req{test: "save", from: "carol", hdrs: []string{
			`Contact: <sip:carol@127.0.0.3:5060>;methods="INVITE,MESSAGE";received="sip:192.0.2.7:5060"`, "Allow: INVITE, ACK"}}},
		{name: "instance and reg-id", req: req{test: "save", from: "dave", hdrs: contact(`<sip:dave@127.0.0.4>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`)}},
		{name: "order within and across Contact headers", req: req{test: "save", from: "ivan", hdrs: []string{
			"Contact: <sip:i@1.1.1.1>, <sip:i@2.2.2.2>;q=0.1, <sip:i@3.3.3.3>", "Contact: <sip:i@4.4.4.4>"}}},
		{name: "instance without quotes, single quotes", req: req{test: "save", from: "judy", hdrs: []string{
			"Contact: <sip:j@1.1.1.1>;+sip.instance=<urn:y>;received='sip:1.2.3.4'"}}},
		{name: "same contact twice", req: req{test: "save", from: "erin", hdrs: contact("<sip:erin@127.0.0.5>, <sip:erin@127.0.0.5>;expires=120")}},
		{name: "too long", req: req{test: "save", from: "frank", hdrs: contact(long)}},
		{name: "parse error", req: req{test: "save", from: "frank", hdrs: contact("<sip:frank@127.0.0.6")}},
		{name: "Require outbound", req: req{test: "save", from: "frank", hdrs: []string{"Require: outbound", "Contact: <sip:frank@127.0.0.6>"}}},
		{name: "max_contacts", req: req{test: "save", from: "gina", hdrs: contact("<sip:g@1.2.3.4>, <sip:g@1.2.3.5>, <sip:g@1.2.3.6>, <sip:g@1.2.3.7>")}},
		{name: "max_contacts update", req: req{test: "save", from: "alice", hdrs: contact("<sip:a@1.2.3.4>, <sip:a@1.2.3.5>, <sip:a@1.2.3.6>")}},
		{name: "no reply flag", req: req{test: "save-norpl", from: "hank", hdrs: contact("<sip:hank@127.0.0.9>")}},
		{name: "lookup alice", req: req{method: "INVITE", ruri: "sip:alice@" + diffRealm, test: "lookup"}},
		{name: "lookup bob", req: req{method: "INVITE", ruri: "sip:bob@" + diffRealm, test: "lookup"}},
		{name: "lookup carol (received)", req: req{method: "INVITE", ruri: "sip:carol@" + diffRealm, test: "lookup"}},
		{name: "lookup carol with MESSAGE", req: req{method: "MESSAGE", ruri: "sip:carol@" + diffRealm, test: "lookup"}},
		{name: "lookup carol with SUBSCRIBE (method_filtering)", req: req{method: "SUBSCRIBE", ruri: "sip:carol@" + diffRealm, test: "lookup"}},
		{name: "lookup upper case user", req: req{method: "INVITE", ruri: "sip:BOB@" + diffRealm, test: "lookup"}},
		{name: "lookup escaped user", req: req{method: "INVITE", ruri: "sip:b%6fb@" + diffRealm, test: "lookup"}},
		{name: "lookup unknown", req: req{method: "INVITE", ruri: "sip:nobody@" + diffRealm, test: "lookup"}},
		{name: "lookup without user", req: req{method: "INVITE", ruri: "sip:" + diffRealm, test: "lookup"}},
		{name: "registered", req: req{method: "MESSAGE", ruri: "sip:alice@" + diffRealm, test: "registered"}},
		{name: "registered unknown", req: req{method: "MESSAGE", ruri: "sip:nobody@" + diffRealm, test: "registered"}},
		{name: "unregister", req: req{method: "MESSAGE", test: "unregister"}},
		{name: "registered after unregister", req: req{method: "MESSAGE", ruri: "sip:alice@" + diffRealm, test: "registered"}},
		{name: "lookup after unregister", req: req{method: "INVITE", ruri: "sip:alice@" + diffRealm, test: "lookup"}},
	}
}

// seedDB writes the subscriber table both servers read.
func seedDB(t *testing.T, dir string) { seedDBRealm(t, dir, diffRealm) }

func seedDBRealm(t *testing.T, dir, domain string) {
	d, err := db.Open(context.Background(), "sqlite:///"+filepath.Join(dir, "sipht.db"), db.Options{StartTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Init(context.Background(), db.Subscriber("subscriber")); err != nil {
		t.Fatal(err)
	}
	subs := db.NewSubscribers(d, "subscriber")
	for _, u := range [][2]string{{"alice", "secret"}, {"bob", "bobpass"}} {
		if err := subs.AddUser(context.Background(), u[0], domain, u[1], db.AddOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

const diffParams = `modparam("auth", "nonce_expire", 2)
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "max_contacts", 3)
modparam("registrar", "method_filtering", 1)
modparam("registrar", "append_branches", 0)
`

type stepGroup struct {
	name  string
	steps []step
}

func TestDifferentialKamailio(t *testing.T) {
	kdir, sdir, kam, sip, s := startPair(t, diffParams)
	runGroups(t, kam, sip, []stepGroup{{"auth", authSteps()}, {"registrar", registrarSteps()}})
	kamcmdUL(t, kdir, sdir, s)
}

// TestDifferentialKamailioSHA256 compares SHA-256 digests, nonce_count
// and one_time_nonce.
func TestDifferentialKamailioSHA256(t *testing.T) {
	_, _, kam, sip, _ := startPair(t, `modparam("auth", "algorithm", "SHA-256")
modparam("auth", "nonce_count", 1)
modparam("auth", "one_time_nonce", 1)
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
`)
	sha := func(qop string, nc int) func(string) string {
		return credAlg("Authorization", "alice", "secret", diffRealm, "REGISTER", qop, "SHA-256", nc)
	}
	runGroups(t, kam, sip, []stepGroup{{"sha256", []step{
		{name: "challenge", req: req{test: "chal0"}},
		{name: "challenge qop", req: req{test: "chal1"}},
		{name: "valid", req: req{test: "check", creds: sha("", 1)}},
		{name: "one-time nonce reused", keepNonce: true, req: req{test: "check", creds: sha("", 1)}},
		{name: "qop nc 1", req: req{test: "check", creds: sha("auth", 1)}},
		{name: "qop nc 1 again (replay)", keepNonce: true, req: req{test: "check", creds: sha("auth", 1)}},
		{name: "qop nc 2", keepNonce: true, req: req{test: "check", creds: sha("auth", 2)}},
		{name: "MD5 credentials", req: req{test: "check", creds: cred("Authorization", "alice", "secret", diffRealm, "REGISTER", "")}},
		{name: "wrong password", req: req{test: "check", creds: credAlg("Authorization", "alice", "x", diffRealm, "REGISTER", "", "SHA-256", 1)}},
	}}})
}

// TestDifferentialKamailioAuthInfo compares the Authentication-Info header
// of add_authinfo_hdr on save()'s 200 OK.
func TestDifferentialKamailioAuthInfo(t *testing.T) {
	_, _, kam, sip, _ := startPair(t, `modparam("auth", "add_authinfo_hdr", 1)
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")
`)
	runGroups(t, kam, sip, []stepGroup{{"authinfo", []step{
		{name: "challenge", req: req{test: "authsave"}},
		{name: "qop auth", req: req{test: "authsave", hdrs: contact("<sip:alice@127.0.0.2>"),
			creds: cred("Authorization", "alice", "secret", diffRealm, "REGISTER", "auth")}},
		{name: "no qop", req: req{test: "authsave", hdrs: contact("<sip:alice@127.0.0.2>"),
			creds: cred("Authorization", "alice", "secret", diffRealm, "REGISTER", "")}},
		{name: "wrong password", req: req{test: "authsave", hdrs: contact("<sip:alice@127.0.0.2>"),
			creds: cred("Authorization", "alice", "bad", diffRealm, "REGISTER", "auth")}},
	}}})
	// rspauth as Kamailio computes it, checked with sipht's formula
	kam.challenge()
	rep := kam.do(kam.build(req{test: "authsave", hdrs: contact("<sip:alice@127.0.0.2>"),
		creds: cred("Authorization", "alice", "secret", diffRealm, "REGISTER", "auth")}))
	m := regexp.MustCompile(`rspauth="([0-9a-f]+)"`).FindStringSubmatch(rep)
	if m == nil {
		t.Fatalf("no rspauth in %q", rep)
	}
	var buf [64]byte
	ha1 := string(auth.MD5.HA1(buf[:], "alice", diffRealm, "secret"))
	cr := auth.Credentials{Nonce: kam.nonce, URI: "sip:" + diffRealm, NC: "00000001", CNonce: "0a4f113b", QOPText: "auth", QOP: auth.QOPAuth}
	if want := string(auth.MD5.Response(buf[:], ha1, &cr, "", nil)); m[1] != want {
		t.Errorf("Kamailio's rspauth %s, sipht computes %s", m[1], want)
	}
}

func startPair(t *testing.T, params string) (kdir, sdir string, kam, sip *side, s *servertest.Running) {
	kdir, sdir = t.TempDir(), t.TempDir()
	seedDB(t, kdir)
	seedDB(t, sdir)
	k := startKamailio(t, kamailioConfig(params), kdir)
	s = servertest.Start(t, siphtConfig(sdir, params))
	return kdir, sdir, newSide(t, "kamailio", k), newSide(t, "sipht", s.UDP), s
}

func runGroups(t *testing.T, kam, sip *side, groups []stepGroup) {
	for _, group := range groups {
		t.Run(group.name, func(t *testing.T) {
			for _, st := range group.steps {
				if st.sleep > 0 {
					// credentials for the step are made from a nonce taken
					// now and used after the sleep
					kam.challenge()
					sip.challenge()
					time.Sleep(st.sleep)
				} else if st.req.creds != nil && !st.keepNonce {
					kam.challenge()
					sip.challenge()
				}
				kr := kam.do(kam.build(st.req))
				sr := sip.do(sip.build(st.req))
				kn, kexp := kam.normalize(kr)
				sn, sexp := sip.normalize(sr)
				if st.differs != "" {
					if got := firstLine(sn); got != st.differs {
						t.Errorf("%s: sipht %q, want %q (Kamailio: %q)", st.name, got, st.differs, firstLine(kn))
					}
					continue
				}
				if kn != sn {
					t.Errorf("%s:\nkamailio:\n%s\nsipht:\n%s", st.name, indent(kn), indent(sn))
					continue
				}
				if len(kexp) != len(sexp) {
					t.Errorf("%s: expires values %v vs %v", st.name, kexp, sexp)
					continue
				}
				for i := range kexp {
					if d := kexp[i] - sexp[i]; d < -1 || d > 1 {
						t.Errorf("%s: expires %v (kamailio) vs %v (sipht)", st.name, kexp, sexp)
						break
					}
				}
				if testing.Verbose() {
					t.Logf("%s:\n%s", st.name, indent(sn))
				}
			}
		})
	}
}

func kamcmdUL(t *testing.T, kdir, sdir string, s *servertest.Running) {
	t.Run("kamcmd ul", func(t *testing.T) {
		sock := filepath.Join(sdir, "ctl")
		ln, err := binrpc.Listen(context.Background(), "unixs:"+sock, binrpc.Options{Registry: s.Srv.RPC})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		for _, args := range [][]string{
			{"ul.dump"}, {"ul.dump", "brief"}, {"ul.lookup", "location", "bob"}, {"ul.lookup", "location", "BOB@example.com"},
			{"ul.lookup", "location", "nobody"}, {"ul.lookup", "nosuchtable", "bob"}, {"ul.lookup", "location"},
			{"ul.rm_contact", "location", "carol", "sip:nobody@1.2.3.4"}, {"ul.rm_contact", "location", "nobody", "sip:x"},
			{"ul.rm_contact", "location", "carol", "sip:carol@127.0.0.3:5060"}, {"ul.lookup", "location", "carol"},
			{"ul.add", "location", "zed", "sip:zed@10.0.0.1", "0", "0.5", "0", "0", "0", "0"},
			{"ul.add", "location", "zed", "sip:zed@10.0.0.2", "600", "1.0", ".", "3", "4", "5", "sip:1.1.1.1"},
			{"ul.lookup", "location", "zed"},
			{"ul.rm", "location", "bob"}, {"ul.rm", "location", "nobody"}, {"ul.lookup", "location", "bob"},
			{"ul.flush"}, {"ul.dump"},
		} {
			ko, kexp := kamcmd(t, filepath.Join(kdir, "ctl"), args...)
			so, sexp := kamcmd(t, sock, args...)
			if ko != so {
				t.Errorf("kamcmd %s:\nkamailio:\n%s\nsipht:\n%s", strings.Join(args, " "), indent(ko), indent(so))
				continue
			}
			if len(kexp) != len(sexp) {
				t.Errorf("kamcmd %s: expires %v vs %v", strings.Join(args, " "), kexp, sexp)
				continue
			}
			for i := range kexp {
				if d := kexp[i] - sexp[i]; d < -1 || d > 1 {
					t.Errorf("kamcmd %s: expires %v (kamailio) vs %v (sipht)", strings.Join(args, " "), kexp, sexp)
					break
				}
			}
		}
	})
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

var (
	rpcTimeRE    = regexp.MustCompile(`(Last-Keepalive|Last-Modified): \d+`)
	rpcRUIDRE    = regexp.MustCompile(`ul(oc|cx)-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+`)
	rpcExpiresRE = regexp.MustCompile(`Expires: (\d+)`)
	rpcSocketRE  = regexp.MustCompile(`Socket: udp:127\.0\.0\.1:\d+`)
)

// kamcmd runs the real kamcmd against a ctl socket and normalises the
// output: timestamps, ruids, the server's port; expires values are returned
// apart.
func kamcmd(t *testing.T, sock string, args ...string) (string, []int) {
	out, _ := kamailio.Kamcmd(t, "unixs:"+sock, args...)
	o := rpcTimeRE.ReplaceAllString(out, "$1: <time>")
	o = rpcRUIDRE.ReplaceAllString(o, "ul$1-<ruid>")
	o = rpcSocketRE.ReplaceAllString(o, "Socket: udp:127.0.0.1:<port>")
	var exp []int
	o = rpcExpiresRE.ReplaceAllStringFunc(o, func(m string) string {
		n, _ := strconv.Atoi(m[len("Expires: "):])
		exp = append(exp, n)
		return "Expires: <N>"
	})
	return o, exp
}

func indent(s string) string {
	if s == "" {
		return "    (no reply)"
	}
	s = strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
