// Package server puts sipht together: it reads a config, loads the modules
// it names, sets their parameters, compiles the routing script, and runs the
// SIP transport with the script on every message until it is told to stop.
//
// Load does everything that needs no I/O (it is all `sipht -c` runs); Run
// opens sockets, starts the modules and serves.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/core"
	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// Options say what config to load and how.
type Options struct {
	// File is the config file path. When empty, Source is used.
	File string
	// Source is the config text when File is empty; SourceName names it in
	// messages.
	Source     []byte
	SourceName string
	// Defines are -A NAME[=value] definitions.
	Defines []cfg.Define
	// ReadFile, when set, reads the config and its include_file/import_file
	// files (tests: gzipped example configs).
	ReadFile func(path string) ([]byte, error)
	// Logger, when set, replaces the logger the config's log parameters
	// would build (tests).
	Logger *slog.Logger
	// ForceStderr logs to LogWriter (default stderr) whatever log_stderror
	// says, as kamailio -E does.
	ForceStderr bool
	// LogWriter is where stderr logging goes (default os.Stderr).
	LogWriter io.Writer
	// LogEngine is Kamailio's --log-engine option: "json" (optionally
	// followed by ":" and Kamailio's flags, which sipht ignores) selects
	// JSON logs whatever log_engine_type says; "" keeps the config's.
	LogEngine string
	// SyslogNetwork and SyslogAddr name the syslog server used when
	// log_stderror=no ("unixgram", "/path"; tests); empty means the local
	// daemon.
	SyslogNetwork, SyslogAddr string
	// ListenOverride, when non-empty, replaces the config's listen= sockets.
	ListenOverride []sipio.ListenSpec
}

// Server is a loaded configuration, ready to Run.
type Server struct {
	Params  *core.Params
	Log     *slog.Logger
	Script  *script.Registry
	RPC     *rpc.Registry
	Metrics *prometheus.Registry
	Program *script.Program
	File    *cfg.File

	mods     []*loadedModule
	pre      []module.PreScripter // modules looking at messages before the script
	missing  map[string]bool      // modules the config loads that sipht lacks
	closeLog func() error

	sip     *sipio.Server
	filters []namedFilter // pre-parse filters modules added during Init
	sealed  bool          // Init is over: no more filters
	ctxs    []*script.Ctx
	ready   chan struct{}
	isReady atomic.Bool
	wg      sync.WaitGroup
	runCtx  context.Context
}

type loadedModule struct {
	name string
	mod  module.Module
	host *module.Host
}

// Load reads and checks a config: core parameters, modules and their
// parameters, module initialisation and the compiled script. The error, if
// any, lists every problem found (each with file:line:column where known).
func Load(opts Options) (*Server, error) {
	popts := cfg.Options{Defines: opts.Defines, ReadFile: opts.ReadFile}
	var f *cfg.File
	var err error
	if opts.File != "" {
		f, err = cfg.ParseFile(opts.File, popts)
	} else {
		name := opts.SourceName
		if name == "" {
			name = "config"
		}
		f, err = cfg.Parse(name, opts.Source, popts)
	}
	if err != nil {
		return nil, err
	}
	s := &Server{File: f, ready: make(chan struct{})}
	bootLog := opts.Logger
	if bootLog == nil {
		bootLog = slog.New(logging.NewTextHandler(stderrOr(opts.LogWriter), logging.LevelWarn))
	}
	params, perr := core.FromFile(f, bootLog)
	if params == nil {
		return nil, perr
	}
	s.Params = params
	if len(opts.ListenOverride) > 0 {
		params.Listen = opts.ListenOverride
	}
	if opts.Logger != nil {
		s.Log, s.closeLog = opts.Logger, func() error { return nil }
	} else {
		jsonLogs := params.LogEngineType == "json"
		if opts.LogEngine != "" {
			name, _, _ := strings.Cut(opts.LogEngine, ":")
			if name != "json" {
				return nil, fmt.Errorf("log engine %q: sipht knows only \"json\"", opts.LogEngine)
			}
			jsonLogs = true
		}
		log, closeLog, lerr := logging.New(logging.Config{
			Level:         logging.FromKamailio(params.Debug),
			Stderr:        params.LogStderr || opts.ForceStderr,
			JSON:          jsonLogs,
			Facility:      params.LogFacility,
			Name:          params.LogName,
			Writer:        opts.LogWriter,
			SyslogNetwork: opts.SyslogNetwork,
			SyslogAddr:    opts.SyslogAddr,
		})
		if lerr != nil {
			// No syslog daemon (a container, a CI box): say so and use stderr.
			bootLog.Warn("cannot log to syslog, logging to stderr instead", "err", lerr)
			log, closeLog, lerr = logging.New(logging.Config{
				Level: logging.FromKamailio(params.Debug), Stderr: true,
				JSON: jsonLogs, Writer: opts.LogWriter,
			})
			if lerr != nil {
				return nil, lerr
			}
		}
		s.Log, s.closeLog = log, closeLog
	}
	var errs cfg.ErrorList
	if perr != nil {
		errs = append(errs, cfg.Errors(perr)...)
	}

	s.Script = script.NewRegistry()
	s.RPC = rpc.NewRegistry()
	s.Metrics = prometheus.NewRegistry()
	s.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := rpc.RegisterCore(s.RPC, rpc.CoreInfo{Name: "sipht", Version: core.Version, Modules: s.moduleNames}); err != nil {
		return nil, fmt.Errorf("server: core RPC methods: %w", err)
	}
	s.RPC.SetLogger(s.Log.With(logging.ModuleKey, "<rpc>"))
	s.RPC.SetObserver(newRPCMetrics(s.Metrics).observe)

	// Problems are collected, not returned at the first one, so that
	// `sipht -c` on a Kamailio config lists every unsupported module,
	// parameter and function in one go.
	errs = append(errs, s.loadModules(f)...)
	for _, lm := range s.mods {
		if in, ok := lm.mod.(module.Initializer); ok {
			if err := in.Init(lm.host); err != nil {
				errs = append(errs, fmt.Errorf("module %s: %w", lm.name, err))
			}
		}
	}
	// The engine's own messages (runtime errors, warnings) are the core's,
	// as in Kamailio; only what the script writes (xlog) is "<script>".
	prog, err := script.Compile(f, s.Script, script.Options{
		Logger:            s.Log.With(logging.ModuleKey, "<core>"),
		MaxWhileLoops:     params.MaxWhileLoops,
		MaxRecursiveLevel: params.MaxRecursiveLevel,
	})
	if err != nil {
		errs = append(errs, cfg.Errors(err)...)
	}
	if len(errs) > 0 {
		s.closeLog()
		return nil, errs
	}
	s.Program = prog
	s.sealed = true
	for _, lm := range s.mods {
		lm.host.Program = prog
		if p, ok := lm.mod.(module.PreScripter); ok {
			s.pre = append(s.pre, p)
		}
	}
	return s, nil
}

func (s *Server) moduleNames() []string {
	var out []string
	for _, lm := range s.mods {
		out = append(out, lm.name)
	}
	return out
}

// Module returns a loaded module by name.
func (s *Server) Module(name string) (module.Module, bool) {
	for _, lm := range s.mods {
		if lm.name == name {
			return lm.mod, true
		}
	}
	return nil, false
}

func (s *Server) newHost(name string) *module.Host {
	return &module.Host{
		Name:      name,
		Log:       s.Log.With(logging.ModuleKey, name),
		ScriptLog: s.Log.With(logging.ModuleKey, "<script>"),
		Core:      s.Params,
		Script:    s.Script,
		RPC:       s.RPC,
		Metrics:   s.Metrics,
		Gatherer:  s.Metrics,
		Loaded:    s.Module,
		Go:        s.goRun,
		Exec:      s.exec,
		AddFilter: func(f sipio.Filter) error {
			return s.addFilter(name, f)
		},
	}
}

// exec runs fn on a SIP worker with that worker's script context (see
// module.Host.Exec).
func (s *Server) exec(ctx context.Context, msg *sipio.Msg, fn func(c *script.Ctx)) error {
	sip := s.sip
	if sip == nil {
		return sipio.ErrNotStarted
	}
	return sip.Exec(ctx, func(w int) {
		c := s.ctxs[w]
		if msg != nil {
			msg.Worker = w
		}
		c.Reset(msg)
		defer c.Reset(nil)
		fn(c)
	})
}

// loadModules instantiates the builtin modules and those the config loads,
// and applies the modparam lines, in config order.
func (s *Server) loadModules(f *cfg.File) cfg.ErrorList {
	var errs cfg.ErrorList
	for _, info := range module.Builtins() {
		s.mods = append(s.mods, &loadedModule{name: info.Name, mod: info.New(), host: s.newHost(info.Name)})
	}
	for _, it := range f.Items {
		switch n := it.(type) {
		case *cfg.LoadModule:
			name := moduleName(n.Path)
			info, ok := module.Lookup(name)
			if !ok || info.Builtin {
				errs = append(errs, &cfg.Error{Pos: n.Pos, Err: &UnknownModuleError{Name: name},
					Msg: fmt.Sprintf("loadmodule %q: sipht has no module %q (it has: %s)",
						n.Path, name, strings.Join(module.Names(), ", "))})
				if s.missing == nil {
					s.missing = map[string]bool{}
				}
				s.missing[name] = true
				continue
			}
			if _, dup := s.Module(name); dup {
				s.Log.Warn("module loaded twice; the second loadmodule is ignored", "module", name, "at", n.Pos.String())
				continue
			}
			s.mods = append(s.mods, &loadedModule{name: name, mod: info.New(), host: s.newHost(name)})
		case *cfg.ModParam:
			errs = append(errs, s.modparam(n)...)
		}
	}
	return errs
}

// moduleName turns a loadmodule argument ("htable.so", "modules/htable.so",
// "/usr/lib/kamailio/modules/htable.so", "htable") into a module name.
func moduleName(p string) string {
	return strings.TrimSuffix(path.Base(p), ".so")
}

func (s *Server) modparam(n *cfg.ModParam) cfg.ErrorList {
	var targets []*loadedModule
	if lm := s.loaded(n.Module); lm != nil {
		targets = append(targets, lm)
	} else {
		// Kamailio accepts a regular expression for the module name
		// (modparam("auth_db|usrloc", "db_url", ...)).
		re, err := regexp.Compile("^(" + n.Module + ")$")
		if err == nil {
			for _, lm := range s.mods {
				if re.MatchString(lm.name) {
					targets = append(targets, lm)
				}
			}
		}
	}
	if len(targets) == 0 && s.missing[n.Module] {
		return nil // already reported at its loadmodule line
	}
	if len(targets) == 0 {
		return cfg.ErrorList{cfg.Errorf(n.Pos, "modparam: module %q is not loaded (load it with loadmodule before setting its parameters; loaded: %s)",
			n.Module, strings.Join(s.moduleNames(), ", "))}
	}
	if n.X && n.PV != "" {
		return cfg.ErrorList{cfg.Errorf(n.ValuePos, "modparamx with a pseudo-variable value is not supported by sipht")}
	}
	var errs cfg.ErrorList
	for _, lm := range targets {
		p, ok := module.FindParam(lm.mod, n.Param)
		if !ok {
			errs = append(errs, &cfg.Error{Pos: n.Pos, Err: &UnknownParamError{Module: lm.name, Param: n.Param},
				Msg: fmt.Sprintf("modparam: module %s has no parameter %q (it has: %s)",
					lm.name, n.Param, strings.Join(module.ParamNames(lm.mod), ", "))})
			continue
		}
		v, err := p.Coerce(module.Value{IsInt: n.IsInt, Int: n.Int, Str: n.Str})
		if err == nil {
			err = p.Set(v)
		}
		if err != nil {
			errs = append(errs, cfg.Errorf(n.ValuePos, "modparam(%q, %q): %v", n.Module, n.Param, err))
		}
	}
	return errs
}

func (s *Server) loaded(name string) *loadedModule {
	for _, lm := range s.mods {
		if lm.name == name {
			return lm
		}
	}
	return nil
}

func (s *Server) goRun(fn func(ctx context.Context)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn(s.runCtx)
	}()
}

// Workers returns how many SIP worker goroutines the server runs: the
// config's children, or one per CPU.
func (s *Server) Workers() int {
	if s.Params.Children > 0 {
		return s.Params.Children
	}
	return runtime.GOMAXPROCS(0)
}

// SIP returns the SIP transport (nil before Run).
func (s *Server) SIP() *sipio.Server { return s.sip }

// Run opens the SIP sockets, starts the modules and serves until ctx is
// cancelled; then it stops the transport (finishing messages in flight) and
// the modules, in reverse order, and returns.
func (s *Server) Run(ctx context.Context) error {
	defer s.closeLog()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.runCtx = runCtx
	if len(s.Params.Listen) == 0 {
		return errors.New("server: no listen= socket in the config")
	}
	n := s.Workers()
	s.ctxs = make([]*script.Ctx, n)
	for i := range s.ctxs {
		s.ctxs[i] = s.Program.NewCtx()
	}
	p := s.Params
	var ordered []string
	for _, lm := range s.mods {
		if o, ok := lm.mod.(module.OrderedSender); ok {
			ordered = append(ordered, o.OrderedMethods()...)
		}
	}
	sip, err := sipio.NewServer(sipio.Config{
		OrderedMethods: ordered,
		Listen:         p.Listen,
		Handler:        s.handle,
		Workers:        n,
		Filter:         s.filterChain(),
		ServerHeader:   p.ServerHeaderValue(),
		TCP: sipio.TCPConfig{
			MaxConns:       p.TCPMaxConnections,
			IdleTimeout:    p.TCPConnectionLifetime,
			WriteTimeout:   p.TCPSendTimeout,
			ConnectTimeout: p.TCPConnectTimeout,
		},
		Logger: s.Log.With(logging.ModuleKey, "<core>"),
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if err := sip.Start(runCtx); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	s.sip = sip
	for _, lm := range s.mods {
		lm.host.SIP = sip
	}
	s.Metrics.MustRegister(newSIPCollector(sip))
	var started []*loadedModule
	stopModules := func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		for i := len(started) - 1; i >= 0; i-- {
			if st, ok := started[i].mod.(module.Stopper); ok {
				if err := st.Stop(sctx); err != nil {
					s.Log.Error("module stop failed", "module", started[i].name, "err", err)
				}
			}
		}
	}
	for _, lm := range s.mods {
		if st, ok := lm.mod.(module.Starter); ok {
			if err := st.Start(runCtx, lm.host); err != nil {
				cancel()
				sip.Stop(context.Background())
				stopModules()
				s.wg.Wait()
				return fmt.Errorf("module %s: %w", lm.name, err)
			}
		}
		started = append(started, lm)
	}
	s.isReady.Store(true)
	close(s.ready)
	for _, l := range sip.Listeners() {
		s.Log.Info("listening", "transport", l.Transport.String(), "addr", l.Addr.String())
	}
	<-runCtx.Done()
	s.Log.Info("stopping")
	lctx, lcancel := context.WithTimeout(context.Background(), 2*time.Second)
	for i := len(started) - 1; i >= 0; i-- {
		if l, ok := started[i].mod.(module.Leaver); ok {
			l.Leave(lctx)
		}
	}
	lcancel()
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := sip.Stop(sctx); err != nil && !errors.Is(err, sipio.ErrServerClosed) {
		s.Log.Warn("SIP transport stop", "err", err)
	}
	scancel()
	stopModules()
	s.wg.Wait()
	s.Log.Info("stopped")
	return nil
}

// Ready is closed once every module has started and messages are served.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// handle runs the script on one received message, on a SIP worker.
func (s *Server) handle(m *sipio.Msg) {
	if !s.isReady.Load() {
		select {
		case <-s.ready:
		case <-s.runCtx.Done():
			return
		}
	}
	c := s.ctxs[m.Worker]
	c.Reset(m)
	for _, p := range s.pre {
		if !p.PreScript(c) {
			return
		}
	}
	if m.Req != nil {
		s.Program.Run(script.RequestRoute, "", c)
		return
	}
	// A reply that is not for one of our own requests: run reply_route
	// and, unless it drops the reply, send it on statelessly.
	s.Program.Run(script.ReplyRoute, "", c)
	if !c.Dropped() {
		if err := s.sip.ForwardReply(m); err != nil {
			s.Log.Debug("reply not forwarded", "err", err)
		}
	}
}

func stderrOr(w io.Writer) io.Writer {
	if w != nil {
		return w
	}
	return stderr
}
