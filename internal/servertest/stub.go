package servertest

import (
	"strconv"
	"sync"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
)

// StubModule is the name of a module that RegisterStub adds for tests of
// modules whose configs need a few things other modules provide: it
// declares sl_send_reply(code, reason) (a stateless reply, as the sl
// module's), $rU (the request URI's user), $si and $sp (the source address
// and port). Load it with `loadmodule "servertest_stub.so"` instead of sl
// and pv, so that one config text can run on Kamailio (#!ifndef SIPHT) and
// on sipht.
const StubModule = "servertest_stub"

var stubOnce sync.Once

// RegisterStub registers StubModule (once per test binary).
func RegisterStub() {
	stubOnce.Do(func() {
		module.Register(module.Info{Name: StubModule, Summary: "test stand-in for sl_send_reply, $rU, $si, $sp",
			New: func() module.Module { return stub{} }})
	})
}

type stub struct{}

func (stub) Params() []module.Param { return nil }

func (stub) Init(h *module.Host) error {
	err := h.Script.AddFunc(script.Func{Name: "sl_send_reply", MinArgs: 2, MaxArgs: 2, Module: StubModule,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			cs, err := fc.Arg(0).String()
			if err != nil {
				return nil, err
			}
			code, err := strconv.Atoi(cs)
			if err != nil || code < 100 || code > 699 {
				return nil, fc.Arg(0).Errorf("bad reply code %q", cs)
			}
			reason, err := fc.Arg(1).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				if c.Msg == nil || c.Msg.Req == nil {
					return -1
				}
				if err := h.SIP.Respond(c.Msg, code, reason.String(c), nil); err != nil {
					return -1
				}
				return 1
			}, nil
		}})
	if err != nil {
		return err
	}
	pv := func(name string, get func(c *script.Ctx) script.Value) error {
		return h.Script.AddPV(script.PVClass{Name: name, Module: StubModule,
			Fixup: func(*script.PVFixupCtx) (*script.PV, error) { return &script.PV{Get: get}, nil }})
	}
	if err := pv("rU", func(c *script.Ctx) script.Value {
		if c.Msg == nil || c.Msg.Req == nil || c.Msg.Req.Recipient.User == "" {
			return script.Null
		}
		return script.Str(c.Msg.Req.Recipient.User)
	}); err != nil {
		return err
	}
	if err := pv("si", func(c *script.Ctx) script.Value {
		if c.Msg == nil {
			return script.Null
		}
		return script.Str(c.Msg.Source.Addr().String())
	}); err != nil {
		return err
	}
	return pv("sp", func(c *script.Ctx) script.Value {
		if c.Msg == nil {
			return script.Null
		}
		return script.Int(int64(c.Msg.Source.Port()))
	})
}
