package sipmsg

import (
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in      string
		want    URI
		wantErr bool
	}{
		{in: "sip:test@127.0.0.1", want: URI{Scheme: SchemeSIP, User: "test", Host: "127.0.0.1"}},
		{in: "SIP:bob:secret@Example.COM:5070;transport=TCP;lr?subject=x",
			want: URI{Scheme: SchemeSIP, User: "bob", Passwd: "secret", Host: "Example.COM", Port: "5070", PortNo: 5070,
				Params: "transport=TCP;lr", Headers: "subject=x", Transport: "TCP", Proto: ProtoTCP}},
		{in: "sips:[2001:db8::1]:5061", want: URI{Scheme: SchemeSIPS, Host: "[2001:db8::1]", Port: "5061", PortNo: 5061}},
		{in: "sip:10.0.0.2:5080", want: URI{Scheme: SchemeSIP, Host: "10.0.0.2", Port: "5080", PortNo: 5080}},
		{in: "sip:alice;x=1@host", want: URI{Scheme: SchemeSIP, User: "alice;x=1", Host: "host"}},
		{in: "tel:+4912345;phone-context=x", want: URI{Scheme: SchemeTel, User: "+4912345", Params: "phone-context=x"}},
		{in: "urn:service:sos", want: URI{Scheme: SchemeURN, Host: "service:sos"}},
		{in: "sip:", wantErr: true},
		{in: "sip:@host", wantErr: true},
		{in: "sip:a@", wantErr: true},
		{in: "sip:a@-host", wantErr: true},
		{in: "sip:a@host:", wantErr: true},
		{in: "sip:a@host:65536", wantErr: true},
		{in: "sip:a@host:50x", wantErr: true},
		{in: "sip:a@ho st", wantErr: true},
		{in: "sip:[::1", wantErr: true},
		{in: "http://x", wantErr: true},
		{in: "x", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseURI(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseURI(%q) err = %v", tt.in, err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseURI(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestURIDefaultPortAndString(t *testing.T) {
	for in, want := range map[string]uint16{
		"sip:a@b": 5060, "sips:a@b": 5060, "sip:a@b;transport=tls": 5061, "sip:a@b:7": 7,
	} {
		u, err := ParseURI(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.DefaultPort(); got != want {
			t.Errorf("%s: DefaultPort = %d, want %d", in, got, want)
		}
		if got := u.String(); !strings.EqualFold(got, in) {
			t.Errorf("String() = %q, want %q", got, in)
		}
	}
}

func TestParseNameAddr(t *testing.T) {
	tests := []struct {
		in      string
		want    NameAddr
		wantErr bool
	}{
		{in: "<sip:alice@127.0.0.1>;tag=1", want: NameAddr{URI: "sip:alice@127.0.0.1", Params: "tag=1", Tag: "1", HasTag: true}},
		{in: "<sip:test@127.0.0.1>", want: NameAddr{URI: "sip:test@127.0.0.1"}},
		{in: `"Alice \"A\" Smith" <sip:a@b;lr>;tag=xy;foo`, want: NameAddr{Display: `"Alice \"A\" Smith"`, URI: "sip:a@b;lr", Params: "tag=xy;foo", Tag: "xy", HasTag: true}},
		{in: "Bob Jones  <sip:b@c>", want: NameAddr{Display: "Bob Jones", URI: "sip:b@c"}},
		{in: "sip:c@d;tag=9;x=\"a;b\"", want: NameAddr{URI: "sip:c@d", Params: "tag=9;x=\"a;b\"", Tag: "9", HasTag: true}},
		{in: "  sip:c@d  ", want: NameAddr{URI: "sip:c@d"}},
		{in: "", wantErr: true},
		{in: `"unterminated <sip:a@b>`, wantErr: true},
		{in: "<sip:a@b", wantErr: true},
		{in: "<>", wantErr: true},
		{in: "<sip:a@b> junk", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseNameAddr(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseNameAddr(%q) err = %v", tt.in, err)
			continue
		}
		if err == nil && got != tt.want {
			t.Errorf("ParseNameAddr(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseCredentials(t *testing.T) {
	c, err := ParseCredentials(`Digest username="alice@example.com", realm="example.com", nonce="n1", uri="sip:example.com", response="abc",algorithm=MD5, qop=auth, nc=00000001, cnonce="cn", opaque="op"`)
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{Username: "alice@example.com", User: "alice", Domain: "example.com", Realm: "example.com",
		Nonce: "n1", URI: "sip:example.com", Response: "abc", Algorithm: "MD5", QOP: "auth", NC: "00000001", CNonce: "cn", Opaque: "op"}
	if c != want {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	c, err = ParseCredentials(`digest username="sip:bob@b"`)
	if err != nil || c.User != "bob" || c.Domain != "b" {
		t.Errorf("sip: prefix: %+v %v", c, err)
	}
	for _, bad := range []string{"Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Digest", "Digestx a=b"} {
		if _, err := ParseCredentials(bad); err != ErrNotDigest {
			t.Errorf("%q: err = %v, want ErrNotDigest", bad, err)
		}
	}
	for _, bad := range []string{`Digest username`, `Digest username="x`, `Digest username=`, `Digest realm=,`} {
		if _, err := ParseCredentials(bad); err != ErrCredentials {
			t.Errorf("%q: err = %v, want ErrCredentials", bad, err)
		}
	}
}

func TestHeaderNames(t *testing.T) {
	for _, p := range [][2]string{{"f", "From"}, {"I", "call-id"}, {"v", "VIA"}, {"x-test", "X-Test"}, {"m", "Contact"}} {
		if !HeaderNameEqual(p[0], p[1]) {
			t.Errorf("%s != %s", p[0], p[1])
		}
	}
	if HeaderNameEqual("g", "From") || HeaderNameEqual("From", "To") {
		t.Error("unexpected match")
	}
	if !ValidHeaderName("X-Test_1.a+b~") || ValidHeaderName("X Test") || ValidHeaderName("") {
		t.Error("ValidHeaderName")
	}
}

func TestRequestLine(t *testing.T) {
	m, u, v, ok := RequestLine("OPTIONS sip:test@127.0.0.1 SIP/2.0\r\nVia: x\r\n")
	if !ok || m != "OPTIONS" || u != "sip:test@127.0.0.1" || v != "SIP/2.0" {
		t.Errorf("got %q %q %q %v", m, u, v, ok)
	}
	for _, bad := range []string{"", "OPTIONS", "OPTIONS sip:x", " x y", "A B "} {
		if _, _, _, ok := RequestLine(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
