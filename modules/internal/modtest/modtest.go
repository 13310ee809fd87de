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
// It also records the branches lookup() appends (TakeBranches), by
// wrapping the shared routing state of internal/sipmsg.
package modtest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{Name: "modtest", Summary: "test helpers", New: func() module.Module { return &Module{} }})
}

// Module is the test helper module.
type Module struct {
	host *module.Host
	dest sipmsg.Dest
	mu   sync.Mutex
	// Branches records the branches lookup() appended, per call.
	Branches []string
}

// Params: none.
func (m *Module) Params() []module.Param { return nil }

// Init declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	msgs := sipmsg.For(h.Script)
	m.dest = msgs.Dest()
	msgs.SetDest(recordingDest{Dest: m.dest, m: m})
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
				du := m.dest.DstURI(c)
				if du == "" {
					du = "<null>"
				}
				reason := fmt.Sprintf("rc=%d ru=%s du=%s", c.RC(), m.dest.RequestURI(c), du)
				if err := h.SIP.Respond(c.Msg, int(code), reason, nil); err != nil {
					return -1
				}
				return 1
			}, nil
		}),
		add("t_forward", 0, func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				dst := m.dest.DstURI(c)
				if dst == "" {
					dst = m.dest.RequestURI(c)
				}
				var u sip.Uri
				if err := sip.ParseUri(dst, &u); err != nil {
					return -1
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

// recordingDest records the branches appended through it.
type recordingDest struct {
	sipmsg.Dest
	m *Module
}

// AppendBranch records b and passes it on.
func (d recordingDest) AppendBranch(c *script.Ctx, b sipmsg.Branch) error {
	d.m.mu.Lock()
	d.m.Branches = append(d.m.Branches, b.URI+" "+b.DstURI+" "+strconv.Itoa(b.Q))
	d.m.mu.Unlock()
	return d.Dest.AppendBranch(c, b)
}

// TakeBranches returns and clears the recorded branches.
func (m *Module) TakeBranches() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.Branches
	m.Branches = nil
	return b
}
