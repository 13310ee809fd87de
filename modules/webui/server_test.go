package webui_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	_ "github.com/sipht/sipht/modules/all"
)

// tablesConfig loads the seed config's two tables: from the real htable
// module when it is compiled in, else from the test module's fake.
func tablesConfig() string {
	if _, ok := module.Lookup("htable"); ok {
		return `loadmodule "htable.so"
modparam("htable", "htable", "MessageCount=>size=12;initval=0")
modparam("htable", "htable", "AuthCount=>size=12;initval=0;autoexpire=360")
`
	}
	return `modparam("webuitest", "fake_htable", 1)
`
}

// cfgOpts shape the test config.
type cfgOpts struct {
	webui   string // modparam lines for webui
	pike    bool   // when pike is compiled in: load it and check every request
	dmqPort int    // when dmq is compiled in and > 0: a one-node DMQ on this UDP port
}

// compiledIn tells whether a module is compiled in (those not on main yet
// are used when they are).
func compiledIn(name string) bool {
	_, ok := module.Lookup(name)
	return ok
}

// webuiConfig is the seed config's HTTP part on free loopback ports, with
// the test module standing in for auth/registrar: REGISTERs are failed
// authentications counted in AuthCount (429 after five), OPTIONS get 200.
func webuiConfig(o cfgOpts) string {
	registerTestModule()
	udp := "0"
	mods, route := "", ""
	if o.dmqPort > 0 && compiledIn("dmq") {
		udp = strconv.Itoa(o.dmqPort)
		uri := "sip:127.0.0.1:" + udp
		mods += `loadmodule "dmq.so"
modparam("dmq", "server_address", "` + uri + `")
modparam("dmq", "notification_address", "` + uri + `")
`
	}
	if o.pike && compiledIn("pike") {
		// a long window keeps a flooder HOT for a while after it stops;
		// the chart's traffic sources (127.0.0.20-23) are never counted
		mods += `loadmodule "pike.so"
modparam("pike", "sampling_time_unit", 10)
modparam("pike", "reqs_density_per_unit", 30)
#!ifdef SIPHT
modparam("pike", "allow", "127.0.0.20/30")
#!endif
`
		route += `	if (!pike_check_req()) {
		exit;
	}
`
	}
	return `#!KAMAILIO
listen=udp:127.0.0.1:` + udp + `
listen=tcp:127.0.0.1:0
children=2
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "xhttp_prom.so"
loadmodule "webui.so"
loadmodule "webuitest.so"
modparam("jsonrpcs", "transport", 1)
` + tablesConfig() + mods + o.webui + `
request_route {
` + route + `	webuitest_auth_failed();
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

// failRegistrations sends n REGISTERs from local (e.g. "127.0.0.5:0") and
// returns the reply codes.
func failRegistrations(t *testing.T, r *servertest.Running, local string, n int) []int {
	t.Helper()
	c := servertest.DialFrom(t, local, r.UDP)
	var codes []int
	for i := 0; i < n; i++ {
		rep := c.Do(t, servertest.Request("REGISTER", "sip:127.0.0.1", []string{"Contact: <sip:alice@" + c.Addr() + ">"}, ""))
		codes = append(codes, servertest.Status(rep))
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
	r := servertest.Start(t, webuiConfig(cfgOpts{webui: `modparam("webui", "title", "edge-1 <lab>")` + "\n"}))
	if got := failRegistrations(t, r, "127.0.0.5:0", 7); !slices.Equal(got, []int{401, 401, 401, 401, 401, 401, 429}) {
		t.Fatalf("REGISTER replies %v, want six 401 then 429", got)
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
	r := servertest.Start(t, webuiConfig(cfgOpts{webui: `modparam("webui", "token", "s3cret-0123456789abcdef")` + "\n"}))
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
	registerTestModule()
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
