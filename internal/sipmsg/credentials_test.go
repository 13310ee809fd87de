package sipmsg

import (
	"strings"
	"testing"
)

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

// FuzzParseCredentials: any value parses or fails without panicking, and
// the parts of a parsed one are substrings of it.
func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{`Digest username="a@b", realm="r", nonce="n", uri="sip:b", response="x"`,
		"Digest a=b,c=\"d\"", "Digest ,", "Basic x", `Digest username="sip:u@d:5060"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredentials(s)
		if err != nil {
			return
		}
		for _, p := range []string{c.Username, c.User, c.Domain, c.Realm, c.Nonce, c.URI, c.Response, c.CNonce, c.Opaque, c.QOP, c.NC, c.Algorithm} {
			if !strings.Contains(s, p) {
				t.Fatalf("%q: %q not in input", s, p)
			}
		}
	})
}
