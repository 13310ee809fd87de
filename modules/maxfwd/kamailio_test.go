package maxfwd_test

import (
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	_ "github.com/sipht/sipht/modules/maxfwd"
)

func req(mf string) string {
	r := `OPTIONS sip:test@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK-m1
From: <sip:alice@127.0.0.1>;tag=1
To: <sip:test@127.0.0.1>
Call-ID: mf-1@127.0.0.1
CSeq: 1 OPTIONS
MF
Content-Length: 0

`
	if mf == "" {
		return strings.Replace(r, "MF\n", "", 1)
	}
	return strings.Replace(r, "MF", mf, 1)
}

func TestCompareMaxfwd(t *testing.T) {
	process := `
	$var(r) = 0;
	if (mf_process_maxfwd_header("10")) { LOG("ok rc=$rc"); } else { LOG("false rc=$rc"); }
	LOG("hdr=[HDR(Max-Forwards)]");
	FWD;`
	cases := []modtest.Case{
		{Name: "70", Request: req("Max-Forwards: 70"), Body: process},
		{Name: "10 becomes blank-padded 9", Request: req("Max-Forwards: 10"), Body: process},
		{Name: "1", Request: req("Max-Forwards: 1"), Body: process},
		{Name: "0", Request: req("Max-Forwards: 0"), Body: process},
		{Name: "missing", Request: req(""), Body: process},
		{Name: "above max_limit", Request: req("Max-Forwards: 255"), Body: process},
		{Name: "not a number", Request: req("Max-Forwards: abc"), Body: process},
		{Name: "too many digits", Request: req("Max-Forwards: 000070"), Body: process},
		{Name: "wraps at 65536", Request: req("Max-Forwards: 65537"), Body: process},
		{Name: "twice", Request: req("Max-Forwards: 10"), Body: `
	mf_process_maxfwd_header("10");
	mf_process_maxfwd_header("10");
	LOG("rc=$rc hdr=[HDR(Max-Forwards)]");
	FWD;`},
		{Name: "limit out of range", Request: req("Max-Forwards: 10"), Body: `
	$var(l) = 300;
	mf_process_maxfwd_header("$var(l)");
	LOG("rc=$rc");`},
		{Name: "is_maxfwd_lt", Request: req("Max-Forwards: 5"), Body: `
	is_maxfwd_lt("10"); LOG("lt10 $rc");
	is_maxfwd_lt("5"); LOG("lt5 $rc");
	is_maxfwd_lt("3"); LOG("lt3 $rc");
	maxfwd_process("10"); is_maxfwd_lt("5"); LOG("after $rc");`},
		{Name: "is_maxfwd_lt missing", Request: req(""), Body: `
	is_maxfwd_lt("10"); LOG("missing $rc");`},
		{Name: "compact header names", Request: req("max-forwards: 20"), Body: process},
	}
	modtest.Compare(t, []string{"maxfwd"}, `modparam("maxfwd", "max_limit", 16)`, cases)
}
