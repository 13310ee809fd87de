package script

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sipht/sipht/internal/cfg"
)

// RouteType is a set of route block types; functions declare where they
// may be used with it, and Ctx.RouteType tells which one is running.
type RouteType uint16

// Route types (Kamailio's REQUEST_ROUTE, FAILURE_ROUTE ...).
const (
	RequestRoute RouteType = 1 << iota // request_route and the route[...] it calls
	FailureRoute                       // failure_route[...]
	ReplyRoute                         // reply_route / onreply_route {} (core)
	OnReplyRoute                       // onreply_route[name] (tm)
	BranchRoute                        // branch_route[...]
	OnSendRoute                        // onsend_route
	EventRoute                         // event_route[module:event]

	// AnyRoute allows a function everywhere.
	AnyRoute RouteType = 1<<iota - 1
)

var routeTypeNames = []struct {
	t RouteType
	n string
}{
	{RequestRoute, "request_route"}, {FailureRoute, "failure_route"},
	{ReplyRoute, "reply_route"}, {OnReplyRoute, "onreply_route"},
	{BranchRoute, "branch_route"}, {OnSendRoute, "onsend_route"},
	{EventRoute, "event_route"},
}

// String lists the route types in the set.
func (t RouteType) String() string {
	var parts []string
	for _, rn := range routeTypeNames {
		if t&rn.t != 0 {
			parts = append(parts, rn.n)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}

func routeTypeOf(k cfg.RouteKind) RouteType {
	switch k {
	case cfg.RequestRoute:
		return RequestRoute
	case cfg.FailureRoute:
		return FailureRoute
	case cfg.ReplyRoute:
		return ReplyRoute
	case cfg.OnReplyRoute:
		return OnReplyRoute
	case cfg.BranchRoute:
		return BranchRoute
	case cfg.OnSendRoute:
		return OnSendRoute
	case cfg.EventRoute:
		return EventRoute
	}
	return 0
}

// Handler runs a compiled function call and returns its code: > 0 true,
// < 0 false, 0 ends the script (as Kamailio module functions).
type Handler func(c *Ctx) int

// Func describes a script function (module export or core action).
type Func struct {
	// Name as written in the script.
	Name string
	// MinArgs and MaxArgs bound the number of arguments.
	MinArgs, MaxArgs int
	// Routes lists where the function may be used; 0 means AnyRoute.
	Routes RouteType
	// Fixup runs once per call site at compile time. It checks and
	// pre-parses the arguments (fc.Arg(i)) and returns the handler that runs
	// per message. Constant arguments should be converted here, not in
	// the handler.
	Fixup func(fc *FixupCtx) (Handler, error)
	// Core marks a core action (setflag, isflagset ...): Kamailio does not
	// record its return code in $rc and a 0 return does not end the script.
	Core bool
	// Module names the module that exports the function (for messages).
	Module string
}

// InnerRule says whether a PV class takes an inner name: $cls(inner).
type InnerRule uint8

// Inner name rules.
const (
	InnerNone     InnerRule = iota // $si: "$si(x)" is an error
	InnerRequired                  // $var(x): "$var" alone is an error
	InnerOptional                  // both forms allowed
)

// PVClass describes a pseudo-variable class ($var, $sht, $hdr, $si ...).
type PVClass struct {
	// Name is the class name without '$' ("sht", "si", "T_reply_code").
	Name  string
	Inner InnerRule
	// Index is true when the class accepts $(cls(inner)[idx]).
	Index bool
	// Fixup runs once per reference at compile time and returns the PV.
	// The inner name is pc.Inner (raw) or pc.InnerFormat() when parts
	// of it may contain PVs ($sht(t=>$si)).
	Fixup func(pc *PVFixupCtx) (*PV, error)
	// Module names the module that exports the class (for messages).
	Module string
}

// PV is a resolved pseudo-variable. Get must not block and should not
// allocate for integers or for strings that already exist.
type PV struct {
	// Get returns the value; Null when undefined.
	Get func(c *Ctx) Value
	// Set assigns; nil means read-only. Assigning Null means "unset" and
	// each class decides what that is ($var: 0, $avp: delete the top value,
	// $sht: delete the item).
	Set func(c *Ctx, v Value) error
	// Count returns how many values there are ($cnt($avp(x))); optional.
	Count func(c *Ctx) int
}

// TransFunc applies a transformation; ok=false means the transformation
// failed (Kamailio then treats the PV as undefined in expressions and
// prints nothing for it in formats).
type TransFunc func(c *Ctx, v Value) (Value, bool)

// Transform describes a transformation {class.name[,params]}.
type Transform struct {
	Class string // "s", "uri", "param"
	Name  string // "len", "user", "value"
	// Fixup parses the parameters (tc.Params is the raw text after the
	// first ','; use tc.IntParam / tc.StrParam / tc.CharParam to read them
	// the way Kamailio does) and returns the function.
	Fixup func(tc *TransFixupCtx) (TransFunc, error)
	// Module names the module that exports the transformation.
	Module string
}

// Keyword describes a core keyword usable in conditions (uri, method,
// src_ip ...). The SIP layer registers them.
type Keyword struct {
	// Name: uri, status, from_uri, to_uri, method, src_ip, dst_ip, snd_ip,
	// to_ip, src_port, dst_port, snd_port, to_port, proto, snd_proto,
	// to_proto, af, snd_af, to_af, msg:len.
	Name string
	// Get returns the keyword's value for the current message: a string
	// for uri/status/method and the IP keywords (the address as text), an
	// int for ports, af (2 or 10), msg:len and proto (ProtoNumber).
	Get func(c *Ctx) Value
	// Myself implements "<keyword> == myself"; nil when not supported.
	Myself func(c *Ctx) bool
	// Module names the provider (for messages).
	Module string
}

// ProtoNumber returns Kamailio's number for a transport name (udp=1,
// tcp=2, tls=3, sctp=4, ws=5, wss=6; "*" and unknown names 0). The proto
// keyword's Get must return these numbers.
func ProtoNumber(name string) int64 {
	switch strings.ToLower(name) {
	case "udp":
		return 1
	case "tcp":
		return 2
	case "tls":
		return 3
	case "sctp":
		return 4
	case "ws":
		return 5
	case "wss":
		return 6
	}
	return 0
}

// Registry holds what modules provide to scripts: functions, pseudo-variable
// classes, transformations, core keywords and per-message data slots.
// Fill it before Compile; it must not change afterwards (compiled programs
// keep references into it). NewRegistry returns one with the core
// built-ins already registered.
type Registry struct {
	funcs    map[string][]*Func
	pvs      map[string]*PVClass
	trans    map[string]*Transform
	keywords map[string]*Keyword
	nslots   int
	shared   map[string]any
}

// NewRegistry returns a registry with the core built-ins: $var, $vn, $avp,
// $cnt, $null, $rc/$retcode/$?, $$, setflag/resetflag/isflagset and the
// s.*, uri.* and param.* transformations.
func NewRegistry() *Registry {
	r := &Registry{
		funcs:    map[string][]*Func{},
		pvs:      map[string]*PVClass{},
		trans:    map[string]*Transform{},
		keywords: map[string]*Keyword{},
	}
	registerCorePVs(r)
	registerCoreFuncs(r)
	registerCoreTransforms(r)
	return r
}

// AddFunc registers a function. Several registrations of one name are
// allowed when their argument-count ranges do not overlap.
func (r *Registry) AddFunc(f Func) error {
	if f.Name == "" || f.Fixup == nil {
		return fmt.Errorf("script: function %q: name and Fixup are required", f.Name)
	}
	if f.MinArgs < 0 || f.MaxArgs < f.MinArgs {
		return fmt.Errorf("script: function %q: bad argument range %d..%d", f.Name, f.MinArgs, f.MaxArgs)
	}
	if cfg.IsReserved(f.Name) && !f.Core {
		return fmt.Errorf("script: function %q: the name is a Kamailio keyword and cannot be called as a module function", f.Name)
	}
	for _, o := range r.funcs[f.Name] {
		if f.MinArgs <= o.MaxArgs && o.MinArgs <= f.MaxArgs {
			return fmt.Errorf("script: function %q with %d..%d arguments already registered (by %s)", f.Name, o.MinArgs, o.MaxArgs, orCore(o.Module))
		}
	}
	if f.Routes == 0 {
		f.Routes = AnyRoute
	}
	fc := f
	r.funcs[f.Name] = append(r.funcs[f.Name], &fc)
	return nil
}

// AddPV registers a pseudo-variable class.
func (r *Registry) AddPV(c PVClass) error {
	if c.Name == "" || c.Fixup == nil {
		return fmt.Errorf("script: PV class %q: name and Fixup are required", c.Name)
	}
	if o, ok := r.pvs[c.Name]; ok {
		return fmt.Errorf("script: PV class $%s already registered (by %s)", c.Name, orCore(o.Module))
	}
	cc := c
	r.pvs[c.Name] = &cc
	return nil
}

// AddTransform registers a transformation.
func (r *Registry) AddTransform(t Transform) error {
	if t.Class == "" || t.Name == "" || t.Fixup == nil {
		return fmt.Errorf("script: transformation %s.%s: class, name and Fixup are required", t.Class, t.Name)
	}
	key := t.Class + "." + t.Name
	if o, ok := r.trans[key]; ok {
		return fmt.Errorf("script: transformation {%s} already registered (by %s)", key, orCore(o.Module))
	}
	tc := t
	r.trans[key] = &tc
	return nil
}

// AddKeyword registers (or replaces) a core keyword provider.
func (r *Registry) AddKeyword(k Keyword) error {
	if k.Name == "" || k.Get == nil {
		return fmt.Errorf("script: keyword %q: name and Get are required", k.Name)
	}
	kc := k
	r.keywords[k.Name] = &kc
	return nil
}

// LookupFunc returns the function registered for name and argument count.
func (r *Registry) LookupFunc(name string, nargs int) *Func {
	for _, f := range r.funcs[name] {
		if nargs >= f.MinArgs && nargs <= f.MaxArgs {
			return f
		}
	}
	return nil
}

// HasFunc reports whether any function is registered under name.
func (r *Registry) HasFunc(name string) bool { return len(r.funcs[name]) > 0 }

// LookupPV returns the PV class registered under name, or nil.
func (r *Registry) LookupPV(name string) *PVClass { return r.pvs[name] }

// FuncNames returns the registered function names, sorted.
func (r *Registry) FuncNames() []string {
	out := make([]string, 0, len(r.funcs))
	for n := range r.funcs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// PVNames returns the registered PV class names, sorted.
func (r *Registry) PVNames() []string {
	out := make([]string, 0, len(r.pvs))
	for n := range r.pvs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func orCore(m string) string {
	if m == "" {
		return "core"
	}
	return "module " + m
}

// Slot gives a module per-message data of type T without allocating per
// message: the first Get on a Ctx allocates a T with New (once per Ctx,
// i.e. per worker); each later message starts with Reset called on it.
type Slot[T any] struct {
	id    int
	newT  func() *T
	reset func(*T)
}

// NewSlot reserves a per-message data slot. newT allocates the value (nil
// means new(T)); reset clears it for the next message (nil means *t = T{}).
func NewSlot[T any](r *Registry, newT func() *T, reset func(*T)) Slot[T] {
	id := r.nslots
	r.nslots++
	if newT == nil {
		newT = func() *T { return new(T) }
	}
	if reset == nil {
		reset = func(t *T) { var zero T; *t = zero }
	}
	return Slot[T]{id: id, newT: newT, reset: reset}
}

// Get returns the slot's value for the message being processed by c.
func (s Slot[T]) Get(c *Ctx) *T {
	if s.id >= len(c.slots) {
		n := make([]slotEntry, s.id+1)
		copy(n, c.slots)
		c.slots = n
	}
	e := &c.slots[s.id]
	if e.v == nil {
		e.v = s.newT()
		e.gen = c.gen
		return e.v.(*T)
	}
	t := e.v.(*T)
	if e.gen != c.gen {
		s.reset(t)
		e.gen = c.gen
	}
	return t
}

type slotEntry struct {
	v   any
	gen uint64
}
