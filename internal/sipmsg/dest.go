package sipmsg

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/core"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// Branch is one extra destination of a request (Kamailio's dset entry,
// added by append_branch() or registrar's lookup()).
type Branch struct {
	URI    string
	DstURI string // "" when none
	Path   string
	Q      int // q value x 1000; -1 when unset (Kamailio's Q_UNSPECIFIED)
	Flags  uint32
	Socket string // send socket, "" when none
}

// MaxBranches bounds the extra branches of a message (Kamailio's
// MAX_BRANCHES default, 12).
const MaxBranches = 12

// ErrTooManyBranches is returned by AppendBranch past MaxBranches.
var ErrTooManyBranches = errors.New("too many branches")

// Dest is the destination state of a request: its Request-URI as the
// script rewrote it (Kamailio's new_uri), the destination URI ($du) and
// the extra branches. The core module (forward(), $ru, $du) owns it; the
// default implementation, used until the core installs its own with
// SetDest, keeps it in the per-message State and writes a rewritten
// R-URI into the parsed request line (c.Msg.Req.Recipient), which is what
// sipio.Forward sends.
type Dest interface {
	// RequestURI returns the current R-URI (rewritten or as received).
	RequestURI(c *script.Ctx) string
	// SetRequestURI rewrites the R-URI.
	SetRequestURI(c *script.Ctx, uri string) error
	// DstURI returns the destination URI ("" when not set).
	DstURI(c *script.Ctx) string
	// SetDstURI sets the destination URI ("" resets it).
	SetDstURI(c *script.Ctx, uri string) error
	// AppendBranch adds a branch.
	AppendBranch(c *script.Ctx, b Branch) error
	// Branches returns the extra branches (not the R-URI itself).
	Branches(c *script.Ctx) []Branch
}

// SetDest installs the destination state implementation (the core module
// calls it from Init).
func (x *Msgs) SetDest(d Dest) { x.dest = d }

// Dest returns the destination state implementation.
func (x *Msgs) Dest() Dest { return x.dest }

type defaultDest struct{ x *Msgs }

func (d defaultDest) RequestURI(c *script.Ctx) string {
	s := d.x.slot.Get(c)
	if s.hasNewURI {
		return s.newURI
	}
	if p, ok := d.x.Parsed(c); ok || p != nil {
		if _, uri, _, ok := RequestLine(p.FirstLine); ok {
			return uri
		}
	}
	if c.Msg != nil && c.Msg.Req != nil {
		return c.Msg.Req.Recipient.String()
	}
	return ""
}

func (d defaultDest) SetRequestURI(c *script.Ctx, uri string) error {
	if c.Msg == nil || c.Msg.Req == nil {
		return errors.New("no request")
	}
	if err := setRecipient(c.Msg.Req, uri); err != nil {
		return err
	}
	s := d.x.slot.Get(c)
	s.newURI, s.hasNewURI = strings.Clone(uri), true
	return nil
}

func setRecipient(req *sip.Request, uri string) error {
	if err := sipio.CheckHeaderValue(uri); err != nil {
		return err
	}
	if strings.ContainsAny(uri, " \t") {
		return fmt.Errorf("R-URI %q contains blanks", uri)
	}
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return fmt.Errorf("R-URI %q: %w", uri, err)
	}
	req.Recipient = u
	return nil
}

func (d defaultDest) DstURI(c *script.Ctx) string { return d.x.slot.Get(c).dstURI }

func (d defaultDest) SetDstURI(c *script.Ctx, uri string) error {
	if uri != "" {
		if _, err := ParseURI(uri); err != nil {
			return fmt.Errorf("destination URI %q: %w", uri, err)
		}
	}
	d.x.slot.Get(c).dstURI = strings.Clone(uri)
	return nil
}

func (d defaultDest) AppendBranch(c *script.Ctx, b Branch) error {
	s := d.x.slot.Get(c)
	if len(s.branches) >= MaxBranches {
		return ErrTooManyBranches
	}
	s.branches = append(s.branches, b)
	return nil
}

func (d defaultDest) Branches(c *script.Ctx) []Branch { return d.x.slot.Get(c).branches }

// Myself decides whether a host (name or address), port (0: any) and
// transport (0: any) are this server (Kamailio's check_self, behind
// "== myself" and is_myself()).
type Myself func(host string, port int, tp sipio.Transport) bool

// SetMyself installs the myself check (the core module's, which knows the
// aliases and listeners).
func (x *Msgs) SetMyself(f Myself) { x.self = f }

// Myself returns the installed check, or nil.
func (x *Msgs) Myself() Myself { return x.self }

// DefaultMyself is a myself check from the listeners and aliases: an
// address matches a listener of srv (sipio.Server.IsLocal), a name matches
// an alias (case-insensitively), with the port and transport when given.
func DefaultMyself(srv *sipio.Server, aliases []core.Alias) Myself {
	return func(host string, port int, tp sipio.Transport) bool {
		h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if ip, err := netip.ParseAddr(h); err == nil && srv != nil {
			p := port
			if p < 0 || p > 65535 {
				return false
			}
			if srv.IsLocal(ip, uint16(p), tp) {
				return true
			}
		}
		for _, a := range aliases {
			if !strings.EqualFold(a.Host, h) && !strings.EqualFold(a.Host, host) {
				continue
			}
			if port != 0 && a.Port != 0 && a.Port != port {
				continue
			}
			if tp != 0 && a.Transport != "" && !strings.EqualFold(a.Transport, tp.String()) {
				continue
			}
			return true
		}
		return false
	}
}

// EnsureMyself installs DefaultMyself(srv, aliases) unless a check is
// installed already (modules that need one call it from Start).
func (x *Msgs) EnsureMyself(srv *sipio.Server, aliases []core.Alias) {
	if x.self == nil && srv != nil {
		x.self = DefaultMyself(srv, aliases)
	}
}
