package htable

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/server"

	// the management modules the RPC tests load
	_ "github.com/sipht/sipht/modules/ctl"
	_ "github.com/sipht/sipht/modules/jsonrpcs"
	_ "github.com/sipht/sipht/modules/xhttp"
)

// The test kit is a module loaded by the tests' configs ("htkit.so"): a
// stand-in for xlog that collects lines (xlog(fmt), xlog(level, fmt)), a
// constant $si (what the real core module prints for the source address)
// and $rU. It exists only in this package's test binary.

const kitSI = "127.0.0.1"

type kit struct {
	mu    sync.Mutex
	lines []string
}

var kitOnce sync.Once

func registerKit() {
	kitOnce.Do(func() {
		module.Register(module.Info{Name: "htkit", Summary: "htable test kit", New: func() module.Module { return &kit{} }})
	})
}

func (k *kit) Params() []module.Param { return nil }

func (k *kit) Init(h *module.Host) error {
	r := h.Script
	if err := r.AddFunc(script.Func{Name: "xlog", MinArgs: 1, MaxArgs: 2, Module: "htkit",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			f, err := fc.Arg(fc.NArgs() - 1).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				b := f.Append(c, c.GetBuf())
				k.mu.Lock()
				k.lines = append(k.lines, strings.TrimSuffix(string(b), "\n"))
				k.mu.Unlock()
				c.PutBuf(b)
				return 1
			}, nil
		}}); err != nil {
		return err
	}
	si := script.Str(kitSI)
	if err := r.AddPV(script.PVClass{Name: "si", Module: "htkit", Fixup: func(*script.PVFixupCtx) (*script.PV, error) {
		return &script.PV{Get: func(*script.Ctx) script.Value { return si }}, nil
	}}); err != nil {
		return err
	}
	ru := script.Str("test")
	if err := r.AddPV(script.PVClass{Name: "rU", Module: "htkit", Fixup: func(*script.PVFixupCtx) (*script.PV, error) {
		return &script.PV{Get: func(*script.Ctx) script.Value { return ru }}, nil
	}}); err != nil {
		return err
	}
	// $ci and sl_send_reply for the SIP benchmarks
	if err := r.AddPV(script.PVClass{Name: "ci", Module: "htkit", Fixup: func(*script.PVFixupCtx) (*script.PV, error) {
		return &script.PV{Get: func(c *script.Ctx) script.Value {
			if c.Msg == nil || c.Msg.Req == nil || c.Msg.Req.CallID() == nil {
				return script.Null
			}
			return script.Str(c.Msg.Req.CallID().Value())
		}}, nil
	}}); err != nil {
		return err
	}
	return r.AddFunc(script.Func{Name: "sl_send_reply", MinArgs: 2, MaxArgs: 2, Module: "htkit",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			code, ok := fc.Arg(0).ConstInt()
			if !ok {
				return nil, fc.Errorf("code must be constant")
			}
			reason, err := fc.Arg(1).String()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				if c.Msg == nil || h.SIP == nil {
					return -1
				}
				if err := h.SIP.Respond(c.Msg, int(code), reason, nil); err != nil {
					return -1
				}
				return 1
			}, nil
		}})
}

// take returns and clears the collected lines.
func (k *kit) take() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.lines
	k.lines = nil
	return l
}

// env is a loaded (not running) server with the htable module and the kit.
type env struct {
	srv  *server.Server
	mod  *Module
	kit  *kit
	logs *bytes.Buffer
	ctx  *script.Ctx
}

// header is the start of every test config; tables are appended as
// modparams.
func config(tables []string, body string) string {
	var b strings.Builder
	b.WriteString("#!KAMAILIO\nlisten=udp:127.0.0.1:0\nloadmodule \"htkit.so\"\nloadmodule \"htable.so\"\n")
	for _, t := range tables {
		b.WriteString("modparam(\"htable\", \"htable\", \"" + t + "\")\n")
	}
	b.WriteString(body)
	return b.String()
}

// load compiles a config with the kit and the htable module (Init runs;
// Start does not).
func load(t testing.TB, src string) *env {
	t.Helper()
	registerKit()
	var logs bytes.Buffer
	srv, err := server.Load(server.Options{Source: []byte(src), SourceName: "test.cfg",
		Logger: slog.New(logging.NewTextHandler(&logs, logging.LevelDebug))})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	e := &env{srv: srv, logs: &logs}
	mod, _ := srv.Module("htable")
	e.mod = mod.(*Module)
	k, _ := srv.Module("htkit")
	e.kit = k.(*kit)
	e.ctx = srv.Program.NewCtx()
	return e
}

// run runs request_route once (no message) and returns the xlog lines.
func (e *env) run() []string {
	e.ctx.Reset(nil)
	e.srv.Program.RequestRoute().Run(e.ctx)
	return e.kit.take()
}

// body wraps statements into a request_route.
func body(stmts string) string { return "request_route {\n" + stmts + "\n}\n" }

// loadErr loads a config and returns the load error.
func loadErr(src string) (*server.Server, error) {
	registerKit()
	var logs bytes.Buffer
	return server.Load(server.Options{Source: []byte(src), SourceName: "test.cfg",
		Logger: slog.New(logging.NewTextHandler(&logs, logging.LevelDebug))})
}

type htChange = ht.Change
