package auth

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/icholy/digest"
)

func TestParseCredentials(t *testing.T) {
	cases := []struct {
		in   string
		res  ParseResult
		want Credentials
	}{
		{`Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="0123"`, ParseOK,
			Credentials{Username: "alice", User: "alice", Realm: "example.com", Nonce: "abc", URI: "sip:example.com", Response: "0123",
				Has: HasUsername | HasRealm | HasNonce | HasURI | HasResponse}},
		{`digest USERNAME = "bob@b.org" ,realm=b.org,qop=auth,nc=00000001,cnonce="x,y",algorithm=MD5,opaque=""`, ParseOK,
			Credentials{Username: "bob@b.org", User: "bob", Domain: "b.org", Realm: "b.org", QOPText: "auth", QOP: QOPAuth,
				NC: "00000001", CNonce: "x,y", Algorithm: "MD5", Has: HasUsername | HasRealm | HasQOP | HasNC | HasCNonce | HasAlgorithm | HasOpaque}},
		{"\t Digest\tusername=\"sip:carol@c\", qop=\"AUTH-INT\", foo=\"bar\", realm=\"c\"", ParseOK,
			Credentials{Username: "sip:carol@c", User: "carol", Domain: "c", QOPText: "AUTH-INT", QOP: QOPAuthInt, Realm: "c",
				Has: HasUsername | HasQOP | HasRealm}},
		{`Digest username="ab", qop=token`, ParseOK,
			Credentials{Username: "ab", User: "ab", QOPText: "token", QOP: QOPOther, Has: HasUsername | HasQOP}},
		{`Digest realm="r", realm="s"`, ParseOK, Credentials{Realm: "s", Has: HasRealm}},
		{`Basic YWxpY2U6c2VjcmV0`, ParseNotDigest, Credentials{}},
		{`Digest`, ParseNotDigest, Credentials{}},
		{`Digestive username="a"`, ParseNotDigest, Credentials{}},
		{`Digest `, ParseMalformed, Credentials{}},
		{`Digest username`, ParseMalformed, Credentials{}},
		{`Digest username="unterminated`, ParseMalformed, Credentials{}},
		{`Digest username=, realm="x"`, ParseMalformed, Credentials{}},
		{`Digest username=`, ParseMalformed, Credentials{}},
	}
	for _, tc := range cases {
		var c Credentials
		res := ParseCredentials(tc.in, &c)
		if res != tc.res {
			t.Errorf("%q: result %d, want %d", tc.in, res, tc.res)
			continue
		}
		if c != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, c, tc.want)
		}
	}
}

// TestResponseMatchesIcholyDigest checks the response computation against
// an independent client implementation for MD5 and SHA-256, with and
// without qop.
func TestResponseMatchesIcholyDigest(t *testing.T) {
	for _, alg := range []Algorithm{MD5, SHA256} {
		for _, qop := range []string{"", "auth", "auth-int"} {
			chal := `Digest realm="example.com", nonce="n0nce", algorithm=` + alg.String()
			if qop != "" {
				chal += `, qop="` + qop + `"`
			}
			ch, err := digest.ParseChallenge(chal)
			if err != nil {
				t.Fatal(err)
			}
			body := []byte("v=0\r\n")
			cred, err := digest.Digest(ch, digest.Options{Method: "REGISTER", URI: "sip:example.com", Username: "alice",
				Password: "secret", Count: 1, Cnonce: "c1",
				GetBody: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }})
			if err != nil {
				t.Fatal(err)
			}
			var c Credentials
			if res := ParseCredentials(cred.String(), &c); res != ParseOK {
				t.Fatalf("%s: parse %q: %d", alg, cred.String(), res)
			}
			var buf [64]byte
			ha1 := string(alg.HA1(buf[:], "alice", "example.com", "secret"))
			ok, malformed := alg.CheckResponse(ha1, &c, "REGISTER", body)
			if !ok || malformed {
				t.Errorf("%s qop=%q: response not accepted (%q)", alg, qop, cred.String())
			}
			bad := c
			bad.Response = strings.Repeat("0", alg.HexLen())
			if ok, _ := alg.CheckResponse(ha1, &bad, "REGISTER", body); ok {
				t.Errorf("%s: a wrong response was accepted", alg)
			}
			if _, malformed := alg.CheckResponse(ha1, &Credentials{Response: "abc"}, "REGISTER", nil); !malformed {
				t.Errorf("%s: short response not reported malformed", alg)
			}
		}
	}
}

func TestHA1Known(t *testing.T) {
	var buf [64]byte
	// printf 'alice:127.0.0.1:secret' | md5sum / sha256sum
	if got := string(MD5.HA1(buf[:], "alice", "127.0.0.1", "secret")); got != "18af59e93bb3331aac9fe77419a6ec78" {
		t.Errorf("MD5 HA1 %s", got)
	}
	if got := string(SHA256.HA1(buf[:], "alice", "127.0.0.1", "secret")); got != "a5db9f9d9c64855b97bb32be5251553d53d1de34baf1e917719e8bd0483639c0" {
		t.Errorf("SHA-256 HA1 %s", got)
	}
}

func FuzzParseCredentials(f *testing.F) {
	for _, s := range []string{
		`Digest username="alice", realm="example.com", nonce="abc", uri="sip:example.com", response="0123"`,
		`Digest username=alice,realm=x,qop=auth,nc=00000001,cnonce="a"`,
		`Basic abc`, `Digest `, `Digest a="`, `digest ,,,`, "Digest\r\n username=\"x\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var c Credentials
		res := ParseCredentials(s, &c)
		if res != ParseOK && c != (Credentials{}) {
			t.Fatalf("non-OK result %d left fields set", res)
		}
		if res == ParseOK {
			for _, v := range []string{c.Username, c.Realm, c.Nonce, c.URI, c.Response, c.CNonce, c.NC, c.QOPText, c.Algorithm, c.Opaque} {
				if !strings.Contains(s, v) {
					t.Fatalf("field %q is not a substring of the input", v)
				}
			}
			if c.User != "" && !strings.Contains(c.Username, c.User) {
				t.Fatalf("user %q not in username %q", c.User, c.Username)
			}
		}
	})
}
