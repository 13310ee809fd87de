package webui_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/icholy/digest"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	_ "github.com/sipht/sipht/modules/all"
)

// realm is the digest realm of the test config (the seed config uses $fd).
const realm = "example.com"

// subscribers returns the db_url of a new SQLite database whose
// subscriber table holds alice/secret (as `kamctl add` writes it).
func subscribers(t *testing.T) string {
	t.Helper()
	b := dbtest.SQLite(t)
	ctx := context.Background()
	if _, err := b.DB.Init(ctx, db.Subscriber("subscriber")); err != nil {
		t.Fatal(err)
	}
	if err := db.NewSubscribers(b.DB, "subscriber").AddUser(ctx, "alice", realm, "secret", db.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	return b.URL
}

// webuiConfig is the seed config's authentication with its failure
// counter and its HTTP part, on free loopback ports, with the webui
// modparam lines given: a source whose AuthCount is above 5 gets 429, a
// failed auth_check counts and gets auth_challenge's 401, a good one
// clears the count (200), OPTIONS get 200. (test/e2e's TestBrowser runs
// the page on examples/seed.cfg itself, in the sipht binary.)
func webuiConfig(t *testing.T, webui string) string {
	t.Helper()
	return `#!KAMAILIO
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
children=2
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "htable.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "xhttp_prom.so"
loadmodule "webui.so"
modparam("jsonrpcs", "transport", 1)
modparam("htable", "htable", "MessageCount=>size=12;initval=0")
modparam("htable", "htable", "AuthCount=>size=12;initval=0;autoexpire=360")
modparam("auth_db", "db_url", "` + subscribers(t) + `")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("auth_db", "use_domain", 0)
` + webui + `
request_route {
	if ($sht(AuthCount=>$si) > 5) {
		sl_send_reply("429", "Rate limiting");
		exit;
	}
	if ($rm == "OPTIONS") {
		sl_send_reply("200", "OK");
		exit;
	}
	if (!auth_check("` + realm + `", "subscriber", "1")) {
		$sht(AuthCount=>$si) = $sht(AuthCount=>$si) + 1;
		auth_challenge("` + realm + `", "0");
		exit;
	}
	$sht(AuthCount=>$si) = $null;
	sl_send_reply("200", "OK");
	exit;
}

event_route[xhttp:request] {
	if ($hu =~ "^/RPC") {
		jsonrpc_dispatch();
		exit;
	}
	if ($hu =~ "^/metrics") {
		prom_dispatch();
		exit;
	}
	if ($hu =~ "^/ui/") {
		webui_dispatch();
		exit;
	}
	xhttp_reply("404", "Not Found", "text/plain", "Not Found: $hu\n");
	exit;
}
`
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

// register sends one REGISTER for alice from c: without credentials when
// nonce is "", else with digest credentials for password pass. It returns
// the status and the nonce of a 401's challenge.
func register(t *testing.T, c *servertest.Client, nonce, pass string) (int, string) {
	t.Helper()
	uri := "sip:alice@" + realm // servertest.Request writes it as To too: auth_check's flag 1 compares that user
	var hdrs []string
	if nonce != "" {
		ch, err := digest.ParseChallenge(`Digest realm="` + realm + `", nonce="` + nonce + `"`)
		if err != nil {
			t.Fatal(err)
		}
		cr, err := digest.Digest(ch, digest.Options{Method: "REGISTER", URI: uri, Username: "alice", Password: pass})
		if err != nil {
			t.Fatal(err)
		}
		hdrs = append(hdrs, "Authorization: "+cr.String())
	}
	hdrs = append(hdrs, "Contact: <sip:alice@"+c.Addr()+">")
	rep := c.Do(t, servertest.Request("REGISTER", uri, hdrs, ""))
	n := ""
	if m := nonceRE.FindStringSubmatch(rep); m != nil {
		n = m[1]
	}
	return servertest.Status(rep), n
}

// failRegistrations makes n registration attempts from local (e.g.
// "127.0.0.5:0") with a wrong password, as a SIP client does: a REGISTER
// without credentials, then one answering the challenge, and so on. It
// returns the reply codes (each attempt is a failed authentication until
// the source is rate limited).
func failRegistrations(t *testing.T, r *servertest.Running, local string, n int) []int {
	t.Helper()
	c := servertest.DialFrom(t, local, r.UDP)
	var codes []int
	nonce := ""
	for i := 0; i < n; i++ {
		code, nn := register(t, c, nonce, "wrong")
		codes = append(codes, code)
		nonce = nn
	}
	return codes
}

func rpcGet(t *testing.T, r *servertest.Running, table, key string) string {
	t.Helper()
	return rpctest.PostRPC(t, r.TCP, rpctest.JSONRequest("htable.get", "1", `"`+table+`"`, `"`+key+`"`)).Body
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
}

func fetch(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServer runs the page through the whole server: the event route
// dispatches /ui/ to webui_dispatch(), the page reads the tables through
// the RPC registry, a delete made on the page is seen by JSON-RPC, and the
// request counts reach the chart.
func TestServer(t *testing.T) {
	r := servertest.Start(t, webuiConfig(t, `modparam("webui", "title", "edge-1 <lab>")`))
	if got := failRegistrations(t, r, "127.0.0.5:0", 7); !slices.Equal(got, []int{401, 401, 401, 401, 401, 401, 429}) {
		t.Fatalf("REGISTER replies %v, want six 401 then 429", got)
	}
	// the right password clears the count (the seed's $sht(AuthCount=>$si) = $null)
	c7 := servertest.DialFrom(t, "127.0.0.7:0", r.UDP)
	_, nonce := register(t, c7, "", "")
	code, nonce := register(t, c7, nonce, "wrong")
	if code != 401 || !strings.Contains(rpcGet(t, r, "AuthCount", "127.0.0.7"), `"value":	2`) {
		t.Fatalf("wrong password: %d, AuthCount %s", code, rpcGet(t, r, "AuthCount", "127.0.0.7"))
	}
	if code, _ := register(t, c7, nonce, "secret"); code != 200 || !strings.Contains(rpcGet(t, r, "AuthCount", "127.0.0.7"), "Key name doesn't exist") {
		t.Fatalf("right password: %d, AuthCount %s", code, rpcGet(t, r, "AuthCount", "127.0.0.7"))
	}

	base := "http://" + r.TCP
	c := client(t)
	code, b := fetch(t, c, mustReq(t, "GET", base+"/ui/", ""))
	if code != 200 || !strings.Contains(b, `<tr data-table="AuthCount">`) || !strings.Contains(b, `<title>edge-1 &lt;lab&gt;</title>`) {
		t.Fatalf("GET /ui/: %d\n%s", code, b)
	}
	code, b = fetch(t, c, mustReq(t, "GET", base+"/ui/table?t=AuthCount&q=127.0.0.5", ""))
	if code != 200 || !strings.Contains(b, `<tr data-key="127.0.0.5">`) {
		t.Fatalf("table page: %d\n%s", code, b)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(b)[1]
	form := url.Values{"t": {"AuthCount"}, "k": {"127.0.0.5"}, "csrf": {csrf}, "back": {"/ui/table?t=AuthCount"}}
	code, b = fetch(t, c, mustReq(t, "POST", base+"/ui/table/delete", form.Encode()))
	if code != 200 || !strings.Contains(b, `Deleted &#34;127.0.0.5&#34; from AuthCount.`) {
		t.Fatalf("delete: %d\n%s", code, b)
	}
	if got := rpcGet(t, r, "AuthCount", "127.0.0.5"); !strings.Contains(got, "Key name doesn't exist in htable.") {
		t.Fatalf("htable.get after the delete: %s", got)
	}
	// the source is forgiven: its next REGISTER is challenged again
	if got := failRegistrations(t, r, "127.0.0.5:0", 1); got[0] != 401 {
		t.Errorf("after the delete: %v", got)
	}
	// the chart's numbers come from the server's own counters
	fetch(t, c, mustReq(t, "GET", base+"/ui/api/stats", ""))
	failRegistrations(t, r, "127.0.0.6:0", 8)
	time.Sleep(1100 * time.Millisecond)
	code, b = fetch(t, c, mustReq(t, "GET", base+"/ui/api/stats", ""))
	if code != 200 || !regexp.MustCompile(`"rps":[1-9]`).MatchString(b) || !regexp.MustCompile(`"r429":[0-9.]*[1-9]`).MatchString(b) {
		t.Errorf("stats: %d %s", code, b)
	}
	// the web UI's calls are counted like any RPC transport's
	_, b = fetch(t, c, mustReq(t, "GET", base+"/metrics", ""))
	if !strings.Contains(b, `sipht_rpc_calls_total{method="htable.delete",outcome="ok",transport="webui"} 1`) {
		t.Errorf("metrics: no webui htable.delete call counted")
	}
}

func mustReq(t *testing.T, method, u, body string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req
}

// TestServerToken: with a token, the page asks every client for it, a
// ?token= link logs a browser in, and JSON-RPC is not affected.
func TestServerToken(t *testing.T) {
	r := servertest.Start(t, webuiConfig(t, `modparam("webui", "token", "s3cret-0123456789abcdef")`))
	base := "http://" + r.TCP
	c := client(t)
	if code, b := fetch(t, c, mustReq(t, "GET", base+"/ui/", "")); code != 401 || !strings.Contains(b, `name="token"`) {
		t.Fatalf("without the token: %d", code)
	}
	code, b := fetch(t, c, mustReq(t, "GET", base+"/ui/?token=s3cret-0123456789abcdef", ""))
	if code != 200 || !strings.Contains(b, `id="tables"`) {
		t.Fatalf("token link: %d\n%s", code, b)
	}
	req := mustReq(t, "GET", base+"/ui/api/stats", "")
	req.Header.Set("Authorization", "Bearer s3cret-0123456789abcdef")
	if code, _ := fetch(t, client(t), req); code != 200 {
		t.Fatalf("bearer: %d", code)
	}
	if !strings.Contains(rpcGet(t, r, "AuthCount", "x"), "Key name doesn't exist") {
		t.Error("JSON-RPC affected by the web UI token")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{`loadmodule "webui.so"`, `loadmodule "xhttp.so"`},
		{`loadmodule "xhttp.so"` + "\n" + `loadmodule "webui.so"` + "\n" + `modparam("webui", "password", "x")`, "user is not"},
		{`loadmodule "xhttp.so"` + "\n" + `loadmodule "webui.so"` + "\n" + `modparam("webui", "user", "a:b")` + "\n" + `modparam("webui", "password", "x")`, "':'"},
		{`loadmodule "xhttp.so"` + "\n" + `loadmodule "webui.so"` + "\n" + `modparam("webui", "user", "a")`, "empty password"},
		{`loadmodule "xhttp.so"` + "\n" + `loadmodule "webui.so"` + "\n" + `modparam("webui", "allow_remote", 2)`, "0 or 1"},
		{`loadmodule "xhttp.so"` + "\n" + `loadmodule "webui.so"` + "\n" + `modparam("webui", "page_size", 5000)`, "1 to 1000"},
	} {
		src := "#!KAMAILIO\nlisten=tcp:127.0.0.1:0\n" + c.cfg + "\nrequest_route { exit; }\n"
		_, err := server.Load(server.Options{Source: []byte(src), SourceName: "t.cfg", Logger: slog.New(slog.DiscardHandler)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.cfg, err, c.want)
		}
	}
}
