// Package xhttp is Kamailio's xhttp module: HTTP requests that arrive on
// the config's SIP TCP sockets (listen=tcp:...) run
// event_route[xhttp:request], where the script looks at $hu and answers
// with xhttp_reply() or hands the request to a dispatch function of another
// module: jsonrpc_dispatch() (jsonrpcs), prom_dispatch() (xhttp_prom),
// webui_dispatch() (webui, a sipht addition).
//
//	listen=tcp:127.0.0.1:8080
//	loadmodule "xhttp.so"
//	loadmodule "jsonrpcs.so"
//	modparam("jsonrpcs", "transport", 1)
//	event_route[xhttp:request] {
//		if ($hu =~ "^/RPC") { jsonrpc_dispatch(); exit; }
//		xhttp_reply("404", "Not Found", "text/plain", "Not Found: $hu\n");
//	}
//
// # How a request is served
//
// The SIP transport (internal/sipio) looks at the first line of every TCP
// connection it accepts: when it ends with HTTP/1.0 or HTTP/1.1 the whole
// connection is handed to this module's net/http server (keep-alive,
// chunked replies, limits); anything else is SIP and never sees this module.
// For each HTTP request the event route runs on a SIP worker goroutine
// (module.Host.Exec), as Kamailio runs it in a SIP worker process, with the
// request as the message: $hu, and the pv module's $si, $sp, $rm, $hdr(...),
// $rb work on it. The route only decides: xhttp_reply() and the dispatch
// functions record the answer, and the answer is written after the route
// returns, on the connection's own goroutine. A dispatch handler that streams
// a reply of any size (a 1M-item htable.dump) or a slow client therefore
// never holds a SIP worker.
//
// # Serving an http.Handler from another module (API)
//
// A module with its own HTTP endpoint (jsonrpcs, xhttp_prom, webui) declares
// a dispatch function from its Init:
//
//	x, err := xhttp.Find(h) // the loaded xhttp module
//	if err != nil { return err }
//	return h.Script.AddFunc(x.DispatchFunc("webui_dispatch", "webui", handler))
//
// DispatchFunc declares a function without arguments, usable in
// event_route[xhttp:request] (and the routes it calls), that hands the
// request to handler once the route has finished. A function that needs to
// decide at run time uses Module.Serve(c, handler) from its own handler;
// Module.Request(c) gives the *http.Request being routed (read-only; its
// body has been read already and is replayed to the handler) and
// Module.Reply(c, ...) is the Go twin of xhttp_reply.
//
// # Differences from Kamailio
//
//   - A request the route does not answer, or whose URL url_skip/url_match
//     exclude, gets "404 Not Found" (Kamailio sends nothing: the client
//     waits until it gives up).
//   - xhttp_reply writes a normal HTTP reply (Server, Content-Type,
//     Content-Length); Kamailio's carries SIP leftovers (a "Sia:" header
//     made from the fake Via). A reason phrase other than the standard one
//     for the code is written as given and the connection is then closed.
//   - Only the first line of a connection decides HTTP or SIP (Kamailio
//     looks at every message); tcp_accept_no_cl is not needed for HTTP.
//   - The request body is limited to 1 MiB (413 beyond).
//   - event_callback (KEMI) is not supported.
package xhttp

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
)

func init() {
	module.Register(module.Info{
		Name:    "xhttp",
		Summary: "HTTP on the SIP TCP sockets: event_route[xhttp:request], $hu, xhttp_reply()",
		New:     func() module.Module { return New() },
	})
}

// Limits of the HTTP side. They are not Kamailio parameters.
const (
	// MaxBodySize bounds a request body (413 beyond).
	MaxBodySize = 1 << 20
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes = 16 << 10
	// MaxConns bounds HTTP connections open at once; more are closed at once.
	MaxConns = 256
	// ReadTimeout bounds reading one request (headers and body).
	ReadTimeout = 10 * time.Second
	// DefaultIdleTimeout closes idle keep-alive connections
	// (tcp_connection_lifetime when the config sets it).
	DefaultIdleTimeout = 120 * time.Second
	// RouteTimeout bounds the wait for a SIP worker to run the event route
	// (503 Service Unavailable after it) and the route itself.
	RouteTimeout = 10 * time.Second
	// ShutdownTimeout is how long Stop lets replies in progress finish.
	ShutdownTimeout = 5 * time.Second
)

// EventRoute is the route run for every HTTP request.
const EventRoute = "xhttp:request"

// Module is a loaded xhttp module. Other modules reach it with Find.
type Module struct {
	urlMatch, urlSkip string
	reMatch, reSkip   *regexp.Regexp
	eventCallback     string

	host  *module.Host
	slot  script.Slot[state]
	route *script.Route
	srv   *server
}

// New returns an unconfigured module.
func New() *Module { return &Module{} }

// Find returns the loaded xhttp module of the server h belongs to, or an
// error telling the user to load it.
func Find(h *module.Host) (*Module, error) {
	m, ok := h.Loaded("xhttp")
	if !ok {
		return nil, errors.New(`needs the xhttp module: add loadmodule "xhttp.so" (and a listen=tcp:... socket)`)
	}
	x, ok := m.(*Module)
	if !ok {
		return nil, fmt.Errorf("module xhttp has unexpected type %T", m)
	}
	return x, nil
}

// Params implements module.Module.
func (m *Module) Params() []module.Param {
	return []module.Param{
		{Name: "url_match", Kind: module.ParamStr, Doc: "regular expression (POSIX ERE) the URL must match to run the event route",
			Set: func(v module.Value) error { m.urlMatch = v.Str; return nil }},
		{Name: "url_skip", Kind: module.ParamStr, Doc: "regular expression (POSIX ERE): matching URLs do not run the event route (checked first)",
			Set: func(v module.Value) error { m.urlSkip = v.Str; return nil }},
		{Name: "event_callback", Kind: module.ParamStr, Doc: "KEMI function name (not supported by sipht)",
			Set: func(v module.Value) error { m.eventCallback = v.Str; return nil }},
	}
}

// Init implements module.Initializer: it compiles the URL filters and
// declares $hu, xhttp_reply() and the {url.*} transformations.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	if m.eventCallback != "" {
		return fmt.Errorf("event_callback %q: KEMI scripting is not supported by sipht; use event_route[%s]", m.eventCallback, EventRoute)
	}
	var err error
	if m.urlMatch != "" {
		if m.reMatch, err = cfg.CompileERE(m.urlMatch, false); err != nil {
			return fmt.Errorf("url_match %q: bad regular expression: %w", m.urlMatch, err)
		}
	}
	if m.urlSkip != "" {
		if m.reSkip, err = cfg.CompileERE(m.urlSkip, false); err != nil {
			return fmt.Errorf("url_skip %q: bad regular expression: %w", m.urlSkip, err)
		}
	}
	m.slot = script.NewSlot[state](h.Script, nil, nil)
	return m.declare(h.Script)
}

// Start implements module.Starter: it starts the HTTP server and asks the
// SIP transport to hand it the HTTP connections of its TCP listeners.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	m.route = h.Program.EventRoute(EventRoute)
	if m.route == nil {
		return fmt.Errorf("the config has no event_route[%s] (Kamailio refuses to start without it too)", EventRoute)
	}
	if h.SIP == nil {
		return nil
	}
	hasTCP := false
	for _, l := range h.SIP.Listeners() {
		if l.Transport.String() == "tcp" {
			hasTCP = true
		}
	}
	if !hasTCP {
		h.Log.Warn("xhttp is loaded but there is no listen=tcp:... socket: no HTTP request can arrive")
	}
	idle := DefaultIdleTimeout
	if h.Core.TCPConnectionLifetime > 0 {
		idle = h.Core.TCPConnectionLifetime
	}
	m.srv = newServer(m, idle)
	h.SIP.SetHTTPHandler(m.srv.accept)
	return nil
}

// Stop implements module.Stopper: new HTTP connections go to SIP again
// (the SIP transport is normally stopped already), replies in progress get
// ShutdownTimeout to finish, then every connection is closed.
func (m *Module) Stop(ctx context.Context) error {
	if m.srv == nil {
		return nil
	}
	if m.host.SIP != nil {
		m.host.SIP.SetHTTPHandler(nil)
	}
	sctx, cancel := context.WithTimeout(ctx, ShutdownTimeout)
	defer cancel()
	return m.srv.shutdown(sctx)
}
