package script

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/sipht/sipht/internal/cfg"
)

// Options control compilation.
type Options struct {
	// Logger receives compile warnings and, through Ctx.Log, the script's
	// runtime errors. nil means slog.Default().
	Logger *slog.Logger
	// MaxWhileLoops overrides the core parameter max_while_loops (default
	// 100); a while loop running more iterations stops with an error.
	// Negative means unlimited.
	MaxWhileLoops int
	// MaxRecursiveLevel overrides max_recursive_level (default 256): the
	// deepest chain of route() calls.
	MaxRecursiveLevel int
}

// Program is a compiled configuration: its routes, ready to run. A Program
// is immutable and safe for concurrent use; each worker runs it with its
// own Ctx.
type Program struct {
	reg  *Registry
	log  *slog.Logger
	file *cfg.File

	request   *Route
	reply     *Route
	onsend    *Route
	subRoutes map[string]*Route // route[NAME]
	failure   map[string]*Route
	onreply   map[string]*Route
	branch    map[string]*Route
	event     map[string]*Route

	varNames  []string
	varIndex  map[string]int
	vnNames   []string
	vnIndex   map[string]int
	avpNames  []string
	avpIndex  map[string]int
	flagNames map[string]int

	maxWhile int
	maxDepth int
	regexes  *regexCache
}

// Route is a compiled route block.
type Route struct {
	kind RouteType
	name string
	pos  cfg.Pos
	body action
	// types is the set of route types from which the route can run (a
	// route[NAME] called from failure_route gets FailureRoute too).
	types RouteType
}

// Kind returns the route's type.
func (r *Route) Kind() RouteType { return r.kind }

// Name returns the route's name ("" for request_route, reply_route and
// onsend_route).
func (r *Route) Name() string { return r.name }

// Pos returns where the route block starts.
func (r *Route) Pos() cfg.Pos { return r.pos }

// Run executes the route as a top route on c (which the caller has Reset
// for the message) and returns the code of the last action, as Kamailio's
// run_top_route. c.Dropped() tells whether drop was executed.
func (r *Route) Run(c *Ctx) int {
	c.route = r.kind
	c.routeName = r.name
	c.run = 0
	c.err = nil
	c.depth = 0
	if r.body == nil {
		return 1
	}
	return r.body(c)
}

// Run runs the route of the given type and name (see Program.Route) on c
// and returns its code; ok is false when the config has no such route.
func (p *Program) Run(t RouteType, name string, c *Ctx) (code int, ok bool) {
	r := p.Route(t, name)
	if r == nil {
		return 0, false
	}
	return r.Run(c), true
}

// File returns the AST the program was compiled from.
func (p *Program) File() *cfg.File { return p.file }

// Registry returns the registry the program was compiled against.
func (p *Program) Registry() *Registry { return p.reg }

// RequestRoute returns request_route (nil if the config has none).
func (p *Program) RequestRoute() *Route { return p.request }

// Route returns a route by type and name, or nil: RequestRoute with ""
// (request_route) or a name (route[NAME]); FailureRoute, OnReplyRoute,
// BranchRoute and EventRoute by name; ReplyRoute and OnSendRoute with "".
func (p *Program) Route(t RouteType, name string) *Route {
	switch t {
	case RequestRoute:
		if name == "" {
			return p.request
		}
		return p.subRoutes[name]
	case FailureRoute:
		return p.failure[name]
	case ReplyRoute:
		return p.reply
	case OnReplyRoute:
		if name == "" || name == "0" {
			return p.reply
		}
		return p.onreply[name]
	case BranchRoute:
		return p.branch[name]
	case OnSendRoute:
		return p.onsend
	case EventRoute:
		return p.event[name]
	}
	return nil
}

// EventRoute returns event_route[name] ("htable:mod-init",
// "htable:expired:mytable" ...) or nil when the config does not define it.
// Modules look their event routes up once at start and run them with
// Route.Run on a fresh Ctx (Program.NewCtx, Reset(nil)).
func (p *Program) EventRoute(name string) *Route { return p.event[name] }

// EventRouteNames lists the defined event routes, sorted.
func (p *Program) EventRouteNames() []string {
	out := make([]string, 0, len(p.event))
	for n := range p.event {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// UnknownFunctionError is reported for a call to a function no module
// registered (the module is not loaded, or sipht lacks it).
type UnknownFunctionError struct {
	Pos   cfg.Pos
	Name  string
	NArgs int
}

func (e *UnknownFunctionError) Error() string {
	return fmt.Sprintf("%s: unknown function %s() with %d argument%s (not provided by any loaded module)",
		e.Pos, e.Name, e.NArgs, plural(e.NArgs))
}

// UnknownPVError is reported for a pseudo-variable class no module
// registered.
type UnknownPVError struct {
	Pos   cfg.Pos
	Class string
	Text  string
}

func (e *UnknownPVError) Error() string {
	return fmt.Sprintf("%s: unknown pseudo-variable $%s in %s (not provided by any loaded module)", e.Pos, e.Class, e.Text)
}

// UnknownTransformError is reported for a transformation nobody registered.
type UnknownTransformError struct {
	Pos  cfg.Pos
	Name string // class.name
	Text string
}

func (e *UnknownTransformError) Error() string {
	return fmt.Sprintf("%s: unknown transformation {%s} in %s", e.Pos, e.Name, e.Text)
}

// UnsupportedError is reported for Kamailio syntax sipht parses but does
// not run (SER selects @..., SER attributes $f.x, core keywords no module
// provides ...).
type UnsupportedError struct {
	Pos  cfg.Pos
	What string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: %s is not supported", e.Pos, e.What)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// Unsupported summarises the errors of a failed Compile: the unknown
// functions, PV classes and transformations by name (sorted, with counts),
// so that "sipht -c" can say exactly what is missing.
type Unsupported struct {
	Functions  map[string]int // "name/nargs" -> occurrences
	PVs        map[string]int // class -> occurrences
	Transforms map[string]int
	Other      []error // every other error
}

// Summarize sorts the errors returned by Compile.
func Summarize(err error) Unsupported {
	u := Unsupported{Functions: map[string]int{}, PVs: map[string]int{}, Transforms: map[string]int{}}
	for _, e := range cfg.Errors(err) {
		var uf *UnknownFunctionError
		var up *UnknownPVError
		var ut *UnknownTransformError
		switch {
		case errors.As(e, &uf):
			u.Functions[fmt.Sprintf("%s/%d", uf.Name, uf.NArgs)]++
		case errors.As(e, &up):
			u.PVs[up.Class]++
		case errors.As(e, &ut):
			u.Transforms[ut.Name]++
		default:
			u.Other = append(u.Other, e)
		}
	}
	return u
}

// String renders the summary on one line per category.
func (u Unsupported) String() string {
	var b strings.Builder
	keys := func(m map[string]int) string {
		ks := make([]string, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return strings.Join(ks, " ")
	}
	if len(u.Functions) > 0 {
		b.WriteString("functions: " + keys(u.Functions) + "\n")
	}
	if len(u.PVs) > 0 {
		b.WriteString("pseudo-variables: " + keys(u.PVs) + "\n")
	}
	if len(u.Transforms) > 0 {
		b.WriteString("transformations: " + keys(u.Transforms) + "\n")
	}
	for _, e := range u.Other {
		b.WriteString(e.Error() + "\n")
	}
	return b.String()
}
