// Package core is sipht's builtin "core" module: what Kamailio has in its
// core rather than in a module. It provides
//
//   - the expression keywords uri, from_uri, to_uri, method, status,
//     src_ip, dst_ip, src_port, dst_port, proto, af and msg:len, and the
//     `myself` matcher behind `uri == myself` (see Myself);
//   - the core actions forward/forward_udp/forward_tcp, force_rport,
//     log, error, the Request-URI rewriting actions (sethost, seturi,
//     setuser, setport, sethostport, prefix, strip, strip_tail, userphone,
//     revert_uri ...), set_forward_no_connect and set_reply_no_connect;
//   - the per-message routing state every module shares (Routing: the
//     rewritten R-URI, $du, branches), reached with RoutingOf.
//
// It is always loaded (module.Info.Builtin) and has no parameters.
//
// # For module authors
//
// The Request-URI as the script rewrote it, $du and the branches live in
// Routing, one per message. A module reaches it in one of two ways, which
// see the same state:
//
//   - sipmsg.For(h.Script).Dest() (a sipmsg.Dest: RequestURI, SetRequestURI,
//     DstURI, SetDstURI, AppendBranch, Branches) when it only needs those;
//   - core.RoutingOf(h.Script).Get(c) for the rest: the parsed R-URI
//     (ParsedURI), the received one (OrigURI, ParsedOrigURI), Rewrite with
//     Kamailio's rules (SetUser, SetHost, Prefix, Strip ...), RevertURI,
//     RURIIsNew, SetError/Error (what sl_reply_error answers).
//
// Call either from Init (they register the per-message slot). The myself
// check is MyselfOf(h.Script) (Match, MatchTransport, MatchURI), also
// installed as sipmsg's Myself, valid once the server has started. To send
// the request on, use sipmsg.Materialize (the script's header edits
// applied) as forward() does.
package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{
		Name:    "core",
		Summary: "Kamailio's core keywords (uri, src_ip, myself ...) and actions (forward, sethost, strip ...)",
		New:     func() module.Module { return &Module{} },
		Builtin: true,
	})
}

// Module is the builtin core module.
type Module struct {
	msgs    *sipmsg.Msgs
	routing RoutingSlot
	myself  *Myself
	sip     *sipio.Server
	log     *slog.Logger
	slog    *slog.Logger
}

// Params returns nothing: the core's parameters are global parameters.
func (m *Module) Params() []module.Param { return nil }

// Init registers the keywords and core actions.
func (m *Module) Init(h *module.Host) error {
	m.msgs = sipmsg.For(h.Script)
	m.routing = RoutingOf(h.Script)
	m.myself = MyselfOf(h.Script)
	m.log = h.Log
	m.slog = h.ScriptLog
	if m.slog == nil {
		m.slog = h.Log
	}
	if err := m.registerKeywords(h.Script); err != nil {
		return err
	}
	return m.registerActions(h.Script)
}

// Start builds the myself matcher from the open sockets (reverse DNS for
// auto_aliases happens here, once).
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	m.sip = h.SIP
	if h.SIP != nil {
		m.myself.Build(ctx, h.SIP.Listeners(), h.Core)
	}
	return nil
}

// Headers returns the headers of the message (request or reply), nil when
// there is none.
func Headers(msg *sipio.Msg) []sip.Header {
	switch {
	case msg == nil:
		return nil
	case msg.Req != nil:
		return msg.Req.Headers()
	case msg.Res != nil:
		return msg.Res.Headers()
	}
	return nil
}

// Header returns the value of the first header called name and whether
// there is one: a name Kamailio knows matches by type (so "f" is "From"),
// any other case-insensitively (Kamailio's cmp_hdrname_str).
func Header(msg *sipio.Msg, name string) (string, bool) {
	n := sipmsg.NewHeaderName(name)
	for _, h := range Headers(msg) {
		if MatchHeader(n, h.Name()) {
			return h.Value(), true
		}
	}
	return "", false
}

// MatchHeader reports whether a header of a sipgo message (whose name is
// already trimmed) is the one n names.
func MatchHeader(n sipmsg.HeaderName, name string) bool {
	if n.Type != sipmsg.HdrOther {
		return sipmsg.TypeOf(name) == n.Type
	}
	return len(name) == len(n.Name) && strings.EqualFold(name, n.Name) && sipmsg.TypeOf(name) == sipmsg.HdrOther
}

// NameAddrHeader parses the first From/To-style header called name.
func NameAddrHeader(msg *sipio.Msg, name string) (sipmsg.NameAddr, bool) {
	v, ok := Header(msg, name)
	if !ok {
		return sipmsg.NameAddr{}, false
	}
	na, err := sipmsg.ParseNameAddr(v)
	return na, err == nil
}

// Kamailio's transport numbers (PROTO_*), as a URI's transport parameter
// names them.
const (
	ProtoNone = 0
	ProtoUDP  = 1
	ProtoTCP  = 2
	ProtoTLS  = 3
	ProtoSCTP = 4
	ProtoWS   = 5
	ProtoWSS  = 6
)

// URIProto returns the transport a parsed URI's transport parameter names
// (ProtoNone when absent, -1 when unknown).
func URIProto(u *sipmsg.URI) int {
	if !u.Transport.Set {
		return ProtoNone
	}
	if n := script.ProtoNumber(u.Transport.Value); n != 0 {
		return int(n)
	}
	return -1
}

// URIPort is Kamailio's GET_URI_PORT: the URI's port, else 5061 when its
// transport is TLS, else 5060 (a sips: URI without transport=tls counts as
// 5060 in Kamailio 5.6 too).
func URIPort(u *sipmsg.URI) uint16 {
	if u.PortNo != 0 {
		return uint16(u.PortNo)
	}
	if URIProto(u) == ProtoTLS {
		return 5061
	}
	return 5060
}

// URIParam returns the value of a URI parameter (its own, not those of a
// telephone number in the user part) and whether it is there.
func URIParam(u *sipmsg.URI, name string) (string, bool) {
	val, found := "", false
	sipmsg.ParseParams(u.SIPParams, func(p sipmsg.Param) bool {
		if strings.EqualFold(p.Name, name) {
			val, found = p.Value, true
			return false
		}
		return true
	})
	return val, found
}

// Method returns the request method as written, or the CSeq method of a
// reply ("" when unknown).
func Method(msg *sipio.Msg) string {
	if msg == nil {
		return ""
	}
	if msg.Req != nil {
		// sipgo upper-cases the method; Kamailio shows it as written
		m := string(msg.Req.Method)
		if len(msg.Raw) > len(m) && msg.Raw[len(m)] == ' ' && string(msg.Raw[:len(m)]) != m {
			return string(msg.Raw[:len(m)])
		}
		return m
	}
	if v, ok := Header(msg, "CSeq"); ok {
		f := strings.Fields(v)
		if len(f) == 2 {
			return f[1]
		}
	}
	return ""
}

// ---------------------------------------------------------------------------
// keywords

func (m *Module) registerKeywords(r *script.Registry) error {
	str := func(s string, ok bool) script.Value {
		if !ok {
			return script.Null
		}
		return script.Str(s)
	}
	hdrURI := func(name string) func(c *script.Ctx) script.Value {
		return func(c *script.Ctx) script.Value {
			na, ok := NameAddrHeader(c.Msg, name)
			return str(na.URI, ok)
		}
	}
	hdrSelf := func(name string) func(c *script.Ctx) bool {
		return func(c *script.Ctx) bool {
			na, ok := NameAddrHeader(c.Msg, name)
			return ok && m.myself.MatchURI(na.URI)
		}
	}
	addr := func(local bool) func(c *script.Ctx) script.Value {
		return func(c *script.Ctx) script.Value {
			if c.Msg == nil {
				return script.Null
			}
			a := c.Msg.Source
			if local {
				a = c.Msg.Local
			}
			return script.Str(ipString(a.Addr()))
		}
	}
	port := func(local bool) func(c *script.Ctx) script.Value {
		return func(c *script.Ctx) script.Value {
			if c.Msg == nil {
				return script.Int(0)
			}
			a := c.Msg.Source
			if local {
				a = c.Msg.Local
			}
			return script.Int(int64(a.Port()))
		}
	}
	ipSelf := func(local bool) func(c *script.Ctx) bool {
		return func(c *script.Ctx) bool {
			if c.Msg == nil {
				return false
			}
			a := c.Msg.Source
			if local {
				a = c.Msg.Local
			}
			return m.myself.Match(ipString(a.Addr()), 0)
		}
	}
	kws := []script.Keyword{
		{Name: "uri", Get: func(c *script.Ctx) script.Value {
			if c.Msg == nil || c.Msg.Req == nil {
				return script.Null
			}
			return script.Str(m.routing.Get(c).URI())
		}, Myself: func(c *script.Ctx) bool {
			if c.Msg == nil || c.Msg.Req == nil {
				return false
			}
			u, ok := m.routing.Get(c).ParsedURI()
			return ok && m.myself.MatchParsed(u)
		}},
		{Name: "from_uri", Get: hdrURI("From"), Myself: hdrSelf("From")},
		{Name: "to_uri", Get: hdrURI("To"), Myself: hdrSelf("To")},
		{Name: "method", Get: func(c *script.Ctx) script.Value {
			s := Method(c.Msg)
			return str(s, s != "")
		}},
		{Name: "status", Get: func(c *script.Ctx) script.Value {
			if c.Msg == nil || c.Msg.Res == nil {
				return script.Null
			}
			return script.Str(strconv.Itoa(c.Msg.Res.StatusCode))
		}},
		{Name: "src_ip", Get: addr(false), Myself: ipSelf(false)},
		{Name: "dst_ip", Get: addr(true), Myself: ipSelf(true)},
		{Name: "src_port", Get: port(false)},
		{Name: "dst_port", Get: port(true)},
		{Name: "proto", Get: func(c *script.Ctx) script.Value {
			if c.Msg == nil {
				return script.Int(0)
			}
			return script.Int(script.ProtoNumber(c.Msg.Transport.String()))
		}},
		{Name: "af", Get: func(c *script.Ctx) script.Value {
			if c.Msg == nil {
				return script.Int(0)
			}
			if c.Msg.Source.Addr().Unmap().Is4() {
				return script.Int(2)
			}
			return script.Int(10)
		}},
		{Name: "msg:len", Get: func(c *script.Ctx) script.Value {
			if c.Msg == nil {
				return script.Int(0)
			}
			return script.Int(int64(len(c.Msg.Raw)))
		}},
	}
	for _, k := range kws {
		k.Module = "core"
		if err := r.AddKeyword(k); err != nil {
			return err
		}
	}
	return nil
}

// ipString prints an address as Kamailio's ip_addr2a: IPv4 dotted, IPv6
// without brackets, v4-mapped addresses as IPv4.
func ipString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.Unmap().String()
}

// ---------------------------------------------------------------------------
// actions

// rewriteActions maps the URI rewriting actions to their operation.
var rewriteActions = map[string]RewriteOp{
	"rewritehost": SetHost, "sethost": SetHost, "seth": SetHost,
	"rewritehostport": SetHostPort, "sethostport": SetHostPort, "sethp": SetHostPort,
	"rewritehostporttrans": SetHostPortTrans, "sethostporttrans": SetHostPortTrans, "sethpt": SetHostPortTrans,
	"rewriteuser": SetUser, "setuser": SetUser, "setu": SetUser,
	"rewriteuserpass": SetUserPass, "setuserpass": SetUserPass, "setup": SetUserPass,
	"rewriteport": SetPort, "setport": SetPort, "setp": SetPort,
	"prefix": Prefix,
}

func (m *Module) registerActions(r *script.Registry) error {
	var errs []error
	add := func(f script.Func) {
		f.Core = true
		f.Module = "core"
		if err := r.AddFunc(f); err != nil {
			errs = append(errs, err)
		}
	}
	for name, op := range rewriteActions {
		op := op
		add(script.Func{Name: name, MinArgs: 1, MaxArgs: 1, Routes: uriRoutes,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				s, err := constStringArg(fc.Arg(0))
				if err != nil {
					return nil, err
				}
				return m.rewrite(fc, op, s, 0), nil
			}})
	}
	for _, name := range []string{"strip", "strip_tail"} {
		op := Strip
		if name == "strip_tail" {
			op = StripTail
		}
		add(script.Func{Name: name, MinArgs: 1, MaxArgs: 1, Routes: uriRoutes,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				lit, ok := fc.Arg(0).Expr.(*cfg.IntLit)
				if !ok || lit.V < 0 {
					return nil, fc.Arg(0).Errorf("bad argument, number expected")
				}
				n := lit.V
				return m.rewrite(fc, op, "", int(n)), nil
			}})
	}
	add(script.Func{Name: "userphone", MinArgs: 0, MaxArgs: 0, Routes: uriRoutes,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return m.rewrite(fc, SetUserPhone, "", 0), nil
		}})
	for _, name := range []string{"rewriteuri", "seturi"} {
		add(script.Func{Name: name, MinArgs: 1, MaxArgs: 1, Routes: uriRoutes,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				s, err := constStringArg(fc.Arg(0))
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int {
					if c.Msg == nil || c.Msg.Req == nil {
						return -1
					}
					m.routing.Get(c).SetURI(s)
					return 1
				}, nil
			}})
	}
	add(script.Func{Name: "revert_uri", MinArgs: 0, MaxArgs: 0, Routes: uriRoutes,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				if c.Msg != nil && c.Msg.Req != nil {
					m.routing.Get(c).RevertURI()
				}
				return 1
			}, nil
		}})
	for _, name := range []string{"force_rport", "add_rport"} {
		add(script.Func{Name: name, MinArgs: 0, MaxArgs: 0,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				return func(c *script.Ctx) int {
					if c.Msg != nil {
						c.Msg.ForceRport = true
					}
					return 1
				}, nil
			}})
	}
	for _, name := range []string{"set_forward_no_connect", "set_reply_no_connect", "set_forward_close", "set_reply_close", "add_local_rport"} {
		name := name
		add(script.Func{Name: name, MinArgs: 0, MaxArgs: 0,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				return func(c *script.Ctx) int {
					switch name {
					case "set_forward_no_connect":
						m.routing.Get(c).ForwardNoConnect = true
					case "set_reply_no_connect":
						m.routing.Get(c).ReplyNoConnect = true
					}
					return 1
				}, nil
			}})
	}
	add(script.Func{Name: "log", MinArgs: 1, MaxArgs: 2, Fixup: m.fixupLog})
	add(script.Func{Name: "error", MinArgs: 2, MaxArgs: 2,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			a, err := constStringArg(fc.Arg(0))
			if err != nil {
				return nil, err
			}
			b, err := constStringArg(fc.Arg(1))
			if err != nil {
				return nil, err
			}
			msg := fmt.Sprintf("error(%q, %q) not implemented yet", a, b)
			return func(c *script.Ctx) int {
				m.log.Log(context.Background(), logging.LevelNotice, msg)
				return 1
			}, nil
		}})
	for _, name := range []string{"forward", "forward_udp", "forward_tcp", "forward_tls", "forward_sctp"} {
		name := name
		add(script.Func{Name: name, MinArgs: 0, MaxArgs: 2, Routes: script.RequestRoute | script.FailureRoute | script.BranchRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) { return m.fixupForward(fc, name) }})
	}
	return errors.Join(errs...)
}

// uriRoutes are the route types where the R-URI can be changed.
const uriRoutes = script.RequestRoute | script.FailureRoute | script.BranchRoute | script.OnReplyRoute | script.EventRoute

// constStringArg reads a core action's string argument: Kamailio's
// grammar takes a string literal (its text is used as is: "$x" is not
// expanded) or a bare word.
func constStringArg(a *script.Arg) (string, error) {
	s, ok := a.ConstString()
	if !ok {
		return "", a.Errorf("bad argument, string expected")
	}
	return s, nil
}

func (m *Module) rewrite(fc *script.FixupCtx, op RewriteOp, s string, n int) script.Handler {
	name := fc.Name
	return func(c *script.Ctx) int {
		if c.Msg == nil || c.Msg.Req == nil {
			return -1
		}
		rt := m.routing.Get(c)
		if err := rt.Rewrite(op, s, n); err != nil {
			c.Log.Error(name+"(): cannot rewrite the request uri", "uri", rt.URI(), "err", err)
			rt.SetError(ErrUnspec)
			return -1
		}
		return 1
	}
}

// fixupLog compiles log("text") (Kamailio logs it at L_DBG+1, i.e. only
// with debug>=4) and log(level, "text"). The text is not a format.
func (m *Module) fixupLog(fc *script.FixupCtx) (script.Handler, error) {
	level := slog.Level(logging.LevelDebug - 4)
	ta := fc.Arg(0)
	if fc.NArgs() == 2 {
		n, ok := fc.Arg(0).ConstInt()
		if !ok {
			return nil, fc.Arg(0).Errorf("bad log level, number expected")
		}
		if n <= 3 {
			level = logging.FromKamailio(int(n))
		}
		ta = fc.Arg(1)
	}
	text, err := constStringArg(ta)
	if err != nil {
		return nil, err
	}
	log := m.slog
	return func(c *script.Ctx) int {
		if log.Enabled(context.Background(), level) {
			r := slog.NewRecord(time.Now(), level, text, 0)
			_ = log.Handler().Handle(context.Background(), r)
		}
		return 1
	}, nil
}

// fixupForward compiles forward(), forward(host), forward(host, port),
// forward(uri:host, uri:port) and the _udp/_tcp variants.
func (m *Module) fixupForward(fc *script.FixupCtx, name string) (script.Handler, error) {
	var proto sipio.Transport
	switch name {
	case "forward_udp":
		proto = sipio.UDP
	case "forward_tcp":
		proto = sipio.TCP
	case "forward_tls", "forward_sctp":
		return nil, fc.Errorf("%s is not supported by sipht (UDP and TCP only)", name)
	}
	host, useURIHost := "", true
	port, useURIPort := 0, true
	if fc.NArgs() >= 1 {
		s, ok := fc.Arg(0).ConstString()
		if !ok {
			return nil, fc.Arg(0).Errorf("bad forward argument")
		}
		if s != "uri:host" {
			host, useURIHost, useURIPort = s, false, false
		}
	}
	if fc.NArgs() == 2 {
		s, ok := fc.Arg(1).ConstString()
		if !ok {
			return nil, fc.Arg(1).Errorf("bad forward port")
		}
		if s == "uri:port" {
			if !useURIHost {
				return nil, fc.Arg(1).Errorf("uri:port needs uri:host as the first argument")
			}
			useURIPort = true
		} else {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 65535 {
				return nil, fc.Arg(1).Errorf("bad forward port %q", s)
			}
			port, useURIPort = n, false
		}
	} else if fc.NArgs() == 1 && useURIHost {
		useURIPort = false // forward(uri:host): port 0 = default
	}
	if !useURIHost {
		if strings.Contains(host, "$") {
			return nil, fc.Arg(0).Errorf("forward() takes a host, not a variable; set $du instead")
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	return func(c *script.Ctx) int {
		if c.Msg == nil || c.Msg.Req == nil || m.sip == nil {
			return -1
		}
		rt := m.routing.Get(c)
		tp := proto
		h, p := host, port
		if useURIHost {
			u, err := rt.Destination()
			if err != nil {
				c.Log.Error("forward: bad uri, dropping packet", "err", err)
				rt.SetError(ErrBadURI)
				return ErrBadURI
			}
			h = u.Host
			if u.MAddr.Set && u.MAddr.Value != "" {
				h = u.MAddr.Value
			}
			if useURIPort {
				p = u.PortNo
			}
			if tp == 0 {
				switch URIProto(&u) {
				case ProtoNone, ProtoUDP:
					if u.Type == sipmsg.URISIPS {
						c.Log.Error("forward: sips URIs need TLS, which sipht does not support")
						rt.SetError(ErrBadProto)
						return ErrBadProto
					}
					tp = sipio.UDP
				case ProtoTCP:
					tp = sipio.TCP
				default:
					c.Log.Error("forward: unsupported transport", "transport", u.Transport.Value)
					rt.SetError(ErrBadProto)
					return ErrBadProto
				}
			}
			h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		}
		if tp == 0 {
			tp = sipio.UDP
		}
		if p == 0 {
			p = sipio.DefaultPort
		}
		ip, err := resolve(h)
		if err != nil {
			c.Log.Error("forward: cannot resolve destination", "host", h, "err", err)
			rt.SetError(ErrBadAddress)
			return ErrBadAddress
		}
		// the message as the script changed it (textops edits ...); with no
		// edits that is c.Msg itself, which then gets the new R-URI
		out, err := m.msgs.Materialize(c)
		if err != nil {
			c.Log.Error("forward: cannot apply the message changes", "err", err)
			rt.SetError(ErrBadReq)
			return ErrBadReq
		}
		if out == c.Msg && rt.HasNewURI() {
			var u sip.Uri
			if err := sip.ParseUri(rt.URI(), &u); err != nil {
				c.Log.Error("forward: bad request uri", "uri", rt.URI(), "err", err)
				rt.SetError(ErrBadURI)
				return ErrBadURI
			}
			c.Msg.Req.Recipient = u
		}
		if err := m.sip.Forward(out, sipio.Target{Transport: tp, Addr: netip.AddrPortFrom(ip, uint16(p))}); err != nil {
			c.Log.Error("forward: sending failed", "err", err)
			rt.SetError(ErrSend)
			return ErrSend
		}
		return 1
	}, nil
}

// resolve returns the address of an IP literal or, for a name, its first
// address from DNS (bounded to 2 s).
func resolve(h string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(ips) == 0 {
		return netip.Addr{}, errors.New("no address")
	}
	return ips[0].Unmap(), nil
}
