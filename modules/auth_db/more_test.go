package auth_db_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/modules/auth"
)

// checkRC sends a REGISTER with X-Test: check and the credentials made by
// mk from a fresh nonce, and returns the rc.
func checkRC(t *testing.T, cl *client, test string, mk func(nonce string) string) int {
	t.Helper()
	hdrs := []string{"X-Test: " + test}
	if mk != nil {
		hdrs = append(hdrs, mk(cl.challenge()))
	}
	return rcOf(t, cl.c.Do(t, request("REGISTER", cl.uri, "alice", hdrs...)))
}

func TestSHA256(t *testing.T) {
	b := dbtest.SQLite(t)
	seedUsers(t, b.DB)
	_, cl := startAuth(t, b.URL, `modparam("auth", "algorithm", "SHA-256")
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")`)
	for _, tc := range []struct {
		name string
		o    digestOpts
		want int
	}{
		{"valid", digestOpts{pass: "secret", alg: "SHA-256"}, 1},
		{"wrong password", digestOpts{pass: "nope", alg: "SHA-256"}, -2},
		{"MD5 response to a SHA-256 challenge", digestOpts{pass: "secret"}, -1},
		{"qop=auth", digestOpts{pass: "secret", alg: "SHA-256", qop: "auth"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := checkRC(t, cl, "check", func(n string) string {
				o := tc.o
				o.user, o.realm, o.nonce, o.method, o.uri = "alice", realm, n, "REGISTER", cl.uri
				return "Authorization: " + credentials(t, o)
			})
			if rc != tc.want {
				t.Errorf("rc %d, want %d", rc, tc.want)
			}
		})
	}
}

// TestHA1Columns: with calculate_ha1=0 the ha1 column is used, and the
// ha1b column for usernames carrying @domain.
func TestHA1Columns(t *testing.T) {
	b := dbtest.SQLite(t)
	seedUsers(t, b.DB)
	_, cl := startAuth(t, b.URL, "")
	for _, tc := range []struct {
		name, user, pass string
		want             int
	}{
		{"ha1", "alice", "secret", 1},
		{"ha1 wrong", "alice", "bad", -2},
		{"ha1b with user@domain", "alice@" + realm, "secret", 1},
		{"ha1b wrong", "alice@" + realm, "bad", -2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := checkRC(t, cl, "www", func(n string) string {
				return "Authorization: " + credentials(t, digestOpts{user: tc.user, pass: tc.pass, realm: realm, nonce: n, method: "REGISTER", uri: cl.uri})
			})
			if rc != tc.want {
				t.Errorf("rc %d, want %d", rc, tc.want)
			}
		})
	}
}

func TestLoadCredentials(t *testing.T) {
	b := dbtest.SQLite(t)
	seedUsers(t, b.DB)
	for _, force := range []string{"0", "1"} {
		t.Run("force_generate_avps="+force, func(t *testing.T) {
			cfg := `#!KAMAILIO
listen=udp:127.0.0.1:0
loadmodule "modtest"
loadmodule "auth"
loadmodule "auth_db"
modparam("auth_db", "db_url", "` + b.URL + `")
modparam("auth_db", "load_credentials", "$avp(pw)=password; domain")
modparam("auth_db", "force_generate_avps", ` + force + `)
request_route {
	if (t_hdr("X-Test", "check")) {
		www_authenticate("` + realm + `", "subscriber");
		t_reply("299", "rc=$rc pw=$avp(pw) domain=$avp(domain)");
		exit;
	}
	auth_challenge("` + realm + `", "0");
}
`
			r := servertest.Start(t, cfg)
			cl := &client{t: t, c: servertest.Dial(t, r.UDP), uri: "sip:" + realm}
			for _, pass := range []string{"secret", "wrong"} {
				n := cl.challenge()
				rep := cl.c.Do(t, request("REGISTER", cl.uri, "alice", "X-Test: check",
					"Authorization: "+credentials(t, digestOpts{user: "alice", pass: pass, realm: realm, nonce: n, method: "REGISTER", uri: cl.uri})))
				got := strings.TrimPrefix(firstLine(rep), "SIP/2.0 299 ")
				want := "rc=1 pw=secret domain=example.com"
				if pass == "wrong" {
					want = "rc=-2 pw=<null> domain=<null>"
					if force == "1" {
						want = "rc=-2 pw=secret domain=example.com"
					}
				}
				if got != want {
					t.Errorf("%s: got %q, want %q", pass, got, want)
				}
			}
		})
	}
}

func loadErr(t *testing.T, cfg string) error {
	t.Helper()
	return loadErrWithin(t, cfg, 20*time.Second)
}

func loadErrWithin(t *testing.T, cfg string, d time.Duration) error {
	t.Helper()
	srv, err := server.Load(server.Options{Source: []byte(cfg), SourceName: "t.cfg", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-srv.Ready():
		cancel()
		<-done
		return nil
	}
}

func minimalConfig(dbURL, extra string) string {
	return `#!KAMAILIO
listen=udp:127.0.0.1:0
loadmodule "auth"
loadmodule "auth_db"
modparam("auth_db", "db_url", "` + dbURL + `")
` + extra + `
request_route {
	auth_check("example.com", "subscriber", "1");
}
`
}

// TestStartChecks: the subscriber table version is checked at start with a
// clear error; on SQLite a missing table is created.
func TestStartChecks(t *testing.T) {
	t.Run("sqlite creates a missing table", func(t *testing.T) {
		b := dbtest.SQLite(t)
		if err := loadErr(t, minimalConfig(b.URL, "")); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := b.DB.TableVersion(context.Background(), "subscriber"); err != nil || !ok || v != 7 {
			t.Errorf("subscriber version %d %v %v, want 7", v, ok, err)
		}
	})
	t.Run("old version", func(t *testing.T) {
		b := dbtest.SQLite(t)
		seedUsers(t, b.DB)
		b.Exec(t, "UPDATE version SET table_version=6 WHERE table_name='subscriber'")
		err := loadErr(t, minimalConfig(b.URL, ""))
		var se *db.SchemaError
		if !errors.As(err, &se) || !strings.Contains(err.Error(), `table "subscriber"`) || !strings.Contains(err.Error(), "version 6") {
			t.Fatalf("error %v, want a schema error naming the table and its version", err)
		}
		t.Logf("old version: %v", err)
		if err := loadErr(t, minimalConfig(b.URL, `modparam("auth_db", "version_table", 0)`)); err != nil {
			t.Errorf("version_table=0: %v", err)
		}
	})
	t.Run("postgres missing table", func(t *testing.T) {
		u := dbtest.URL(t, db.Postgres)
		err := loadErr(t, minimalConfig(u, ""))
		if !errors.Is(err, db.ErrMissingTable) {
			t.Fatalf("error %v, want a missing table error", err)
		}
		t.Logf("missing table: %v", err)
	})
	t.Run("unreachable server names the host", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		// the server retries until it is stopped (here after 2 s)
		err = loadErrWithin(t, minimalConfig("mysql://u:pw-xyz@"+addr+"/kamailio?connect_timeout=1", ""), 2*time.Second)
		if err == nil || !strings.Contains(err.Error(), addr) {
			t.Fatalf("error %v, want one naming %s", err, addr)
		}
		t.Logf("unreachable: %v", err)
	})
	t.Run("bad db_url is a config error", func(t *testing.T) {
		_, err := server.Load(server.Options{Source: []byte(minimalConfig("nosuch://x", "")), SourceName: "t.cfg", Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), "db_url") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("auth module missing", func(t *testing.T) {
		_, err := server.Load(server.Options{Source: []byte(strings.Replace(minimalConfig("sqlite:///tmp/x.db", ""), `loadmodule "auth"`+"\n", "", 1)), SourceName: "t.cfg", Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), `loadmodule "auth.so"`) {
			t.Fatalf("error %v", err)
		}
	})
}

// TestDatabaseStall: a query that does not finish within query_timeout
// makes the function return -1 (and log) instead of blocking the worker.
func TestDatabaseStall(t *testing.T) {
	b := dbtest.Postgres(t)
	seedUsers(t, b.DB)
	r, cl := startAuth(t, b.URL, `modparam("auth_db", "query_timeout", 300)
modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")`)
	raw := b.Raw(t)
	ctx := context.Background()
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "LOCK TABLE subscriber IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	rc := checkRC(t, cl, "check", func(n string) string {
		return "Authorization: " + credentials(t, digestOpts{user: "alice", pass: "secret", realm: realm, nonce: n, method: "REGISTER", uri: cl.uri})
	})
	if rc != -1 {
		t.Errorf("rc %d with the table locked, want -1", rc)
	}
	if !strings.Contains(r.Logs.String(), "no answer from postgres") {
		t.Errorf("no log line about the stalled query:\n%s", r.Logs.String())
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	rc = checkRC(t, cl, "check", func(n string) string {
		return "Authorization: " + credentials(t, digestOpts{user: "alice", pass: "secret", realm: realm, nonce: n, method: "REGISTER", uri: cl.uri})
	})
	if rc != 1 {
		t.Errorf("rc %d after the lock is released, want 1", rc)
	}
}

// TestPasswordChangeIsImmediate: no cache, a new password works at once.
func TestPasswordChangeIsImmediate(t *testing.T) {
	b := dbtest.SQLite(t)
	seedUsers(t, b.DB)
	_, cl := startAuth(t, b.URL, `modparam("auth_db", "calculate_ha1", 1)
modparam("auth_db", "password_column", "password")`)
	login := func(pass string) int {
		return checkRC(t, cl, "check", func(n string) string {
			return "Authorization: " + credentials(t, digestOpts{user: "alice", pass: pass, realm: realm, nonce: n, method: "REGISTER", uri: cl.uri})
		})
	}
	if rc := login("secret"); rc != 1 {
		t.Fatalf("rc %d", rc)
	}
	if err := db.NewSubscribers(b.DB, "").SetPassword(context.Background(), "alice", realm, "changed", db.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if rc := login("secret"); rc != -2 {
		t.Errorf("old password after the change: rc %d, want -2", rc)
	}
	if rc := login("changed"); rc != 1 {
		t.Errorf("new password: rc %d, want 1", rc)
	}
}

func TestPVAuthAndConsume(t *testing.T) {
	cfg := `#!KAMAILIO
listen=udp:127.0.0.1:0
loadmodule "modtest"
loadmodule "auth"
modparam("auth", "secret", "test-secret")
request_route {
	if (t_hdr("X-Test", "pv")) {
		pv_www_authenticate("` + realm + `", "secret", "0");
		t_reply("299", "rc=$rc");
		exit;
	}
	if (t_hdr("X-Test", "pvha1")) {
		pv_www_authenticate("` + realm + `", "` + ha1(realm) + `", "1");
		t_reply("299", "rc=$rc");
		exit;
	}
	if (t_hdr("X-Test", "pvproxy")) {
		pv_proxy_authenticate("` + realm + `", "secret", "4");
		$var(rc) = $rc;
		t_reply("299", "rc=$var(rc) chal=$(avp(digest_challenge){s.len})");
		exit;
	}
	if (t_hdr("X-Test", "pvstale")) {
		pv_www_authenticate("` + realm + `", "secret", "2");
		$var(rc) = $rc;
		if ($avp(digest_challenge) =~ "stale=true") {
			t_reply("299", "rc=$var(rc) stale");
		} else {
			t_reply("299", "rc=$var(rc) fresh");
		}
		exit;
	}
	if (t_hdr("X-Test", "getwww")) {
		auth_get_www_authenticate("` + realm + `", "1", "$var(h)");
		if ($var(h) =~ "^WWW-Authenticate: Digest realm=\"` + realm + `\", nonce=\"[^\"]+\", qop=\"auth\"\r\n$") {
			t_reply("299", "rc=$rc ok");
		} else {
			t_reply("299", "rc=$rc bad");
		}
		exit;
	}
	if (t_hdr("X-Test", "pvcheck")) {
		pv_auth_check("` + realm + `", "secret", "0", "1");
		t_reply("299", "rc=$rc");
		exit;
	}
	if (t_hdr("X-Test", "has")) {
		has_credentials("` + realm + `");
		t_reply("299", "rc=$rc");
		exit;
	}
	if (t_hdr("X-Test", "consume")) {
		consume_credentials();
		t_reply("299", "rc=$rc");
		exit;
	}
	if (t_hdr("X-Test", "fwd")) {
		pv_proxy_authenticate("` + realm + `", "secret", "0");
		consume_credentials();
		t_forward();
		exit;
	}
	auth_challenge("` + realm + `", "0");
}
`
	r := servertest.Start(t, cfg)
	cl := &client{t: t, c: servertest.Dial(t, r.UDP), uri: "sip:" + realm}
	cred := func(kind, method, pass string) func(string) string {
		return func(n string) string {
			return kind + ": " + credentials(t, digestOpts{user: "alice", pass: pass, realm: realm, nonce: n, method: method, uri: cl.uri})
		}
	}
	if rc := checkRC(t, cl, "pv", cred("Authorization", "REGISTER", "secret")); rc != 1 {
		t.Errorf("pv_www_authenticate: %d", rc)
	}
	if rc := checkRC(t, cl, "pv", cred("Authorization", "REGISTER", "bad")); rc != -2 {
		t.Errorf("pv_www_authenticate bad password: %d", rc)
	}
	if rc := checkRC(t, cl, "pvha1", cred("Authorization", "REGISTER", "secret")); rc != 1 {
		t.Errorf("pv_www_authenticate with HA1: %d", rc)
	}
	if rc := checkRC(t, cl, "pvcheck", cred("Authorization", "REGISTER", "secret")); rc != 1 {
		t.Errorf("pv_auth_check: %d", rc)
	}
	if rc := checkRC(t, cl, "has", cred("Authorization", "REGISTER", "x")); rc != 1 {
		t.Errorf("has_credentials: %d", rc)
	}
	if rc := checkRC(t, cl, "has", nil); rc != -1 {
		t.Errorf("has_credentials without: %d", rc)
	}
	if rc := checkRC(t, cl, "consume", nil); rc != -1 {
		t.Errorf("consume_credentials without authentication: %d", rc)
	}
	past := time.Now().Add(-time.Hour)
	old, _ := auth.NewNonces(auth.NonceOptions{Secret: []byte("test-secret"), Now: func() time.Time { return past }})
	rep := cl.c.Do(t, request("REGISTER", cl.uri, "alice", "X-Test: pvstale",
		"Authorization: "+credentials(t, digestOpts{user: "alice", pass: "secret", realm: realm, nonce: old.New(nil), method: "REGISTER", uri: cl.uri})))
	if got := firstLine(rep); got != "SIP/2.0 299 rc=-4 stale" {
		t.Errorf("pv_www_authenticate with a stale nonce and flag 2: %q, want the challenge AVP with stale=true", got)
	}
	rep = cl.c.Do(t, request("REGISTER", cl.uri, "alice", "X-Test: pvstale"))
	if got := firstLine(rep); got != "SIP/2.0 299 rc=-5 fresh" {
		t.Errorf("pv_www_authenticate without credentials and flag 2: %q", got)
	}
	if got := firstLine(cl.c.Do(t, request("REGISTER", cl.uri, "alice", "X-Test: getwww"))); got != "SIP/2.0 299 rc=1 ok" {
		t.Errorf("auth_get_www_authenticate: %q", got)
	}
	rep = cl.c.Do(t, request("REGISTER", cl.uri, "alice", "X-Test: pvproxy"))
	if got := firstLine(rep); !strings.HasPrefix(got, "SIP/2.0 299 rc=-5 chal=") || strings.HasSuffix(got, "chal=0") {
		t.Errorf("pv_proxy_authenticate with flag 4 and no credentials: %q (want rc=-5 and a challenge AVP)", got)
	}

	// consume_credentials removes the header before forwarding
	phone, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	n := cl.challenge()
	msg := requestFromTo("MESSAGE", "sip:bob@"+phone.LocalAddr().String(), "alice", "bob", "X-Test: fwd",
		"Proxy-Authorization: "+credentials(t, digestOpts{user: "alice", pass: "secret", realm: realm, nonce: n, method: "MESSAGE", uri: cl.uri}),
		`Proxy-Authorization: Digest username="x", realm="other.org", nonce="n", uri="u", response="r"`)
	cl.c.Send(t, msg)
	phone.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	k, _, err := phone.ReadFrom(buf)
	if err != nil {
		t.Fatalf("nothing forwarded: %v", err)
	}
	fwd := string(buf[:k])
	if strings.Contains(fwd, `realm="`+realm+`"`) {
		t.Errorf("the used credentials were forwarded:\n%s", fwd)
	}
	if !strings.Contains(fwd, `realm="other.org"`) {
		t.Errorf("the other realm's credentials were removed too:\n%s", fwd)
	}
}

func ha1(realm string) string {
	var buf [64]byte
	return string(auth.MD5.HA1(buf[:], "alice", realm, "secret"))
}

// TestAuthInfoHeader: with add_authinfo_hdr the 200 OK of save() carries
// Authentication-Info (rspauth is the response digest with an empty
// method).
func TestAuthInfoHeader(t *testing.T) {
	b := dbtest.SQLite(t)
	seedUsers(t, b.DB)
	r := servertest.Start(t, `#!KAMAILIO
listen=udp:127.0.0.1:0
loadmodule "modtest"
loadmodule "auth"
loadmodule "auth_db"
loadmodule "usrloc"
loadmodule "registrar"
modparam("auth", "add_authinfo_hdr", 1)
modparam("auth_db", "db_url", "`+b.URL+`")
request_route {
	if (!auth_check("`+realm+`", "subscriber", "1")) {
		auth_challenge("`+realm+`", "1");
		exit;
	}
	save("location");
}
`)
	cl := &client{t: t, c: servertest.Dial(t, r.UDP), uri: "sip:" + realm}
	n := cl.challenge()
	rep := cl.c.Do(t, request("REGISTER", cl.uri, "alice", "Contact: <sip:alice@127.0.0.2>",
		"Authorization: "+credentials(t, digestOpts{user: "alice", pass: "secret", realm: realm, nonce: n, method: "REGISTER", uri: cl.uri, qop: "auth"})))
	if servertest.Status(rep) != 200 {
		t.Fatalf("%s", rep)
	}
	var buf [64]byte
	ha1 := string(auth.MD5.HA1(buf[:], "alice", realm, "secret"))
	cr := auth.Credentials{Nonce: n, URI: cl.uri, NC: "00000001", CNonce: "0a4f113b", QOPText: "auth", QOP: auth.QOPAuth}
	rsp := string(auth.MD5.Response(buf[:], ha1, &cr, "", nil))
	want := `nextnonce="` + n + `", qop=auth, rspauth="` + rsp + `", cnonce="0a4f113b", nc=00000001`
	if got := servertest.Header(rep, "Authentication-Info"); got != want {
		t.Errorf("Authentication-Info:\n got %s\nwant %s", got, want)
	}
	// the modules' metrics
	mfs, err := r.Srv.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range mt.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			if c := mt.GetCounter(); c != nil {
				got[key] = c.GetValue()
			} else if g := mt.GetGauge(); g != nil {
				got[key] = g.GetValue()
			}
		}
	}
	for k, v := range map[string]float64{
		"sipht_auth_results_total,result=ok":             1,
		"sipht_auth_results_total,result=no_credentials": 1,
		"sipht_auth_challenges_total,code=401":           1,
		"sipht_registrar_accepted_total":                 1,
		"sipht_registrar_rejected_total":                 0,
		"sipht_usrloc_contacts,table=location":           1,
		"sipht_usrloc_records,table=location":            1,
		"sipht_usrloc_expired_contacts_total":            0,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
