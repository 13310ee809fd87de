// Package module is the registry of sipht's compiled-in modules: what a
// config's `loadmodule "NAME.so"` enables and what `modparam("NAME", ...)`
// may set. Each module package registers itself from init(), as CoreDNS
// plugins and Caddy modules do; nothing is loaded dynamically.
//
// A loaded module goes through Kamailio's lifecycle, in config order:
//
//  1. New: a fresh instance per server.
//  2. modparam: each Param's Set is called in the order the config gives them.
//  3. Init (Initializer, Kamailio's mod_init): validate parameters and declare
//     script functions, pseudo-variables and RPC methods. No I/O here: Init
//     also runs for `sipht -c`.
//  4. Start (Starter, Kamailio's child_init): after the script is compiled;
//     open databases, sockets and timers.
//  5. Stop (Stopper, Kamailio's destroy): in reverse order on shutdown.
package module

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"

	"github.com/sipht/sipht/internal/script"
)

// Info describes a compiled-in module.
type Info struct {
	// Name is the module name as `loadmodule "NAME.so"` spells it.
	Name string
	// Summary is a one-line description for `sipht -h` style listings.
	Summary string
	// New returns a fresh, unconfigured instance.
	New func() Module
	// Builtin modules are always loaded, before the config's loadmodule
	// lines, and cannot be named by loadmodule: they provide what Kamailio
	// has in its core (core actions such as forward(), the keywords uri,
	// method, src_ip ... and myself).
	Builtin bool
}

// Module is one loaded module instance. It declares the modparams it takes;
// the optional Initializer, Starter and Stopper interfaces give it a lifecycle.
type Module interface {
	Params() []Param
}

// Initializer is implemented by modules that need Kamailio's mod_init step.
type Initializer interface {
	Init(h *Host) error
}

// Starter is implemented by modules that do I/O once the script is compiled.
type Starter interface {
	Start(ctx context.Context, h *Host) error
}

// PreScripter is implemented by modules that look at every received
// message before the routing script runs (Kamailio's pre-script
// callbacks): the sl module absorbs ACKs to its own replies, xlog
// evaluates log_prefix. PreScript runs on the SIP worker with c reset for
// the message (c.Msg set); returning false drops the message: no route
// runs and, for a reply, it is not forwarded. Modules run in load order.
type PreScripter interface {
	PreScript(c *script.Ctx) bool
}

// OrderedSender is implemented by modules whose requests of some methods
// must be handled in the order each source sent them over UDP (dmq:
// KDMQ). The SIP transport hands such requests of one source to one
// worker instead of the next free one (sipio.Config.OrderedMethods).
type OrderedSender interface {
	OrderedMethods() []string
}

// Leaver is implemented by modules that must tell peers they are going
// away while the SIP transport still runs (dmq's shutdown notice). Leave is
// called at shutdown before the transport stops, in reverse load order,
// with a short deadline; Stop follows once the transport is down.
type Leaver interface {
	Leave(ctx context.Context)
}

// Stopper is implemented by modules that must release resources or save
// state on shutdown.
type Stopper interface {
	Stop(ctx context.Context) error
}

// ParamKind is the type of value a modparam accepts.
type ParamKind uint8

// Modparam value kinds, as Kamailio's PARAM_INT and PARAM_STRING.
const (
	ParamStr ParamKind = iota + 1 // a string; an int literal is rejected
	ParamInt                      // an int; a string holding a decimal int is accepted, as Kamailio does
	ParamAny                      // either; the module looks at Value.IsInt
)

// String returns the kind's name as error messages print it.
func (k ParamKind) String() string {
	switch k {
	case ParamStr:
		return "string"
	case ParamInt:
		return "int"
	case ParamAny:
		return "string or int"
	}
	return "unknown"
}

// Value is one modparam value as the config gives it.
type Value struct {
	IsInt bool
	Int   int64
	Str   string
}

// String returns the value as text.
func (v Value) String() string {
	if v.IsInt {
		return strconv.FormatInt(v.Int, 10)
	}
	return v.Str
}

// Param declares one modparam.
type Param struct {
	Name string
	Kind ParamKind
	// Multi allows the parameter to be given several times (Kamailio's
	// PARAM_USE_FUNC parameters such as htable's "htable" or dmq's
	// "notification_address"); otherwise a second value replaces the first.
	Multi bool
	// Set stores a value. It is called once per modparam line, in order.
	Set func(v Value) error
	// Doc is a short description.
	Doc string
}

// IntParam declares an int modparam stored in *dst.
func IntParam(name string, dst *int64, doc string) Param {
	return Param{Name: name, Kind: ParamInt, Doc: doc, Set: func(v Value) error { *dst = v.Int; return nil }}
}

// StrParam declares a string modparam stored in *dst.
func StrParam(name string, dst *string, doc string) Param {
	return Param{Name: name, Kind: ParamStr, Doc: doc, Set: func(v Value) error { *dst = v.Str; return nil }}
}

// Coerce checks v against the parameter's kind, converting a decimal string
// for int parameters as Kamailio does.
func (p Param) Coerce(v Value) (Value, error) {
	switch p.Kind {
	case ParamStr:
		if v.IsInt {
			return v, fmt.Errorf("parameter %q takes a string, got the int %d", p.Name, v.Int)
		}
	case ParamInt:
		if !v.IsInt {
			n, err := strconv.ParseInt(v.Str, 10, 64)
			if err != nil {
				return v, fmt.Errorf("parameter %q takes an int, got %q", p.Name, v.Str)
			}
			return Value{IsInt: true, Int: n}, nil
		}
	}
	return v, nil
}

var (
	mu       sync.RWMutex
	registry = map[string]Info{}
)

// Register adds a compiled-in module. It is meant to be called from init();
// registering a name twice is a programming error and panics.
func Register(info Info) {
	if info.Name == "" || info.New == nil {
		panic("module: Register needs a name and a constructor")
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[info.Name]; dup {
		panic("module: " + info.Name + " registered twice")
	}
	registry[info.Name] = info
}

// Lookup returns the module registered under name.
func Lookup(name string) (Info, bool) {
	mu.RLock()
	defer mu.RUnlock()
	info, ok := registry[name]
	return info, ok
}

// Names returns the names of the compiled-in modules a config can load,
// sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n, info := range registry {
		if !info.Builtin {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Builtins returns the builtin modules, sorted by name.
func Builtins() []Info {
	mu.RLock()
	defer mu.RUnlock()
	var out []Info
	for _, info := range registry {
		if info.Builtin {
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FindParam returns the declared parameter of m called name.
func FindParam(m Module, name string) (Param, bool) {
	for _, p := range m.Params() {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// ParamNames lists the parameter names m declares, sorted, for error messages.
func ParamNames(m Module) []string {
	ps := m.Params()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	sort.Strings(names)
	return names
}
