// Package modtest is a module for the tests of auth, auth_db, registrar
// and usrloc: it stands in for the modules those tests do not load (sl,
// textops, pv, the core's routing state) with a few functions of its own.
// Import it for its side effect from _test files only.
//
//	t_reply(code, reason)        stateless reply; reason is a format
//	t_hdr(name, value)           1 when header name has exactly value
//	t_is_method(name)            1 when the request method is name
//	t_route_reply(code)          reply "<code> rc=$rc ru=<R-URI> du=<$du>"
//	t_forward()                  forward statelessly to $du or the R-URI host
//
// It also provides the routing state registrar's lookup() changes
// (registrar.URIState), with $du, and records branches.
package modtest

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/modules/registrar"
)

func init() {
	module.Register(module.Info{Name: "modtest", Summary: "test helpers", New: func() module.Module { return &Module{} }})
}

// Module is the test helper module.
type Module struct {
	host *module.Host
	slot script.Slot[state]
	mu   sync.Mutex
	// Branches records the branches lookup() appended, per call.
	Branches []string
}

type state struct {
	du    string
	haveR bool
}

// Params: none.
func (m *Module) Params() []module.Param { return nil }

// Init declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.slot = script.NewSlot[state](h.Script, nil, nil)
	add := func(name string, n int, fix func(fc *script.FixupCtx) (script.Handler, error)) error {
		return h.Script.AddFunc(script.Func{Name: name, MinArgs: n, MaxArgs: n, Module: "modtest", Fixup: fix})
	}
	for _, err := range []error{
		add("t_reply", 2, func(fc *script.FixupCtx) (script.Handler, error) {
			code, ok := fc.Arg(0).ConstInt()
			if !ok {
				return nil, fc.Errorf("code must be constant")
			}
			reason, err := fc.Arg(1).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				if c.Msg.Req != nil && c.Msg.Req.Method == "ACK" {
					return -1 // sl never answers an ACK
				}
				if err := h.SIP.Respond(c.Msg, int(code), reason.String(c), nil); err != nil {
					return -1
				}
				return 1
			}, nil
		}),
		add("t_hdr", 2, func(fc *script.FixupCtx) (script.Handler, error) {
			name, _ := fc.Arg(0).ConstString()
			val, _ := fc.Arg(1).ConstString()
			return func(c *script.Ctx) int {
				for _, hd := range c.Msg.Req.Headers() {
					if strings.EqualFold(hd.Name(), name) && hd.Value() == val {
						return 1
					}
				}
				return -1
			}, nil
		}),
		add("t_is_method", 1, func(fc *script.FixupCtx) (script.Handler, error) {
			name, _ := fc.Arg(0).ConstString()
			return func(c *script.Ctx) int {
				if c.Msg.Req != nil && strings.EqualFold(string(c.Msg.Req.Method), name) {
					return 1
				}
				return -1
			}, nil
		}),
		add("t_route_reply", 1, func(fc *script.FixupCtx) (script.Handler, error) {
			code, ok := fc.Arg(0).ConstInt()
			if !ok {
				return nil, fc.Errorf("code must be constant")
			}
			return func(c *script.Ctx) int {
				du := m.slot.Get(c).du
				if du == "" {
					du = "<null>"
				}
				reason := fmt.Sprintf("rc=%d ru=%s du=%s", c.RC(), m.RequestURI(c), du)
				if err := h.SIP.Respond(c.Msg, int(code), reason, nil); err != nil {
					return -1
				}
				return 1
			}, nil
		}),
		add("t_forward", 0, func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				dst := m.slot.Get(c).du
				var u sip.Uri
				if dst != "" {
					if err := sip.ParseUri(dst, &u); err != nil {
						return -1
					}
				} else {
					u = c.Msg.Req.Recipient
				}
				ip, err := netip.ParseAddr(u.Host)
				if err != nil {
					return -1
				}
				port := u.Port
				if port == 0 {
					port = 5060
				}
				if err := h.SIP.Forward(c.Msg, sipio.Target{Addr: netip.AddrPortFrom(ip, uint16(port)), Transport: sipio.UDP}); err != nil {
					c.Log.Error("t_forward", "err", err)
					return -1
				}
				return 1
			}, nil
		}),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// Start wires this module as registrar's routing state.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	if r, ok := h.Loaded("registrar"); ok {
		r.(*registrar.Module).SetURIState(m)
	}
	return nil
}

// RequestURI implements registrar.URIState.
func (m *Module) RequestURI(c *script.Ctx) string { return c.Msg.Req.Recipient.String() }

// SetRequestURI implements registrar.URIState.
func (m *Module) SetRequestURI(c *script.Ctx, uri string) error {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return err
	}
	c.Msg.Req.Recipient = u
	return nil
}

// SetDestinationURI implements registrar.URIState.
func (m *Module) SetDestinationURI(c *script.Ctx, uri string) error {
	m.slot.Get(c).du = uri
	return nil
}

// AppendBranch implements registrar.BranchAppender.
func (m *Module) AppendBranch(c *script.Ctx, uri, dst string, q int) error {
	m.mu.Lock()
	m.Branches = append(m.Branches, uri+" "+dst+" "+strconv.Itoa(q))
	m.mu.Unlock()
	return nil
}

// TakeBranches returns and clears the recorded branches.
func (m *Module) TakeBranches() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.Branches
	m.Branches = nil
	return b
}
