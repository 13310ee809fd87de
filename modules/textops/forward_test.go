package textops_test

import (
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	_ "github.com/sipht/sipht/modules/maxfwd"
	_ "github.com/sipht/sipht/modules/siputils"
)

// relayReq avoids what sipio.Forward writes differently from Kamailio
// (it unfolds folded headers and writes "l:" as "Content-Length:").
const relayReq = `INVITE sip:bob@example.com;transport=udp;lr SIP/2.0
v: SIP/2.0/UDP {via};branch=z9hG4bK-r2
f: "Alice" <sip:alice@example.com>;tag=a1
t: <sip:bob@example.com>
i: relay-2@127.0.0.1
CSeq: 7 INVITE
Max-Forwards: 10
c: application/sdp
Content-Length: 31

v=0
o=alice 1 1 IN IP4 1.2.3.4
`

// The edits reach the wire through sipmsg.Materialize and sipio's
// stateless Forward, as the core's forward() is to send them: compared with
// what Kamailio's forward() sends.
func TestCompareRelayWithEdits(t *testing.T) {
	cases := []modtest.Case{
		{Name: "headers and maxfwd", Request: optionsReq, Body: `
	mf_process_maxfwd_header("10");
	append_hf("X-A: 1\r\n");
	insert_hf("X-C: 3\r\n", "CSeq");
	remove_hf("User-Agent");
	RELAY;`},
		{Name: "r-uri and body", Request: relayReq, Body: `
	subst_uri("/bob@/carol@/");
	add_uri_param("nat=yes");
	set_body("new body", "text/plain");
	RELAY;`},
		{Name: "no edits", Request: optionsReq, Body: `RELAY;`},
	}
	modtest.Compare(t, []string{"textops", "maxfwd", "siputils"}, "", cases)
}
