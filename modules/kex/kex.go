// Package kex is Kamailio's kex module (core extensions): script and
// branch flags (setsflag, setbflag ...), the destination URI functions
// (setdsturi, resetdsturi, isdsturiset), pv_printf, is_myself and
// setdebug/resetdebug.
package kex

import (
	"context"
	"strings"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{
		Name:    "kex",
		Summary: "core extensions: flags, setdsturi, pv_printf, is_myself",
		New:     func() module.Module { return &Module{} },
	})
}

// Module is the kex module.
type Module struct {
	host *module.Host
	msgs *sipmsg.Msgs
}

// Params returns the module parameters (none).
func (m *Module) Params() []module.Param { return nil }

// Init declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.msgs = sipmsg.For(h.Script)
	fs := []script.Func{
		{Name: "setsflag", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSFlag(opSet)},
		{Name: "resetsflag", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSFlag(opReset)},
		{Name: "issflagset", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSFlag(opTest)},
		{Name: "setbflag", MinArgs: 1, MaxArgs: 2, Fixup: m.fixBFlag(opSet)},
		{Name: "resetbflag", MinArgs: 1, MaxArgs: 2, Fixup: m.fixBFlag(opReset)},
		{Name: "isbflagset", MinArgs: 1, MaxArgs: 2, Fixup: m.fixBFlag(opTest)},
		{Name: "setdsturi", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSetDstURI},
		{Name: "resetdsturi", Fixup: m.fixResetDstURI},
		{Name: "isdsturiset", Fixup: m.fixIsDstURISet},
		{Name: "pv_printf", MinArgs: 2, MaxArgs: 2, Fixup: fixPVPrintf},
		{Name: "avp_printf", MinArgs: 2, MaxArgs: 2, Fixup: fixPVPrintf},
		{Name: "is_myself", MinArgs: 1, MaxArgs: 1, Fixup: m.fixIsMyself},
		{Name: "setdebug", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSetDebug},
		{Name: "resetdebug", Fixup: m.fixResetDebug},
	}
	for _, f := range fs {
		f.Module = "kex"
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// Start installs a myself check built from the listeners and aliases
// unless the core module installed its own.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	m.msgs.EnsureMyself(h.SIP, h.Core.Aliases)
	return nil
}

type flagOp uint8

const (
	opSet flagOp = iota
	opReset
	opTest
)

func applyFlag(f *uint32, n int64, op flagOp) int {
	if n < 0 || n > 31 {
		return -1
	}
	bit := uint32(1) << uint(n)
	switch op {
	case opSet:
		*f |= bit
	case opReset:
		*f &^= bit
	default:
		if *f&bit == 0 {
			return -1
		}
	}
	return 1
}

// setsflag(n) ...: script flags (0..31), reset for every message.
func (m *Module) fixSFlag(op flagOp) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		fl, err := fc.Arg(0).Int()
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			return applyFlag(m.msgs.ScriptFlags(c), fl.Get(c), op)
		}, nil
	}
}

// setbflag(flag[, branch]) ...: branch flags (0..31) of branch 0 (the
// R-URI) or of an appended branch (1..n).
func (m *Module) fixBFlag(op flagOp) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		fl, err := fc.Arg(0).Int()
		if err != nil {
			return nil, err
		}
		var idx *script.IntParam
		if fc.NArgs() == 2 {
			p, err := fc.Arg(1).Int()
			if err != nil {
				return nil, err
			}
			idx = &p
		}
		return func(c *script.Ctx) int {
			n := fl.Get(c)
			if n < 0 || n > 31 {
				return -1
			}
			b := int64(0)
			if idx != nil {
				if b = idx.Get(c); b < 0 {
					return -1
				}
			}
			if b == 0 {
				return applyFlag(m.msgs.BranchFlags(c), n, op)
			}
			brs := m.msgs.Dest().Branches(c)
			if int(b) > len(brs) {
				return -1
			}
			return applyFlag(&brs[b-1].Flags, n, op)
		}, nil
	}
}

// setdsturi(uri): set the destination URI ($du).
func (m *Module) fixSetDstURI(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		if c.Msg == nil {
			return -1
		}
		if err := m.msgs.Dest().SetDstURI(c, f.String(c)); err != nil {
			c.Log.Error("kex: setdsturi", "err", err)
			return -1
		}
		return 1
	}, nil
}

func (m *Module) fixResetDstURI(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		if c.Msg != nil {
			_ = m.msgs.Dest().SetDstURI(c, "")
		}
		return 1
	}, nil
}

func (m *Module) fixIsDstURISet(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		if c.Msg == nil || m.msgs.Dest().DstURI(c) == "" {
			return -1
		}
		return 1
	}, nil
}

// pv_printf($pv, format): assign the printed format to a variable.
func fixPVPrintf(fc *script.FixupCtx) (script.Handler, error) {
	dst, err := fc.Arg(0).PV(true)
	if err != nil {
		return nil, err
	}
	f, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		if err := dst.Set(c, script.Str(f.String(c))); err != nil {
			c.Log.Error("kex: pv_printf: setting the variable failed", "err", err)
			return -1
		}
		return 1
	}, nil
}

// is_myself(uri or host): the host (and port, transport of a sip: URI) is
// this server.
func (m *Module) fixIsMyself(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		self := m.msgs.Myself()
		if self == nil {
			return -1
		}
		s := f.String(c)
		if len(s) > 4 && (strings.HasPrefix(s, "sip:") || strings.HasPrefix(s, "sips:")) {
			u, err := sipmsg.ParseURI(s)
			if err != nil {
				c.Log.Error("kex: failed to parse uri", "uri", s)
				return -1
			}
			port := 0
			if u.HasPort {
				port = u.PortNo
			}
			var tp sipio.Transport
			if u.Transport.Set {
				tp = sipio.ParseTransport(u.Transport.Value)
			}
			if self(u.Host, port, tp) {
				return 1
			}
			return -1
		}
		if self(s, 0, 0) {
			return 1
		}
		return -1
	}, nil
}

// setdebug(level) / resetdebug(): Kamailio changes the log level of the
// current process; sipht's workers share one logger, so these are
// accepted and do nothing (see docs/kamailio-differences.md).
func (m *Module) fixSetDebug(fc *script.FixupCtx) (script.Handler, error) {
	if _, err := fc.Arg(0).Int(); err != nil {
		return nil, err
	}
	fc.Log.Warn("setdebug() does not change the log level in sipht (one log level for all workers)", "at", fc.Pos.String())
	return func(c *script.Ctx) int { return 1 }, nil
}

func (m *Module) fixResetDebug(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int { return 1 }, nil
}
