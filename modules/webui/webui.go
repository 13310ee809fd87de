// Package webui is sipht's web page for operators (no Kamailio twin): the
// hash tables with their item counts and memory, a searchable, paginated
// view of one table's items with delete ("unblock this IP") and set
// buttons, a live chart of requests per second and 4xx/429 replies, pike's
// hot sources with an unblock button, and the DMQ nodes with their status.
//
// It is served by the xhttp module on the config's HTTP socket, next to
// JSON-RPC and /metrics, the way Kamailio configs route HTTP:
//
//	listen=tcp:127.0.0.1:8080
//	loadmodule "xhttp.so"
//	loadmodule "webui.so"
//	modparam("webui", "token", "a-long-random-secret")   # needed beyond loopback
//	event_route[xhttp:request] {
//		if ($hu =~ "^/ui/") { webui_dispatch(); exit; }
//	}
//
// One source of truth: every number the page shows and every change it
// makes is an RPC call through the server's registry, with the methods and
// parameters a kamcmd or JSON-RPC user has (htable.listTables,
// htable.stats, htable.list, htable.get, htable.delete, htable.sets,
// htable.seti, pike.top, pike.rm, dmq.list_nodes, core.version,
// core.uptime), so the page and the CLI cannot disagree; fault texts are
// shown as kamcmd prints them. A method whose module is not loaded shows
// as "not enabled". The chart and the tables' memory come from the
// server's Prometheus registry (what /metrics serves). Without htable.list
// (sipht's paginated listing) pages are cut from a streamed htable.dump.
//
// Parameters:
//
//   - token: a secret every client must present (Authorization: Bearer,
//     ?token= once, which sets a cookie, or the login form).
//   - user, password: HTTP Basic credentials (either these or the token).
//   - allow_remote (0): without credentials only loopback clients are
//     served and others get 403 (logged); 1 serves everyone.
//   - title ("sipht"): the page title.
//   - page_size (50): items per table page (1..1000).
//
// Credentials are compared in constant time. Changes are POST forms
// checked against cross-site requests (Go's CrossOriginProtection and a
// per-session token). Pages are server-rendered with html/template (item
// names and values come from SIP and are escaped; unprintable ones are
// shown quoted), with one small script for the chart and one style sheet,
// all embedded; a Content-Security-Policy allows nothing else.
package webui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/modules/xhttp"
)

func init() {
	module.Register(module.Info{
		Name:    "webui",
		Summary: "web page for operators on the xhttp socket: tables, items, traffic chart, pike, DMQ (sipht addition)",
		New:     func() module.Module { return &Module{} },
	})
}

// Module is a loaded webui module.
type Module struct {
	cfg Config
	h   *Handler
}

// Handler returns the module's HTTP handler (nil before Init).
func (m *Module) Handler() *Handler { return m.h }

// Params implements module.Module.
func (m *Module) Params() []module.Param {
	return []module.Param{
		{Name: "token", Kind: module.ParamStr, Doc: "secret token every client must present (Bearer, ?token=, login form)",
			Set: func(v module.Value) error { m.cfg.Token = v.Str; return nil }},
		{Name: "user", Kind: module.ParamStr, Doc: "HTTP Basic user name",
			Set: func(v module.Value) error { m.cfg.User = v.Str; return nil }},
		{Name: "password", Kind: module.ParamStr, Doc: "HTTP Basic password",
			Set: func(v module.Value) error { m.cfg.Password = v.Str; return nil }},
		{Name: "allow_remote", Kind: module.ParamInt, Doc: "1: serve non-loopback clients without credentials (default 0: 403)",
			Set: func(v module.Value) error {
				if v.Int != 0 && v.Int != 1 {
					return fmt.Errorf("allow_remote must be 0 or 1, not %d", v.Int)
				}
				m.cfg.AllowRemote = v.Int == 1
				return nil
			}},
		{Name: "title", Kind: module.ParamStr, Doc: "page title (default sipht)",
			Set: func(v module.Value) error { m.cfg.Title = v.Str; return nil }},
		{Name: "page_size", Kind: module.ParamInt, Doc: "items per table page (default 50, at most 1000)",
			Set: func(v module.Value) error {
				if v.Int < 1 || v.Int > maxPageSize {
					return fmt.Errorf("page_size must be 1 to %d, not %d", maxPageSize, v.Int)
				}
				m.cfg.PageSize = int(v.Int)
				return nil
			}},
	}
}

// Init implements module.Initializer: it checks the parameters and
// declares webui_dispatch().
func (m *Module) Init(h *module.Host) error {
	x, err := xhttp.Find(h)
	if err != nil {
		return err
	}
	c := &m.cfg
	switch {
	case c.Password != "" && c.User == "":
		return errors.New(`password is set but user is not: set modparam("webui", "user", ...) too`)
	case c.User != "" && c.Password == "":
		return errors.New(`user is set but password is not: an empty password is refused`)
	case strings.Contains(c.User, ":"):
		return errors.New("user must not contain ':' (HTTP Basic authentication cannot carry it)")
	}
	if c.Token != "" && len(c.Token) < 16 {
		h.Log.Warn("webui token is short: use at least 16 random characters", "length", len(c.Token))
	}
	m.h, err = NewHandler(h.RPC, h.Gatherer, m.cfg, h.Log)
	if err != nil {
		return err
	}
	return h.Script.AddFunc(x.DispatchFunc("webui_dispatch", "webui", m.h))
}

// Start implements module.Starter: it tells at start-up how the page is
// protected when the HTTP socket is reachable from other hosts.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	if h.SIP == nil {
		return nil
	}
	m.h.SetSIP(h.SIP)
	if level, msg, open := startNotice(m.cfg, h.SIP.Listeners()); msg != "" {
		h.Log.Log(ctx, level, msg, "sockets", open)
	}
	return nil
}

// startNotice says how the page is protected when a stream socket (where
// HTTP arrives) is bound beyond loopback; "" when all are on loopback.
func startNotice(c Config, ls []sipio.Listener) (slog.Level, string, string) {
	var open []string
	for _, l := range ls {
		if l.Transport == sipio.UDP {
			continue
		}
		if a := l.Addr.Addr().Unmap(); !a.IsLoopback() {
			open = append(open, l.Transport.String()+":"+netip.AddrPortFrom(a, l.Addr.Port()).String())
		}
	}
	if len(open) == 0 {
		return 0, "", ""
	}
	s := strings.Join(open, " ")
	switch {
	case c.Token != "" || c.User != "":
		return slog.LevelInfo, "webui: the HTTP socket is reachable from other hosts; the web UI asks every client for credentials", s
	case c.AllowRemote:
		return slog.LevelWarn, "webui: allow_remote=1 and no token or user/password: anyone who reaches the HTTP socket can delete and change table items", s
	}
	return slog.LevelWarn, `webui: the HTTP socket is reachable from other hosts but no token or user/password is set: the web UI answers them 403 and serves loopback clients only; set modparam("webui", "token", ...)`, s
}
