package sipmsg

import (
	"strings"
	"testing"
)

const msg = "INVITE sip:bob@example.com SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n" +
	"v: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\n" +
	"f: <sip:alice@example.com>;tag=1\r\n" +
	"To :  <sip:bob@example.com>\r\n" +
	"call-id: abc\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"X-Folded: one,\r\n two\r\n" +
	"X-Empty:\r\n" +
	"l: 4\r\n" +
	"\r\n" +
	"body"

func TestParse(t *testing.T) {
	var p Parsed
	if !Parse([]byte(msg), &p) {
		t.Fatal("Parse failed")
	}
	if p.FirstLine != "INVITE sip:bob@example.com SIP/2.0" || !p.IsRequest() {
		t.Errorf("first line %q", p.FirstLine)
	}
	want := []struct {
		name, value string
		typ         HeaderType
	}{
		{"Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1", HdrVia},
		{"v", "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2", HdrVia},
		{"f", "<sip:alice@example.com>;tag=1", HdrFrom},
		{"To", "<sip:bob@example.com>", HdrTo},
		{"call-id", "abc", HdrCallID},
		{"CSeq", "1 INVITE", HdrCSeq},
		{"X-Folded", "one,\r\n two", HdrOther},
		{"X-Empty", "", HdrOther},
		{"l", "4", HdrContentLength},
	}
	if len(p.Headers) != len(want) {
		t.Fatalf("%d headers, want %d", len(p.Headers), len(want))
	}
	for i, w := range want {
		h := p.Headers[i]
		if h.Name != w.name || h.Value != w.value || h.Type != w.typ {
			t.Errorf("header %d = %q %q %d, want %q %q %d", i, h.Name, h.Value, h.Type, w.name, w.value, w.typ)
		}
		if msg[h.Start:h.End] != msg[h.Start:h.End] || !strings.HasSuffix(msg[h.Start:h.End], "\r\n") ||
			!strings.HasPrefix(msg[h.Start:], h.Name) || msg[h.ValueStart:h.ValueEnd] != h.Value {
			t.Errorf("header %d offsets wrong: %q", i, msg[h.Start:h.End])
		}
	}
	if msg[p.Body:] != "body" || msg[p.HeadersEnd:p.Body] != "\r\n" {
		t.Errorf("body at %d, headers end at %d", p.Body, p.HeadersEnd)
	}
	// LF-only line ends
	lf := strings.ReplaceAll(msg, "\r\n", "\n")
	if !Parse([]byte(lf), &p) || len(p.Headers) != len(want) || lf[p.Body:] != "body" {
		t.Errorf("LF-only message: ok=%v headers=%d", Parse([]byte(lf), &p), len(p.Headers))
	}
	for _, bad := range []string{"", "INVITE", "INVITE x SIP/2.0\r\nnocolon\r\n\r\n", "I x S\r\n: v\r\n\r\n",
		"I x S\r\n continuation\r\n\r\n", "I x S\r\nA: b\r\n"} {
		if Parse([]byte(bad), &p) {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestTypeOf(t *testing.T) {
	for name, want := range map[string]HeaderType{
		"Via": HdrVia, "VIA": HdrVia, "v": HdrVia, "V": HdrVia, "Call-ID": HdrCallID, "i": HdrCallID,
		"Max-Forwards": HdrMaxForwards, "m": HdrContact, "k": HdrSupported, "X-Via": HdrOther, "": HdrOther,
		"Proxy-Require": HdrProxyRequire, "WWW-Authenticate": HdrWWWAuthenticate, "y": HdrIdentity,
		"n": HdrOther, "Subscription-State": HdrSubscriptionState,
	} {
		if got := TypeOf(name); got != want {
			t.Errorf("TypeOf(%q) = %d, want %d", name, got, want)
		}
	}
	if !EqualHeaderNames("Via", "v ") || EqualHeaderNames("Via", "X-Via") || !EqualHeaderNames("x-a", "X-A") ||
		EqualHeaderNames("X-A", "X-B") {
		t.Error("EqualHeaderNames")
	}
}

func TestChangesApply(t *testing.T) {
	raw := []byte("0123456789")
	tests := []struct {
		name string
		edit func(ch *Changes)
		want string
	}{
		{"none", func(ch *Changes) {}, "0123456789"},
		{"delete", func(ch *Changes) { ch.Delete(2, 3) }, "0156789"},
		{"replace", func(ch *Changes) { ch.Delete(2, 3).After("abc") }, "01abc56789"},
		{"insert before, newest first", func(ch *Changes) { ch.Anchor(5).Before("a").Before("b") }, "01234ba56789"},
		{"insert after, newest first", func(ch *Changes) { ch.Anchor(5).After("a").After("b") }, "01234ba56789"},
		{"anchors at one offset keep order", func(ch *Changes) { ch.Anchor(5).Before("a"); ch.Anchor(5).Before("b") }, "01234ab56789"},
		{"before and after a deletion", func(ch *Changes) { ch.Delete(2, 2).Before("<").After(">") }, "01<>456789"},
		{"overlap cut", func(ch *Changes) { ch.Delete(2, 4); ch.Delete(4, 4).After("x") }, "01x89"},
		{"inside deleted zone", func(ch *Changes) { ch.Delete(2, 4); ch.Anchor(3).After("y") }, "01y6789"},
		{"same deletion twice", func(ch *Changes) { ch.Delete(2, 2).After("a"); ch.Delete(2, 2).After("b") }, "01ab456789"},
		{"at end", func(ch *Changes) { ch.Anchor(10).Before("!") }, "0123456789!"},
		{"past end clamps", func(ch *Changes) { ch.Delete(8, 10).After("z") }, "01234567z"},
		{"unsorted creation", func(ch *Changes) { ch.Anchor(8).Before("b"); ch.Anchor(1).Before("a") }, "0a1234567b89"},
	}
	for _, tc := range tests {
		var ch Changes
		tc.edit(&ch)
		if got := string(ch.Apply(nil, raw, nil)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		c2 := ch.Clone()
		if got := string(c2.Apply(nil, raw, nil)); got != tc.want {
			t.Errorf("%s: clone gives %q", tc.name, got)
		}
	}
}

func TestChangesContentLength(t *testing.T) {
	raw := []byte("MESSAGE sip:a@b SIP/2.0\r\nl: 4\r\nX: y\r\n\r\nbody")
	var p Parsed
	if !Parse(raw, &p) {
		t.Fatal("parse")
	}
	o := &ApplyOptions{Body: p.Body, HeadersEnd: p.HeadersEnd, ContentLength: p.FindType(HdrContentLength)}
	var ch Changes
	ch.Anchor(p.Body).After("new ")
	if got := string(ch.Apply(nil, raw, o)); got != "MESSAGE sip:a@b SIP/2.0\r\nl: 8\r\nX: y\r\n\r\nnew body" {
		t.Errorf("got %q", got)
	}
	ch.Reset()
	ch.Delete(p.Body, 4)
	if got := string(ch.Apply(nil, raw, o)); got != "MESSAGE sip:a@b SIP/2.0\r\nl: 0\r\nX: y\r\n\r\n" {
		t.Errorf("got %q", got)
	}
	// header-only edits leave Content-Length alone
	ch.Reset()
	ch.Anchor(p.HeadersEnd).Before("Y: z\r\n")
	if got := string(ch.Apply(nil, raw, o)); got != "MESSAGE sip:a@b SIP/2.0\r\nl: 4\r\nX: y\r\nY: z\r\n\r\nbody" {
		t.Errorf("got %q", got)
	}
	// no Content-Length header: one is added when the body changes
	raw2 := []byte("MESSAGE sip:a@b SIP/2.0\r\nX: y\r\n\r\nbody")
	Parse(raw2, &p)
	o = &ApplyOptions{Body: p.Body, HeadersEnd: p.HeadersEnd}
	ch.Reset()
	ch.Anchor(len(raw2)).Before("!")
	if got := string(ch.Apply(nil, raw2, o)); got != "MESSAGE sip:a@b SIP/2.0\r\nX: y\r\nContent-Length: 5\r\n\r\nbody!" {
		t.Errorf("got %q", got)
	}
	ch.DropFrom(p.Body)
	if ch.Len() != 0 {
		t.Error("DropFrom kept a body edit")
	}
}

func TestParseURI(t *testing.T) {
	tests := []struct {
		in                                      string
		ok                                      bool
		typ                                     URIType
		user, pass, host, port, params, headers string
	}{
		{"sip:alice@example.com", true, URISIP, "alice", "", "example.com", "", "", ""},
		{"SIPS:alice:secret@example.com:5061;transport=tls?subject=x", true, URISIPS, "alice", "secret", "example.com", "5061", "transport=tls", "subject=x"},
		{"sip:example.com:5060", true, URISIP, "", "", "example.com", "5060", "", ""},
		{"sip:[2001:db8::1]:5060", true, URISIP, "", "", "[2001:db8::1]", "5060", "", ""},
		{"tel:+1-234;phone-context=x", true, URITel, "+1-234", "", "", "", "phone-context=x", ""},
		{"sip:+1234;npdi@example.com;user=phone", true, URITel, "+1234", "", "example.com", "", "npdi", ""},
		{"sip:a;x=y@b", true, URISIP, "a;x=y", "", "b", "", "", ""},
		{"urn:service:sos", true, URIURN, "service", "", "sos", "", "", ""}, // as Kamailio splits it
		{"sip:@b", false, 0, "", "", "", "", "", ""},
		{"sip:a@b:65536", false, 0, "", "", "", "", "", ""},
		{"http://x", false, 0, "", "", "", "", "", ""},
		{"sip:a@b?h;x", false, 0, "", "", "", "", "", ""},
	}
	for _, tc := range tests {
		u, err := ParseURI(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseURI(%q) err = %v", tc.in, err)
			continue
		}
		if !tc.ok {
			continue
		}
		if u.Type != tc.typ || u.User != tc.user || u.Password != tc.pass || u.Host != tc.host ||
			u.Port != tc.port || u.Params != tc.params || u.Headers != tc.headers {
			t.Errorf("ParseURI(%q) = %+v", tc.in, u)
		}
		if u.HasParams && tc.in[u.ParamsOff:u.ParamsOff+len(u.Params)] != u.Params {
			t.Errorf("ParseURI(%q): ParamsOff %d wrong", tc.in, u.ParamsOff)
		}
	}
	u, _ := ParseURI("sip:a@b;transport=TCP;lr;gr=x;maddr=1.2.3.4")
	if u.Transport.Value != "TCP" || !u.LR.Set || u.GR.Value != "x" || u.MAddr.Value != "1.2.3.4" || u.UserParam.Set {
		t.Errorf("known params: %+v", u)
	}
}

func TestSetUser(t *testing.T) {
	for _, tc := range []struct{ in, user, want string }{
		{"sip:alice@example.com", "bob", "sip:bob@example.com"},
		{"sip:alice:pw@example.com:5060;lr?h=1", "bob", "sip:bob:pw@example.com:5060;lr?h=1"},
		{"sip:alice@example.com", "", "sip:example.com"},
		{"sip:example.com", "bob", "sip:bob@example.com"},
		{"tel:+123;ext=1", "+456", "tel:+456;ext=1"},
		{"sip:+1;x@h;user=phone", "+2", "sip:+2;x@h;user=phone"},
	} {
		got, err := SetUser(tc.in, tc.user)
		if err != nil || got != tc.want {
			t.Errorf("SetUser(%q, %q) = %q, %v; want %q", tc.in, tc.user, got, err, tc.want)
		}
	}
}

func TestParseNameAddr(t *testing.T) {
	for _, tc := range []struct {
		in, display, uri, params string
		ok                       bool
	}{
		{`"Alice" <sip:a@b>;tag=1`, `"Alice"`, "sip:a@b", "tag=1", true},
		{`Alice Smith <sip:a@b;lr>`, "Alice Smith", "sip:a@b;lr", "", true},
		{`sip:a@b;tag=1`, "", "sip:a@b", "tag=1", true},
		{`<sip:a@b;tag=x>`, "", "sip:a@b;tag=x", "", true},
		{`"a\"b" <sip:a@b>`, `"a\"b"`, "sip:a@b", "", true},
		{`"unterminated <sip:a@b>`, "", "", "", false},
		{`<sip:a@b`, "", "", "", false},
		{``, "", "", "", false},
		{`<sip:a@b> x`, "", "", "", false},
	} {
		na, err := ParseNameAddr(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseNameAddr(%q) err = %v", tc.in, err)
			continue
		}
		if tc.ok && (na.Display != tc.display || na.URI != tc.uri || na.Params != tc.params) {
			t.Errorf("ParseNameAddr(%q) = %+v", tc.in, na)
		}
	}
	na, _ := ParseNameAddr(`<sip:a@b>;tag=1;TAG=2`)
	if tag, n := na.Tag(); tag != "1" || n != 2 {
		t.Errorf("Tag() = %q, %d", tag, n)
	}
	if got := SplitComma(`"a,b" <sip:x,y>, sip:z`); len(got) != 2 || got[1] != "sip:z" {
		t.Errorf("SplitComma = %q", got)
	}
}

func TestParseParams(t *testing.T) {
	var got []string
	s := ` a=1 ; b ;c="x;y"; d = 2`
	ok := ParseParams(s, func(p Param) bool {
		got = append(got, p.Name+"="+p.Value+"|"+s[p.Start:p.End])
		return true
	})
	want := []string{"a=1|a=1", "b=|b", `c=x;y|c="x;y"`, "d=2|d = 2"}
	if !ok || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %q ok=%v", got, ok)
	}
	if ParseParams(`a;=b`, func(Param) bool { return true }) || ParseParams(`c="x`, func(Param) bool { return true }) {
		t.Error("malformed lists accepted")
	}
}

func TestCompileRegex(t *testing.T) {
	for _, tc := range []struct {
		re    string
		flags RegexFlags
		in    string
		match string
	}{
		{"^b", Newline, "a\nb", "b"},
		{"^b", 0, "a\nb", ""},
		{"a.b", Newline, "a\nb", ""},
		{"a.b", 0, "a\nb", "a\nb"},
		{"a[^x]b", Newline, "a\nb", ""},
		{"a[^x]b", 0, "a\nb", "a\nb"},
		{"A", ICase, "a", "a"},
		{"a|ab", 0, "ab", "ab"}, // leftmost-longest
		{`x[\.]`, 0, `x\`, `x\`},
		{`[[:digit:]]+`, Newline, "ab12", "12"},
	} {
		re, err := CompileRegex(tc.re, tc.flags)
		if err != nil {
			t.Errorf("CompileRegex(%q): %v", tc.re, err)
			continue
		}
		if got := re.FindString(tc.in); got != tc.match {
			t.Errorf("%q on %q = %q, want %q", tc.re, tc.in, got, tc.match)
		}
	}
}

func TestReplyFields(t *testing.T) {
	fs, err := ReplyFields(nil, "X-A: 1\r\nX-B:2\r\n\r\nX-C:  three")
	if err != nil || len(fs) != 3 || fs[1].Value != "2" || fs[2].Value != "three" {
		t.Errorf("got %+v %v", fs, err)
	}
	for _, bad := range []string{"novalue\r\n", ": v\r\n", "X A: b\r\n"} {
		if _, err := ReplyFields(nil, bad); err == nil {
			t.Errorf("ReplyFields(%q) accepted", bad)
		}
	}
}
