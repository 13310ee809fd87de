package registrar_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/modules/internal/modtest"
	"github.com/sipht/sipht/modules/registrar"
	"github.com/sipht/sipht/modules/usrloc"
)

func regConfig(params string) string {
	return `#!KAMAILIO
listen=udp:127.0.0.1:0
loadmodule "modtest"
loadmodule "usrloc"
loadmodule "registrar"
` + params + `
request_route {
	if (t_hdr("X-Test", "save")) { save("location"); exit; }
	if (t_hdr("X-Test", "replace")) { save("location", "0x04"); exit; }
	if (t_hdr("X-Test", "saveuri")) { save("location", "0", "sip:other@example.com"); exit; }
	if (t_hdr("X-Test", "lookup")) { lookup("location"); t_route_reply("299"); exit; }
	if (t_hdr("X-Test", "lookupuri")) { lookup("location", "sip:other@example.com"); t_route_reply("299"); exit; }
	if (t_hdr("X-Test", "registered")) { registered("location", "sip:other@example.com"); t_reply("299", "rc=$rc"); exit; }
	if (t_hdr("X-Test", "unreg-ruid")) { unregister("location", "", "nosuch"); t_reply("299", "rc=$rc"); exit; }
	t_reply("404", "no test");
}
`
}

type regClient struct {
	t    *testing.T
	c    *servertest.Client
	cseq int
}

func (rc *regClient) do(method, user, test string, hdrs ...string) string {
	rc.cseq++
	raw := fmt.Sprintf("%s sip:%s@example.com SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-r%d;rport\r\n"+
		"From: <sip:%s@example.com>;tag=f%d\r\nTo: <sip:%s@example.com>\r\nCall-ID: reg-%s@test\r\nCSeq: %d %s\r\n"+
		"Max-Forwards: 70\r\nX-Test: %s\r\n%sContent-Length: 0\r\n\r\n",
		method, user, rc.cseq, user, rc.cseq, user, user, rc.cseq, method, test, joinHdrs(hdrs))
	return rc.c.Do(rc.t, raw)
}

func joinHdrs(h []string) string {
	var b strings.Builder
	for _, x := range h {
		b.WriteString(x + "\r\n")
	}
	return b.String()
}

func startReg(t *testing.T, params string) (*servertest.Running, *regClient) {
	r := servertest.Start(t, regConfig(params))
	return r, &regClient{t: t, c: servertest.Dial(t, r.UDP)}
}

func TestBranchesAndReplace(t *testing.T) {
	r, c := startReg(t, "")
	mt, _ := r.Srv.Module("modtest")
	rep := c.do("REGISTER", "alice", "save", "Contact: <sip:a@1.1.1.1>;q=0.9, <sip:a@2.2.2.2>;q=0.1;received=\"sip:9.9.9.9\"")
	if servertest.Status(rep) != 200 {
		t.Fatalf("save: %s", rep)
	}
	rep = c.do("INVITE", "alice", "lookup")
	if got := firstLine(rep); got != "SIP/2.0 299 rc=1 ru=sip:a@1.1.1.1 du=<null>" {
		t.Errorf("lookup: %s", got)
	}
	if b := mt.(*modtest.Module).TakeBranches(); len(b) != 1 || b[0] != "sip:a@2.2.2.2 sip:9.9.9.9 100" {
		t.Errorf("branches %q", b)
	}
	// flag 0x04: one contact per AoR
	rep = c.do("REGISTER", "alice", "replace", "Contact: <sip:a@3.3.3.3>")
	if got := servertest.Header(rep, "Contact"); got != "<sip:a@3.3.3.3>;expires=3600" {
		t.Errorf("replace: Contact %q", got)
	}
	// save with an explicit AoR, lookup and registered with one
	rep = c.do("REGISTER", "alice", "saveuri", "Contact: <sip:o@4.4.4.4>")
	if servertest.Status(rep) != 200 {
		t.Fatalf("save with uri: %s", rep)
	}
	if got := firstLine(c.do("INVITE", "alice", "lookupuri")); got != "SIP/2.0 299 rc=1 ru=sip:o@4.4.4.4 du=<null>" {
		t.Errorf("lookup with uri: %s", got)
	}
	if got := firstLine(c.do("MESSAGE", "alice", "registered")); got != "SIP/2.0 299 rc=1" {
		t.Errorf("registered with uri: %s", got)
	}
	if got := firstLine(c.do("MESSAGE", "alice", "unreg-ruid")); got != "SIP/2.0 299 rc=-3" {
		t.Errorf("unregister unknown ruid: %s", got)
	}
}

func TestReceivedAVP(t *testing.T) {
	r := servertest.Start(t, `#!KAMAILIO
listen=udp:127.0.0.1:0
loadmodule "modtest"
loadmodule "usrloc"
loadmodule "registrar"
modparam("registrar", "received_avp", "$avp(rcv)")
modparam("registrar", "received_param", "rcv")
request_route {
	if (t_hdr("X-Test", "save")) { $avp(rcv) = "sip:192.0.2.1:5070"; save("location"); exit; }
	if (t_hdr("X-Test", "lookup")) { lookup("location"); t_route_reply("299"); exit; }
}
`)
	c := &regClient{t: t, c: servertest.Dial(t, r.UDP)}
	rep := c.do("REGISTER", "nat", "save", "Contact: <sip:n@10.0.0.1:5060>")
	if got := servertest.Header(rep, "Contact"); got != `<sip:n@10.0.0.1:5060>;expires=3600;rcv="sip:192.0.2.1:5070"` {
		t.Errorf("Contact %q", got)
	}
	if got := firstLine(c.do("INVITE", "nat", "lookup")); got != "SIP/2.0 299 rc=1 ru=sip:n@10.0.0.1:5060 du=sip:192.0.2.1:5070" {
		t.Errorf("lookup: %s", got)
	}
}

func TestMinExpiresModeAndRetryAfter(t *testing.T) {
	_, c := startReg(t, `modparam("registrar", "min_expires_mode", 1)
modparam("registrar", "max_contacts", 1)
modparam("registrar", "retry_after", 30)`)
	rep := c.do("REGISTER", "bob", "save", "Contact: <sip:b@1.1.1.1>;expires=30")
	if servertest.Status(rep) != 423 || servertest.Header(rep, "Min-Expires") != "60" ||
		servertest.Header(rep, "P-Registrar-Error") != "Interval too brief" {
		t.Errorf("423 reply:\n%s", rep)
	}
	rep = c.do("REGISTER", "bob", "save", "Contact: <sip:b@1.1.1.1>, <sip:b@2.2.2.2>")
	if servertest.Status(rep) != 503 || servertest.Header(rep, "Retry-After") != "30" {
		t.Errorf("503 reply:\n%s", rep)
	}
}

// TestHardMaxContacts: without max_contacts, an AoR is still bounded
// (registrar.HardMaxContacts).
func TestHardMaxContacts(t *testing.T) {
	_, c := startReg(t, "")
	n := 0
	for batch := 0; batch < registrar.HardMaxContacts/40; batch++ {
		var hdr strings.Builder
		hdr.WriteString("Contact: ")
		for i := 0; i < 40; i++ {
			if i > 0 {
				hdr.WriteString(", ")
			}
			fmt.Fprintf(&hdr, "<sip:c%d@10.0.0.1>", n)
			n++
		}
		if rep := c.do("REGISTER", "carol", "save", hdr.String()); servertest.Status(rep) != 200 {
			t.Fatalf("with %d contacts: %s", n, firstLine(rep))
		}
	}
	rep := c.do("REGISTER", "carol", "save", "Contact: <sip:one-more@10.0.0.1>")
	if servertest.Status(rep) != 503 || servertest.Header(rep, "P-Registrar-Error") != "Too many registered contacts" {
		t.Errorf("contact %d: %s", n+1, firstLine(rep))
	}
}

// TestExpiry: an expired contact is not listed nor found, and the timer
// removes it.
func TestExpiry(t *testing.T) {
	r, c := startReg(t, `modparam("registrar", "min_expires", 0)
modparam("usrloc", "timer_interval", 1)`)
	if rep := c.do("REGISTER", "dan", "save", "Contact: <sip:d@1.1.1.1>;expires=1", "Contact: <sip:d@2.2.2.2>;expires=120"); servertest.Status(rep) != 200 {
		t.Fatal(firstLine(rep))
	}
	ul, _ := r.Srv.Module("usrloc")
	d := ul.(*usrloc.Module).Domain("location")
	deadline := time.Now().Add(10 * time.Second)
	for d.ContactCount() != 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if d.ContactCount() != 1 {
		t.Fatalf("%d contacts after expiry", d.ContactCount())
	}
	rep := c.do("REGISTER", "dan", "save")
	if got := servertest.Header(rep, "Contact"); !strings.HasPrefix(got, "<sip:d@2.2.2.2>;expires=") {
		t.Errorf("bindings after expiry: %q", got)
	}
}
