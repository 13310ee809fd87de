package core

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
)

// Routing is the per-message routing state Kamailio keeps in its sip_msg
// and that several modules share: the Request-URI after rewrites (new_uri,
// what $ru, $rU, $rd, $rp show and forward() uses), the original R-URI
// ($ou), the destination URI ($du, dst_uri), the extra branches and the
// last core error (for sl_reply_error). A Routing is valid for the message
// being processed by the Ctx it came from; get it with RoutingSlot.Get.
type Routing struct {
	m *sipio.Msg

	orig      string // the R-URI of the request line (allocated once)
	origState int8   // 0: not read yet, 1: read, -1: no request line
	origURI   sipmsg.URI
	origParse int8 // 0: not parsed, 1: ok, -1: bad

	newURI string
	hasNew bool
	// ruriNew is Kamailio's ruri_is_new: the R-URI counts as a branch of
	// its own (it is listed in a 3xx Contact) once the script changed it,
	// reverted it or set $du.
	ruriNew bool
	cur     sipmsg.URI
	curOK   int8 // parse state of the current R-URI (0 not parsed, 1 ok, -1 bad)

	dst      string
	branches []sipmsg.Branch
	serErr   int

	// ForwardNoConnect and ReplyNoConnect record set_forward_no_connect
	// and set_reply_no_connect (accepted; sipht opens no connection for
	// stateless replies anyway).
	ForwardNoConnect, ReplyNoConnect bool
}

func (r *Routing) reset() {
	br := r.branches[:0]
	*r = Routing{branches: br}
}

// Msg returns the message the state belongs to.
func (r *Routing) Msg() *sipio.Msg { return r.m }

// OrigURI returns the Request-URI as received ("" for a reply).
func (r *Routing) OrigURI() string {
	if r.origState == 0 {
		r.origState = -1
		if r.m != nil && r.m.Req != nil {
			if u, ok := requestURIOf(r.m.Raw); ok {
				r.orig = string(u)
				r.origState = 1
			}
			if r.origState < 0 {
				r.orig = r.m.Req.Recipient.String()
				r.origState = 1
			}
		}
	}
	return r.orig
}

// requestURIOf returns the Request-URI of a raw request: the second of the
// blank-separated words of its first line (sipmsg.RequestLine's rule,
// without allocating).
func requestURIOf(raw []byte) ([]byte, bool) {
	line := raw
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, "\r")
	var words [3][]byte
	n := 0
	for i := 0; i < len(line); {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) {
			break
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			j++
		}
		if n == 3 {
			return nil, false
		}
		words[n] = line[i:j]
		n++
		i = j
	}
	if n != 3 || (len(words[0]) >= 4 && bytes.EqualFold(words[0][:4], []byte("SIP/"))) {
		return nil, false
	}
	return words[1], true
}

// URI returns the current Request-URI: the rewritten one if the script
// changed it, else the one received ("" for a reply).
func (r *Routing) URI() string {
	if r.hasNew {
		return r.newURI
	}
	return r.OrigURI()
}

// HasNewURI reports whether the R-URI was rewritten.
func (r *Routing) HasNewURI() bool { return r.hasNew }

// ParsedURI returns the current Request-URI parsed (sipmsg.ParseURI,
// Kamailio's parse_uri); ok is false when it does not parse (or the message
// is a reply). The result is cached until the next rewrite; its strings
// point into the URI text, which lives as long as the message.
func (r *Routing) ParsedURI() (*sipmsg.URI, bool) {
	if r.curOK == 0 {
		s := r.URI()
		r.curOK = -1
		if s != "" {
			if u, err := sipmsg.ParseURI(s); err == nil {
				r.cur, r.curOK = u, 1
			}
		}
	}
	return &r.cur, r.curOK > 0
}

// ParsedOrigURI returns the received Request-URI parsed.
func (r *Routing) ParsedOrigURI() (*sipmsg.URI, bool) {
	if r.origParse == 0 {
		s := r.OrigURI()
		r.origParse = -1
		if s != "" {
			if u, err := sipmsg.ParseURI(s); err == nil {
				r.origURI, r.origParse = u, 1
			}
		}
	}
	return &r.origURI, r.origParse > 0
}

// SetURI replaces the Request-URI (Kamailio's seturi/rewriteuri and $ru
// assignment). As in Kamailio the text is not checked here; functions
// that need it parsed fail later.
func (r *Routing) SetURI(s string) {
	r.newURI, r.hasNew, r.curOK, r.ruriNew = s, true, 0, true
}

// RevertURI drops any rewrite of the Request-URI (revert_uri).
func (r *Routing) RevertURI() {
	if r.hasNew {
		r.ruriNew = true
	}
	r.newURI, r.hasNew, r.curOK = "", false, 0
}

// RURIIsNew reports whether the R-URI counts as a destination of its own
// (Kamailio's ruri_is_new: set by rewriting it, reverting it or setting
// $du).
func (r *Routing) RURIIsNew() bool { return r.ruriNew }

// DstURI returns the destination URI ($du), "" when not set.
func (r *Routing) DstURI() string { return r.dst }

// SetDstURI sets the destination URI ($du = ...); "" resets it.
func (r *Routing) SetDstURI(s string) {
	r.dst = s
	if s != "" {
		r.ruriNew = true
	}
}

// Branches returns the additional branches (do not keep the slice).
func (r *Routing) Branches() []sipmsg.Branch { return r.branches }

// AppendBranch adds a branch (at most sipmsg.MaxBranches).
func (r *Routing) AppendBranch(b sipmsg.Branch) error {
	if len(r.branches) >= sipmsg.MaxBranches {
		return sipmsg.ErrTooManyBranches
	}
	r.branches = append(r.branches, b)
	return nil
}

// ClearBranches removes all additional branches.
func (r *Routing) ClearBranches() { r.branches = r.branches[:0] }

// SetError records a core error code (Kamailio's ser_error, e.g.
// ErrBadAddress) that sl_reply_error turns into a reply.
func (r *Routing) SetError(code int) { r.serErr = code }

// Error returns the last recorded core error (0 when none).
func (r *Routing) Error() int { return r.serErr }

// Kamailio's internal error codes (E_*), as sl_reply_error maps them.
const (
	ErrUnspec     = -1
	ErrBadReq     = -400
	ErrSend       = -477
	ErrBadAddress = -478
	ErrBadURI     = -479
	ErrBadProto   = -480
)

// RewriteOp names a Request-URI rewriting core action.
type RewriteOp uint8

// The rewriting actions (Kamailio's SET_*_T, PREFIX_T, STRIP_T ...).
const (
	SetUser          RewriteOp = iota + 1 // setuser/rewriteuser, $rU
	SetUserPass                           // setuserpass/rewriteuserpass
	SetHost                               // sethost/rewritehost, $rd
	SetHostPort                           // sethostport/rewritehostport
	SetHostPortTrans                      // sethostporttrans/rewritehostporttrans
	SetPort                               // setport/rewriteport, $rp
	Prefix                                // prefix
	Strip                                 // strip
	StripTail                             // strip_tail
	SetUserPhone                          // userphone
)

// ErrBadRURI is returned by Rewrite when the current R-URI does not parse.
var ErrBadRURI = errors.New("bad request uri")

// Rewrite changes a part of the Request-URI as Kamailio's core actions
// (action.c, SET_*_T) do: the URI is parsed (Kamailio's parse_uri, with
// phone2tel) and rebuilt from scheme, user (prefixed, stripped or
// replaced), password (kept only with a user), tel: parameters, host, port,
// URI parameters and headers; a tel: URI whose host is set becomes sip:
// with ;user=phone. s is the new text (user, host, "host:port", port or
// prefix) and n the count for Strip/StripTail.
func (r *Routing) Rewrite(op RewriteOp, s string, n int) error {
	up, ok := r.ParsedURI()
	if !ok {
		return ErrBadRURI
	}
	u := *up
	isTel := u.Type == sipmsg.URITel || u.Type == sipmsg.URITels
	if op == SetUserPhone && (isTel || (u.UserParam.Set && u.UserParam.Value == "phone")) {
		return nil
	}
	if op == SetPort && isTel && !u.UserPhone {
		return errors.New("port number of a tel: URI cannot be set")
	}
	hostOp := op == SetHost || op == SetHostPort || op == SetHostPortTrans
	b := make([]byte, 0, len(r.URI())+len(s)+16)
	switch u.Type {
	case sipmsg.URISIP:
		b = append(b, "sip"...)
	case sipmsg.URISIPS:
		b = append(b, "sips"...)
	case sipmsg.URITel:
		if u.UserPhone || hostOp {
			b = append(b, "sip"...)
		} else {
			b = append(b, "tel"...)
		}
	case sipmsg.URITels:
		if u.UserPhone || hostOp {
			b = append(b, "sips"...)
		} else {
			b = append(b, "tels"...)
		}
	default:
		b = append(b, "sip"...)
	}
	b = append(b, ':')
	user := false
	if op == Prefix {
		b = append(b, s...)
		user = true
	}
	var us string
	switch op {
	case SetUser, SetUserPass:
		us = s
	case Strip:
		if n < len(u.User) {
			us = u.User[max(n, 0):]
		}
	case StripTail:
		if n < len(u.User) {
			us = u.User[:len(u.User)-max(n, 0)]
		}
	default:
		us = u.User
	}
	if us != "" {
		b = append(b, us...)
		user = true
	}
	if user && op != SetUserPass && u.HasPassword {
		b = append(b, ':')
		b = append(b, u.Password...)
	}
	if isTel && u.HasParams {
		b = append(b, ';')
		b = append(b, u.Params...)
	}
	host, hasHost := "", false
	switch {
	case hostOp:
		host, hasHost = s, true
	case u.Type == sipmsg.URISIP || u.Type == sipmsg.URISIPS || u.UserPhone:
		host, hasHost = u.Host, true
	}
	if hasHost {
		if user {
			b = append(b, '@')
		}
		b = append(b, host...)
	}
	port, hasPort := u.Port, u.HasPort
	switch op {
	case SetHostPort, SetHostPortTrans:
		hasPort = false
	case SetPort:
		port, hasPort = s, s != ""
	}
	if hasPort {
		b = append(b, ':')
		b = append(b, port...)
	}
	if u.HasSIPParams {
		params := u.SIPParams
		if op == SetHostPortTrans && u.Transport.Set {
			params = dropParam(params, "transport")
		}
		if params != "" || op != SetHostPortTrans {
			b = append(b, ';')
			b = append(b, params...)
		}
	}
	if (isTel && !u.UserPhone && hostOp) || op == SetUserPhone {
		b = append(b, ";user=phone"...)
	}
	if u.HasHeaders {
		b = append(b, '?')
		b = append(b, u.Headers...)
	}
	if len(b) > sipmsg.MaxURISize {
		return errors.New("the new request uri is too long")
	}
	r.SetURI(string(b))
	return nil
}

// dropParam removes the parameter name from a ';' list.
func dropParam(params, name string) string {
	var out []string
	for _, p := range strings.Split(params, ";") {
		k, _, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ";")
}

// Destination returns the next hop of the request as forward() computes
// it: the destination URI if set, else the Request-URI, parsed; the host to
// send to (maddr if present) and the port (the URI's or 0 for "default").
func (r *Routing) Destination() (sipmsg.URI, error) {
	s := r.dst
	if s == "" {
		u, ok := r.ParsedURI()
		if !ok {
			return sipmsg.URI{}, ErrBadRURI
		}
		return *u, nil
	}
	u, err := sipmsg.ParseURI(s)
	if err != nil {
		return u, errors.New("bad destination uri " + strconv.Quote(s))
	}
	return u, nil
}

// RoutingSlot gives access to the per-message Routing of one registry
// (one server). Get it once at Init with RoutingOf(h.Script). It is also
// the sipmsg.Dest of the server (installed by RoutingOf), so modules that
// only know sipmsg (corex's append_branch, registrar's lookup ...) work on
// the same state.
type RoutingSlot struct {
	slot script.Slot[Routing]
}

// RoutingOf returns the registry's RoutingSlot, creating it the first time
// and installing it as the sipmsg.Dest of the registry. Every module that
// reads or changes the Request-URI, $du or the branches goes through it
// (or through sipmsg.For(reg).Dest(), the same thing).
func RoutingOf(reg *script.Registry) RoutingSlot {
	return reg.Shared("core.routing", func() any {
		rs := RoutingSlot{slot: script.NewSlot(reg, nil, (*Routing).reset)}
		sipmsg.For(reg).SetDest(rs)
		return rs
	}).(RoutingSlot)
}

// Get returns the routing state of the message c is processing.
func (s RoutingSlot) Get(c *script.Ctx) *Routing {
	r := s.slot.Get(c)
	if r.m != c.Msg {
		r.reset()
		r.m = c.Msg
	}
	return r
}

// RequestURI implements sipmsg.Dest: the current R-URI.
func (s RoutingSlot) RequestURI(c *script.Ctx) string { return s.Get(c).URI() }

// SetRequestURI implements sipmsg.Dest: replaces the R-URI (a request
// only; the text must not contain CR, LF or NUL).
func (s RoutingSlot) SetRequestURI(c *script.Ctx, uri string) error {
	if c.Msg == nil || c.Msg.Req == nil {
		return errors.New("no request")
	}
	if err := sipio.CheckHeaderValue(uri); err != nil {
		return err
	}
	s.Get(c).SetURI(strings.Clone(uri))
	return nil
}

// DstURI implements sipmsg.Dest.
func (s RoutingSlot) DstURI(c *script.Ctx) string { return s.Get(c).DstURI() }

// SetDstURI implements sipmsg.Dest ("" resets it).
func (s RoutingSlot) SetDstURI(c *script.Ctx, uri string) error {
	if err := sipio.CheckHeaderValue(uri); err != nil {
		return err
	}
	s.Get(c).SetDstURI(strings.Clone(uri))
	return nil
}

// AppendBranch implements sipmsg.Dest.
func (s RoutingSlot) AppendBranch(c *script.Ctx, b sipmsg.Branch) error {
	return s.Get(c).AppendBranch(b)
}

// Branches implements sipmsg.Dest.
func (s RoutingSlot) Branches(c *script.Ctx) []sipmsg.Branch { return s.Get(c).Branches() }
