package htable

import (
	"bytes"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/server"
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
	return r.AddPV(script.PVClass{Name: "rU", Module: "htkit", Fixup: func(*script.PVFixupCtx) (*script.PV, error) {
		return &script.PV{Get: func(*script.Ctx) script.Value { return ru }}, nil
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
	b.WriteString("#!KAMAILIO\nlisten=udp:127.0.0.1:" + freeUDPPort() + "\nloadmodule \"htkit.so\"\nloadmodule \"htable.so\"\n")
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

// freeUDPPort returns a UDP port free on 127.0.0.1 now (port 0 in a
// listen= line means 5060, as in Kamailio).
func freeUDPPort() string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "0"
	}
	defer c.Close()
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}
