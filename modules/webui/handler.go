package webui

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/sipio"
)

//go:embed assets
var assets embed.FS

// Config configures a Handler: the module's parameters.
type Config struct {
	// Title is shown in the page header and the browser tab ("sipht").
	Title string
	// Token, when set, is required from every client: Authorization:
	// Bearer <token>, ?token=<token> once (it sets a cookie), or the login
	// form.
	Token string
	// User and Password, when set, are required from every client as HTTP
	// Basic credentials (either these or the token).
	User, Password string
	// AllowRemote serves clients that are not on loopback even without
	// credentials (off: they get 403).
	AllowRemote bool
	// PageSize is the default number of items per table page (50).
	PageSize int
	// Poll is how often the chart asks for new numbers (1 s).
	Poll time.Duration
}

// Limits of the table pages.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
	maxFilter       = 256
	maxTrail        = 100  // previous-page cursors a page URL carries
	maxShown        = 300  // characters of a value shown in a cell
	maxTitle        = 4000 // characters of a value in its tooltip
)

// csp allows nothing but the UI's own files: no inline script or style, no
// framing, forms only to itself.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler serves the web UI under /ui/. Every read and every change goes
// through the RPC registry, with the methods and parameters a kamcmd or
// JSON-RPC user would send. It is safe for concurrent use.
type Handler struct {
	reg   *rpc.Registry
	cfg   Config
	log   *slog.Logger
	sec   *secrets
	cop   *http.CrossOriginProtection
	stats *sampler
	pages map[string]*template.Template
	mux   *http.ServeMux
	files http.Handler

	counts             countCache
	refusals, failures rateLog
}

// countCache keeps the item counts of htable.stats for a moment: the
// method scans every table (about 15 ms per million items), and the
// overview's refresh, each table page and every viewer would otherwise
// repeat that scan.
type countCache struct {
	mu     sync.Mutex
	at     time.Time
	counts map[string]int64
}

const countTTL = 5 * time.Second

// memoryAge is how old the memory column may be: reading it gathers the
// whole Prometheus registry, whose htable collector scans every table.
const memoryAge = 10 * time.Second

// forget drops the cached counts: after a change made on the page, the
// page the user lands on shows the count with that change.
func (cc *countCache) forget() {
	cc.mu.Lock()
	cc.counts = nil
	cc.mu.Unlock()
}

func (cc *countCache) get(ctx context.Context, reg *rpc.Registry) (map[string]int64, error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.counts != nil && time.Since(cc.at) < countTTL {
		return cc.counts, nil
	}
	st, err := call(ctx, reg, "htable.stats")
	if err != nil {
		return nil, err
	}
	m := make(map[string]int64, len(st.kids))
	for _, t := range st.kids {
		m[t.str("name")] = t.num("all")
	}
	cc.counts, cc.at = m, time.Now()
	return m, nil
}

// NewHandler returns the web UI handler: reg is the server's RPC registry,
// g its Prometheus gatherer (nil: no chart, no table memory).
func NewHandler(reg *rpc.Registry, g prometheus.Gatherer, cfg Config, log *slog.Logger) (*Handler, error) {
	if cfg.Title == "" {
		cfg.Title = "sipht"
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = defaultPageSize
	}
	if cfg.PageSize > maxPageSize {
		return nil, fmt.Errorf("page_size %d is more than %d", cfg.PageSize, maxPageSize)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{reg: reg, cfg: cfg, log: log, sec: newSecrets(), cop: http.NewCrossOriginProtection(),
		stats: newSampler(g), pages: map[string]*template.Template{}}
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	h.files = http.StripPrefix("/ui/static/", http.FileServerFS(static))
	m := http.NewServeMux()
	m.HandleFunc("GET /ui/{$}", h.dashboard)
	m.HandleFunc("GET /ui/table", h.table)
	m.HandleFunc("POST /ui/table/delete", h.deleteItem)
	m.HandleFunc("POST /ui/table/set", h.setItem)
	m.HandleFunc("POST /ui/pike/unblock", h.pikeUnblock)
	m.HandleFunc("GET /ui/api/stats", h.apiStats)
	m.HandleFunc("GET /ui/static/", h.static)
	m.HandleFunc("/ui/login", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther) // already logged in
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, http.StatusNotFound, "error", &errorPage{Message: "There is no page " + r.URL.Path + " here."})
	})
	h.mux = m
	return h, nil
}

// SetSIP makes the chart read the SIP counters from the transport (the
// source of sipht_sip_requests_received_total and
// sipht_sip_replies_sent_total) instead of gathering the whole Prometheus
// registry once a second. The module calls it from Start.
func (h *Handler) SetSIP(s *sipio.Server) {
	if s != nil {
		h.stats.setSIP(s.Stats)
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	switch h.authorize(w, r) {
	case authOK:
		h.mux.ServeHTTP(w, r)
	case authRedirect:
	case authRefused:
		http.Error(w, "403 Forbidden: the sipht web UI only answers clients on this machine unless a token or user/password is configured (modparam webui token, user, password) or allow_remote is set.", http.StatusForbidden)
	case authChallenge:
		switch {
		case strings.HasPrefix(r.URL.Path, "/ui/static/") && r.Method == http.MethodGet:
			h.static(w, r) // the login page's style sheet
		case r.URL.Path == "/ui/login":
			h.login(w, r)
		default:
			h.challenge(w, r, "")
		}
	}
}

func (h *Handler) static(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "max-age=3600")
	h.files.ServeHTTP(w, r)
}

// ---------------------------------------------------------------------
// Templates

func (h *Handler) parseTemplates() error {
	funcs := template.FuncMap{
		"bytes":    humanBytes,
		"tableURL": func(name string) string { return "/ui/table?" + url.Values{"t": {name}}.Encode() },
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/templates/layout.html")
	if err != nil {
		return fmt.Errorf("webui templates: %w", err)
	}
	for _, p := range []string{"dashboard", "table", "login", "error"} {
		t, err := template.Must(layout.Clone()).ParseFS(assets, "assets/templates/"+p+".html")
		if err != nil {
			return fmt.Errorf("webui templates: %w", err)
		}
		h.pages[p] = t
	}
	return nil
}

// base is what every page's layout needs.
type base struct {
	Title    string
	Page     string
	CSRF     string
	Flash    *flash
	PollMS   int64
	Subtitle string
}

type flash struct {
	Error bool
	Text  string
}

// pageData lets render fill the base of any page.
type pageData interface{ basePart() *base }

func (b *base) basePart() *base { return b }

// render writes page name with data (its base filled here).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, data pageData) {
	b := data.basePart()
	b.Title, b.Page, b.PollMS = h.cfg.Title, name, h.cfg.Poll.Milliseconds()
	if name == "dashboard" || name == "table" {
		b.CSRF = h.csrfToken(h.session(w, r))
		b.Flash = takeFlash(w, r)
	}
	var buf strings.Builder
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", data); err != nil {
		h.log.Error("webui: rendering a page failed", "page", name, "err", err)
		http.Error(w, "500 internal error rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write([]byte(buf.String()))
	}
}

type errorPage struct {
	base
	Message string
}

type loginPage struct {
	base
	TokenLogin bool
	Back       string
	Error      string
}

// ---------------------------------------------------------------------
// Dashboard

// section is the state of one part of a page fed by an RPC method.
type section struct {
	Off bool   // the method is not registered: its module is not loaded
	Err string // the call failed: the RPC fault as kamcmd shows it
}

func sectionOf(method string, err error) section {
	switch {
	case err == nil:
		return section{}
	case errors.Is(err, errNotEnabled):
		return section{Off: true}
	}
	return section{Err: faultText(method, err)}
}

type tableRow struct {
	Name                   string
	Items                  int64
	HaveItems              bool
	Mem                    float64
	HaveMem                bool
	Slots, Expire          int64
	DBTable                string
	DBMode, DMQ, UpdateExp int64
}

type pikeRow struct {
	IP                 string
	HitsPrev, HitsCurr int64
	Expires            int64
	Status             string
}

type dmqRow struct {
	Host, Port, Proto, IP, Status string
	Local                         bool
}

type dashPage struct {
	base
	Version    string
	Uptime     string
	Tables     []tableRow
	TablesSec  section
	Pike       []pikeRow
	PikeMax    int64
	PikeSec    section
	DMQ        []dmqRow
	DMQSec     section
	StatsError string
}

func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := &dashPage{}
	if v, err := call(ctx, h.reg, "core.version"); err == nil {
		d.Version = v.first().val.Text()
	}
	if v, err := call(ctx, h.reg, "core.uptime"); err == nil {
		d.Uptime = humanDuration(v.first().num("uptime"))
	}
	d.Tables, d.TablesSec = h.tables(ctx)
	d.Pike, d.PikeMax, d.PikeSec = h.pikeHot(ctx)
	d.DMQ, d.DMQSec = h.dmqNodes(ctx)
	h.render(w, r, http.StatusOK, "dashboard", d)
}

// tables merges htable.listTables (definitions, in kamcmd's order) with
// htable.stats (item counts) and the sipht_htable_memory_bytes gauge.
func (h *Handler) tables(ctx context.Context) ([]tableRow, section) {
	defs, err := call(ctx, h.reg, "htable.listTables")
	if err != nil {
		if f := (*rpc.Fault)(nil); errors.As(err, &f) && f.Message == "No htables" {
			return nil, section{}
		}
		return nil, sectionOf("htable.listTables", err)
	}
	var rows []tableRow
	idx := map[string]int{}
	for _, t := range defs.kids {
		idx[t.str("name")] = len(rows)
		rows = append(rows, tableRow{Name: t.str("name"), Slots: t.num("size"), Expire: t.num("expire"),
			DBTable: t.str("dbtable"), DBMode: t.num("dbmode"), DMQ: t.num("dmqreplicate"), UpdateExp: t.num("updateexpire")})
	}
	sec := section{}
	if counts, err := h.counts.get(ctx, h.reg); err == nil {
		for i := range rows {
			rows[i].Items, rows[i].HaveItems = counts[rows[i].Name]
		}
	} else {
		sec = sectionOf("htable.stats", err)
		sec.Off = false
	}
	if mem := h.stats.tableMemory(memoryAge); mem != nil {
		for i := range rows {
			rows[i].Mem, rows[i].HaveMem = mem[rows[i].Name]
		}
	}
	return rows, sec
}

// pikeHot reads pike.top HOT: {max_hits, list: [{ip_addr, leaf_hits_prev,
// leaf_hits_curr, expires, status}], number_of_rows}.
func (h *Handler) pikeHot(ctx context.Context) ([]pikeRow, int64, section) {
	v, err := call(ctx, h.reg, "pike.top", str("HOT"))
	if err != nil {
		return nil, 0, sectionOf("pike.top", err)
	}
	top := v.first()
	var rows []pikeRow
	if l := top.get("list"); l != nil {
		for _, e := range l.kids {
			rows = append(rows, pikeRow{IP: e.str("ip_addr"), HitsPrev: e.num("leaf_hits_prev"),
				HitsCurr: e.num("leaf_hits_curr"), Expires: e.num("expires"), Status: e.str("status")})
		}
	}
	return rows, top.num("max_hits"), section{}
}

// dmqNodes reads dmq.list_nodes: one struct per node {host, port, proto,
// resolved_ip, status, last_notification, local}.
func (h *Handler) dmqNodes(ctx context.Context) ([]dmqRow, section) {
	v, err := call(ctx, h.reg, "dmq.list_nodes")
	if err != nil {
		return nil, sectionOf("dmq.list_nodes", err)
	}
	var rows []dmqRow
	for _, n := range v.kids {
		rows = append(rows, dmqRow{Host: n.str("host"), Port: n.str("port"), Proto: n.str("proto"),
			IP: n.str("resolved_ip"), Status: n.str("status"), Local: n.num("local") != 0})
	}
	return rows, section{}
}

// ---------------------------------------------------------------------
// Table page

// cell is a text shown in a table cell: names and values come from SIP
// (source addresses, user names ...), so anything that is not printable
// UTF-8 is shown Go-quoted, and long values are cut.
type cell struct {
	Text    string
	Full    string // tooltip when the text was cut
	Escaped bool
}

func newCell(s string) cell {
	c := cell{Text: s}
	if !printable(s) {
		c.Text, c.Escaped = strconv.QuoteToGraphic(s), true
	}
	if utf8.RuneCountInString(c.Text) > maxShown {
		c.Full = truncate(c.Text, maxTitle)
		c.Text = truncate(c.Text, maxShown) + "…"
	}
	return c
}

// dataKey is the name as the data-key attribute of its row carries it: as
// is when printable, else Go-quoted (tests and scripts find rows by it).
func dataKey(s string) string {
	if printable(s) {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsGraphic(r) {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

type itemRow struct {
	Key     string // the name (data-key attribute), Go-quoted when not printable
	KeyHex  string // the raw name, hex: what the forms send back
	Name    cell
	Value   cell
	Type    string
	Expires string
	EditURL string
}

type tablePage struct {
	base
	Table     string
	Info      *tableRow
	Query     string
	Size      int
	Sizes     []int
	Rows      []itemRow
	Sec       section
	Dump      bool
	PageNo    int
	FirstURL  string
	PrevURL   string
	NextURL   string
	Back      string
	Edit      *editForm
	NoResults bool
}

// editForm pre-fills the set form.
type editForm struct {
	Key     string
	KeyHex  string // set when the name is not printable: sent as kx
	Shown   string
	Value   string
	IsInt   bool
	Missing bool
}

// tableQuery is the state a table page URL carries.
type tableQuery struct {
	table  string
	filter string
	cursor string   // "" or "0": first page
	trail  []string // cursors of the previous pages, oldest first
	pageNo int
	size   int
}

func (q tableQuery) url(extra ...string) string {
	v := url.Values{"t": {q.table}}
	if q.filter != "" {
		v.Set("q", q.filter)
	}
	if q.cursor != "" && q.cursor != "0" {
		v.Set("c", q.cursor)
	}
	if len(q.trail) > 0 {
		v.Set("p", strings.Join(q.trail, ","))
	}
	if q.pageNo > 1 {
		v.Set("pg", strconv.Itoa(q.pageNo))
	}
	if q.size != 0 {
		v.Set("n", strconv.Itoa(q.size))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return "/ui/table?" + v.Encode()
}

// validCursor accepts what htable.list ("slot:pos") and the dump fallback
// (an offset) return.
func validCursor(c string) bool {
	if len(c) == 0 || len(c) > 40 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if (c[i] < '0' || c[i] > '9') && c[i] != ':' {
			return false
		}
	}
	return true
}

func parseTableQuery(v url.Values, defSize int) (tableQuery, error) {
	q := tableQuery{table: v.Get("t"), filter: v.Get("q"), pageNo: 1}
	if q.table == "" {
		return q, errors.New("no table given")
	}
	if len(q.filter) > maxFilter {
		return q, fmt.Errorf("the search text is longer than %d bytes", maxFilter)
	}
	if c := v.Get("c"); c != "" {
		if !validCursor(c) {
			return q, errors.New("bad page cursor")
		}
		q.cursor = c
	}
	if p := v.Get("p"); p != "" {
		for _, c := range strings.Split(p, ",") {
			if !validCursor(c) {
				return q, errors.New("bad page trail")
			}
			q.trail = append(q.trail, c)
		}
		if len(q.trail) > maxTrail {
			q.trail = q.trail[len(q.trail)-maxTrail:]
		}
	}
	if pg := v.Get("pg"); pg != "" {
		n, err := strconv.Atoi(pg)
		if err != nil || n < 1 {
			return q, errors.New("bad page number")
		}
		q.pageNo = n
	}
	if n := v.Get("n"); n != "" {
		s, err := strconv.Atoi(n)
		if err != nil || s < 1 || s > maxPageSize {
			return q, fmt.Errorf("page size must be 1 to %d", maxPageSize)
		}
		if s != defSize {
			q.size = s
		}
	}
	return q, nil
}

func (h *Handler) table(w http.ResponseWriter, r *http.Request) {
	q, err := parseTableQuery(r.URL.Query(), h.cfg.PageSize)
	if err != nil {
		h.render(w, r, http.StatusBadRequest, "error", &errorPage{Message: "Bad table page request: " + err.Error()})
		return
	}
	size := h.cfg.PageSize
	if q.size != 0 {
		size = q.size
	}
	p := &tablePage{Table: q.table, Query: q.filter, Size: size, PageNo: q.pageNo,
		Sizes: []int{25, 50, 100, 500, 1000}, Back: q.url()}
	ctx := r.Context()
	rows, _ := h.tables(ctx)
	for i := range rows {
		if rows[i].Name == q.table {
			p.Info = &rows[i]
		}
	}
	pg, err := listItems(ctx, h.reg, q.table, q.cursor, size, q.filter)
	if err != nil {
		p.Sec = sectionOf(pg.Method, err)
	}
	p.Dump = pg.Dump
	for _, it := range pg.Items {
		row := itemRow{Key: dataKey(it.Name), KeyHex: hex.EncodeToString([]byte(it.Name)),
			Name: newCell(it.Name), Value: newCell(it.Value), Type: it.Type}
		switch {
		case it.Expire < 0:
			row.Expires = "—"
		case it.Expire == 0:
			row.Expires = "never"
		default:
			row.Expires = strconv.FormatInt(it.TTL, 10)
		}
		row.EditURL = q.url("edit", row.KeyHex) + "#set"
		p.Rows = append(p.Rows, row)
	}
	p.NoResults = err == nil && len(pg.Items) == 0
	if q.cursor != "" && q.cursor != "0" {
		first := q
		first.cursor, first.trail, first.pageNo = "", nil, 1
		p.FirstURL = first.url()
		if len(q.trail) > 0 {
			prev := q
			prev.cursor, prev.trail, prev.pageNo = q.trail[len(q.trail)-1], q.trail[:len(q.trail)-1], max(q.pageNo-1, 1)
			p.PrevURL = prev.url()
		}
	}
	if pg.Next != "" && validCursor(pg.Next) {
		next := q
		cur := q.cursor
		if cur == "" {
			cur = "0"
		}
		next.trail = append(append([]string(nil), q.trail...), cur)
		if len(next.trail) > maxTrail {
			next.trail = next.trail[len(next.trail)-maxTrail:]
		}
		next.cursor, next.pageNo = pg.Next, q.pageNo+1
		p.NextURL = next.url()
	}
	if e := r.URL.Query().Get("edit"); e != "" {
		p.Edit = h.editForm(ctx, q.table, e)
	}
	if p.Edit == nil {
		p.Edit = &editForm{}
	}
	h.render(w, r, http.StatusOK, "table", p)
}

// editForm reads the item to edit with htable.get.
func (h *Handler) editForm(ctx context.Context, table, keyHex string) *editForm {
	k, err := hex.DecodeString(keyHex)
	if err != nil || len(k) == 0 {
		return nil
	}
	key := string(k)
	e := &editForm{Key: key}
	if !printable(key) {
		e.KeyHex, e.Shown = keyHex, strconv.QuoteToGraphic(key)
	}
	v, err := call(ctx, h.reg, "htable.get", str(table), str(key))
	if err != nil {
		e.Missing = true
		return e
	}
	it := v.first().get("item")
	e.Value = it.str("value")
	if vv := it.get("value"); vv != nil && vv.val.Kind != rpc.KindStr {
		e.IsInt = true
	}
	return e
}

// ---------------------------------------------------------------------
// Actions (POST, CSRF-checked, then redirected back with the result)

// action parses and checks a form; it answers and returns false when the
// request is refused.
func (h *Handler) action(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil {
		h.render(w, r, http.StatusBadRequest, "error", &errorPage{Message: "Bad form: " + err.Error()})
		return false
	}
	if !h.checkCSRF(r) {
		h.render(w, r, http.StatusForbidden, "error", &errorPage{
			Message: "This form is stale or came from another site (CSRF check failed). Reload the page and try again."})
		return false
	}
	return true
}

// formKey returns the item name of a form: kx (hex, exact bytes) or k.
func formKey(f url.Values) (string, error) {
	if kx := f.Get("kx"); kx != "" {
		b, err := hex.DecodeString(kx)
		if err != nil {
			return "", errors.New("bad item name encoding")
		}
		return string(b), nil
	}
	return f.Get("k"), nil
}

func (h *Handler) done(w http.ResponseWriter, r *http.Request, isErr bool, msg string) {
	setFlash(w, isErr, msg)
	http.Redirect(w, r, safeBack(r.PostForm.Get("back")), http.StatusSeeOther)
}

// deleteItem is the "unblock this IP" action: htable.delete <table> <name>.
func (h *Handler) deleteItem(w http.ResponseWriter, r *http.Request) {
	if !h.action(w, r) {
		return
	}
	t := r.PostForm.Get("t")
	k, err := formKey(r.PostForm)
	if err != nil || t == "" || k == "" {
		h.done(w, r, true, "Delete: the table or the item name is missing.")
		return
	}
	if _, err := call(r.Context(), h.reg, "htable.delete", str(t), str(k)); err != nil {
		h.done(w, r, true, faultText("htable.delete", err))
		return
	}
	h.counts.forget()
	h.log.Info("webui: item deleted", "table", t, "name", k, "client", r.RemoteAddr)
	h.done(w, r, false, fmt.Sprintf("Deleted %s from %s.", quoteName(k), t))
}

// setItem is htable.sets or htable.seti <table> <name> <value>; the value
// is sent as typed and converted by the method's own scan rules.
func (h *Handler) setItem(w http.ResponseWriter, r *http.Request) {
	if !h.action(w, r) {
		return
	}
	f := r.PostForm
	t := f.Get("t")
	k, err := formKey(f)
	if err != nil || t == "" || k == "" {
		h.done(w, r, true, "Set: the table or the item name is missing.")
		return
	}
	method := "htable.sets"
	if f.Get("type") == "int" {
		method = "htable.seti"
	}
	v := f.Get("v")
	if method == "htable.seti" {
		v = strings.TrimSpace(v)
	}
	if _, err := call(r.Context(), h.reg, method, str(t), str(k), str(v)); err != nil {
		h.done(w, r, true, faultText(method, err))
		return
	}
	h.counts.forget()
	h.log.Info("webui: item set", "table", t, "name", k, "method", method, "client", r.RemoteAddr)
	h.done(w, r, false, fmt.Sprintf("Set %s in %s to %s.", quoteName(k), t, quoteName(v)))
}

// pikeUnblock is pike.rm <ip>.
func (h *Handler) pikeUnblock(w http.ResponseWriter, r *http.Request) {
	if !h.action(w, r) {
		return
	}
	ip := r.PostForm.Get("ip")
	v, err := call(r.Context(), h.reg, "pike.rm", str(ip))
	if err != nil {
		h.done(w, r, true, faultText("pike.rm", err))
		return
	}
	msg := "Unblocked " + ip + "."
	if s := v.first(); s != nil && !s.container {
		msg = s.val.Text()
	}
	h.log.Info("webui: pike.rm", "ip", ip, "client", r.RemoteAddr)
	h.done(w, r, false, msg)
}

func quoteName(s string) string {
	if printable(s) && !strings.ContainsAny(s, `"`) {
		return `"` + truncate(s, maxShown) + `"`
	}
	return truncate(strconv.QuoteToGraphic(s), maxShown)
}

// setFlash and takeFlash carry the result of an action to the page it
// redirects to, in a short-lived cookie.
func setFlash(w http.ResponseWriter, isErr bool, msg string) {
	kind := "o"
	if isErr {
		kind = "e"
	}
	http.SetCookie(w, &http.Cookie{Name: cookieFlash, Value: kind + base64.RawURLEncoding.EncodeToString([]byte(truncate(msg, 1000))),
		Path: "/ui/", MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(cookieFlash)
	if err != nil || len(ck.Value) < 1 {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: cookieFlash, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value[1:])
	if err != nil || len(b) == 0 {
		return nil
	}
	return &flash{Error: ck.Value[0] != 'o', Text: string(b)}
}

// ---------------------------------------------------------------------
// Chart data

type statsReply struct {
	Points []point `json:"points"`
	Error  string  `json:"error,omitempty"`
}

// apiStats returns the recent rate points: requests/s, 4xx/s and 429/s
// from sipht_sip_requests_received_total and sipht_sip_replies_sent_total.
func (h *Handler) apiStats(w http.ResponseWriter, r *http.Request) {
	pts, err := h.stats.sample()
	rep := statsReply{Points: pts}
	if rep.Points == nil {
		rep.Points = []point{}
	}
	if err != nil {
		rep.Error = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(rep)
}

// ---------------------------------------------------------------------
// Formatting

func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}

func humanDuration(s int64) string {
	d := time.Duration(s) * time.Second
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", s)
	case d < time.Hour:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
}
