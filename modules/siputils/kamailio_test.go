package siputils_test

import (
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	_ "github.com/sipht/sipht/modules/siputils"
	_ "github.com/sipht/sipht/modules/textops"
)

func req(method, ruri, extra string) string {
	r := `METHOD RURI SIP/2.0
Via: SIP/2.0/UDP {via};branch=z9hG4bK-s1
From: <sip:alice@127.0.0.1>;tag=1
To: <sip:test@127.0.0.1>EXTRA
Call-ID: su-1@127.0.0.1
CSeq: 1 METHOD
Max-Forwards: 70
Content-Length: 0

`
	r = strings.ReplaceAll(r, "METHOD", method)
	r = strings.Replace(r, "RURI", ruri, 1)
	return strings.Replace(r, "EXTRA", extra, 1)
}

func TestCompareSiputils(t *testing.T) {
	opt := req("OPTIONS", "sip:test@127.0.0.1", "")
	cases := []modtest.Case{
		{Name: "has_totag no", Request: opt, Body: `if (has_totag()) { LOG("yes"); } else { LOG("no $rc"); }`},
		{Name: "has_totag yes", Request: req("BYE", "sip:test@127.0.0.1", ";tag=abc"), Body: `if (has_totag()) { LOG("yes"); }`},
		{Name: "has_totag empty", Request: req("BYE", "sip:test@127.0.0.1", ";tag="), Body: `if (has_totag()) { LOG("yes"); } else { LOG("empty $rc"); }`},
		{Name: "has_totag uri param", Request: strings.Replace(opt, "To: <sip:test@127.0.0.1>", "To: <sip:test@127.0.0.1;tag=x>", 1),
			Body: `if (has_totag()) { LOG("yes"); } else { LOG("uri param is not a tag"); }`},
		{Name: "is_request", Request: opt, Body: `is_request(); LOG("req $rc"); is_reply(); LOG("reply $rc");`},
		{Name: "uri_param", Request: req("INVITE", "sip:bob@example.com;transport=udp;lr;maddr=1.2.3.4;Foo=Bar", ""), Body: `
	uri_param("transport"); LOG("transport $rc");
	uri_param("transport", "udp"); LOG("transport=udp $rc");
	uri_param("transport", "UDP"); LOG("transport=UDP $rc");
	uri_param("lr"); LOG("lr $rc");
	uri_param("LR"); LOG("LR $rc");
	uri_param("foo", "Bar"); LOG("foo $rc");
	uri_param_any("foo"); LOG("any foo $rc");
	uri_param_any("nope"); LOG("any nope $rc");
	$var(p) = "maddr";
	uri_param("$var(p)", "1.2.3.4"); LOG("maddr $rc");`},
		{Name: "uri_param none", Request: opt, Body: `uri_param("transport"); LOG("$rc"); uri_param_any("x"); LOG("any $rc");`},
		{Name: "user=phone params", Request: req("INVITE", "sip:+123;npdi@example.com;user=phone", ""), Body: `
	uri_param("user", "phone"); LOG("user=phone $rc");
	uri_param("npdi"); LOG("npdi $rc");`},
		{Name: "add_uri_param and uri_param_rm", Request: req("INVITE", "sip:bob@example.com;transport=udp;lr", ""), Body: `
	add_uri_param("nat=yes"); LOG("add $rc RU");
	uri_param_rm("transport"); LOG("rm $rc RU");
	uri_param_rm("nope"); LOG("rm none $rc RU");
	uri_param_rm("nat"); LOG("rm nat $rc RU");`},
		{Name: "tel2sip", Request: opt, Body: `
	tel2sip("tel:+1-(234).567;Phone-Context=X", "example.com", "$var(r)"); LOG("$rc $var(r)");
	$var(r) = "unset";
	tel2sip("sip:a@b", "example.com", "$var(r)"); LOG("$rc $var(r)");`},
		{Name: "is_e164", Request: opt, Body: `
	$var(n) = "+4912345678"; is_e164("$var(n)"); LOG("a $rc");
	$var(n) = "12345"; is_e164("$var(n)"); LOG("b $rc");
	$var(n) = "+1"; is_e164("$var(n)"); LOG("c $rc");
	$var(n) = "+1234567890123456"; is_e164("$var(n)"); LOG("d $rc");
	$var(u) = "sip:+4912345@x"; is_uri_user_e164("$var(u)"); LOG("e $rc");
	$var(u) = "sip:bob@x"; is_uri_user_e164("$var(u)"); LOG("f $rc");`},
		{Name: "number checks", Request: opt, Body: `
	is_numeric("123"); LOG("n1 $rc"); is_numeric("12a"); LOG("n2 $rc"); is_numeric(""); LOG("n3 $rc");
	is_tel_number("+123"); LOG("t1 $rc"); is_tel_number("+023"); LOG("t2 $rc"); is_tel_number("1-2"); LOG("t3 $rc");
	is_alphanum("abC9"); LOG("a1 $rc"); is_alphanum("ab-c"); LOG("a2 $rc");
	is_alphanumex("ab-c", "-"); LOG("a3 $rc"); is_alphanumex("ab.c", "-"); LOG("a4 $rc");`},
		{Name: "cmp_uri", Request: opt, Body: `
	cmp_uri("sip:a@Example.COM;transport=udp", "sip:a@example.com;TRANSPORT=UDP"); LOG("1 $rc");
	cmp_uri("sip:a@example.com", "sip:b@example.com"); LOG("2 $rc");
	cmp_uri("sip:a@example.com", "sip:a@example.com;user=phone"); LOG("3 $rc");
	cmp_uri("sip:a@example.com", "sip:a@example.com;foo=bar"); LOG("4 $rc");
	cmp_uri("sip:a@example.com:5060", "sip:a@example.com"); LOG("5 $rc");
	cmp_uri("sip:a@", "sip:a@example.com"); LOG("6 $rc");
	cmp_uri("sips:a@example.com", "sip:a@example.com"); LOG("7 $rc");`},
		{Name: "cmp_aor", Request: opt, Body: `
	cmp_aor("sip:a@example.com:5060", "sip:a@EXAMPLE.com"); LOG("1 $rc");
	cmp_aor("sip:a@example.com:5070", "sip:a@example.com"); LOG("2 $rc");
	cmp_aor("sip:A@example.com", "sip:a@example.com"); LOG("3 $rc");
	cmp_aor("sip:a@example.com;x=y", "sips:a@example.com"); LOG("4 $rc");
	cmp_hdr_name("Via", "v"); LOG("h1 $rc");
	cmp_hdr_name("X-A", "x-a"); LOG("h2 $rc");
	cmp_hdr_name("X-A", "X-B"); LOG("h3 $rc");`},
		{Name: "is_gruu", Request: req("INVITE", "sip:bob@example.com;gr=urn:uuid:1", ""), Body: `
	is_gruu(); LOG("ruri $rc");
	is_gruu("sip:a@b;gr"); LOG("novalue $rc");
	is_gruu("sip:a@b"); LOG("none $rc");`},
		{Name: "is_first_hop", Request: opt, Body: `is_first_hop(); LOG("one via $rc");`},
		{Name: "is_first_hop two vias", Request: strings.Replace(opt, "Via: SIP/2.0/UDP {via};branch=z9hG4bK-s1", "Via: SIP/2.0/UDP {via};branch=z9hG4bK-s1, SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-0", 1),
			Body: `is_first_hop(); LOG("two vias $rc");`},
		{Name: "set_uri_user/host", Request: opt, Body: `
	$var(u) = "sip:alice@example.com:5060;x=y"; $var(v) = "bob";
	set_uri_user("$var(u)", "$var(v)"); LOG("$rc $var(u)");
	$var(v) = ""; set_uri_user("$var(u)", "$var(v)"); LOG("$rc $var(u)");
	$var(v) = "carol"; set_uri_user("$var(u)", "$var(v)"); LOG("$rc $var(u)");
	$var(v) = "other.org"; set_uri_host("$var(u)", "$var(v)"); LOG("$rc $var(u)");`},
		{Name: "options_reply", Request: req("OPTIONS", "sip:127.0.0.1", ""), Body: `options_reply(); LOG("rc=$rc");`},
		{Name: "options_reply with user", Request: opt, Body: `options_reply(); LOG("rc=$rc");`},
		{Name: "options_reply with append_to_reply", Request: req("OPTIONS", "sip:127.0.0.1", ""), Body: `append_to_reply("X-Extra: 1\r\n"); options_reply();`},
	}
	modtest.Compare(t, []string{"siputils", "textops"}, `modparam("siputils", "options_support", "path, gruu")
modparam("siputils", "options_accept_language", "en, de")`, cases)
}
