package textopsx_test

import (
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/servertest"
	_ "github.com/sipht/sipht/modules/maxfwd"
	_ "github.com/sipht/sipht/modules/textops"
	"github.com/sipht/sipht/modules/textopsx"
)

const req = `INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK-t1
From: <sip:alice@127.0.0.1>;tag=1
To: <sip:bob@example.com>
Call-ID: tx-1@127.0.0.1
CSeq: 1 INVITE
Max-Forwards: 70
User-Agent: phone
X-Test: hello
Subject: hi
Content-Type: text/plain
Content-Length: 5

hello`

func TestCompareTextopsx(t *testing.T) {
	cases := []modtest.Case{
		{Name: "msg_apply_changes", Request: req, Body: `
	append_hf("X-A: 1\r\n");
	remove_hf("X-Test");
	LOG("before a=HDR(X-A) t=HDR(X-Test)");
	msg_apply_changes();
	LOG("rc=$rc a=HDR(X-A) t=HDR(X-Test)");
	if (is_present_hf("X-A")) { LOG("present"); }
	if (search("X-A: 1")) { LOG("searchable"); }
	append_hf("X-B: 2\r\n");
	FWD;`},
		{Name: "apply without changes", Request: req, Body: `msg_apply_changes(); LOG("rc=$rc"); FWD;`},
		{Name: "apply after maxfwd", Request: req, Body: `mf_process_maxfwd_header("10"); append_hf("X-A: 1\r\n"); msg_apply_changes(); LOG("mf=HDR(Max-Forwards)"); FWD;`},
		{Name: "remove_body", Request: req, Body: `remove_body(); LOG("rc=$rc"); FWD;`},
		{Name: "keep_hf", Request: req, Body: `keep_hf("^X-"); LOG("rc=$rc"); FWD;`},
		{Name: "fnmatch", Request: req, Body: `
	fnmatch("hello.txt", "*.txt"); LOG("a $rc");
	fnmatch("hello.txt", "h?llo.[tx]xt"); LOG("b $rc");
	fnmatch("HELLO", "hel*"); LOG("c $rc");
	fnmatch("a/b", "a*b"); LOG("e $rc");
	fnmatch("x", "[!a-c]"); LOG("f $rc");
	fnmatch("b", "[!a-c]"); LOG("g $rc");`},
	}
	modtest.Compare(t, []string{"textops", "textopsx", "maxfwd"}, "", cases)
}

// Kamailio 5.6 (Debian build) ignores fnmatch's "i" flag: FNM_CASEFOLD is
// not defined where the module is compiled. sipht honours it (listed in
// docs/kamailio-differences.md).
func TestFnmatchCaseFold(t *testing.T) {
	s := modtest.Start(t, []string{"textopsx"}, "", `request_route {
	fnmatch("HELLO", "hel*", "i"); t_log("i $rc");
	fnmatch("HELLO", "hel*", "I"); t_log("I $rc");
	fnmatch("HELLO", "hel*", "x"); t_log("x $rc");
}`)
	c := servertest.Dial(t, s.UDP)
	c.Send(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""))
	got := strings.Join(s.Probe.WaitLines(3), ",")
	if got != "i 1,I 1,x -1" {
		t.Errorf("got %s", got)
	}
}

func TestFnmatch(t *testing.T) {
	for _, tc := range []struct {
		p, n string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"?", "", false}, {"??", "ab", true}, {"[abc]", "b", true}, {"[a-c]x", "cx", true},
		{"[!a-c]", "d", true}, {"[^a-c]", "a", false}, {"\\*", "*", true}, {"\\*", "a", false},
		{"[", "[", true}, {"[]]", "]", true}, {"*.txt", "a/b.txt", true}, {"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false}, {"", "", true}, {"", "a", false},
		// checked against glibc's fnmatch(3)
		{"[a-", "a", false}, {"[!]]", "x", true}, {"a[", "a[", true},
	} {
		if got := textopsx.Fnmatch(tc.p, tc.n); got != tc.want {
			t.Errorf("Fnmatch(%q, %q) = %v, want %v", tc.p, tc.n, got, tc.want)
		}
	}
}
