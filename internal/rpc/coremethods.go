package rpc

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// CoreInfo describes the running server for the core.* methods.
type CoreInfo struct {
	// Name is the server name ("sipht").
	Name string
	// Version is the server version ("0.1.0").
	Version string
	// Started is the start time (default: when RegisterCore is called).
	Started time.Time
	// Processes describes the server's workers for core.ps and core.psx
	// (Kamailio lists its processes; sipht is one process, so these are
	// descriptions of its main parts, all with the same PID). Default: a
	// single "main process - attendant".
	Processes func() []string
	// Modules lists the loaded modules for core.modules (omitted when nil).
	Modules func() []string
}

// ctimeLayout is C ctime() without its trailing newline.
const ctimeLayout = "Mon Jan _2 15:04:05 2006"

// FullVersion returns the core.version text: "<name> <version>
// (<arch>/<os>)" with the architecture named as uname -m names it, shaped
// like Kamailio's "kamailio 5.6.3 (x86_64/linux) ".
func (ci CoreInfo) FullVersion() string {
	return fmt.Sprintf("%s %s (%s/%s)", ci.Name, ci.Version, unameArch(runtime.GOARCH), runtime.GOOS)
}

// unameArch names the architecture as uname -m (and Kamailio) do.
func unameArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "386":
		return "i386"
	case "arm64":
		return "aarch64"
	}
	return goarch
}

func buildSetting(key string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// RegisterCore registers the system.* and core.* methods that make sense
// for sipht: system.listMethods, system.methodHelp,
// system.methodSignature, core.echo, core.prints, core.printi,
// core.version, core.flags, core.info, core.runinfo, core.uptime, core.ps,
// core.psx, core.pwd, core.arg, core.shmmem and (when info.Modules is set)
// core.modules.
func RegisterCore(r *Registry, info CoreInfo) error {
	if info.Name == "" {
		info.Name = "sipht"
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Started.IsZero() {
		info.Started = time.Now()
	}
	procs := info.Processes
	if procs == nil {
		procs = func() []string { return []string{"main process - attendant"} }
	}
	sourceID := buildSetting("vcs.revision")
	if sourceID == "" {
		sourceID = "unknown"
	}
	compiled := buildSetting("vcs.time")
	fullVersion := info.FullVersion()
	methodName := &Fault{Code: 400, Message: "Method Name Expected"}

	ms := []Method{
		{
			Name: "system.listMethods", Help: "Lists all RPC methods supported by the server.", Flags: RetArray,
			Handler: func(c *Call) {
				for _, n := range r.Names() {
					c.AddStr(n)
				}
			},
		},
		{
			Name: "system.methodHelp", Help: "Print the help string for given method.",
			Params: "s", ParamFault: methodName,
			Handler: func(c *Call) {
				m, ok := r.Lookup(c.ArgStr(0))
				if !ok {
					c.Fault(400, "command not found")
					return
				}
				if m.Help == "" {
					c.AddStr("undocumented")
					return
				}
				c.AddStr(m.Help)
			},
		},
		{
			Name:   "system.methodSignature",
			Help:   "Returns signature of given method: the return type (\"array\" for methods whose JSON-RPC result is an array) followed by the parameter types.",
			Params: "s", ParamFault: methodName,
			Handler: func(c *Call) {
				m, ok := r.Lookup(c.ArgStr(0))
				if !ok {
					c.Fault(400, "command not found")
					return
				}
				a := c.AddArray()
				if m.Flags&RetArray != 0 {
					a.Str("array")
				} else {
					a.Str("any")
				}
				for _, t := range signatureTypes(m.Params) {
					a.Str(t)
				}
			},
		},
		{
			Name: "core.prints", Help: "Returns the strings given as parameters.", Flags: RetArray,
			Handler: echoStrings("*s"),
		},
		{
			Name: "core.printi", Help: "Returns the integers given as parameters.", Flags: RetArray,
			Handler: func(c *Call) {
				for {
					var i int
					if n, err := c.Scan("*d", &i); n < 1 || err != nil {
						return
					}
					c.AddInt(i)
				}
			},
		},
		{
			Name: "core.echo", Help: "Returns back its parameters.", Flags: RetArray,
			Handler: echoStrings("*.s"),
		},
		{
			Name: "core.version", Help: "Returns the version string of the server.",
			Handler: func(c *Call) { c.AddStr(fullVersion) },
		},
		{
			Name: "core.flags", Help: "Returns the compile flags.",
			Handler: func(c *Call) { c.AddStr(runtime.Version()) },
		},
		{
			Name: "core.info", Help: "Verbose info, including version number, compile flags, compiler,repository hash a.s.o.",
			Handler: func(c *Call) {
				c.AddStruct().
					Str("version", info.Name+" "+info.Version).
					Str("id", sourceID).
					Str("compiler", runtime.Version()).
					Str("compiled", compiled).
					Str("flags", runtime.Version())
			},
		},
		{
			Name: "core.runinfo", Help: "Runtime info - binary name, version, uptime, ...",
			Handler: func(c *Call) {
				now := time.Now()
				up := int(now.Sub(info.Started) / time.Second)
				c.AddStruct().
					Str("name", info.Name).
					Str("version", info.Version).
					Str("sourceid", sourceID).
					Str("compiler", runtime.Version()).
					Str("compiled", compiled).
					Str("time_now", now.Format(ctimeLayout)).
					Str("time_started", info.Started.Format(ctimeLayout)).
					Int("uptime_secs", up).
					Printf("utime_days", "%dd %dh %dm %ds", up/86400, (up%86400)/3600, (up%3600)/60, up%60)
			},
		},
		{
			Name: "core.uptime", Help: "Returns uptime of SIP server.",
			Handler: func(c *Call) {
				now := time.Now()
				c.AddStruct().
					Str("now", now.Format(ctimeLayout)).
					Str("up_since", info.Started.Format(ctimeLayout)).
					Int("uptime", int(now.Sub(info.Started)/time.Second))
			},
		},
		{
			Name: "core.ps", Help: "Returns the description of running processes.", Flags: RetArray,
			Handler: func(c *Call) {
				pid := os.Getpid()
				for _, d := range procs() {
					c.AddInt(pid)
					c.AddStr(d)
				}
			},
		},
		{
			Name: "core.psx", Help: "Returns the detailed description of running processes.", Flags: RetArray,
			Handler: func(c *Call) {
				pid := os.Getpid()
				for i, d := range procs() {
					c.AddStruct().Int("IDX", i).Int("PID", pid).Str("DSC", d)
				}
			},
		},
		{
			Name: "core.pwd", Help: "Returns the working directory of the server.", Flags: RetArray,
			Handler: func(c *Call) {
				wd, err := os.Getwd()
				if err != nil {
					c.Fault(500, "getcwd Failed")
					return
				}
				c.AddStr(wd)
			},
		},
		{
			Name: "core.arg", Help: "Returns the command line arguments of the server.", Flags: RetArray,
			Handler: func(c *Call) {
				for _, a := range os.Args {
					c.AddStr(a)
				}
			},
		},
		{
			Name: "core.shmmem",
			Help: "Returns Go runtime memory statistics in the shape of Kamailio's shared memory info " +
				"(total = memory obtained from the OS, used = live heap, real_used = heap and stacks in use, " +
				"max_used = heap reserved); optional unit b|k|m|g.",
			Handler: coreShmmem,
		},
	}
	if info.Modules != nil {
		ms = append(ms, Method{
			Name: "core.modules", Help: "Returns the list of loaded modules.", Flags: RetArray,
			Handler: func(c *Call) {
				for _, m := range info.Modules() {
					c.AddStr(m)
				}
			},
		})
	}
	return r.Register(ms...)
}

func coreShmmem(c *Call) {
	var unit string
	div := uint64(1)
	if n, _ := c.Scan("*s", &unit); n > 0 {
		switch strings.ToLower(unit) {
		case "b":
		case "k":
			div = 1 << 10
		case "m":
			div = 1 << 20
		case "g":
			div = 1 << 30
		default:
			c.Fault(500, "bad param, (use b|k|m|g)")
			return
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	inUse := ms.HeapInuse + ms.StackInuse
	free := uint64(0)
	if ms.Sys > inUse {
		free = ms.Sys - inUse
	}
	c.AddStruct().
		Long("total", int64(ms.Sys/div)).
		Long("free", int64(free/div)).
		Long("used", int64(ms.HeapAlloc/div)).
		Long("real_used", int64(inUse/div)).
		Long("max_used", int64(ms.HeapSys/div)).
		Long("fragments", 0)
}

// signatureTypes turns a scan format into XML-RPC-like type names.
func signatureTypes(format string) []string {
	var out []string
	optional := false
	for i := 0; i < len(format); i++ {
		var t string
		switch c := format[i]; {
		case c == '*':
			optional = true
			continue
		case c == '.':
			continue
		case isIntConv(c):
			t = "int"
		case isFloatConv(c):
			t = "double"
		default:
			t = "string"
		}
		if optional {
			t = "[" + t + "]"
		}
		out = append(out, t)
	}
	return out
}

// echoStrings returns a handler that replies with its string parameters,
// each read with the Scan format f ("*s", or "*.s" which auto-converts
// other types), until one is missing or cannot be read.
func echoStrings(f string) func(c *Call) {
	return func(c *Call) {
		for {
			var s string
			if n, err := c.Scan(f, &s); n < 1 || err != nil {
				return
			}
			c.AddStr(s)
		}
	}
}
