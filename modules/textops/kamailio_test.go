package textops_test

import (
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	_ "github.com/sipht/sipht/modules/textops"
)

const optionsReq = `OPTIONS sip:test@127.0.0.1 SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK-c1
From: <sip:alice@127.0.0.1>;tag=1
To: <sip:test@127.0.0.1>
Call-ID: cmp-1@127.0.0.1
CSeq: 1 OPTIONS
Max-Forwards: 70
User-Agent: sipht-x
X-Test: hello
Content-Length: 0

`

// compactReq uses compact header names, repeated headers, a folded header
// and a body.
const compactReq = `INVITE sip:bob@example.com;transport=udp;lr SIP/2.0
v: SIP/2.0/UDP {via};branch=z9hG4bK-c2
f: "Alice" <sip:alice@example.com>;tag=a1
t: <sip:bob@example.com>
i: cmp-2@127.0.0.1
CSeq: 7 INVITE
Max-Forwards: 10
Route: <sip:p1.example.com;lr>
Route: <sip:p2.example.com;lr>
X-Multi: one
X-Multi: two,
 three
Privacy: id;header
m: <sip:alice@127.0.0.1:5070>
c: application/sdp
l: 31

v=0
o=alice 1 1 IN IP4 1.2.3.4
`

func TestCompareTextops(t *testing.T) {
	cases := []modtest.Case{
		{Name: "search", Request: optionsReq, Body: `
	if (search("^OPTIONS sip:")) { LOG("s1"); }
	if (search("x-test: HELLO")) { LOG("s2"); }
	if (!search("INVITE")) { LOG("s3 $rc"); }
	if (search("^X-Test: hello$")) { LOG("s4 line anchors"); } else { LOG("s4 no"); }
	if (search("hel+o")) { LOG("s5"); }
	if (search_body("x")) { LOG("body?"); } else { LOG("no body $rc"); }`},
		{Name: "search body", Request: compactReq, Body: `
	if (search_body("^o=alice")) { LOG("b1"); }
	if (search_body("IN IP6")) { LOG("b2"); } else { LOG("b2 no"); }
	if (has_body()) { LOG("has body"); }
	if (has_body("application/sdp")) { LOG("has sdp"); }
	if (has_body("text/plain")) { LOG("text?"); } else { LOG("not text $rc"); }
	if (has_body("foo/bar")) { LOG("unknown type"); } else { LOG("not foo/bar"); }`},
		{Name: "headers", Request: optionsReq, Body: `
	append_hf("X-A: 1\r\n");
	append_hf("X-B: 2\r\n", "Call-ID");
	insert_hf("X-C: 3\r\n");
	insert_hf("X-D: 4\r\n", "CSeq");
	remove_hf("X-Test");
	LOG("rc=$rc hdr=HDR(X-Test) a=HDR(X-A)");
	if (is_present_hf("X-A")) { LOG("sees added"); } else { LOG("does not see added"); }
	FWD;`},
		{Name: "compact names", Request: compactReq, Body: `
	if (is_present_hf("Via")) { LOG("via"); }
	if (is_present_hf("call-id")) { LOG("callid"); }
	if (is_present_hf("v")) { LOG("v"); }
	if (is_present_hf("x-multi")) { LOG("xmulti"); }
	if (is_present_hf("X-Multi-Not")) { LOG("?"); } else { LOG("no X-Multi-Not"); }
	if (is_present_hf_re("^X-M")) { LOG("re"); }
	if (is_present_hf_re("^Content-")) { LOG("re compact?"); } else { LOG("re compact no"); }
	remove_hf("X-Multi");
	LOG("remove rc=$rc");
	remove_hf("Content-Type");
	LOG("remove ct rc=$rc");
	remove_hf("Route");
	append_hf("X-After: contact\r\n", "Contact");
	insert_hf("X-Before: route\r\n", "Route");
	FWD;`},
		{Name: "remove re, exp, pv, idx", Request: compactReq, Body: `
	remove_hf_re("^X-");
	LOG("re rc=$rc");
	remove_hf_re("^Nope");
	LOG("re none rc=$rc");
	$var(h) = "route";
	remove_hf_pv("$var(h)");
	LOG("pv rc=$rc");
	remove_hf_exp("^(Max|CSeq)", "^CSeq");
	LOG("exp rc=$rc");
	FWD;`},
		{Name: "remove idx", Request: compactReq, Body: `
	remove_hf_idx("X-Multi", "-1");
	LOG("idx rc=$rc");
	remove_hf_idx("Route", "5");
	LOG("idx missing rc=$rc");
	FWD;`},
		{Name: "replace and subst", Request: optionsReq, Body: `
	replace("sipht", "REPL");
	LOG("replace rc=$rc");
	replace_all("127\.0\.0\.1", "localhost");
	LOG("replace_all rc=$rc");
	if (!replace("nomatch", "x")) { LOG("no replace $rc"); }
	subst("/^(User-Agent): (.*)$/\1: \2 subst/");
	LOG("subst rc=$rc");
	FWD;`},
		{Name: "subst flags and groups", Request: optionsReq, Body: `
	subst("/x-test: (h)(e)llo/X-Test: \2\1 \u \$ HDR(User-Agent)/i");
	LOG("subst rc=$rc");
	subst("/a/A/g");
	LOG("subst g rc=$rc");
	FWD;`},
		{Name: "subst_uri and subst_user", Request: optionsReq, Body: `
	subst_uri("/test@/alice@/");
	LOG("uri rc=$rc RU");
	subst_user("/alice/bob/");
	LOG("user rc=$rc RU");
	subst_user("/nomatch/x/");
	LOG("user none rc=$rc RU");
	subst_user("/bob//");
	LOG("user empty rc=$rc RU");`},
		{Name: "search_append and replace_body", Request: compactReq, Body: `
	search_append("Max-Forwards: 10", ";appended");
	LOG("sa rc=$rc");
	replace_body("alice", "ALICE");
	LOG("rb rc=$rc");
	replace_body_all("1", "one");
	LOG("rba rc=$rc");
	subst_body("/IP4 (.*)/IP4 9.9.9.9/");
	LOG("sb rc=$rc");
	FWD;`},
		{Name: "set_body", Request: compactReq, Body: `
	set_body("hello world", "text/plain");
	LOG("set_body rc=$rc");
	FWD;`},
		{Name: "set_body no body", Request: optionsReq, Body: `
	set_body("abc", "text/plain");
	FWD;`},
		{Name: "replies", Request: optionsReq, Body: `
	append_to_reply("X-R: 1\r\n");
	append_to_reply("X-S: HDR(CSeq)\r\nX-T: two\r\n");
	REPLY("404", "Not Here");`},
		{Name: "set_reply_body", Request: optionsReq, Body: `
	set_reply_body("body text", "text/plain");
	REPLY("200", "OK");`},
		{Name: "is_method", Request: compactReq, Body: `
	if (is_method("INVITE")) { LOG("invite"); }
	if (is_method("invite")) { LOG("lower"); }
	if (is_method("OPTIONS|INVITE")) { LOG("list"); }
	if (is_method("OPTIONS,BYE")) { LOG("?"); } else { LOG("not in comma list"); }
	if (is_method("FOO")) { LOG("?"); } else { LOG("not FOO"); }`},
		{Name: "is_privacy", Request: compactReq, Body: `
	if (is_privacy("id")) { LOG("id"); }
	if (is_privacy("header")) { LOG("header"); }
	if (is_privacy("user")) { LOG("?"); } else { LOG("not user"); }`},
		{Name: "strings", Request: optionsReq, Body: `
	cmp_str("abc", "abc"); LOG("eq $rc");
	cmp_str("abc", "abd"); LOG("lt $rc");
	cmp_str("abd", "abc"); LOG("gt $rc");
	cmp_str("", "abc"); LOG("empty $rc");
	cmp_istr("ABC", "abc"); LOG("ieq $rc");
	starts_with("HDR(CSeq)", "1 OPT"); LOG("sw $rc");
	starts_with("HDR(CSeq)", "X"); LOG("sw2 $rc");
	starts_with("ab", "abc"); LOG("sw3 $rc");
	ends_with("HDR(CSeq)", "ONS"); LOG("ew $rc");
	str_find("hello", "ll"); LOG("find $rc");
	str_ifind("HELLO", "ll"); LOG("ifind $rc");
	str_find("hello", "zz"); LOG("find none $rc");
	search_str("HDR(User-Agent)", "^SIPHT"); LOG("search_str $rc");
	in_list("b", "a, b ,c", ","); LOG("in_list $rc");
	in_list("d", "a,b,c", ","); LOG("in_list none $rc");
	in_list_prefix("abcdef", "x,abc", ","); LOG("in_list_prefix $rc");`},
		{Name: "search_hf and subst_hf", Request: compactReq, Body: `
	search_hf("X-Multi", "two", "a"); LOG("any $rc");
	search_hf("X-Multi", "two", "f"); LOG("first $rc");
	search_hf("X-Multi", "two", "l"); LOG("last $rc");
	search_hf("Route", "p1", "l"); LOG("last route $rc");
	search_hf("X-None", ".", "a"); LOG("none $rc");
	subst_hf("Route", "/example/EXAMPLE/", "a"); LOG("subst all $rc");
	subst_hf("X-Multi", "/o/0/g", "l"); LOG("subst last $rc");
	subst_hf("f", "/Alice/Bob/", "f"); LOG("subst first $rc");
	subst_hf("X-Multi", "/zzz/y/", "f"); LOG("subst first none $rc");
	FWD;`},
		{Name: "pv variants and regex_substring", Request: compactReq, Body: `
	$var(re) = "^x-m";
	is_present_hf_re_pv("$var(re)"); LOG("present $rc");
	remove_hf_re_pv("$var(re)"); LOG("removed $rc");
	$var(sk) = "^Route";
	remove_hf_exp_pv("^(Route|Privacy)", "$var(sk)"); LOG("exp $rc");
	regex_substring("alice@example.com", "([a-z]+)@(.*)", "2", "3", "$var(d)"); LOG("sub $rc $var(d)");
	regex_substring("alice", "([0-9]+)", "1", "2", "$var(e)"); LOG("nomatch $rc");
	regex_substring("alice", "(a)(x?)", "2", "3", "$var(f)"); LOG("empty $rc");
	FWD;`},
		{Name: "append_urihf", Request: optionsReq, Body: `
	append_urihf("X-URI: <", ">\r\n");
	LOG("rc=$rc");
	FWD;`},
	}
	modtest.Compare(t, []string{"textops"}, "", cases)
}

func TestCompareTextopsFixupErrors(t *testing.T) {
	// configs Kamailio refuses must be refused here too
	bad := []string{
		`is_method("OPTIONS|FOO");`,
		`is_method("INVITEX");`,
		`is_method("");`,
		`search("(unclosed");`,
		`subst("/a/b/x");`,
		`subst("/a/b");`,
		`has_body("textplain");`,
		`is_privacy("nope");`,
	}
	for _, b := range bad {
		if modtest.KamailioAccepts(t, []string{"textops"}, "request_route {\n"+b+"\n}\n") {
			t.Errorf("Kamailio accepts %s", b)
		}
		if err := modtest.Load(t, []string{"textops"}, "", "request_route {\n"+b+"\n}\n"); err == nil {
			t.Errorf("sipht accepts %s", b)
		} else if !strings.Contains(err.Error(), ":") {
			t.Errorf("error without position: %v", err)
		}
	}
}
