package diff_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/tools/diffgen/snippet"
)

// liveCase is a script body run on both Kamailio and sipht, with a request
// of its own and extra global config lines (alias=, modparams ...).
type liveCase struct {
	name    string
	globals string // inserted before request_route
	body    string
	request string // the raw request; "" = snippet.Request()
}

func (lc liveCase) caseFor(t *testing.T) snippet.Case {
	t.Helper()
	s, err := snippet.ParseSnippet(lc.name, lc.body)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Case()
	if lc.request != "" {
		c.Request = lc.request
	}
	if lc.globals != "" {
		base := c.Config
		c.Config = func(port int) string {
			return strings.Replace(base(port), "\nrequest_route {", "\n"+lc.globals+"\n\nrequest_route {", 1)
		}
	}
	return c
}

// req builds a raw request: the request line, the headers given,
// Content-Length and the body.
func req(line string, headers []string, body string) string {
	return line + "\r\n" + strings.Join(headers, "\r\n") + "\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

var baseHeaders = []string{
	"Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-live-1",
	"From: <sip:alice@127.0.0.1>;tag=1",
	"To: <sip:test@127.0.0.1>",
	"Call-ID: live-1@127.0.0.1",
	"CSeq: 1 OPTIONS",
	"Max-Forwards: 70",
}

// liveCases exercise the SIP pseudo-variables, core actions and keywords
// on requests the fixed differential request does not cover.
var liveCases = []liveCase{
	{name: "display_names_and_tags",
		body: `xlog("fn=[$fn] fu=$fu fU=$fU fd=$fd ft=$ft\n");
xlog("tn=[$tn] tu=$tu tU=[$tU] td=$td tt=$tt\n");
xlog("ct=[$ct] cT=[$cT] cl=$cl bs=$bs\n");
xlog("rb=[$rb]\n");
xlog("ua=[$ua] rv=$rv csb=$csb\n");
`,
		request: req("INVITE sip:+4930123@example.com:5070;user=phone;transport=tcp SIP/2.0", []string{
			"v: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK-live-2",
			"Via: SIP/2.0/TCP 10.0.0.1:5080;branch=z9hG4bK-x, SIP/2.0/UDP 10.0.0.2",
			`f: "Alice Smith" <sip:alice@example.com>;tag=ab12`,
			"t: Bob <sip:bob@example.org;user=phone>;tag=xyz",
			"i: live-2@127.0.0.1",
			"CSeq: 42 INVITE",
			"m: <sip:alice@10.0.0.9:5062;transport=tcp>;expires=60",
			"c: application/sdp",
			"Max-Forwards: 70",
		}, "v=0\r\n")},
	{name: "ruri_parts",
		body: `xlog("ru=$ru rU=$rU rd=$rd rp=$rp rP=$rP rz=$rz rUl=$rUl\n");
xlog("ou=$ou oU=$oU od=$od op=$op oP=$oP\n");
$var(a) = (int)$rp; $var(b) = (int)$rP; $var(c) = (int)$rz;
xlog("ints rp=$var(a) rP=$var(b) rz=$var(c)\n");
`,
		request: req("OPTIONS sips:bob:pw@Example.COM:5071;transport=tls;lr?h=1 SIP/2.0", baseHeaders, "")},
	{name: "ruri_tel_and_defaults",
		body: `xlog("ru=$ru rU=[$rU] rd=[$rd] rp=$rp rP=$rP rz=$rz\n");
`,
		request: req("OPTIONS tel:+4930123;phone-context=x SIP/2.0", baseHeaders, "")},
	{name: "ruri_rewrites",
		body: `sethost("example.net"); xlog("sethost ru=$ru\n");
setuser("carol"); xlog("setuser ru=$ru\n");
prefix("00"); xlog("prefix ru=$ru\n");
strip(1); xlog("strip ru=$ru\n");
strip_tail(2); xlog("strip_tail ru=$ru\n");
setport("5099"); xlog("setport ru=$ru rp=$rp\n");
sethostport("10.1.1.1:6000"); xlog("sethostport ru=$ru\n");
$rp = 7000; xlog("rp=7000 ru=$ru\n");
$rp = $null; xlog("rp null ru=$ru\n");
$rU = $null; xlog("rU null ru=$ru\n");
$rU = "dave"; xlog("rU ru=$ru\n");
seturi("sip:eve@host.example;transport=udp"); xlog("seturi ru=$ru rP=$rP\n");
rewritehostporttrans("h2.example:5555"); xlog("hpt ru=$ru\n");
revert_uri(); xlog("revert ru=$ru ou=$ou\n");
userphone(); xlog("userphone ru=$ru\n");
strip(40); xlog("strip all ru=$ru\n");
`,
		request: req("OPTIONS sip:bob:pw@example.com:5070;lr?subject=x SIP/2.0", baseHeaders, "")},
	{name: "du_and_flags",
		body: `xlog("du=[$du] dd=[$dd] dp=[$dp] dP=[$dP]\n");
$du = "sip:10.0.0.7:5090;transport=tcp";
xlog("du=$du dd=$dd dp=$dp dP=$dP\n");
$du = "sip:proxy.example";
xlog("du=$du dd=$dd dp=$dp dP=$dP\n");
setflag(3); xlog("mf=$mf mF=$mF\n");
$mf = 5; if (isflagset(2)) { xlog("flag 2 after mf=5\n"); }
$du = $null; xlog("du=[$du]\n");
`},
	{name: "credentials",
		body: `xlog("au=[$au] ar=[$ar] ad=[$ad] aU=[$aU] adu=[$adu] aa=[$aa]\n");
xlog("adn=[$adn] adc=[$adc] adr=[$adr] ado=[$ado]\n");
`,
		request: req("REGISTER sip:example.com SIP/2.0", append(append([]string{}, baseHeaders[:4]...),
			"CSeq: 2 REGISTER",
			`Authorization: Digest username="alice@example.com", realm="example.com", nonce="abc123", uri="sip:example.com", response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", opaque="5ccc", qop=auth, nc=00000001`,
		), "")},
	{name: "proxy_credentials_preferred",
		body: `xlog("au=[$au] ar=[$ar] ad=[$ad]\n");
`,
		request: req("INVITE sip:bob@example.com SIP/2.0", append(append([]string{}, baseHeaders[:4]...),
			"CSeq: 3 INVITE",
			`Authorization: Digest username="www", realm="w.example", nonce="1", uri="sip:x", response="2"`,
			`Proxy-Authorization: Digest username="sip:proxyuser", realm="p.example", nonce="1", uri="sip:x", response="2"`,
		), "")},
	{name: "hdr_indexes",
		body: `xlog("via0=$(hdr(Via)[0])\n");
xlog("via1=$(hdr(Via)[1])\n");
xlog("via-1=$(hdr(Via)[-1])\n");
xlog("via-3=[$(hdr(Via)[-3])]\n");
xlog("viaall=$(hdr(Via)[*])\n");
xlog("vc=$hdrc(v) xc=$hdrc(X-Multi) x=$(hdr(X-Multi)[*])\n");
$var(h) = "x-multi";
xlog("dyn=$hdr($var(h))\n");
`,
		request: req("OPTIONS sip:test@127.0.0.1 SIP/2.0", append(append([]string{}, baseHeaders...),
			"v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-2",
			"X-Multi: one",
			"x-multi: two, three",
		), "")},
	{name: "myself_ports_and_alias",
		globals: "alias=example.com\nalias=other.example:5080",
		body: `if (uri == myself) { xlog("uri myself\n"); } else { xlog("uri not myself\n"); }
if (from_uri == myself) { xlog("from myself\n"); } else { xlog("from not myself\n"); }
if (to_uri == myself) { xlog("to myself\n"); } else { xlog("to not myself\n"); }
if (src_ip == myself) { xlog("src myself\n"); } else { xlog("src not myself\n"); }
if (myself != uri) { xlog("myself != uri\n"); }
`,
		request: req("OPTIONS sip:test@EXAMPLE.com:9999 SIP/2.0", append([]string{baseHeaders[0],
			"From: <sip:alice@other.example:5080>;tag=1",
			"To: <sip:test@other.example>"}, baseHeaders[3:]...), "")},
	{name: "keywords",
		body: `if (method == "OPTIONS") { xlog("method eq\n"); }
if (method =~ "^opt") { xlog("method re\n"); }
if (uri =~ "^sip:test@") { xlog("uri re\n"); }
if (from_uri == "sip:alice@127.0.0.1") { xlog("from eq\n"); }
if (to_uri != "sip:x@y") { xlog("to ne\n"); }
if (src_ip == 127.0.0.1) { xlog("src ip\n"); }
if (src_ip == 127.0.0.0/8) { xlog("src net\n"); }
if (dst_ip == 127.0.0.1) { xlog("dst ip\n"); }
if (proto == udp) { xlog("proto udp\n"); }
if (af == 2) { xlog("af inet\n"); }
if (msg:len > 100) { xlog("len > 100\n"); }
if (src_port > 1024) { xlog("src port > 1024\n"); }
`},
	{name: "sl_replies",
		body: `sl_send_reply("180", "Ringing");
send_reply("302", "Moved");
sl_reply("403", "Forbidden $rU");
xlog("rc=$rc\n");
`},
	{name: "nameaddr_tobody",
		body: `$var(s) = "\"Al B\" <sip:al@b.example;lr>;tag=9;x=1";
xlog("na.name=[$(var(s){nameaddr.name})] na.uri=$(var(s){nameaddr.uri}) na.len=$(var(s){nameaddr.len})\n");
xlog("tb.display=[$(var(s){tobody.display})] tb.uri=$(var(s){tobody.uri}) tb.tag=$(var(s){tobody.tag})\n");
xlog("tb.user=$(var(s){tobody.user}) tb.host=$(var(s){tobody.host}) tb.params=$(var(s){tobody.params})\n");
$var(p) = "sip:x@y";
xlog("na plain uri=$(var(p){nameaddr.uri}) len=$(var(p){nameaddr.len})\n");
xlog("fu tobody=$(hdr(From){tobody.user})\n");
`},
	{name: "xavp_more",
		body: `$xavp(a=>x) = 1;
$xavp(a=>x) = 2;
$xavp(a[0]=>y) = "why";
xlog("a0x=$xavp(a[0]=>x) a1x=$xavp(a[1]=>x) a0y=$xavp(a[0]=>y) a1y=[$xavp(a[1]=>y)] cnt=$cnt($xavp(a))\n");
$xavp(a[1]=>x) = 3;
xlog("a1x=$xavp(a[1]=>x)\n");
$xavp(a[0]=>x) = $null;
xlog("after rm a0x=[$xavp(a[0]=>x)] a0y=$xavp(a[0]=>y)\n");
$xavp(a) = $null;
xlog("cnt=$cnt($xavp(a)) a0y=[$xavp(a[0]=>y)]\n");
$xavp(v) = "single";
xlog("v=$xavp(v)\n");
`},
	{name: "log_prefix",
		globals: `log_prefix="{$mt $hdr(CSeq) $ci} "`,
		body: `xlog("hello $rm\n");
`},
	{name: "myself_listen_port",
		body: `$ru = "sip:x@127.0.0.1:" + $Rp;
if (uri == myself) { xlog("own port myself\n"); }
$ru = "sip:x@127.0.0.1";
if (uri == myself) { xlog("5060 myself\n"); } else { xlog("5060 not myself\n"); }
$ru = "sips:x@127.0.0.1";
xlog("sips rp=$rp\n");
$ru = "sip:x@localhost:" + $Rp;
if (uri == myself) { xlog("localhost myself\n"); } else { xlog("localhost not myself\n"); }
$ru = "tel:+123";
if (uri == myself) { xlog("tel myself\n"); } else { xlog("tel not myself\n"); }
`},
	{name: "xlog_variants",
		body: `$var(l) = -1;
xlog("$var(l)", "level from var\n");
$var(l) = 2;
xlog("$var(l)", "info from var (hidden)\n");
xlogl("L_ERR", "with line\n");
xlog("L_ERROR", "third char counts\n");
xerr("xerr\n"); xwarn("xwarn\n"); xnotice("xnotice hidden\n"); xinfo("xinfo hidden\n"); xdbg("xdbg hidden\n");
xcrit("xcrit\n"); xalert("xalert\n"); xbug("xbug\n");
xlog("L_ERR", "color=[$C(rb)]\n");
log(0, "core log warn\n"); log(1, "core log notice hidden\n");
log("core log default (hidden)\n");
xlog("rc=$rc\n");
`},
	{name: "tel_rewrites",
		body: `sethost("gw.example"); xlog("tel sethost ru=$ru\n");
revert_uri();
prefix("00"); xlog("tel prefix ru=$ru\n");
revert_uri();
strip(3); xlog("tel strip ru=$ru\n");
`,
		request: req("OPTIONS tel:+4930123;phone-context=example.com SIP/2.0", baseHeaders, "")},
	{name: "lowercase_method",
		body: `xlog("rm=$rm\n");
$var(a) = (int)$rm;
xlog("id=$var(a)\n");
if (method == "OPTIONS") { xlog("keyword eq\n"); }
if (is_method("OPTIONS")) { xlog("is_method\n"); }
`,
		request: req("options sip:test@127.0.0.1 SIP/2.0", append(append([]string{}, baseHeaders[:4]...), "CSeq: 1 options"), "")},
	{name: "pv_funcs",
		body: `$var(i) = 5; $var(s) = "x";
if (is_int("$var(i)")) { xlog("i int\n"); }
if (!is_int("$var(s)")) { xlog("s not int\n"); }
if (typeof("$var(s)", "str")) { xlog("s str\n"); }
if (typeof("$avp(none)", "null")) { xlog("avp null\n"); }
if (pv_isset("$var(i)")) { xlog("i set\n"); }
if (!pv_isset("$avp(none)")) { xlog("avp not set\n"); }
$avp(z) = 1; pv_unset("$avp(z)");
if (!pv_isset("$avp(z)")) { xlog("avp unset\n"); }
if (not_empty("$var(s)")) { xlog("s not empty\n"); }
`},
}

// TestPVsMatchKamailio runs liveCases on real Kamailio 5.6 and on sipht
// and requires the same xlog lines and replies.
func TestPVsMatchKamailio(t *testing.T) {
	kam := testutil.LookPath(t, "kamailio", snippet.DefaultKamailio)
	k := snippet.NewKamailio(kam)
	s := snippet.NewSipht()
	s.SkipMissingModules = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, lc := range liveCases {
		c := lc.caseFor(t)
		wg.Add(1)
		t.Run(lc.name, func(t *testing.T) {
			defer wg.Done()
			t.Parallel()
			sem <- struct{}{}
			defer func() { <-sem }()
			kr, err := k.Run(ctx, c)
			if err != nil {
				t.Fatalf("kamailio: %v", err)
			}
			sr, err := s.Run(ctx, c)
			if err != nil {
				t.Fatalf("sipht: %v", err)
			}
			if kr.ConfigError {
				t.Fatalf("Kamailio refused the config:\n%s", snippet.Tail(kr.Stderr, 15))
			}
			if got, want := sr.Golden(), kr.Golden(); got != want {
				t.Errorf("sipht differs from Kamailio\n--- kamailio\n%s--- sipht\n%s--- quoted: %q\n  vs      %q\n--- sipht log tail:\n%s",
					want, got, want, got, snippet.Tail(sr.Stderr, 10))
			}
		})
	}
}
