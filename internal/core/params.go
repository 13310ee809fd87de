// Package core holds sipht's core configuration: the global parameters of a
// Kamailio-style config (listen=, alias=, debug=, workdir= ...) turned into
// typed settings the server, the SIP transport and the modules read.
package core

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sipht/sipht/internal/cfg"
	"github.com/sipht/sipht/internal/sipio"
)

// Version is sipht's version, printed by -V and core.version.
const Version = "0.1.0"

// Alias is one alias= entry: a name (or address) that `myself` matches.
// Port 0 matches any port; an empty Transport matches any transport.
type Alias struct {
	Host      string
	Port      int
	Transport string
}

// Params are the core settings of a configuration.
type Params struct {
	Listen      []sipio.ListenSpec
	Port        int // default port for listens without one (port=)
	Aliases     []Alias
	AutoAliases bool
	DisableTCP  bool

	Debug         int    // Kamailio log level number (debug=)
	LogStderr     bool   // log_stderror
	LogFacility   string // log_facility
	LogName       string // log_name
	LogPrefix     string // log_prefix: a format evaluated per message by xlog
	LogEngineType string // log_engine_type ("json" selects JSON logs)

	Fork     bool
	Children int

	Workdir string // workdir: relative paths in the config resolve against it
	Rundir  string // rundir: where sockets and FIFOs go by default

	MaxWhileLoops     int
	MaxRecursiveLevel int

	ServerSignature bool
	ServerHeader    string // full "Server: ..." header line value; "" = default
	UserAgentHeader string

	TCPConnectionLifetime time.Duration
	TCPMaxConnections     int
	TCPConnectTimeout     time.Duration
	TCPSendTimeout        time.Duration
}

// Defaults returns the settings of an empty config (Kamailio's defaults,
// adapted to a foreground Go process).
func Defaults() *Params {
	wd, _ := os.Getwd()
	return &Params{
		Port:              sipio.DefaultPort,
		AutoAliases:       true,
		Debug:             0, // L_WARN, Kamailio's default
		LogFacility:       "LOG_DAEMON",
		LogName:           "sipht",
		Fork:              true,
		Children:          0, // 0: one worker per CPU
		Workdir:           wd,
		Rundir:            "/var/run/kamailio",
		MaxWhileLoops:     100,
		MaxRecursiveLevel: 256,
		ServerSignature:   true,
	}
}

// DefaultServerHeader is the Server header value sent when server_header is
// not set and server_signature is on.
func DefaultServerHeader() string {
	return "sipht (" + Version + " (" + goos() + "))"
}

// ServerHeaderValue returns the value of the Server header for stateless
// replies, or "" when the config turns it off.
func (p *Params) ServerHeaderValue() string {
	if !p.ServerSignature {
		return ""
	}
	if p.ServerHeader != "" {
		return strings.TrimSpace(strings.TrimPrefix(p.ServerHeader, "Server:"))
	}
	return DefaultServerHeader()
}

// Path resolves a path from the config against the working directory, as
// Kamailio does once it has changed into workdir.
func (p *Params) Path(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Workdir, path)
}

// FromFile reads the global parameters of a parsed config. Unknown names
// are reported by cfg.CheckCoreParams; parameters that mean nothing in a Go
// process are logged at debug level and otherwise ignored. All problems
// found are returned together.
func FromFile(f *cfg.File, log *slog.Logger) (*Params, error) {
	p := Defaults()
	var errs cfg.ErrorList
	errs = append(errs, cfg.CheckCoreParams(f)...)
	var listens []*cfg.CoreParam
	for _, it := range f.Items {
		cp, ok := it.(*cfg.CoreParam)
		if !ok {
			continue
		}
		def := cfg.LookupCoreParam(cp.Name)
		if def == nil {
			continue // reported by CheckCoreParams
		}
		if def.Use == cfg.Ignored {
			log.Debug("core parameter has no meaning in sipht; ignored", "name", cp.Name, "at", cp.Pos.String())
			continue
		}
		v := cp.Value
		fail := func(format string, args ...any) {
			errs = append(errs, cfg.Errorf(cp.Pos, "%s: "+format, append([]any{cp.Name}, args...)...))
		}
		switch def.Name() {
		case "listen":
			listens = append(listens, cp)
		case "port":
			p.Port = int(v.Int)
		case "alias":
			for _, s := range v.Sockets {
				for _, h := range s.Hosts {
					p.Aliases = append(p.Aliases, Alias{Host: strings.ToLower(h), Port: s.Port, Transport: protoOf(s.Proto)})
				}
			}
		case "auto_aliases":
			p.AutoAliases = v.Int != 0
		case "disable_tcp":
			p.DisableTCP = v.Int != 0
		case "enable_tls", "disable_tls", "advertised_address", "advertised_port":
			log.Debug("core parameter accepted; sipht does not act on it yet", "name", cp.Name, "at", cp.Pos.String())
		case "debug":
			p.Debug = int(v.Int)
		case "log_stderror":
			p.LogStderr = v.Int != 0
		case "log_facility":
			p.LogFacility = v.Str
		case "log_name":
			p.LogName = v.Str
		case "log_color":
			// colours are a terminal nicety; ignored
		case "log_prefix":
			p.LogPrefix = v.Str
		case "log_engine_type":
			p.LogEngineType = v.Str
		case "fork":
			p.Fork = v.Int != 0
		case "children":
			p.Children = int(v.Int)
		case "rundir":
			p.Rundir = v.Str
		case "workdir":
			p.Workdir = v.Str
		case "max_while_loops":
			p.MaxWhileLoops = int(v.Int)
		case "max_recursive_level":
			p.MaxRecursiveLevel = int(v.Int)
		case "server_signature":
			p.ServerSignature = v.Int != 0
		case "server_header":
			p.ServerHeader = v.Str
		case "user_agent_header":
			p.UserAgentHeader = v.Str
		case "tcp_connection_lifetime":
			p.TCPConnectionLifetime = time.Duration(v.Int) * time.Second
		case "tcp_max_connections":
			p.TCPMaxConnections = int(v.Int)
		case "tcp_connect_timeout":
			p.TCPConnectTimeout = time.Duration(v.Int) * time.Second
		case "tcp_send_timeout":
			p.TCPSendTimeout = time.Duration(v.Int) * time.Second
		default:
			fail("marked as used but not handled (a sipht bug)")
		}
	}
	// Listens are read last so that port= anywhere in the file applies.
	for _, cp := range listens {
		for _, s := range cp.Value.Sockets {
			specs, err := listenSpecs(s, p.Port)
			if err != nil {
				errs = append(errs, cfg.Errorf(s.Pos, "listen: %v", err))
				continue
			}
			for _, sp := range specs {
				if p.DisableTCP && sp.Transport == sipio.TCP {
					continue
				}
				p.Listen = append(p.Listen, sp)
			}
		}
	}
	if p.LogEngineType != "" && p.LogEngineType != "json" {
		errs = append(errs, fmt.Errorf("log_engine_type %q: sipht knows only \"json\"", p.LogEngineType))
	}
	return p, errs.Err()
}

// listenSpecs expands one listen= socket (possibly multi-homed, possibly
// without a transport) into sipio listen specs.
func listenSpecs(s cfg.Socket, defPort int) ([]sipio.ListenSpec, error) {
	var out []sipio.ListenSpec
	for _, h := range s.Hosts {
		spec := h
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			spec = "[" + h + "]" // IPv6 literal
		}
		port := s.Port
		if port == 0 {
			port = defPort
		}
		spec += ":" + strconv.Itoa(port)
		if s.Proto != "" && s.Proto != "*" {
			spec = s.Proto + ":" + spec
		}
		specs, err := sipio.ParseListen(spec)
		if err != nil {
			return nil, err
		}
		if s.PortSet && s.Port == 0 {
			// An explicit :0 asks for a free port (what tests write;
			// Kamailio would use the default port).
			for i := range specs {
				specs[i].Port = 0
			}
		}
		out = append(out, specs...)
	}
	return out, nil
}

func protoOf(p string) string {
	if p == "*" {
		return ""
	}
	return strings.ToLower(p)
}

func goos() string { return runtimeArch }
