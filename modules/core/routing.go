package core

import (
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
	cur    sipmsg.URI
	curOK  int8 // parse state of the current R-URI (0 not parsed, 1 ok, -1 bad)

	dst      string
	branches []Branch
	serErr   int

	// ForwardNoConnect and ReplyNoConnect record set_forward_no_connect
	// and set_reply_no_connect (accepted; sipht opens no connection for
	// stateless replies anyway).
	ForwardNoConnect, ReplyNoConnect bool
}

// Branch is one additional destination added by append_branch (corex) or
// lookup (registrar).
type Branch struct {
	URI, DstURI, Path string
	// Q is the q value times 1000 (-1 when not given, Kamailio's
	// Q_UNSPECIFIED).
	Q     int
	Flags uint32
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
			if len(r.m.Raw) > 0 {
				_, u, _, ok := sipmsg.RequestLine(unsafeString(r.m.Raw))
				if ok {
					r.orig = strings.Clone(u)
					r.origState = 1
				}
			}
			if r.origState < 0 {
				r.orig = r.m.Req.Recipient.String()
				r.origState = 1
			}
		}
	}
	return r.orig
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

// ParsedURI returns the current Request-URI parsed; ok is false when it
// does not parse (or the message is a reply). The result is cached until
// the next rewrite.
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
	r.newURI, r.hasNew, r.curOK = s, true, 0
}

// RevertURI drops any rewrite of the Request-URI (revert_uri).
func (r *Routing) RevertURI() {
	r.newURI, r.hasNew, r.curOK = "", false, 0
}

// DstURI returns the destination URI ($du), "" when not set.
func (r *Routing) DstURI() string { return r.dst }

// SetDstURI sets the destination URI ($du = ...); "" resets it.
func (r *Routing) SetDstURI(s string) { r.dst = s }

// Branches returns the additional branches (do not keep the slice).
func (r *Routing) Branches() []Branch { return r.branches }

// MaxBranches bounds the branches of one message (Kamailio's
// max_branches default).
const MaxBranches = 12

// ErrTooManyBranches is returned by AppendBranch past MaxBranches.
var ErrTooManyBranches = errors.New("too many branches")

// AppendBranch adds a branch.
func (r *Routing) AppendBranch(b Branch) error {
	if len(r.branches) >= MaxBranches-1 {
		return ErrTooManyBranches
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

// Rewrite changes a part of the Request-URI as Kamailio's core actions do:
// the URI is parsed and rebuilt from scheme, user (prefixed, stripped or
// replaced), password (kept only with a user), host, port, parameters and
// headers; a tel: URI whose host is set becomes sip: with ;user=phone. s is
// the new text (user, host, "host:port", port or prefix) and n the count
// for Strip/StripTail.
func (r *Routing) Rewrite(op RewriteOp, s string, n int) error {
	up, ok := r.ParsedURI()
	if !ok {
		return ErrBadRURI
	}
	u := *up
	isTel := u.Scheme == sipmsg.SchemeTel || u.Scheme == sipmsg.SchemeTels
	userPhone := false
	if !isTel {
		if v, ok := u.Param("user"); ok && v == "phone" {
			userPhone = true
		}
	}
	if op == SetUserPhone && (isTel || userPhone) {
		return nil
	}
	hostOp := op == SetHost || op == SetHostPort || op == SetHostPortTrans
	if op == SetPort && isTel {
		return errors.New("port number of a tel: URI cannot be set")
	}
	b := make([]byte, 0, len(r.URI())+len(s)+16)
	switch u.Scheme {
	case sipmsg.SchemeSIP, sipmsg.SchemeSIPS:
		b = append(b, u.Scheme.String()...)
	case sipmsg.SchemeTel:
		if hostOp {
			b = append(b, "sip"...)
		} else {
			b = append(b, "tel"...)
		}
	case sipmsg.SchemeTels:
		if hostOp {
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
	if user && op != SetUserPass && u.Passwd != "" {
		b = append(b, ':')
		b = append(b, u.Passwd...)
	}
	if isTel && u.Params != "" {
		b = append(b, ';')
		b = append(b, u.Params...)
	}
	host, hasHost := u.Host, !isTel
	if hostOp {
		host, hasHost = s, true
	}
	if hasHost {
		if user {
			b = append(b, '@')
		}
		b = append(b, host...)
	}
	port := u.Port
	switch op {
	case SetHostPort, SetHostPortTrans:
		port = ""
	case SetPort:
		port = s
	}
	if port != "" {
		b = append(b, ':')
		b = append(b, port...)
	}
	if !isTel && u.Params != "" {
		params := u.Params
		if op == SetHostPortTrans {
			params = dropParam(params, "transport")
		}
		if params != "" {
			b = append(b, ';')
			b = append(b, params...)
		}
	}
	if (isTel && hostOp) || op == SetUserPhone {
		b = append(b, ";user=phone"...)
	}
	if u.Headers != "" {
		b = append(b, '?')
		b = append(b, u.Headers...)
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
// (one server). Get it once at Init with RoutingOf(h.Script).
type RoutingSlot struct {
	slot script.Slot[Routing]
}

type routingKey struct{}

// RoutingOf returns the registry's RoutingSlot, creating it the first time.
// Every module that reads or changes the Request-URI, $du or the branches
// must go through it so that they all see the same state.
func RoutingOf(reg *script.Registry) RoutingSlot {
	return reg.Shared(routingKey{}, func() any {
		return RoutingSlot{slot: script.NewSlot(reg, nil, (*Routing).reset)}
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
