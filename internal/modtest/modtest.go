// Package modtest helps test modules on a real server: a probe module
// ("modtest") whose script functions record what the script sees, a
// config builder around servertest, and a launcher for the real Kamailio
// 5.6 with a given config, for side-by-side comparisons.
//
// The probe exports:
//
//	t_log("format")          record the printed format (xlog stand-in)
//	t_reply(code, "reason")  stateless reply with the script's reply
//	                         headers (sl_send_reply stand-in)
//	t_apply()                record the message with the script's edits
//	                         applied, as forward() would send it
//	t_forward("ip:port")     forward statelessly (sipmsg.Materialize and
//	                         sipio.Server.Forward, as forward() should)
//	$t_hdr(Name)             first header called Name, as parsed ($hdr)
//	$t_ru, $t_du             the R-URI and destination URI
//	$t_bf                    the branch flags of branch 0
//	$t_branches              the appended branches "uri,dst,q;..."
//
// Nothing outside tests may import it.
package modtest

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{Name: "modtest", Summary: "test probe", New: func() module.Module { return &Probe{} }})
}

// Probe is the modtest module: it records what the script printed and the
// messages t_apply() built.
type Probe struct {
	host    *module.Host
	msgs    *sipmsg.Msgs
	mu      sync.Mutex
	lines   []string
	applied []string
	notify  chan struct{}
}

// Params returns nothing.
func (p *Probe) Params() []module.Param { return nil }

// Lines returns the t_log lines so far.
func (p *Probe) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Applied returns the messages t_apply() built so far.
func (p *Probe) Applied() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.applied...)
}

// Reset forgets the recorded lines and messages.
func (p *Probe) Reset() {
	p.mu.Lock()
	p.lines, p.applied = nil, nil
	p.mu.Unlock()
}

// ResetApplied forgets the messages t_apply() built.
func (p *Probe) ResetApplied() {
	p.mu.Lock()
	p.applied = nil
	p.mu.Unlock()
}

// WaitLines waits until at least n lines were logged (or 5 s passed) and
// returns them.
func (p *Probe) WaitLines(n int) []string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		l := p.Lines()
		if len(l) >= n || time.Now().After(deadline) {
			return l
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Init declares the probe's functions and PVs.
func (p *Probe) Init(h *module.Host) error {
	p.host = h
	p.msgs = sipmsg.For(h.Script)
	funcs := []script.Func{
		{Name: "t_log", MinArgs: 1, MaxArgs: 1, Module: "modtest", Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			f, err := fc.Arg(0).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				s := f.String(c)
				p.mu.Lock()
				p.lines = append(p.lines, strings.TrimSuffix(s, "\n"))
				p.mu.Unlock()
				return 1
			}, nil
		}},
		{Name: "t_reply", MinArgs: 2, MaxArgs: 2, Module: "modtest", Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			code, err := fc.Arg(0).Int()
			if err != nil {
				return nil, err
			}
			reason, err := fc.Arg(1).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				return p.msgs.SendReply(c, p.host.SIP, int(code.Get(c)), reason.String(c), nil)
			}, nil
		}},
		{Name: "t_apply", Module: "modtest", Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				b, err := p.msgs.Apply(c, false)
				if err != nil {
					return -1
				}
				p.mu.Lock()
				p.applied = append(p.applied, string(b))
				p.mu.Unlock()
				return 1
			}, nil
		}},
	}
	funcs = append(funcs, script.Func{Name: "t_forward", MinArgs: 1, MaxArgs: 1, Module: "modtest",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			to, err := fc.Arg(0).String()
			if err != nil {
				return nil, err
			}
			ap, err := netip.ParseAddrPort(to)
			if err != nil {
				return nil, fc.Arg(0).Errorf("%v", err)
			}
			return func(c *script.Ctx) int {
				m, err := p.msgs.Materialize(c)
				if err != nil {
					c.Log.Error("t_forward", "err", err)
					return -1
				}
				if err := p.host.SIP.Forward(m, sipio.Target{Addr: ap, Transport: sipio.UDP}); err != nil {
					c.Log.Error("t_forward", "err", err)
					return -1
				}
				return 1
			}, nil
		}})
	for _, f := range funcs {
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	pvs := []script.PVClass{
		{Name: "t_hdr", Inner: script.InnerRequired, Module: "modtest", Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			name := pc.Inner
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				if c.Msg == nil {
					return script.Null
				}
				var hs []sip.Header
				if c.Msg.Req != nil {
					hs = c.Msg.Req.Headers()
				} else if c.Msg.Res != nil {
					hs = c.Msg.Res.Headers()
				}
				for _, h := range hs {
					if sipmsg.EqualHeaderNames(h.Name(), name) {
						return script.Str(h.Value())
					}
				}
				return script.Null
			}}, nil
		}},
		{Name: "t_ru", Module: "modtest", Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				if c.Msg == nil || c.Msg.Req == nil {
					return script.Null
				}
				return script.Str(p.msgs.Dest().RequestURI(c))
			}}, nil
		}},
		{Name: "t_du", Module: "modtest", Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				if c.Msg == nil || p.msgs.Dest().DstURI(c) == "" {
					return script.Null
				}
				return script.Str(p.msgs.Dest().DstURI(c))
			}}, nil
		}},
		{Name: "t_bf", Module: "modtest", Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				return script.Int(int64(*p.msgs.BranchFlags(c)))
			}}, nil
		}},
		{Name: "t_br", Inner: script.InnerRequired, Index: true, Module: "modtest", Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			attr := pc.Inner
			ix, err := pc.Index()
			if err != nil {
				return nil, err
			}
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				brs := p.msgs.Dest().Branches(c)
				i := 0
				if ix.Kind == script.IndexInt || ix.Kind == script.IndexPV {
					i = ix.At(c)
				}
				if i < 0 || i >= len(brs) {
					return script.Null
				}
				b := brs[i]
				switch attr {
				case "uri":
					return script.Str(b.URI)
				case "dst_uri":
					if b.DstURI == "" {
						return script.Null
					}
					return script.Str(b.DstURI)
				case "q":
					return script.Int(int64(b.Q))
				}
				return script.Null
			}}, nil
		}},
		{Name: "t_branches", Module: "modtest", Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			return &script.PV{Get: func(c *script.Ctx) script.Value {
				var parts []string
				for _, b := range p.msgs.Dest().Branches(c) {
					parts = append(parts, fmt.Sprintf("%s,%s,%d,%d", b.URI, b.DstURI, b.Q, b.Flags))
				}
				return script.Str(strings.Join(parts, ";"))
			}}, nil
		}},
	}
	for _, pv := range pvs {
		if err := h.Script.AddPV(pv); err != nil {
			return err
		}
	}
	return nil
}

// Server is a running sipht with the probe loaded.
type Server struct {
	*servertest.Running
	Probe *Probe
}

// FreeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
// (A listen= port of 0 means 5060 to sipht, as to Kamailio, so tests must
// pick one.)
func FreeUDPPort() int {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Config builds the config Start runs, listening on a free UDP port.
func Config(modules []string, params, routes string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!KAMAILIO\nlisten=udp:127.0.0.1:%d\nchildren=1\n", FreeUDPPort())
	for _, m := range modules {
		fmt.Fprintf(&b, "loadmodule \"%s.so\"\n", m)
	}
	b.WriteString("loadmodule \"modtest.so\"\n")
	b.WriteString(params)
	b.WriteString("\n")
	b.WriteString(routes)
	return b.String()
}

// Load loads (checks) the config Start would run, without running it.
func Load(t testing.TB, modules []string, params, routes string) error {
	t.Helper()
	_, err := LoadServer(modules, params, routes)
	return err
}

// LoadServer loads the config Start would run and returns the server
// without running it (benchmarks run its Program on parsed messages).
func LoadServer(modules []string, params, routes string) (*server.Server, error) {
	return server.Load(server.Options{Source: []byte(Config(modules, params, routes)), SourceName: "modtest.cfg",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// Start runs a server whose config loads the given modules and the probe,
// then `params` (modparam lines, may be empty) and the route text
// (request_route { ... } and any other blocks).
func Start(t testing.TB, modules []string, params, routes string) *Server {
	t.Helper()
	r := servertest.Start(t, Config(modules, params, routes))
	mod, ok := r.Srv.Module("modtest")
	if !ok {
		t.Fatal("modtest not loaded")
	}
	return &Server{Running: r, Probe: mod.(*Probe)}
}
