package script

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/sipht/sipht/internal/cfg"
)

// action is a compiled statement: it returns the statement's code (the
// value Kamailio's do_action returns) and may set run-state flags on c.
type action func(c *Ctx) int

type compiler struct {
	reg  *Registry
	prog *Program
	log  *slog.Logger
	errs cfg.ErrorList

	cur      *Route            // route being compiled
	sites    map[*Route][]site // function call sites per route
	calls    map[*Route][]*Route
	maxErrs  int
	tooMany  bool
	pvCache  map[string]*pvRef
	unknowns map[string]bool
}

type site struct {
	pos  cfg.Pos
	name string
	mask RouteType
}

// Compile turns a parsed configuration into a Program, resolving every
// function, pseudo-variable, transformation and route name once. It reports
// ALL errors found (an ErrorList of *cfg.Error, *UnknownFunctionError,
// *UnknownPVError, *UnknownTransformError, *UnsupportedError), each with
// file:line:column. Use Summarize to list what is unsupported.
//
// Compile only looks at route blocks, flags declarations and the core
// parameters max_while_loops/max_recursive_level; global parameters,
// loadmodule and modparam are the loader's business.
func Compile(f *cfg.File, reg *Registry, opts Options) (*Program, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Program{
		reg:       reg,
		log:       log,
		file:      f,
		subRoutes: map[string]*Route{},
		failure:   map[string]*Route{},
		onreply:   map[string]*Route{},
		branch:    map[string]*Route{},
		event:     map[string]*Route{},
		varIndex:  map[string]int{},
		vnIndex:   map[string]int{},
		avpIndex:  map[string]int{},
		flagNames: map[string]int{},
		maxWhile:  100,
		maxDepth:  256,
		regexes:   newRegexCache(256),
	}
	cm := &compiler{reg: reg, prog: p, log: log, sites: map[*Route][]site{},
		calls: map[*Route][]*Route{}, maxErrs: 10000, pvCache: map[string]*pvRef{},
		unknowns: map[string]bool{}}

	for _, it := range f.Items {
		if cp, ok := it.(*cfg.CoreParam); ok && cp.Value.Kind == cfg.ValInt {
			switch cp.Name {
			case "max_while_loops":
				p.maxWhile = int(cp.Value.Int)
			case "max_recursive_level":
				p.maxDepth = int(cp.Value.Int)
			}
		}
	}
	if opts.MaxWhileLoops != 0 {
		p.maxWhile = opts.MaxWhileLoops
	}
	if opts.MaxRecursiveLevel > 0 {
		p.maxDepth = opts.MaxRecursiveLevel
	}
	cm.declareFlags(f)

	// first pass: create the routes so route(NAME) resolves anywhere
	type pending struct {
		r   *Route
		ast *cfg.Route
	}
	var todo []pending
	for _, it := range f.Items {
		ar, ok := it.(*cfg.Route)
		if !ok {
			continue
		}
		r := &Route{kind: routeTypeOf(ar.Kind), name: ar.Name, pos: ar.Pos}
		if !cm.addRoute(r, ar) {
			continue
		}
		todo = append(todo, pending{r, ar})
	}
	for _, pd := range todo {
		cm.cur = pd.r
		pd.r.body = cm.block(pd.ast.Body.Stmts)
	}
	cm.cur = nil
	cm.checkRouteTypes()
	if len(cm.errs) > 0 {
		return nil, cm.errs
	}
	return p, nil
}

func (cm *compiler) errorf(pos cfg.Pos, format string, args ...any) {
	cm.addErr(cfg.Errorf(pos, format, args...))
}

func (cm *compiler) addErr(err error) {
	if err == nil || err == errAlreadyReported {
		return
	}
	if len(cm.errs) >= cm.maxErrs {
		if !cm.tooMany {
			cm.tooMany = true
			cm.errs = append(cm.errs, errors.New("too many errors"))
		}
		return
	}
	// the same unknown function/PV at the same place is reported once
	key := err.Error()
	if cm.unknowns[key] {
		return
	}
	cm.unknowns[key] = true
	cm.errs = append(cm.errs, err)
}

func second[T any](_ T, err error) error { return err }

func (cm *compiler) declareFlags(f *cfg.File) {
	used := map[int]bool{}
	var later []cfg.FlagDef
	for _, it := range f.Items {
		fd, ok := it.(*cfg.FlagsDecl)
		if !ok {
			continue
		}
		for _, fl := range fd.Flags {
			if _, dup := cm.prog.flagNames[fl.Name]; dup {
				cm.errorf(fl.Pos, "flag %q declared twice", fl.Name)
				continue
			}
			if fl.Bit < 0 {
				later = append(later, fl)
				cm.prog.flagNames[fl.Name] = -1
				continue
			}
			if fl.Bit > 63 {
				cm.errorf(fl.Pos, "flag %q: bit %d out of range (0..63)", fl.Name, fl.Bit)
				continue
			}
			cm.prog.flagNames[fl.Name] = fl.Bit
			used[fl.Bit] = true
		}
	}
	next := 0
	for _, fl := range later {
		for next < 64 && used[next] {
			next++
		}
		if next >= 64 {
			cm.errorf(fl.Pos, "flag %q: no free flag bit left", fl.Name)
			continue
		}
		cm.prog.flagNames[fl.Name] = next
		used[next] = true
	}
}

func (cm *compiler) addRoute(r *Route, ar *cfg.Route) bool {
	p := cm.prog
	dup := func(existing *Route) bool {
		if existing != nil {
			what := ar.Keyword
			if r.name != "" {
				what += "[" + r.name + "]"
			}
			cm.errorf(ar.Pos, "duplicate %s (first defined at %s)", what, existing.pos)
			return true
		}
		return false
	}
	// the route goes to a single slot (request_route, reply_route,
	// onsend_route) or into a map by name
	var single **Route
	var named map[string]*Route
	switch r.kind {
	case RequestRoute:
		if r.name == "" {
			single = &p.request
		} else {
			named = p.subRoutes
		}
	case FailureRoute:
		named = p.failure
	case ReplyRoute:
		single = &p.reply
	case OnReplyRoute:
		named = p.onreply
	case BranchRoute:
		named = p.branch
	case OnSendRoute:
		single = &p.onsend
	case EventRoute:
		named = p.event
	}
	switch {
	case single != nil:
		if dup(*single) {
			return false
		}
		*single = r
	case named != nil:
		if dup(named[r.name]) {
			return false
		}
		named[r.name] = r
	}
	return true
}

// checkRouteTypes computes from which route types each route can run and
// checks every function call against the types it allows.
func (cm *compiler) checkRouteTypes() {
	p := cm.prog
	var tops []*Route
	add := func(r *Route) {
		if r != nil {
			r.types = r.kind
			tops = append(tops, r)
		}
	}
	add(p.request)
	add(p.reply)
	add(p.onsend)
	for _, m := range []map[string]*Route{p.failure, p.onreply, p.branch, p.event} {
		for _, r := range m {
			add(r)
		}
	}
	// propagate along route() calls
	changed := true
	for changed {
		changed = false
		for from, tos := range cm.calls {
			if from.types == 0 && from.kind == RequestRoute {
				continue
			}
			for _, to := range tos {
				if to.types|from.types != to.types {
					to.types |= from.types
					changed = true
				}
			}
		}
	}
	for _, r := range p.subRoutes {
		if r.types == 0 {
			r.types = RequestRoute // not called from anywhere: checked as Kamailio does
		}
	}
	var errs []error
	for r, ss := range cm.sites {
		for _, s := range ss {
			mask := s.mask
			if mask&RequestRoute != 0 {
				// Kamailio runs event_route blocks as REQUEST_ROUTE
				// (its EVENT_ROUTE is the same flag): what a request
				// route may call, an event route may call too.
				mask |= EventRoute
			}
			if bad := r.types &^ mask; bad != 0 {
				via := ""
				if r.name != "" && r.kind == RequestRoute {
					via = fmt.Sprintf(" (route[%s] is called from %s)", r.name, r.types)
				}
				errs = append(errs, cfg.Errorf(s.pos, "%s() cannot be used in %s%s; it is allowed in %s", s.name, bad, via, s.mask))
			}
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	for _, e := range errs {
		cm.addErr(e)
	}
}

// ---------------------------------------------------------------------------
// statements

func (cm *compiler) block(stmts []cfg.Stmt) action {
	var acts []action
	for _, s := range stmts {
		if a := cm.stmt(s); a != nil {
			acts = append(acts, a)
		}
	}
	return seq(acts)
}

// seq runs actions in order until one sets a run flag (exit, return,
// break); it returns the code of the last action run, 1 for none.
func seq(acts []action) action {
	switch len(acts) {
	case 0:
		return nil
	case 1:
		return acts[0]
	case 2:
		a, b := acts[0], acts[1]
		return func(c *Ctx) int {
			ret := a(c)
			if c.run != 0 {
				return ret
			}
			return b(c)
		}
	}
	return func(c *Ctx) int {
		ret := 1
		for _, a := range acts {
			ret = a(c)
			if c.run != 0 {
				break
			}
		}
		return ret
	}
}

func run(a action, c *Ctx) int {
	if a == nil {
		return 1
	}
	return a(c)
}

func (cm *compiler) body(s cfg.Stmt) action {
	if b, ok := s.(*cfg.Block); ok {
		return cm.block(b.Stmts)
	}
	return cm.stmt(s)
}

func (cm *compiler) stmt(s cfg.Stmt) action {
	switch s := s.(type) {
	case *cfg.Empty:
		return nil
	case *cfg.Block:
		b := cm.block(s.Stmts)
		if b == nil {
			return nil
		}
		return func(c *Ctx) int {
			ret := b(c)
			c.run &^= runBreak
			return ret
		}
	case *cfg.ExprStmt:
		switch e := s.Expr.(type) {
		case *cfg.CallExpr:
			return cm.call(e)
		case *cfg.RouteCall:
			return cm.routeCall(e)
		}
		cm.errorf(s.Pos, "expected a function call")
		return nil
	case *cfg.Assign:
		return cm.assign(s)
	case *cfg.If:
		return cm.ifStmt(s)
	case *cfg.While:
		return cm.whileStmt(s)
	case *cfg.Switch:
		return cm.switchStmt(s)
	case *cfg.Flow:
		return cm.flow(s)
	}
	cm.errorf(s.Position(), "unsupported statement %T", s)
	return nil
}

func (cm *compiler) logRuntime(c *Ctx, pos cfg.Pos, what string) {
	err := c.err
	c.err = nil
	c.Log.Error(what, "pos", pos.String(), "err", err)
}

func (cm *compiler) assign(s *cfg.Assign) action {
	var set func(c *Ctx, v Value) error
	switch l := s.LHS.(type) {
	case *cfg.PVExpr:
		ref, err := cm.resolvePV(l.Spec, l.Pos)
		if err != nil {
			cm.addErr(err)
			cm.exprErr(second(cm.expr(s.RHS)))
			return nil
		}
		if len(l.Spec.Trans) > 0 {
			cm.errorf(l.Pos, "%s: pseudo-variable with transformations in assignment left side", l.Spec.Text)
			return nil
		}
		if ref.pv.Set == nil {
			cm.errorf(l.Pos, "%s: read only pseudo-variable in assignment left side", l.Spec.Text)
			return nil
		}
		set = ref.pv.Set
	case *cfg.AvpAttr:
		cm.addErr(&UnsupportedError{Pos: l.Pos, What: "SER-style attribute " + l.Text})
		return nil
	default:
		cm.errorf(s.Pos, "invalid assignment left side")
		return nil
	}
	// $var(x) = $null style: the RHS literal $null
	rhs, err := cm.expr(s.RHS)
	if err != nil {
		cm.addErr(err)
		return nil
	}
	pos := s.Pos
	valf := rhs.valf
	if raw := rhs.raw; raw != nil {
		// $var(x) = f(); stores f's return code as it is (not 1/0)
		valf = func(c *Ctx) Value { return Int(int64(runRaw(raw, c))) }
	}
	return func(c *Ctx) int {
		v := valf(c)
		if c.err != nil {
			cm.logRuntime(c, pos, "rval expression evaluation failed; assignment skipped")
			return -1
		}
		if c.run&runExit != 0 {
			return 0
		}
		if err := set(c, v.Plain()); err != nil {
			c.Log.Error("assignment failed", "pos", pos.String(), "err", err)
			return -1
		}
		return 1
	}
}

func (cm *compiler) cond(e cfg.Expr, what string) *cexpr {
	x, err := cm.expr(e)
	if err != nil {
		cm.addErr(err)
		return nil
	}
	if x.typ == tStr {
		cm.log.Warn("non-int expression in "+what+" (you might want to use casts)", "pos", e.Position().String())
	}
	return x
}

func (cm *compiler) ifStmt(s *cfg.If) action {
	x := cm.cond(s.Cond, "if")
	then := cm.body(s.Then)
	var els action
	if s.Else != nil {
		els = cm.body(s.Else)
	}
	if x == nil {
		return nil
	}
	intf := x.intf
	pos := s.Cond.Position()
	return func(c *Ctx) int {
		v := intf(c)
		if c.err != nil {
			cm.logRuntime(c, pos, "if expression evaluation failed")
			v = 0
		}
		if c.run&runExit != 0 {
			return 0
		}
		c.run &^= runReturn | runBreak
		if v > 0 {
			return run(then, c)
		}
		return run(els, c)
	}
}

func (cm *compiler) whileStmt(s *cfg.While) action {
	x := cm.cond(s.Cond, "while")
	body := cm.body(s.Body)
	if x == nil {
		return nil
	}
	intf := x.intf
	pos := s.Pos
	max := cm.prog.maxWhile
	return func(c *Ctx) int {
		ret := 1
		var flags uint8
		for i := 0; ; {
			if flags&(runBreak|runReturn|runExit) != 0 {
				break
			}
			v := intf(c)
			if c.err != nil {
				cm.logRuntime(c, pos, "while expression evaluation failed")
				break
			}
			if v == 0 || c.run&runExit != 0 {
				break
			}
			if max > 0 {
				i++
				if i > max {
					c.Log.Error(fmt.Sprintf("runaway while: more than %d loops (raise max_while_loops)", max), "pos", pos.String())
					return -1
				}
			}
			if body != nil {
				ret = body(c)
				flags |= c.run
				c.run &^= runBreak
			}
		}
		return ret
	}
}

func (cm *compiler) flow(s *cfg.Flow) action {
	var x *cexpr
	if s.Value != nil {
		var err error
		x, err = cm.expr(s.Value)
		if err != nil {
			cm.addErr(err)
			return nil
		}
		// Kamailio's fix_actions: the value of return/exit/drop must be
		// an integer expression (or of unknown type, like a PV).
		if x.typ == tStr {
			cm.errorf(s.Value.Position(), "invalid expression: bad type, integer expected")
			return nil
		}
	}
	pos := s.Pos
	eval := func(c *Ctx, def int) int {
		if x == nil {
			return def
		}
		v := int(x.intf(c))
		if c.err != nil {
			cm.logRuntime(c, pos, "failed to eval int expression")
		}
		return v
	}
	switch s.Kind {
	case cfg.FlowBreak:
		return func(c *Ctx) int {
			c.run |= runBreak
			return 0
		}
	case cfg.FlowReturn:
		return func(c *Ctx) int {
			ret := eval(c, 1)
			c.run |= runReturn
			if ret == 0 {
				c.run |= runExit
			}
			return ret
		}
	case cfg.FlowExit:
		return func(c *Ctx) int {
			ret := eval(c, 1)
			c.run |= runExit
			c.rc = ret
			return ret
		}
	case cfg.FlowDrop:
		return func(c *Ctx) int {
			ret := eval(c, 0)
			c.run |= runExit | runDrop
			c.dropped = true
			c.rc = ret
			return ret
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// switch

func (cm *compiler) switchStmt(s *cfg.Switch) action {
	x, err := cm.expr(s.Expr)
	if err != nil {
		cm.addErr(err)
		return nil
	}
	type label struct {
		isInt bool
		n     int64
		str   string
		re    *regexpT
		start int
	}
	var labels []label
	var acts []action
	def := -1
	hasInt, hasStr := false, false
	for _, cs := range s.Cases {
		start := len(acts)
		for _, st := range cs.Body {
			if a := cm.stmt(st); a != nil {
				acts = append(acts, a)
			}
		}
		if cs.Label == nil {
			if def >= 0 {
				cm.errorf(cs.Pos, "bad switch(): too many \"default:\" labels")
				continue
			}
			def = start
			continue
		}
		lx, err := cm.expr(cs.Label)
		if err != nil {
			cm.addErr(err)
			continue
		}
		if !lx.konst {
			cm.errorf(cs.Label.Position(), "bad case label: constant expected")
			continue
		}
		lb := label{start: start}
		if cs.Regex {
			re, err := cfg.CompileERE(lx.kval.AsString(), false)
			if err != nil {
				cm.errorf(cs.Label.Position(), "bad regex case label %q: %v", lx.kval.AsString(), err)
				continue
			}
			lb.re = re
			hasStr = true
		} else if lx.kval.IsInt() {
			lb.isInt, lb.n = true, lx.kval.i
			hasInt = true
		} else {
			lb.str = lx.kval.AsString()
			hasStr = true
		}
		labels = append(labels, lb)
	}
	if hasInt && hasStr {
		cm.errorf(s.Pos, "bad switch(): mixed integer and string/RE cases not allowed")
		return nil
	}
	// runFrom runs the flattened case bodies from index i (fall-through)
	runFrom := func(c *Ctx, i int) int {
		ret := 1
		for ; i < len(acts); i++ {
			ret = acts[i](c)
			if c.run != 0 {
				break
			}
		}
		c.run &^= runBreak
		return ret
	}
	pos := s.Pos
	if !hasStr {
		intf := x.intf
		return func(c *Ctx) int {
			v := intf(c)
			if c.err != nil {
				cm.logRuntime(c, pos, "switch expression evaluation failed")
				if def >= 0 {
					return runFrom(c, def)
				}
				return -1
			}
			if c.run&runExit != 0 {
				return 0
			}
			c.run &^= runReturn | runBreak
			for i := range labels {
				if labels[i].n == v {
					return runFrom(c, labels[i].start)
				}
			}
			if def >= 0 {
				return runFrom(c, def)
			}
			return 1
		}
	}
	valf := x.valf
	return func(c *Ctx) int {
		v := valf(c)
		if c.err != nil {
			cm.logRuntime(c, pos, "switch expression evaluation failed")
			if def >= 0 {
				return runFrom(c, def)
			}
			return -1
		}
		if c.run&runExit != 0 {
			return 0
		}
		c.run &^= runReturn | runBreak
		var s string
		if v.k == KindStr {
			s = v.s
		} else if v.k == KindInt {
			b := c.GetBuf()
			b = v.Append(b)
			s = string(b)
			c.PutBuf(b)
		}
		for i := range labels {
			lb := &labels[i]
			if (lb.re == nil && lb.str == s) || (lb.re != nil && lb.re.MatchString(s)) {
				return runFrom(c, lb.start)
			}
		}
		if def >= 0 {
			return runFrom(c, def)
		}
		return 1
	}
}

// ---------------------------------------------------------------------------
// calls

// call compiles a function call statement.
func (cm *compiler) call(e *cfg.CallExpr) action {
	f := cm.reg.LookupFunc(e.Name, len(e.Args))
	if f == nil {
		if cm.reg.HasFunc(e.Name) {
			var ranges []string
			for _, o := range cm.reg.funcs[e.Name] {
				if o.MinArgs == o.MaxArgs {
					ranges = append(ranges, fmt.Sprint(o.MinArgs))
				} else {
					ranges = append(ranges, fmt.Sprintf("%d..%d", o.MinArgs, o.MaxArgs))
				}
			}
			cm.errorf(e.Pos, "%s() takes %v argument(s), got %d", e.Name, ranges, len(e.Args))
			return nil
		}
		cm.addErr(&UnknownFunctionError{Pos: e.Pos, Name: e.Name, NArgs: len(e.Args)})
		return nil
	}
	if cm.cur != nil {
		cm.sites[cm.cur] = append(cm.sites[cm.cur], site{pos: e.Pos, name: e.Name, mask: f.Routes})
	}
	fc := &FixupCtx{Name: e.Name, Pos: e.Pos, Log: cm.log, cm: cm}
	for _, a := range e.Args {
		fc.args = append(fc.args, &Arg{Pos: a.Position(), Expr: a, fn: e.Name, cm: cm})
	}
	h, err := f.Fixup(fc)
	if err != nil {
		var ce *cfg.Error
		var up *UnknownPVError
		var ut *UnknownTransformError
		var us *UnsupportedError
		if !errors.As(err, &ce) && !errors.As(err, &up) && !errors.As(err, &ut) && !errors.As(err, &us) {
			err = &cfg.Error{Pos: e.Pos, Msg: e.Name + "(): " + err.Error(), Err: err}
		}
		cm.addErr(err)
		return nil
	}
	if h == nil {
		cm.errorf(e.Pos, "%s(): fixup returned no handler", e.Name)
		return nil
	}
	if f.Core {
		return action(h)
	}
	return func(c *Ctx) int {
		ret := h(c)
		c.rc = ret
		if ret == 0 {
			c.run |= runExit
		}
		return ret
	}
}

// routeCall compiles route(NAME) / route(expr).
func (cm *compiler) routeCall(e *cfg.RouteCall) action {
	max := cm.prog.maxDepth
	enter := func(c *Ctx, target *Route) int {
		if c.depth >= max {
			c.Log.Error(fmt.Sprintf("too many recursive routing table lookups (%d), giving up", c.depth), "pos", e.Pos.String())
			return -1
		}
		c.depth++
		ret := run(target.body, c)
		c.depth--
		c.rc = ret
		c.run &^= runReturn | runBreak
		return ret
	}
	if e.Dyn == nil {
		target := cm.prog.subRoutes[e.Name]
		if target == nil {
			cm.errorf(e.Pos, "route(%s): no route[%s] is defined", e.Name, e.Name)
			return nil
		}
		if cm.cur != nil {
			cm.calls[cm.cur] = append(cm.calls[cm.cur], target)
		}
		return func(c *Ctx) int { return enter(c, target) }
	}
	x, err := cm.expr(e.Dyn)
	if err != nil {
		cm.addErr(err)
		return nil
	}
	if x.konst {
		name := x.kval.AsString()
		target := cm.prog.subRoutes[name]
		if target == nil {
			cm.errorf(e.Pos, "route(%q): no route[%s] is defined", name, name)
			return nil
		}
		if cm.cur != nil {
			cm.calls[cm.cur] = append(cm.calls[cm.cur], target)
		}
		return func(c *Ctx) int { return enter(c, target) }
	}
	routes := cm.prog.subRoutes
	valf := x.valf
	return func(c *Ctx) int {
		v := valf(c)
		if c.err != nil {
			cm.logRuntime(c, e.Pos, "failed to convert route name expression")
			return -1
		}
		name := v.AsString()
		target := routes[name]
		if target == nil {
			c.Log.Error(fmt.Sprintf("route %q not found", name), "pos", e.Pos.String())
			return -1
		}
		return enter(c, target)
	}
}
