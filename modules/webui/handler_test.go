package webui

import (
	"encoding/json"
	"fmt"
	"github.com/sipht/sipht/internal/sipio"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/rpctest"
)

// env is a Handler on a registry holding the core methods, a fake htable
// (tables AuthCount and MessageCount), and optional fake pike and dmq
// methods.
type env struct {
	t   testing.TB
	h   *Handler
	reg *rpc.Registry
	ht  *rpctest.FakeHTable
	log *strings.Builder
}

type envOpt struct {
	cfg      Config
	noHTable bool
	withList bool // add a test htable.list (cursor "0:N") over the fake
	pike     bool
	dmq      bool
	gatherer prometheus.Gatherer
}

func newEnv(t testing.TB, o envOpt) *env {
	t.Helper()
	reg := rpc.NewRegistry()
	if err := rpc.RegisterCore(reg, rpc.CoreInfo{Version: "test"}); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, reg: reg, log: &strings.Builder{}}
	if !o.noHTable {
		e.ht = rpctest.NewFakeHTable(rpctest.TableDef{Name: "MessageCount", Size: 4},
			rpctest.TableDef{Name: "AuthCount", Size: 4, AutoExpire: 360})
		if err := e.ht.Register(reg); err != nil {
			t.Fatal(err)
		}
		if o.withList {
			reg.MustRegister(testListMethod(reg))
		}
	}
	if o.pike {
		reg.MustRegister(fakePike()...)
	}
	if o.dmq {
		reg.MustRegister(rpc.Method{Name: "dmq.list_nodes", Flags: rpc.RetArray, Handler: func(c *rpc.Call) {
			c.AddStruct().Str("host", "10.0.0.2").Str("port", "5060").Str("proto", "udp").Str("resolved_ip", "10.0.0.2").
				Str("status", "active").Int("last_notification", 0).Int("local", 0)
			c.AddStruct().Str("host", "127.0.0.1").Str("port", "5060").Str("proto", "*").Str("resolved_ip", "127.0.0.1").
				Str("status", "active").Int("last_notification", 0).Int("local", 1)
		}})
	}
	h, err := NewHandler(reg, o.gatherer, o.cfg, slog.New(slog.NewTextHandler(syncWriter{e.log}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	return e
}

type syncWriter struct{ b *strings.Builder }

func (w syncWriter) Write(p []byte) (int, error) { return w.b.Write(p) }

// fakePike answers pike.top with one HOT source and pike.rm for it.
func fakePike() []rpc.Method {
	blocked := map[string]bool{"192.0.2.7": true}
	return []rpc.Method{
		{Name: "pike.top", Handler: func(c *rpc.Call) {
			st := c.AddStruct()
			st.Int("max_hits", 30)
			l := st.Array("list")
			n := 0
			for ip, b := range blocked {
				if b {
					l.Struct().Str("ip_addr", ip).Int("leaf_hits_prev", 41).Int("leaf_hits_curr", 12).Int("expires", 9).Str("status", "HOT")
					n++
				}
			}
			st.Int("number_of_rows", n)
		}},
		{Name: "pike.rm", Params: "s", ParamFault: &rpc.Fault{Code: 500, Message: "Not enough parameters (IP address)"}, Handler: func(c *rpc.Call) {
			ip := c.ArgStr(0)
			if !blocked[ip] {
				c.Fault(404, "IP address not found in pike tree: %s", ip)
				return
			}
			blocked[ip] = false
			c.Printf("Ok. %s unblocked.", ip)
		}},
	}
}

// testListMethod is an htable.list with the htable module's reply shape,
// built on the fake's htable.dump: cursor "0:N" is the N-th item in dump
// order.
func testListMethod(reg *rpc.Registry) rpc.Method {
	return rpc.Method{Name: "htable.list", Params: "S*.S.d.S", ParamFault: &rpc.Fault{Code: 500, Message: "No htable name given"},
		Handler: func(c *rpc.Call) {
			root, err := call(c.Context(), reg, "htable.dump", rpc.Str(c.ArgStr(0)))
			if err != nil {
				f := err.(*rpc.Fault)
				c.Fault(f.Code, "%s", f.Message)
				return
			}
			from := 0
			if cur := c.ArgStr(1); cur != "" && cur != "0" {
				_, n, _ := strings.Cut(cur, ":")
				from, _ = strconv.Atoi(n)
			}
			limit := 100
			if c.NArgs() > 2 {
				limit = int(c.ArgInt(2))
			}
			filter := c.ArgStr(3)
			var all []*node
			for _, slot := range root.kids {
				for _, it := range slot.get("slot").kids {
					if strings.Contains(it.str("name"), filter) {
						all = append(all, it)
					}
				}
			}
			end := min(from+limit, len(all))
			next := ""
			if end < len(all) {
				next = "0:" + strconv.Itoa(end)
			}
			s := c.AddStruct().Str("table", c.ArgStr(0)).Int("count", end-from).Str("next", next)
			a := s.Array("items")
			for _, it := range all[min(from, end):end] {
				a.Struct().Str("name", it.str("name")).Str("value", it.str("value")).Str("type", it.str("type")).
					Long("expire", 0).Long("ttl", 0)
			}
		}}
}

type req struct {
	method, target string
	remote         string
	form           url.Values
	header         http.Header
	cookies        []*http.Cookie
}

func (e *env) do(r req) *http.Response {
	e.t.Helper()
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	if r.method == "" {
		r.method = http.MethodGet
	}
	if r.target == "" {
		r.target = "/ui/"
	}
	hr := httptest.NewRequest(r.method, r.target, body)
	if r.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	hr.RemoteAddr = "127.0.0.1:40000"
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	for k, v := range r.header {
		hr.Header[k] = v
	}
	for _, c := range r.cookies {
		hr.AddCookie(c)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, hr)
	return w.Result()
}

func bodyOf(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// get fetches a page and fails unless it is 200.
func (e *env) get(target string, cookies ...*http.Cookie) (string, *http.Response) {
	e.t.Helper()
	resp := e.do(req{target: target, cookies: cookies})
	b := bodyOf(e.t, resp)
	if resp.StatusCode != 200 {
		e.t.Fatalf("GET %s: %d\n%s", target, resp.StatusCode, b)
	}
	return b, resp
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// session opens target and returns the session cookie and CSRF token.
func (e *env) session(target string) (*http.Cookie, string) {
	e.t.Helper()
	b, resp := e.get(target)
	var sc *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieSession {
			sc = c
		}
	}
	m := csrfRE.FindStringSubmatch(b)
	if sc == nil || m == nil {
		e.t.Fatalf("no session cookie or csrf field on %s", target)
	}
	return sc, m[1]
}

// post sends a form with the session and follows the redirect, returning
// the page it lands on and the flash it shows.
func (e *env) post(target string, sc *http.Cookie, form url.Values) (string, string) {
	e.t.Helper()
	resp := e.do(req{method: http.MethodPost, target: target, form: form, cookies: []*http.Cookie{sc}})
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("POST %s: %d\n%s", target, resp.StatusCode, bodyOf(e.t, resp))
	}
	loc := resp.Header.Get("Location")
	var fl *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieFlash {
			fl = c
		}
	}
	page, _ := e.get(loc, sc, fl)
	m := regexp.MustCompile(`<p class="flash [^"]*" role="status">([^<]*)</p>`).FindStringSubmatch(page)
	if m == nil {
		return page, ""
	}
	return page, m[1]
}

func TestDashboard(t *testing.T) {
	e := newEnv(t, envOpt{pike: true, dmq: true})
	e.ht.SetInt("AuthCount", "127.0.0.5", 6)
	e.ht.SetInt("MessageCount", "127.0.0.5", 10)
	e.ht.SetInt("MessageCount", "127.0.0.6", 3)
	b, resp := e.get("/ui/")
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("header %s missing", h)
		}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, want := range []string{
		`<tr data-table="AuthCount">`, `href="/ui/table?t=AuthCount"`,
		`<td class="num">1</td>`, `<td class="num">2</td>`, // item counts from htable.stats
		`<td class="num">360</td>`,                                 // AuthCount autoexpire
		`sipht test`,                                               // core.version
		`<tr data-ip="192.0.2.7">`, `41 / 12`, `value="192.0.2.7"`, // pike.top HOT
		`<code>10.0.0.2:5060</code> udp`, `this node`, // dmq.list_nodes
		`id="chart"`, `src="/ui/static/app.js"`,
	} {
		if !strings.Contains(b, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	if strings.Contains(b, "not enabled") {
		t.Errorf("dashboard says something is not enabled:\n%s", b)
	}
}

func TestDashboardNotEnabled(t *testing.T) {
	e := newEnv(t, envOpt{noHTable: true})
	b, _ := e.get("/ui/")
	for _, want := range []string{"htable is not enabled", "pike is not enabled", "dmq is not enabled"} {
		if !strings.Contains(b, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	b, _ = e.get("/ui/table?t=AuthCount")
	if !strings.Contains(b, "htable is not enabled") {
		t.Errorf("table page without htable:\n%s", b)
	}
}

func TestAuthRules(t *testing.T) {
	tok := Config{Token: "0123456789abcdef-secret"}
	basic := Config{User: "admin", Password: "pa:ss word"}
	both := Config{Token: tok.Token, User: basic.User, Password: basic.Password}
	bearer := func(s string) http.Header { return http.Header{"Authorization": {"Bearer " + s}} }
	basicH := func(u, p string) http.Header {
		r := httptest.NewRequest("GET", "/", nil)
		r.SetBasicAuth(u, p)
		return r.Header
	}
	cases := []struct {
		name   string
		cfg    Config
		r      req
		code   int
		header string // a header that must be set
	}{
		{"loopback v4, no credentials configured", Config{}, req{}, 200, ""},
		{"loopback v6", Config{}, req{remote: "[::1]:5000"}, 200, ""},
		{"loopback 127.0.0.5", Config{}, req{remote: "127.0.0.5:5000"}, 200, ""},
		{"v4-mapped loopback", Config{}, req{remote: "[::ffff:127.0.0.1]:5000"}, 200, ""},
		{"remote, no credentials configured", Config{}, req{remote: "192.0.2.1:5000"}, 403, ""},
		{"remote v6", Config{}, req{remote: "[2001:db8::1]:5000"}, 403, ""},
		{"remote API", Config{}, req{remote: "192.0.2.1:5000", target: "/ui/api/stats"}, 403, ""},
		{"remote POST", Config{}, req{remote: "192.0.2.1:5000", method: "POST", target: "/ui/table/delete", form: url.Values{}}, 403, ""},
		{"remote, allow_remote", Config{AllowRemote: true}, req{remote: "192.0.2.1:5000"}, 200, ""},
		{"token: none given (loopback too)", tok, req{}, 401, ""},
		{"token: bearer", tok, req{header: bearer(tok.Token)}, 200, ""},
		{"token: bearer, remote", tok, req{remote: "192.0.2.1:5000", header: bearer(tok.Token)}, 200, ""},
		{"token: wrong bearer", tok, req{header: bearer("nope")}, 401, ""},
		{"token: bearer prefix of the token", tok, req{header: bearer(tok.Token[:10])}, 401, ""},
		{"token: query", tok, req{target: "/ui/table?t=x&token=" + tok.Token}, 303, "Set-Cookie"},
		{"token: wrong query", tok, req{target: "/ui/?token=x"}, 401, ""},
		{"token: auth cookie of another token", tok, req{cookies: []*http.Cookie{{Name: cookieAuth, Value: "00"}}}, 401, ""},
		{"token: basic is not a token", tok, req{header: basicH("x", tok.Token)}, 401, ""},
		{"basic: none", basic, req{}, 401, "WWW-Authenticate"},
		{"basic: good", basic, req{header: basicH("admin", "pa:ss word")}, 200, ""},
		{"basic: wrong password", basic, req{header: basicH("admin", "pa:ss")}, 401, "WWW-Authenticate"},
		{"basic: wrong user", basic, req{header: basicH("Admin", "pa:ss word")}, 401, ""},
		{"basic: remote", basic, req{remote: "192.0.2.1:1", header: basicH("admin", "pa:ss word")}, 200, ""},
		{"both: token works", both, req{header: bearer(tok.Token)}, 200, ""},
		{"both: basic works", both, req{header: basicH("admin", "pa:ss word")}, 200, ""},
		{"static without credentials", tok, req{target: "/ui/static/app.css"}, 200, ""},
		{"static, remote, nothing configured", Config{}, req{remote: "192.0.2.1:1", target: "/ui/static/app.css"}, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOpt{cfg: c.cfg})
			if c.r.target == "" {
				c.r.target = "/ui/"
			}
			resp := e.do(c.r)
			b := bodyOf(t, resp)
			if resp.StatusCode != c.code {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, c.code, b)
			}
			if c.header != "" && resp.Header.Get(c.header) == "" {
				t.Errorf("no %s header", c.header)
			}
			if c.code == 403 && !strings.Contains(e.log.String(), "not on this machine") {
				t.Errorf("403 not logged: %q", e.log.String())
			}
		})
	}
}

func TestTokenLogin(t *testing.T) {
	tok := "0123456789abcdef-secret"
	e := newEnv(t, envOpt{cfg: Config{Token: tok}})
	// ?token= sets the cookie and redirects to the URL without it
	resp := e.do(req{target: "/ui/table?t=AuthCount&token=" + url.QueryEscape(tok)})
	if loc := resp.Header.Get("Location"); resp.StatusCode != 303 || loc != "/ui/table?t=AuthCount" {
		t.Fatalf("query login: %d %q", resp.StatusCode, loc)
	}
	var auth *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieAuth {
			auth = c
		}
	}
	if auth == nil || !auth.HttpOnly || auth.SameSite != http.SameSiteStrictMode || strings.Contains(auth.Value, tok) {
		t.Fatalf("auth cookie %+v", auth)
	}
	if b, _ := e.get("/ui/table?t=AuthCount", auth); !strings.Contains(b, "Table AuthCount") {
		t.Errorf("with the cookie: %s", b)
	}
	// the login form
	resp = e.do(req{})
	if b := bodyOf(t, resp); resp.StatusCode != 401 || !strings.Contains(b, `name="token"`) {
		t.Fatalf("login page: %d %s", resp.StatusCode, b)
	}
	resp = e.do(req{method: "POST", target: "/ui/login", form: url.Values{"token": {"wrong"}, "back": {"/ui/"}}})
	if b := bodyOf(t, resp); resp.StatusCode != 401 || !strings.Contains(b, "Wrong token") {
		t.Errorf("wrong token: %d %s", resp.StatusCode, b)
	}
	resp = e.do(req{method: "POST", target: "/ui/login", form: url.Values{"token": {tok}, "back": {"https://evil.example/"}}})
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/ui/" || len(resp.Cookies()) == 0 {
		t.Errorf("login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// a restart (new handler) invalidates the cookie
	e2 := newEnv(t, envOpt{cfg: Config{Token: tok}})
	if resp := e2.do(req{cookies: []*http.Cookie{auth}}); resp.StatusCode != 401 {
		t.Errorf("old cookie after restart: %d", resp.StatusCode)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.ht.SetInt("AuthCount", "127.0.0.5", 6)
	sc, tok := e.session("/ui/table?t=AuthCount")
	form := func(csrf string) url.Values {
		return url.Values{"t": {"AuthCount"}, "k": {"127.0.0.5"}, "csrf": {csrf}, "back": {"/ui/table?t=AuthCount"}}
	}
	other := &http.Cookie{Name: cookieSession, Value: strings.Repeat("ab", 16)}
	for _, c := range []struct {
		name string
		r    req
	}{
		{"no session cookie", req{form: form(tok)}},
		{"no token", req{form: form(""), cookies: []*http.Cookie{sc}}},
		{"wrong token", req{form: form(strings.Repeat("0", 32)), cookies: []*http.Cookie{sc}}},
		{"token of another session", req{form: form(tok), cookies: []*http.Cookie{other}}},
		{"cross-site fetch", req{form: form(tok), cookies: []*http.Cookie{sc}, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}}},
		{"foreign Origin", req{form: form(tok), cookies: []*http.Cookie{sc}, header: http.Header{"Origin": {"http://evil.example"}}}},
	} {
		c.r.method, c.r.target = "POST", "/ui/table/delete"
		resp := e.do(c.r)
		if b := bodyOf(t, resp); resp.StatusCode != 403 || !strings.Contains(b, "CSRF") {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, b)
		}
	}
	if _, err := call(t.Context(), e.reg, "htable.get", rpc.Str("AuthCount"), rpc.Str("127.0.0.5")); err != nil {
		t.Fatalf("item deleted by a refused request: %v", err)
	}
	// same-origin browser request
	resp := e.do(req{method: "POST", target: "/ui/table/delete", form: form(tok), cookies: []*http.Cookie{sc},
		header: http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {"http://example.com"}}})
	if resp.StatusCode != 303 {
		t.Fatalf("same-origin delete: %d %s", resp.StatusCode, bodyOf(t, resp))
	}
	if _, err := call(t.Context(), e.reg, "htable.get", rpc.Str("AuthCount"), rpc.Str("127.0.0.5")); err == nil {
		t.Error("item still there")
	}
	// GET never changes anything
	if resp := e.do(req{target: "/ui/table/delete?t=AuthCount&k=x"}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET delete: %d", resp.StatusCode)
	}
}

func TestActions(t *testing.T) {
	e := newEnv(t, envOpt{pike: true})
	e.ht.SetInt("AuthCount", "127.0.0.5", 6)
	sc, tok := e.session("/ui/table?t=AuthCount")
	back := "/ui/table?t=AuthCount"
	getItem := func(k string) string {
		v, err := call(t.Context(), e.reg, "htable.get", rpc.Str("AuthCount"), rpc.Str(k))
		if err != nil {
			return err.Error()
		}
		it := v.first().get("item")
		return it.str("value") + "/" + it.get("value").val.Kind.String()
	}
	cases := []struct {
		name    string
		path    string
		form    url.Values
		flash   string
		item    string // key=want after the action
		wantErr bool
	}{
		{"delete", "/ui/table/delete", url.Values{"t": {"AuthCount"}, "kx": {hexOf("127.0.0.5")}},
			`Deleted &#34;127.0.0.5&#34; from AuthCount.`, "127.0.0.5=500 - Key name doesn&#39;t exist in htable.", false},
		{"delete again: the RPC fault", "/ui/table/delete", url.Values{"t": {"AuthCount"}, "k": {"127.0.0.5"}},
			`htable.delete: error 404 - Key not found in htable.`, "", true},
		{"delete from a missing table", "/ui/table/delete", url.Values{"t": {"Nope"}, "k": {"x"}},
			`htable.delete: error 500 - No such htable`, "", true},
		{"delete without a name", "/ui/table/delete", url.Values{"t": {"AuthCount"}}, "the table or the item name is missing", "", true},
		{"bad kx", "/ui/table/delete", url.Values{"t": {"AuthCount"}, "kx": {"zz"}}, "the table or the item name is missing", "", true},
		{"seti", "/ui/table/set", url.Values{"t": {"AuthCount"}, "k": {"10.1.1.1"}, "type": {"int"}, "v": {" 12 "}},
			`Set &#34;10.1.1.1&#34; in AuthCount to &#34;12&#34;.`, "10.1.1.1=12/integer", false},
		{"seti not a number: the method's scan fault", "/ui/table/set", url.Values{"t": {"AuthCount"}, "k": {"10.1.1.1"}, "type": {"int"}, "v": {"abc"}},
			`htable.seti: error 500 - Not enough parameters (htable name, key name and value)`, "10.1.1.1=12/integer", true},
		{"sets", "/ui/table/set", url.Values{"t": {"AuthCount"}, "k": {"10.1.1.2"}, "type": {"str"}, "v": {"blocked <b>"}},
			`Set &#34;10.1.1.2&#34; in AuthCount to &#34;blocked &lt;b&gt;&#34;.`, "10.1.1.2=blocked <b>/string", false},
		{"pike unblock", "/ui/pike/unblock", url.Values{"ip": {"192.0.2.7"}}, `Ok. 192.0.2.7 unblocked.`, "", false},
		{"pike unblock again", "/ui/pike/unblock", url.Values{"ip": {"192.0.2.7"}},
			`pike.rm: error 404 - IP address not found in pike tree: 192.0.2.7`, "", true},
	}
	for _, c := range cases {
		c.form.Set("csrf", tok)
		c.form.Set("back", back)
		_, fl := e.post(c.path, sc, c.form)
		if !strings.Contains(fl, c.flash) {
			t.Errorf("%s: flash %q, want %q", c.name, fl, c.flash)
		}
		if c.item != "" {
			k, want, _ := strings.Cut(c.item, "=")
			want = strings.ReplaceAll(strings.ReplaceAll(want, "&#39;", "'"), "&#34;", `"`)
			if got := getItem(k); got != want {
				t.Errorf("%s: after it %s is %q, want %q", c.name, k, got, want)
			}
		}
	}
	// an open redirect is refused
	f := url.Values{"t": {"AuthCount"}, "k": {"x"}, "csrf": {tok}, "back": {"//evil.example/ui/"}}
	resp := e.do(req{method: "POST", target: "/ui/table/delete", form: f, cookies: []*http.Cookie{sc}})
	if loc := resp.Header.Get("Location"); loc != "/ui/" {
		t.Errorf("back=//evil: Location %q", loc)
	}
}

// TestActionCounts: the page a change lands on counts the table with the
// change, though item counts are otherwise cached for a few seconds.
func TestActionCounts(t *testing.T) {
	e := newEnv(t, envOpt{})
	e.ht.SetInt("AuthCount", "127.0.0.5", 6)
	e.ht.SetInt("AuthCount", "127.0.0.6", 6)
	back := "/ui/table?t=AuthCount"
	sc, tok := e.session(back)
	items := regexp.MustCompile(`<b>([0-9?]+)</b> items`)
	count := func(page string) string {
		if m := items.FindStringSubmatch(page); m != nil {
			return m[1]
		}
		return "none"
	}
	page, _ := e.get(back, sc)
	if got := count(page); got != "2" {
		t.Fatalf("items before: %s", got)
	}
	page, _ = e.post("/ui/table/delete", sc, url.Values{"t": {"AuthCount"}, "k": {"127.0.0.5"}, "csrf": {tok}, "back": {back}})
	if got := count(page); got != "1" {
		t.Errorf("items after the delete: %s, want 1", got)
	}
	page, _ = e.post("/ui/table/set", sc, url.Values{"t": {"AuthCount"}, "k": {"10.0.0.1"}, "type": {"int"}, "v": {"1"}, "csrf": {tok}, "back": {back}})
	if got := count(page); got != "2" {
		t.Errorf("items after the set: %s, want 2", got)
	}
}

func hexOf(s string) string { return fmt.Sprintf("%x", s) }

func urlQuery(s string) string { return url.QueryEscape(s) }

var regexpKX = regexp.MustCompile(`name="kx" value="([0-9a-f]+)"`)

// pageNames returns the item names (data-key) of a table page, unescaped.
var keyRE = regexp.MustCompile(`<tr data-key="([^"]*)">`)
var nextRE = regexp.MustCompile(`<a href="([^"]*)" rel="next"`)
var prevRE = regexp.MustCompile(`<a href="([^"]*)" rel="prev"`)

func pageNames(b string) []string {
	var out []string
	for _, m := range keyRE.FindAllStringSubmatch(b, -1) {
		out = append(out, htmlUnescape(m[1]))
	}
	return out
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">").Replace(s)
}

func TestPagination(t *testing.T) {
	for _, withList := range []bool{false, true} {
		t.Run(fmt.Sprintf("htable.list=%v", withList), func(t *testing.T) {
			e := newEnv(t, envOpt{withList: withList})
			e.ht.Fill("MessageCount", 1000)
			seen := map[string]bool{}
			target := "/ui/table?t=MessageCount&n=100"
			var pages []string
			for i := 1; ; i++ {
				b, _ := e.get(target)
				names := pageNames(b)
				if i <= 10 && len(names) != 100 {
					t.Fatalf("page %d has %d items", i, len(names))
				}
				if !strings.Contains(b, fmt.Sprintf("<span>page %d</span>", i)) {
					t.Errorf("page %d not numbered", i)
				}
				if strings.Contains(b, "htable.list</code>: pages are cut") == withList {
					t.Errorf("dump fallback note: withList=%v", withList)
				}
				for _, n := range names {
					if seen[n] {
						t.Fatalf("%s listed twice", n)
					}
					seen[n] = true
				}
				pages = append(pages, target)
				m := nextRE.FindStringSubmatch(b)
				if m == nil {
					break
				}
				if i > 20 {
					t.Fatal("no end")
				}
				target = htmlUnescape(m[1])
			}
			if len(seen) != 1000 {
				t.Fatalf("%d items seen over %d pages", len(seen), len(pages))
			}
			// previous goes back one page, with the same items
			b, _ := e.get(pages[3])
			prev := prevRE.FindStringSubmatch(b)
			if prev == nil {
				t.Fatal("no previous link on page 4")
			}
			pb, _ := e.get(htmlUnescape(prev[1]))
			want, _ := e.get(pages[2])
			if strings.Join(pageNames(pb), ",") != strings.Join(pageNames(want), ",") {
				t.Error("previous page differs from page 3")
			}
			// search by name substring, server side
			b, _ = e.get("/ui/table?t=MessageCount&q=key99")
			names := pageNames(b)
			if len(names) != 11 { // key99, key990..key999
				t.Errorf("search key99: %v", names)
			}
			for _, n := range names {
				if !strings.Contains(n, "key99") {
					t.Errorf("search key99 found %s", n)
				}
			}
			b, _ = e.get("/ui/table?t=MessageCount&q=nomatch")
			if !strings.Contains(b, "No item name contains “nomatch”") {
				t.Error("no 'no match' message")
			}
		})
	}
}

func TestTableQueryErrors(t *testing.T) {
	e := newEnv(t, envOpt{})
	for _, target := range []string{
		"/ui/table", "/ui/table?t=AuthCount&c=abc", "/ui/table?t=AuthCount&p=1,x", "/ui/table?t=AuthCount&n=0",
		"/ui/table?t=AuthCount&n=1001", "/ui/table?t=AuthCount&pg=-1", "/ui/table?t=AuthCount&q=" + strings.Repeat("a", 300),
	} {
		resp := e.do(req{target: target})
		if b := bodyOf(t, resp); resp.StatusCode != 400 || !strings.Contains(b, "Bad table page request") {
			t.Errorf("%s: %d", target, resp.StatusCode)
		}
	}
	b, _ := e.get("/ui/table?t=Nope")
	if !strings.Contains(b, "htable.dump: error 500 - No such htable") {
		t.Errorf("missing table: %s", b)
	}
	resp := e.do(req{target: "/ui/nothing"})
	if resp.StatusCode != 404 {
		t.Errorf("unknown page: %d", resp.StatusCode)
	}
}

// hostile names and values, as a SIP source could plant them ($si is
// safe, but scripts also key tables on user names, URIs, User-Agents).
var hostile = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`' onmouseover='alert(1)`,
	`javascript:alert(1)`,
	"</code></td><x-evil>",
	"\xff\xfe<x-evil>",
	"nul\x00byte<x-evil>",
	"\x1b[31mred<x-evil>",
	"{{.Title}}",
	"a&amp;b",
	strings.Repeat("long<x-evil>", 100),
}

func TestEscaping(t *testing.T) {
	e := newEnv(t, envOpt{withList: true, pike: true})
	for i, s := range hostile {
		e.ht.SetStr("AuthCount", s, s)
		e.ht.SetStr("AuthCount", "v"+strconv.Itoa(i), s)
	}
	b, _ := e.get("/ui/table?t=AuthCount&n=100")
	for _, bad := range []string{"<script>alert", "<img src=x", "<x-evil", "onmouseover='", "\x00", "\x1b"} {
		if strings.Contains(b, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if !strings.Contains(b, `&lt;script&gt;alert(1)&lt;/script&gt;`) {
		t.Error("script name not shown escaped")
	}
	if !strings.Contains(b, `<span class="tag" title="shown quoted: not printable text">quoted</span>`) {
		t.Error("unprintable names not marked")
	}
	// every hostile item can be deleted from its own form (kx keeps the exact bytes)
	sc, tok := e.session("/ui/table?t=AuthCount&n=100")
	kxs := regexpKX.FindAllStringSubmatch(b, -1)
	if len(kxs) != 2*len(hostile) {
		t.Fatalf("%d delete forms for %d items", len(kxs), 2*len(hostile))
	}
	for _, m := range kxs {
		_, fl := e.post("/ui/table/delete", sc, url.Values{"t": {"AuthCount"}, "kx": {m[1]}, "csrf": {tok}, "back": {"/ui/table?t=AuthCount"}})
		if !strings.HasPrefix(fl, "Deleted ") {
			t.Errorf("delete %s: %q", m[1], fl)
		}
	}
	if st, _ := call(t.Context(), e.reg, "htable.stats"); st.kids[0].num("all")+st.kids[1].num("all") != 0 {
		t.Errorf("items left after deleting all: %v", e.ht)
	}
	// the edit form of a hostile name
	e.ht.SetStr("AuthCount", hostile[5], "x")
	b, _ = e.get("/ui/table?t=AuthCount&edit=" + hexOf(hostile[5]))
	if !strings.Contains(b, `name="kx" value="`+hexOf(hostile[5])+`"`) || strings.Contains(b, "<x-evil") {
		t.Errorf("edit form of an unprintable name:\n%s", b)
	}
	// the flash message of a hostile action
	_, fl := e.post("/ui/table/set", sc, url.Values{"t": {"AuthCount"}, "k": {"<x-evil>"}, "v": {"<x-evil>"}, "csrf": {tok}, "back": {"/ui/"}})
	if strings.Contains(fl, "<x-evil") || !strings.Contains(fl, "&lt;x-evil&gt;") {
		t.Errorf("flash %q", fl)
	}
}

func TestSafeBack(t *testing.T) {
	for in, want := range map[string]string{
		"/ui/":                       "/ui/",
		"/ui/table?t=a&q=b//c":       "/ui/table?t=a&q=b//c",
		"":                           "/ui/",
		"/":                          "/ui/",
		"//evil.example/ui/":         "/ui/",
		"https://evil.example/ui/":   "/ui/",
		"/ui/\\evil":                 "/ui/",
		"/ui/../RPC":                 "/ui/",
		"/ui/x/..":                   "/ui/",
		"/ui/\r\nLocation: x":        "/ui/",
		"/uifoo":                     "/ui/",
		"/ui/table?t=a#frag":         "/ui/table?t=a#frag",
		"/ui/%2e%2e/RPC":             "/ui/",
		"/ui/table?t=x&back=https:/": "/ui/table?t=x&back=https:/",
	} {
		if got := safeBack(in); got != want {
			t.Errorf("safeBack(%q) = %q, want %q", in, got, want)
		}
	}
}

// counterGatherer is a registry with the SIP counters the chart reads.
type counterGatherer struct {
	reg      *prometheus.Registry
	req, rep *prometheus.CounterVec
	mem      *prometheus.GaugeVec
}

func newCounterGatherer() *counterGatherer {
	g := &counterGatherer{reg: prometheus.NewRegistry(),
		req: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricRequests}, []string{"method"}),
		rep: prometheus.NewCounterVec(prometheus.CounterOpts{Name: metricReplies}, []string{"code"}),
		mem: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricTableMem}, []string{"table"})}
	g.reg.MustRegister(g.req, g.rep, g.mem)
	return g
}

func TestStats(t *testing.T) {
	g := newCounterGatherer()
	e := newEnv(t, envOpt{gatherer: g.reg})
	now := time.Unix(1000, 0)
	e.h.stats.now = func() time.Time { return now }
	step := func(d time.Duration, req, r401, r429 float64) {
		g.req.WithLabelValues("REGISTER").Add(req)
		g.rep.WithLabelValues("401").Add(r401)
		g.rep.WithLabelValues("429").Add(r429)
		g.rep.WithLabelValues("200").Add(1)
		now = now.Add(d)
	}
	apiPoints := func() []point {
		var out statsReply
		resp := e.do(req{target: "/ui/api/stats"})
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		b := bodyOf(t, resp)
		if err := json.Unmarshal([]byte(b), &out); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		return out.Points
	}
	if p := apiPoints(); len(p) != 0 {
		t.Fatalf("first sample gave points %v", p)
	}
	step(2*time.Second, 20, 6, 4) // 10 req/s, (6+4)/2 = 5 4xx/s, 2 429/s
	p := apiPoints()
	if len(p) != 1 || p[0].RPS != 10 || p[0].R4xx != 5 || p[0].R429 != 2 || p[0].T != now.UnixMilli() {
		t.Fatalf("points %+v", p)
	}
	step(100*time.Millisecond, 5, 0, 0) // too soon: the cached sample
	if p := apiPoints(); len(p) != 1 {
		t.Fatalf("sample within minInterval added a point: %+v", p)
	}
	now = now.Add(time.Second)
	if p := apiPoints(); len(p) != 2 || math.Abs(p[1].RPS-5/1.1) > 1e-9 {
		t.Fatalf("points %+v", p)
	}
	now = now.Add(time.Minute) // nobody watched: a new series
	if p := apiPoints(); len(p) != 0 {
		t.Fatalf("after a gap: %+v", p)
	}
	for i := 0; i < keepPoints+20; i++ {
		step(time.Second, 1, 0, 0)
		apiPoints()
	}
	if p := apiPoints(); len(p) != keepPoints {
		t.Fatalf("%d points kept", len(p))
	}
	// table memory comes from sipht_htable_memory_bytes
	g.mem.WithLabelValues("AuthCount").Set(3 * 1024 * 1024)
	now = now.Add(memoryAge)
	b, _ := e.get("/ui/")
	if !strings.Contains(b, "<td class=\"num\">3.0 MiB</td>") {
		t.Errorf("memory not shown")
	}
}

// TestStatsFromSIP: with the transport known, the chart reads its
// counters (sipio.Stats) and does not gather the registry.
func TestStatsFromSIP(t *testing.T) {
	g := &countingGatherer{}
	e := newEnv(t, envOpt{gatherer: g})
	now := time.Unix(1000, 0)
	e.h.stats.now = func() time.Time { return now }
	st := sipio.Stats{RequestsIn: map[string]uint64{"REGISTER": 10, "OPTIONS": 5}, RepliesOut: map[int]uint64{200: 5, 401: 6, 429: 4}}
	e.h.stats.setSIP(func() sipio.Stats { return st })
	e.h.stats.sample()
	now = now.Add(2 * time.Second)
	st = sipio.Stats{RequestsIn: map[string]uint64{"REGISTER": 20, "OPTIONS": 15}, RepliesOut: map[int]uint64{200: 15, 401: 8, 429: 10, 503: 3}}
	p, err := e.h.stats.sample()
	if err != nil || len(p) != 1 || p[0].RPS != 10 || p[0].R4xx != 4 || p[0].R429 != 3 {
		t.Fatalf("points %+v %v", p, err)
	}
	if g.n != 0 {
		t.Errorf("the chart gathered the registry %d times", g.n)
	}
}

type countingGatherer struct{ n int }

func (g *countingGatherer) Gather() ([]*dto.MetricFamily, error) { g.n++; return nil, nil }

func TestFormatting(t *testing.T) {
	if got := humanBytes(512); got != "512 B" {
		t.Error(got)
	}
	if got := humanBytes(1536); got != "1.5 KiB" {
		t.Error(got)
	}
	if got := humanDuration(90061); got != "25h 1m" {
		t.Error(got)
	}
}

func TestStartNotice(t *testing.T) {
	l := func(tr sipio.Transport, a string) sipio.Listener {
		return sipio.Listener{Transport: tr, Addr: netip.MustParseAddrPort(a)}
	}
	local := []sipio.Listener{l(sipio.UDP, "0.0.0.0:5060"), l(sipio.TCP, "127.0.0.1:8080")}
	public := append(local, l(sipio.TCP, "0.0.0.0:8081"))
	cases := []struct {
		cfg   Config
		ls    []sipio.Listener
		level slog.Level
		msg   string
	}{
		{Config{}, local, 0, ""},
		{Config{}, public, slog.LevelWarn, "answers them 403"},
		{Config{AllowRemote: true}, public, slog.LevelWarn, "anyone who reaches"},
		{Config{Token: "x"}, public, slog.LevelInfo, "asks every client"},
		{Config{User: "u", Password: "p"}, public, slog.LevelInfo, "asks every client"},
	}
	for _, c := range cases {
		level, msg, open := startNotice(c.cfg, c.ls)
		if level != c.level || !strings.Contains(msg, c.msg) || (c.msg == "") != (msg == "") {
			t.Errorf("%+v: %v %q", c.cfg, level, msg)
		}
		if msg != "" && open != "tcp:0.0.0.0:8081" {
			t.Errorf("sockets %q", open)
		}
	}
}
