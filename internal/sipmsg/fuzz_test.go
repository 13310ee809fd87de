package sipmsg

import (
	"strings"
	"testing"
)

// FuzzParseURI: any input parses or fails without panicking; a parsed URI's
// parts are substrings of the input and it re-parses to the same parts when
// rebuilt.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"sip:test@127.0.0.1", "sips:a:b@[::1]:5061;transport=tls?x=y",
		"tel:+1;a=b", "urn:x", "sip:@", "sip:a@b:99999", "SIP:a;b@c;d?e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		for _, part := range []string{u.User, u.Passwd, u.Host, u.Port, u.Params, u.Headers, u.Transport} {
			if !strings.Contains(s, part) {
				t.Fatalf("%q: part %q not in input", s, part)
			}
		}
		if u.Scheme == SchemeURN {
			return
		}
		u2, err := ParseURI(u.String())
		if err != nil {
			t.Fatalf("%q rebuilt as %q does not parse: %v", s, u.String(), err)
		}
		if u2 != u && !(u.Scheme == SchemeTel || u.Scheme == SchemeTels) {
			t.Fatalf("%q: rebuilt %q parses differently: %+v vs %+v", s, u.String(), u2, u)
		}
	})
}

func FuzzParseNameAddr(f *testing.F) {
	for _, s := range []string{"<sip:alice@127.0.0.1>;tag=1", `"A \" B" <sip:x>;tag="q;r"`, "sip:x;tag=1", "Bob <sip:b>", "<"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		na, err := ParseNameAddr(s)
		if err != nil {
			return
		}
		if na.URI == "" || !strings.Contains(s, na.URI) || !strings.Contains(s, na.Display) || !strings.Contains(s, na.Tag) {
			t.Fatalf("%q: %+v", s, na)
		}
	})
}

func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{`Digest username="a@b", realm="r", nonce="n", uri="sip:b", response="x"`,
		"Digest a=b,c=\"d\"", "Digest ,", "Basic x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCredentials(s)
		if err != nil {
			return
		}
		for _, p := range []string{c.Username, c.User, c.Domain, c.Realm, c.Nonce, c.URI, c.Response} {
			if !strings.Contains(s, p) {
				t.Fatalf("%q: %q not in input", s, p)
			}
		}
	})
}
