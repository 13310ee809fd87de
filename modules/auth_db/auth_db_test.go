package auth_db_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/modules/auth"
	_ "github.com/sipht/sipht/modules/auth_db"
	_ "github.com/sipht/sipht/modules/internal/modtest"
)

const realm = "example.com"

// seedUsers adds the test subscribers: alice/secret and bob/bobpass in
// example.com (as `kamctl add` / `sipht user add` do: ha1, ha1b and the
// plain password).
func seedUsers(t testing.TB, d *db.DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := d.Init(ctx, db.Subscriber("subscriber")); err != nil {
		t.Fatal(err)
	}
	subs := db.NewSubscribers(d, "subscriber")
	for _, u := range [][2]string{{"alice", "secret"}, {"bob", "bobpass"}} {
		if err := subs.AddUser(ctx, u[0], realm, u[1], db.AddOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// authConfig is the test config: X-Test selects what the request does.
func authConfig(dbURL string, extra string) string {
	return `#!KAMAILIO
listen=udp:127.0.0.1:0
children=2
loadmodule "modtest"
loadmodule "auth"
loadmodule "auth_db"
modparam("auth", "secret", "test-secret")
modparam("auth_db", "db_url", "` + dbURL + `")
` + extra + `
request_route {
	if (t_hdr("X-Test", "check")) {
		auth_check("` + realm + `", "subscriber", "1");
		t_route_reply("299");
		exit;
	}
	if (t_hdr("X-Test", "www")) {
		www_authenticate("` + realm + `", "subscriber");
		t_route_reply("299");
		exit;
	}
	if (t_hdr("X-Test", "proxy")) {
		proxy_authenticate("` + realm + `", "subscriber");
		t_route_reply("299");
		exit;
	}
	if (t_hdr("X-Test", "sub")) {
		is_subscriber("sip:alice@` + realm + `", "subscriber", "1");
		t_route_reply("299");
		exit;
	}
	if (t_hdr("X-Test", "nosub")) {
		is_subscriber("sip:nobody@` + realm + `", "subscriber", "3");
		t_route_reply("299");
		exit;
	}
	auth_challenge("` + realm + `", "$var(flags)");
}
`
}

// rcOf returns the rc of a "299 rc=N ..." reply.
func rcOf(t testing.TB, reply string) int {
	t.Helper()
	var rc int
	if _, err := fmt.Sscanf(reply, "SIP/2.0 299 rc=%d", &rc); err != nil {
		t.Fatalf("not a 299 rc reply: %q", firstLine(reply))
	}
	return rc
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

// client sends requests with digest credentials.
type client struct {
	t   testing.TB
	c   *servertest.Client
	uri string
}

func request(method, uri, user string, hdrs ...string) string {
	return requestFromTo(method, uri, user, user, hdrs...)
}

func requestFromTo(method, uri, from, to string, hdrs ...string) string {
	seq := time.Now().UnixNano()
	return fmt.Sprintf("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK-%d;rport\r\n"+
		"From: <sip:%s@%s>;tag=f%d\r\nTo: <sip:%s@%s>\r\nCall-ID: c%d@test\r\nCSeq: 1 %s\r\nMax-Forwards: 70\r\n%s"+
		"Content-Length: 0\r\n\r\n", method, uri, seq, from, realm, seq, to, realm, seq, method, headers(hdrs))
}

func headers(h []string) string {
	var b strings.Builder
	for _, x := range h {
		b.WriteString(x)
		b.WriteString("\r\n")
	}
	return b.String()
}

// challenge gets a nonce from the server.
func (c *client) challenge() string {
	c.t.Helper()
	r := c.c.Do(c.t, request("REGISTER", c.uri, "alice"))
	if servertest.Status(r) != 401 {
		c.t.Fatalf("challenge: %q", firstLine(r))
	}
	m := nonceRE.FindStringSubmatch(r)
	if m == nil {
		c.t.Fatalf("no nonce in %q", r)
	}
	return m[1]
}

type digestOpts struct {
	user, pass, realm, nonce, method, uri, alg, qop string
	ha1                                             string
}

func credentials(t testing.TB, o digestOpts) string {
	t.Helper()
	chal := fmt.Sprintf(`Digest realm="%s", nonce="%s"`, o.realm, o.nonce)
	if o.alg != "" {
		chal += ", algorithm=" + o.alg
	}
	if o.qop != "" {
		chal += `, qop="` + o.qop + `"`
	}
	ch, err := digest.ParseChallenge(chal)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := digest.Digest(ch, digest.Options{Method: o.method, URI: o.uri, Username: o.user, Password: o.pass,
		Count: 1, Cnonce: "0a4f113b", A1: o.ha1})
	if err != nil {
		t.Fatal(err)
	}
	s := cr.String()
	if o.alg == "" {
		// icholy/digest writes algorithm=MD5; Kamailio's UAs usually do not
		s = strings.Replace(s, ", algorithm=MD5", "", 1)
	}
	return s
}

func startAuth(t *testing.T, dbURL, extra string) (*servertest.Running, *client) {
	t.Helper()
	r := servertest.Start(t, authConfig(dbURL, extra))
	return r, &client{t: t, c: servertest.Dial(t, r.UDP), uri: "sip:" + realm}
}

func TestAuthCheckCases(t *testing.T) {
	b := dbtest.SQLite(t)
	seedUsers(t, b.DB)
	runAuthCases(t, b.URL)
}

// TestAuthCheckOtherDatabases runs the same cases with the subscriber
// table on MariaDB/MySQL and PostgreSQL.
func TestAuthCheckOtherDatabases(t *testing.T) {
	for _, mk := range []func(testing.TB) *dbtest.Backend{dbtest.MySQL, dbtest.Postgres} {
		b := mk(t)
		t.Run(b.Name, func(t *testing.T) {
			seedUsers(t, b.DB)
			runAuthCases(t, b.URL)
		})
	}
}

func runAuthCases(t *testing.T, dbURL string) {
	_, cl := startAuth(t, dbURL, `modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")`)
	other, _ := auth.NewNonces(auth.NonceOptions{Secret: []byte("another secret")})
	past := time.Now().Add(-time.Hour)
	old, _ := auth.NewNonces(auth.NonceOptions{Secret: []byte("test-secret"), Now: func() time.Time { return past }})
	good := func(o digestOpts) digestOpts {
		if o.user == "" {
			o.user = "alice"
		}
		if o.pass == "" {
			o.pass = "secret"
		}
		if o.realm == "" {
			o.realm = realm
		}
		if o.method == "" {
			o.method = "REGISTER"
		}
		if o.uri == "" {
			o.uri = cl.uri
		}
		return o
	}
	cases := []struct {
		name   string
		method string
		from   string
		to     string
		hdr    func(nonce string) string // the credentials header line ("" = none)
		test   string
		want   int
	}{
		{name: "no credentials", hdr: nil, want: -5},
		{name: "valid", hdr: func(n string) string { return "Authorization: " + credentials(t, good(digestOpts{nonce: n})) }, want: 1},
		{name: "wrong password", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n, pass: "wrong"}))
		}, want: -2},
		{name: "unknown user", from: "carol", to: "carol", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n, user: "carol"}))
		}, want: -3},
		{name: "stale nonce", hdr: func(string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: old.New(nil)}))
		}, want: -4},
		{name: "nonce of another secret", hdr: func(string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: other.New(nil)}))
		}, want: -1},
		{name: "tampered nonce", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n[:len(n)-2] + "AA"}))
		}, want: -1},
		{name: "realm mismatch", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n, realm: "other.org"}))
		}, want: -5},
		{name: "qop=auth with nc and cnonce", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n, qop: "auth"}))
		}, want: 1},
		{name: "missing response", hdr: func(n string) string {
			return fmt.Sprintf(`Authorization: Digest username="alice", realm="%s", nonce="%s", uri="%s"`, realm, n, cl.uri)
		}, want: -1},
		{name: "qop without nc", hdr: func(n string) string {
			return fmt.Sprintf(`Authorization: Digest username="alice", realm="%s", nonce="%s", uri="%s", response="%s", qop=auth`,
				realm, n, cl.uri, strings.Repeat("0", 32))
		}, want: -1},
		{name: "malformed header", hdr: func(string) string { return `Authorization: Digest username="alice` }, want: -1},
		{name: "other scheme only", hdr: func(string) string { return `Authorization: Basic YWxpY2U6c2VjcmV0` }, want: -5},
		{name: "user mismatch with To (flag 1)", from: "bob", to: "bob", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n}))
		}, want: -8},
		{name: "From differs from To", from: "alice", to: "bob", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n}))
		}, want: -8},
		{name: "INVITE uses Proxy-Authorization", method: "INVITE", hdr: func(n string) string {
			return "Proxy-Authorization: " + credentials(t, good(digestOpts{nonce: n, method: "INVITE"}))
		}, want: 1},
		{name: "INVITE with Authorization only", method: "INVITE", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n, method: "INVITE"}))
		}, want: -5},
		{name: "response for another method", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n, method: "INVITE"}))
		}, want: -2},
		{name: "ACK without credentials", method: "ACK", want: 1},
		{name: "CANCEL without credentials", method: "CANCEL", want: 1},
		{name: "www_authenticate valid", test: "www", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n}))
		}, want: 1},
		{name: "www_authenticate does no identity check", test: "www", from: "bob", to: "bob", hdr: func(n string) string {
			return "Authorization: " + credentials(t, good(digestOpts{nonce: n}))
		}, want: 1},
		{name: "proxy_authenticate for a REGISTER", test: "proxy", hdr: func(n string) string {
			return "Proxy-Authorization: " + credentials(t, good(digestOpts{nonce: n}))
		}, want: 1},
		{name: "PRACK is not challenged", test: "proxy", method: "PRACK", want: 1},
		{name: "is_subscriber found", test: "sub", want: 1},
		{name: "is_subscriber not found", test: "nosub", want: -2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = "REGISTER"
			}
			from, to := tc.from, tc.to
			if from == "" {
				from, to = "alice", "alice"
			}
			test := tc.test
			if test == "" {
				test = "check"
			}
			hdrs := []string{"X-Test: " + test}
			if tc.hdr != nil {
				hdrs = append(hdrs, tc.hdr(cl.challenge()))
			}
			uri := cl.uri
			r := cl.c.Do(t, requestFromTo(method, uri, from, to, hdrs...))
			if got := rcOf(t, r); got != tc.want {
				t.Errorf("rc %d, want %d", got, tc.want)
			}
		})
	}
}

func TestChallengeShape(t *testing.T) {
	b := dbtest.SQLite(t)
	seedUsers(t, b.DB)
	for _, tc := range []struct {
		extra, flags, method, want string
		code                       int
	}{
		{"", "0", "REGISTER", `WWW-Authenticate: Digest realm="example.com", nonce="N"`, 401},
		{"", "1", "REGISTER", `WWW-Authenticate: Digest realm="example.com", nonce="N", qop="auth"`, 401},
		{"", "2", "REGISTER", `WWW-Authenticate: Digest realm="example.com", nonce="N", qop="auth-int"`, 401},
		{"", "16", "REGISTER", `WWW-Authenticate: Digest realm="example.com", nonce="N", stale=true`, 401},
		{"", "17", "REGISTER", `WWW-Authenticate: Digest realm="example.com", nonce="N", qop="auth", stale=true`, 401},
		{"", "0", "INVITE", `Proxy-Authenticate: Digest realm="example.com", nonce="N"`, 407},
		{`modparam("auth", "algorithm", "SHA-256")`, "0", "REGISTER", `WWW-Authenticate: Digest realm="example.com", nonce="N", algorithm=SHA-256`, 401},
		{`modparam("auth", "algorithm", "MD5")`, "1", "MESSAGE", `Proxy-Authenticate: Digest realm="example.com", nonce="N", qop="auth", algorithm=MD5`, 407},
	} {
		t.Run(tc.flags+tc.method+tc.extra, func(t *testing.T) {
			r := servertest.Start(t, strings.Replace(authConfig(b.URL, tc.extra), `$var(flags)`, tc.flags, 1))
			c := servertest.Dial(t, r.UDP)
			rep := c.Do(t, request(tc.method, "sip:"+realm, "alice"))
			if servertest.Status(rep) != tc.code {
				t.Fatalf("status %q", firstLine(rep))
			}
			name := "WWW-Authenticate"
			if tc.code == 407 {
				name = "Proxy-Authenticate"
			}
			got := name + ": " + nonceRE.ReplaceAllString(servertest.Header(rep, name), `nonce="N"`)
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
