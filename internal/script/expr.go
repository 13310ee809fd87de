package script

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/cfg"
)

// stype is the statically known type of an expression (Kamailio's
// rve_guess_type): constants and operators have one, PVs do not.
type stype uint8

const (
	tNone stype = iota
	tInt
	tStr
)

func (t stype) String() string {
	switch t {
	case tInt:
		return "int"
	case tStr:
		return "str"
	}
	return "undef"
}

// cexpr is a compiled expression with its two evaluation modes: integer
// context (if/while conditions, arithmetic, comparisons) and value context
// (assignment right side, == operands, string operators), which differ for
// '+' (integer addition vs concatenation) and for PVs (converted vs raw).
type cexpr struct {
	pos   cfg.Pos
	intf  func(c *Ctx) int64
	valf  func(c *Ctx) Value
	typ   stype
	konst bool
	kval  Value
	pv    *pvRef // set for a plain PV reference
	null  bool   // the literal $null
	// pure is false when evaluation has side effects (calls, blocks,
	// assignments): such expressions are never folded.
	pure bool
	// raw is set for a call/route/block used as a value: assigned directly
	// ($var(x) = route(R)), its return code is stored as it is.
	raw action
}

var errDivZero = errors.New("division by 0")

func constExpr(pos cfg.Pos, v Value) *cexpr {
	x := &cexpr{pos: pos, konst: true, kval: v, pure: true}
	switch v.k {
	case KindInt:
		x.typ = tInt
		n := v.i
		x.intf = func(*Ctx) int64 { return n }
	case KindStr:
		x.typ = tStr
		n := StrToInt(v.s)
		x.intf = func(*Ctx) int64 { return n }
	default:
		x.intf = func(*Ctx) int64 { return 0 }
	}
	x.valf = func(*Ctx) Value { return v }
	return x
}

// intExpr builds an int-typed expression from its integer function.
func intExpr(pos cfg.Pos, f func(c *Ctx) int64, pure bool) *cexpr {
	return &cexpr{pos: pos, typ: tInt, intf: f, valf: func(c *Ctx) Value { return Int(f(c)) }, pure: pure}
}

// typeError mirrors Kamailio's "bad expression: type mismatch" parse error.
func typeError(at cfg.Pos, bad *cexpr, badT, expT stype) error {
	return cfg.Errorf(at, "bad expression: type mismatch: %s instead of %s at %d:%d", badT, expT, bad.pos.Line, bad.pos.Col)
}

// fold evaluates a constant expression at compile time, as Kamailio's
// optimizer does (in value context); on evaluation error the expression is
// kept for run time.
func (cm *compiler) fold(x *cexpr, ops ...*cexpr) *cexpr {
	if x.konst || !x.pure {
		return x
	}
	for _, o := range ops {
		if !o.konst {
			return x
		}
	}
	c := &Ctx{prog: cm.prog, Log: cm.log}
	v := x.valf(c)
	if c.err != nil {
		cm.log.Warn("constant expression cannot be evaluated at load time", "pos", x.pos.String(), "err", c.err)
		return x
	}
	return constExpr(x.pos, v)
}

// expr compiles an expression.
func (cm *compiler) expr(e cfg.Expr) (*cexpr, error) {
	switch e := e.(type) {
	case *cfg.IntLit:
		return constExpr(e.Pos, Int(e.V)), nil
	case *cfg.StrLit:
		return constExpr(e.Pos, Str(e.V)), nil
	case *cfg.PVExpr:
		ref, err := cm.resolvePV(e.Spec, e.Pos)
		if err != nil {
			return nil, err
		}
		return pvExpr(e.Pos, ref), nil
	case *cfg.Unary:
		return cm.unary(e)
	case *cfg.Binary:
		return cm.binary(e)
	case *cfg.SelVal:
		return cm.selval(e)
	case *cfg.CallExpr:
		a := cm.call(e)
		if a == nil {
			return nil, errAlreadyReported
		}
		return callExpr(e.Pos, a), nil
	case *cfg.RouteCall:
		a := cm.routeCall(e)
		if a == nil {
			return nil, errAlreadyReported
		}
		return callExpr(e.Pos, a), nil
	case *cfg.BlockExpr:
		a := cm.block(e.Body.Stmts)
		return callExpr(e.Pos, func(c *Ctx) int { return run(a, c) }), nil
	case *cfg.AssignExpr:
		a := cm.assign(e.Assign)
		if a == nil {
			return nil, errAlreadyReported
		}
		return callExpr(e.Pos, a), nil
	case *cfg.KeywordCond:
		return cm.keywordCond(e)
	case *cfg.AvpAttr:
		return nil, &UnsupportedError{Pos: e.Pos, What: "SER-style attribute " + e.Text}
	case *cfg.SelectExpr:
		return nil, &UnsupportedError{Pos: e.Pos, What: "SER select " + e.Text}
	case *cfg.RawArg:
		return nil, cfg.Errorf(e.Pos, "unexpected bare word %q: quote it or #!define it", e.Text)
	}
	return nil, cfg.Errorf(e.Position(), "unsupported expression %T", e)
}

// errAlreadyReported marks a sub-expression whose error was already added.
var errAlreadyReported = errors.New("already reported")

func (cm *compiler) exprErr(err error) {
	if err != nil && err != errAlreadyReported {
		cm.addErr(err)
	}
}

func pvExpr(pos cfg.Pos, ref *pvRef) *cexpr {
	x := &cexpr{pos: pos, pv: ref, null: ref.isNull, pure: true}
	if ref.isNull {
		x.valf = func(*Ctx) Value { return Null }
		x.intf = func(*Ctx) int64 { return 0 }
		return x
	}
	if len(ref.trans) == 0 {
		get := ref.pv.Get
		x.valf = get
		x.intf = func(c *Ctx) int64 {
			v := get(c)
			if v.k == KindInt {
				return v.i
			}
			return v.AsInt()
		}
		return x
	}
	x.valf = ref.value
	x.intf = func(c *Ctx) int64 { return ref.value(c).AsInt() }
	return x
}

// callExpr wraps an action used as a value: 1 if it returned > 0, else 0.
// As in Kamailio (run_actions_safe), $rc is reset to 0 before the action
// runs, so a core action (isflagset) used in a condition leaves $rc 0.
func callExpr(pos cfg.Pos, a action) *cexpr {
	x := intExpr(pos, func(c *Ctx) int64 {
		if runRaw(a, c) > 0 {
			return 1
		}
		return 0
	}, false)
	x.raw = a
	return x
}

// runRaw runs an action used inside an expression and returns its code.
func runRaw(a action, c *Ctx) int {
	c.rc = 0
	ret := a(c)
	c.run &^= runReturn | runBreak
	return ret
}

func (cm *compiler) unary(e *cfg.Unary) (*cexpr, error) {
	x, err := cm.expr(e.X)
	if err != nil {
		return nil, err
	}
	pos := e.Pos
	needNotStr := func() error {
		if x.typ == tStr {
			return typeError(pos, x, tStr, tInt)
		}
		return nil
	}
	var r *cexpr
	switch e.Op {
	case cfg.OpNot:
		if err := needNotStr(); err != nil {
			return nil, err
		}
		f := x.intf
		r = intExpr(pos, func(c *Ctx) int64 {
			if f(c) == 0 {
				return 1
			}
			return 0
		}, x.pure)
	case cfg.OpBNot:
		if err := needNotStr(); err != nil {
			return nil, err
		}
		f := x.intf
		r = intExpr(pos, func(c *Ctx) int64 { return ^f(c) }, x.pure)
	case cfg.OpNeg:
		if err := needNotStr(); err != nil {
			return nil, err
		}
		f := x.intf
		r = intExpr(pos, func(c *Ctx) int64 { return -f(c) }, x.pure)
	case cfg.OpDefined:
		if x.typ == tInt {
			return nil, typeError(pos, x, tInt, tStr)
		}
		r = definedExpr(pos, x, false)
	case cfg.OpStrLen, cfg.OpStrEmpty:
		if x.typ == tInt {
			return nil, typeError(pos, x, tInt, tStr)
		}
		f := x.valf
		if e.Op == cfg.OpStrLen {
			r = intExpr(pos, func(c *Ctx) int64 {
				v := f(c)
				switch v.k {
				case KindStr:
					return int64(len(v.s))
				case KindInt:
					return int64(len(strconv.FormatInt(v.i, 10)))
				}
				return 0
			}, x.pure)
		} else {
			r = intExpr(pos, func(c *Ctx) int64 {
				v := f(c)
				if v.k == KindNull || (v.k == KindStr && v.s == "") {
					return 1
				}
				return 0
			}, x.pure)
		}
	case cfg.OpIntCast:
		r = intExpr(pos, x.intf, x.pure)
	case cfg.OpStrCast:
		f := x.valf
		r = &cexpr{pos: pos, typ: tStr, pure: x.pure, intf: x.intf,
			valf: func(c *Ctx) Value {
				v := f(c)
				switch v.k {
				case KindStr:
					return v
				case KindInt:
					return Str(strconv.FormatInt(v.i, 10))
				}
				return Str("")
			}}
	default:
		return nil, cfg.Errorf(pos, "unsupported operator %s", e.Op)
	}
	return cm.fold(r, x), nil
}

// definedExpr: 1 if x is defined (for a PV: its value is not null; other
// expressions are always defined). negate gives "not defined".
func definedExpr(pos cfg.Pos, x *cexpr, negate bool) *cexpr {
	var one, zero int64 = 1, 0
	if negate {
		one, zero = 0, 1
	}
	if x.pv == nil && !x.null {
		return intExpr(pos, func(*Ctx) int64 { return one }, true)
	}
	if x.null {
		return intExpr(pos, func(*Ctx) int64 { return zero }, true)
	}
	ref := x.pv
	return intExpr(pos, func(c *Ctx) int64 {
		if v, ok := ref.get(c); ok && v.k != KindNull {
			return one
		}
		return zero
	}, true)
}

func isStrOp(op cfg.Op) bool {
	switch op {
	case cfg.OpSEq, cfg.OpSNe, cfg.OpMatch:
		return true
	}
	return false
}

func (cm *compiler) binary(e *cfg.Binary) (*cexpr, error) {
	l, err := cm.expr(e.L)
	if err != nil {
		// keep compiling the right side so that every unknown name is reported
		if _, rerr := cm.expr(e.R); rerr != nil {
			cm.exprErr(err)
			cm.exprErr(rerr)
			return nil, errAlreadyReported
		}
		return nil, err
	}
	// "X == $null" / "X != $null" (null literal on the right) test whether X
	// is defined
	if pr, ok := e.R.(*cfg.PVExpr); ok && pr.Spec.Name == "null" && !pr.Spec.Paren && !pr.Spec.HasInner {
		switch e.Op {
		case cfg.OpEq, cfg.OpIEq, cfg.OpSEq, cfg.OpMatch:
			if l.typ == tInt {
				return nil, typeError(e.Pos, l, tInt, tStr)
			}
			return definedExpr(e.Pos, l, true), nil
		case cfg.OpNe, cfg.OpINe, cfg.OpSNe:
			if l.typ == tInt {
				return nil, typeError(e.Pos, l, tInt, tStr)
			}
			return definedExpr(e.Pos, l, false), nil
		}
	}
	r, err := cm.expr(e.R)
	if err != nil {
		return nil, err
	}
	pos := e.Pos
	pure := l.pure && r.pure
	// static type checks (Kamailio's rve_check_type)
	switch e.Op {
	case cfg.OpMinus, cfg.OpMul, cfg.OpDiv, cfg.OpMod, cfg.OpBOr, cfg.OpBAnd, cfg.OpBXor,
		cfg.OpLShift, cfg.OpRShift, cfg.OpLAnd, cfg.OpLOr, cfg.OpGt, cfg.OpGte, cfg.OpLt,
		cfg.OpLte, cfg.OpIEq, cfg.OpINe:
		if l.typ == tStr {
			return nil, typeError(pos, l, tStr, tInt)
		}
		if r.typ == tStr {
			return nil, typeError(pos, r, tStr, tInt)
		}
	case cfg.OpEq, cfg.OpNe, cfg.OpPlus:
		if l.typ != r.typ && l.typ != tNone && r.typ != tNone && !(l.typ == tStr && r.typ == tInt) {
			return nil, typeError(pos, r, r.typ, l.typ)
		}
		if (e.Op == cfg.OpEq || e.Op == cfg.OpNe) && l.typ == tStr && r.typ == tInt {
			cm.log.Warn("comparing a string constant with an int constant: the int is converted to a string", "pos", pos.String())
		}
	case cfg.OpSEq, cfg.OpSNe, cfg.OpMatch:
		if l.typ != r.typ && l.typ != tNone && r.typ != tNone && !(l.typ == tStr && r.typ == tInt) {
			return nil, typeError(pos, r, r.typ, l.typ)
		}
		if l.typ == tInt {
			return nil, typeError(pos, l, tInt, tStr)
		}
	}
	if x := optimize01(pos, e.Op, l, r); x != nil {
		return x, nil
	}
	li, ri := l.intf, r.intf
	var x *cexpr
	switch e.Op {
	case cfg.OpPlus:
		lv, rv := l.valf, r.valf
		x = &cexpr{pos: pos, typ: l.typ, pure: pure,
			intf: func(c *Ctx) int64 { return li(c) + ri(c) },
			valf: func(c *Ctx) Value {
				a := lv(c)
				if a.k == KindInt {
					return Int(a.i + ri(c))
				}
				b := rv(c)
				if b.k == KindNull {
					if a.k == KindStr {
						return a
					}
					return Str("")
				}
				if a.k == KindNull || a.s == "" {
					if b.k == KindStr {
						return b
					}
					return Str(b.AsString())
				}
				return Str(a.s + b.AsString())
			}}
	case cfg.OpMinus:
		x = intExpr(pos, func(c *Ctx) int64 { return li(c) - ri(c) }, pure)
	case cfg.OpMul:
		x = intExpr(pos, func(c *Ctx) int64 { return li(c) * ri(c) }, pure)
	case cfg.OpDiv, cfg.OpMod:
		div := e.Op == cfg.OpDiv
		x = intExpr(pos, func(c *Ctx) int64 {
			a, b := li(c), ri(c)
			if b == 0 {
				c.fail(errDivZero)
				return 0
			}
			if div {
				return a / b
			}
			return a % b
		}, pure)
	case cfg.OpBOr:
		x = intExpr(pos, func(c *Ctx) int64 { return li(c) | ri(c) }, pure)
	case cfg.OpBAnd:
		x = intExpr(pos, func(c *Ctx) int64 { return li(c) & ri(c) }, pure)
	case cfg.OpBXor:
		x = intExpr(pos, func(c *Ctx) int64 { return li(c) ^ ri(c) }, pure)
	case cfg.OpLShift:
		x = intExpr(pos, func(c *Ctx) int64 { return li(c) << uint64(ri(c)&63) }, pure)
	case cfg.OpRShift:
		x = intExpr(pos, func(c *Ctx) int64 { return li(c) >> uint64(ri(c)&63) }, pure)
	case cfg.OpLAnd:
		x = intExpr(pos, func(c *Ctx) int64 {
			if li(c) == 0 || c.run&runExit != 0 {
				return 0
			}
			if ri(c) != 0 {
				return 1
			}
			return 0
		}, pure)
	case cfg.OpLOr:
		x = intExpr(pos, func(c *Ctx) int64 {
			if li(c) != 0 {
				return 1
			}
			if c.run&runExit != 0 {
				return 0
			}
			if ri(c) != 0 {
				return 1
			}
			return 0
		}, pure)
	case cfg.OpGt:
		x = intExpr(pos, func(c *Ctx) int64 { return b2i(li(c) > ri(c)) }, pure)
	case cfg.OpGte:
		x = intExpr(pos, func(c *Ctx) int64 { return b2i(li(c) >= ri(c)) }, pure)
	case cfg.OpLt:
		x = intExpr(pos, func(c *Ctx) int64 { return b2i(li(c) < ri(c)) }, pure)
	case cfg.OpLte:
		x = intExpr(pos, func(c *Ctx) int64 { return b2i(li(c) <= ri(c)) }, pure)
	case cfg.OpIEq:
		x = intExpr(pos, func(c *Ctx) int64 { return b2i(li(c) == ri(c)) }, pure)
	case cfg.OpINe:
		x = intExpr(pos, func(c *Ctx) int64 { return b2i(li(c) != ri(c)) }, pure)
	case cfg.OpEq, cfg.OpNe:
		x = eqExpr(pos, l, r, e.Op == cfg.OpNe, pure)
	case cfg.OpSEq, cfg.OpSNe:
		ne := e.Op == cfg.OpSNe
		lv, rv := l.valf, r.valf
		x = intExpr(pos, func(c *Ctx) int64 {
			eq := strEqual(c, lv(c), rv(c))
			return b2i(eq != ne)
		}, pure)
	case cfg.OpMatch:
		m, err := cm.matchExpr(pos, l, r, pure)
		if err != nil {
			return nil, err
		}
		x = m
	default:
		return nil, cfg.Errorf(pos, "unsupported operator %s", e.Op)
	}
	return cm.fold(x, l, r), nil
}

// optimize01 applies Kamailio's load-time rewrites of an operation with
// one constant operand (rve_opt_01). They change results, so sipht does
// them too: x && 1 and x || 0 give (int)x (e.g. -1, not 1); x || 1 is 1
// and x * 0, x & 0, x && 0, 0 / x, 0 mod x are 0 without evaluating x;
// x == "" is strempty(x) (so an int 0 is not equal to ""). Returns nil when
// no rewrite applies.
func optimize01(pos cfg.Pos, op cfg.Op, l, r *cexpr) *cexpr {
	if l.konst == r.konst {
		return nil
	}
	ct, v := r, l
	ctLeft := false
	if l.konst {
		ct, v, ctLeft = l, r, true
	}
	intCast := func() *cexpr { return intExpr(pos, v.intf, v.pure) }
	zero := func() *cexpr { return constExpr(pos, Int(0)) }
	if ct.kval.k == KindInt {
		i := ct.kval.i
		switch op {
		case cfg.OpMul:
			if i == 0 {
				return zero()
			} else if i == 1 {
				return intCast()
			}
		case cfg.OpDiv:
			if i == 0 && ctLeft {
				return zero()
			} else if i == 1 && !ctLeft {
				return intCast()
			}
		case cfg.OpMod:
			if i == 0 && ctLeft {
				return zero()
			}
		case cfg.OpMinus:
			if i == 0 && !ctLeft {
				return intCast()
			}
		case cfg.OpBAnd:
			if i == 0 {
				return zero()
			}
		case cfg.OpBOr:
			if i == 0 {
				return intCast()
			}
		case cfg.OpLAnd:
			if i == 0 {
				return zero()
			} else if i == 1 {
				return intCast()
			}
		case cfg.OpLOr:
			if i == 1 {
				return constExpr(pos, Int(1))
			} else if i == 0 {
				return intCast()
			}
		case cfg.OpPlus:
			if i == 0 && l.typ == tInt {
				return intCast()
			}
		}
		return nil
	}
	if ct.kval.k == KindStr && ct.kval.s == "" {
		switch op {
		case cfg.OpEq, cfg.OpSEq:
			f := v.valf
			return intExpr(pos, func(c *Ctx) int64 {
				a := f(c)
				if a.k == KindNull || (a.k == KindStr && a.s == "") {
					return 1
				}
				return 0
			}, v.pure)
		}
	}
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// strEqual compares two values as strings without allocating for ints.
func strEqual(c *Ctx, a, b Value) bool {
	if a.k != KindInt && b.k != KindInt {
		return a.s == b.s
	}
	ba := c.GetBuf()
	ba = a.AppendString(ba)
	bb := c.GetBuf()
	bb = b.AppendString(bb)
	eq := string(ba) == string(bb)
	c.PutBuf(bb)
	c.PutBuf(ba)
	return eq
}

// eqExpr implements == and != with Kamailio's typing: the left operand's
// run-time type decides (int: integer comparison; string: string
// comparison; undefined: takes the right operand's type, as 0 or "").
func eqExpr(pos cfg.Pos, l, r *cexpr, ne bool, pure bool) *cexpr {
	lv, rv, ri := l.valf, r.valf, r.intf
	if l.typ == tInt {
		li := l.intf
		return intExpr(pos, func(c *Ctx) int64 { return b2i((li(c) == ri(c)) != ne) }, pure)
	}
	return intExpr(pos, func(c *Ctx) int64 {
		a := lv(c)
		var eq bool
		switch a.k {
		case KindInt:
			eq = a.i == ri(c)
		case KindStr:
			eq = strEqual(c, a, rv(c))
		default:
			b := rv(c)
			switch b.k {
			case KindInt:
				eq = b.i == 0
			case KindStr:
				eq = b.s == ""
			default:
				eq = true
			}
		}
		return b2i(eq != ne)
	}, pure)
}

func (cm *compiler) matchExpr(pos cfg.Pos, l, r *cexpr, pure bool) (*cexpr, error) {
	lv := l.valf
	if r.konst {
		pat := r.kval.AsString()
		re, err := cfg.CompileERE(pat, true)
		if err != nil {
			return nil, cfg.Errorf(r.pos, "bad regular expression %q: %v", pat, err)
		}
		return intExpr(pos, func(c *Ctx) int64 {
			a := lv(c)
			if a.k == KindInt {
				b := c.GetBuf()
				b = a.AppendString(b)
				m := re.Match(b)
				c.PutBuf(b)
				return b2i(m)
			}
			return b2i(re.MatchString(a.s))
		}, pure), nil
	}
	rv := r.valf
	cache := cm.prog.regexes
	return intExpr(pos, func(c *Ctx) int64 {
		pat := rv(c).AsString()
		re, err := cache.get(pat)
		if err != nil {
			c.fail(fmt.Errorf("bad regular expression %q: %w", pat, err))
			return 0
		}
		return b2i(re.MatchString(lv(c).AsString()))
	}, pure), nil
}

func (cm *compiler) selval(e *cfg.SelVal) (*cexpr, error) {
	cx, err1 := cm.expr(e.Cond)
	a, err2 := cm.expr(e.A)
	b, err3 := cm.expr(e.B)
	if err1 != nil || err2 != nil || err3 != nil {
		cm.exprErr(err1)
		cm.exprErr(err2)
		cm.exprErr(err3)
		return nil, errAlreadyReported
	}
	ci := cx.intf
	x := &cexpr{pos: e.Pos, pure: cx.pure && a.pure && b.pure, typ: a.typ,
		valf: func(c *Ctx) Value {
			if ci(c) > 0 {
				return a.valf(c)
			}
			return b.valf(c)
		},
		intf: func(c *Ctx) int64 {
			if ci(c) > 0 {
				return a.intf(c)
			}
			return b.intf(c)
		}}
	return cm.fold(x, cx, a, b), nil
}

// ---------------------------------------------------------------------------
// core keyword conditions (method == "INVITE", uri == myself, src_ip == 10.0.0.0/8)

func (cm *compiler) keywordCond(e *cfg.KeywordCond) (*cexpr, error) {
	kw := cm.reg.keywords[e.Keyword]
	if kw == nil {
		return nil, &UnsupportedError{Pos: e.Pos, What: "core keyword " + e.Keyword + " (no SIP layer registered it)"}
	}
	pos := e.Pos
	ne := e.Op == cfg.OpNe
	get := kw.Get
	switch {
	case e.Myself:
		if kw.Myself == nil {
			return nil, &UnsupportedError{Pos: pos, What: e.Keyword + " == myself"}
		}
		my := kw.Myself
		return intExpr(pos, func(c *Ctx) int64 { return b2i(my(c) != ne) }, false), nil
	case e.Proto != "":
		n := ProtoNumber(e.Proto)
		if e.Proto == "*" {
			return intExpr(pos, func(*Ctx) int64 { return b2i(!ne) }, false), nil
		}
		return intExpr(pos, func(c *Ctx) int64 { return b2i((get(c).AsInt() == n) != ne) }, false), nil
	case e.Net != nil:
		pfx, err := parseNet(e.Net)
		if err != nil {
			return nil, err
		}
		return intExpr(pos, func(c *Ctx) int64 { return b2i(ipIn(get(c), pfx) != ne) }, false), nil
	case e.Host != "":
		host := e.Host
		return intExpr(pos, func(c *Ctx) int64 {
			return b2i(strings.EqualFold(get(c).AsString(), host) != ne)
		}, false), nil
	}
	r, err := cm.expr(e.Right)
	if err != nil {
		return nil, err
	}
	if intKeyword(e.Keyword) {
		ri := r.intf
		var cmp func(a, b int64) bool
		switch e.Op {
		case cfg.OpEq:
			cmp = func(a, b int64) bool { return a == b }
		case cfg.OpNe:
			cmp = func(a, b int64) bool { return a != b }
		case cfg.OpGt:
			cmp = func(a, b int64) bool { return a > b }
		case cfg.OpLt:
			cmp = func(a, b int64) bool { return a < b }
		case cfg.OpGte:
			cmp = func(a, b int64) bool { return a >= b }
		case cfg.OpLte:
			cmp = func(a, b int64) bool { return a <= b }
		default:
			return nil, cfg.Errorf(pos, "operator %s not allowed with %s", e.Op, e.Keyword)
		}
		return intExpr(pos, func(c *Ctx) int64 { return b2i(cmp(get(c).AsInt(), ri(c))) }, false), nil
	}
	if ipKeyword(e.Keyword) && e.Op != cfg.OpMatch && r.konst {
		if a, err := netip.ParseAddr(r.kval.AsString()); err == nil {
			pfx := netip.PrefixFrom(a, a.BitLen())
			return intExpr(pos, func(c *Ctx) int64 { return b2i(ipIn(get(c), pfx) != ne) }, false), nil
		}
	}
	switch e.Op {
	case cfg.OpMatch:
		m, err := cm.matchExpr(pos, &cexpr{valf: get, intf: func(c *Ctx) int64 { return get(c).AsInt() }}, r, false)
		return m, err
	case cfg.OpEq, cfg.OpNe:
		rv := r.valf
		return intExpr(pos, func(c *Ctx) int64 {
			a := get(c)
			b := rv(c)
			if b.k == KindNull {
				return b2i(ne)
			}
			return b2i(strings.EqualFold(a.AsString(), b.AsString()) != ne)
		}, false), nil
	}
	return nil, cfg.Errorf(pos, "operator %s not allowed with %s", e.Op, e.Keyword)
}

func intKeyword(k string) bool {
	switch k {
	case "src_port", "dst_port", "af", "msg:len", "snd_port", "to_port", "snd_af", "to_af":
		return true
	}
	return false
}

func ipKeyword(k string) bool {
	switch k {
	case "src_ip", "dst_ip", "snd_ip", "to_ip":
		return true
	}
	return false
}

func parseNet(n *cfg.NetLit) (netip.Prefix, error) {
	a, err := netip.ParseAddr(n.IP)
	if err != nil {
		return netip.Prefix{}, cfg.Errorf(n.Pos, "invalid IP address %q", n.IP)
	}
	bits := a.BitLen()
	if n.Mask != "" {
		if b, err := strconv.Atoi(n.Mask); err == nil {
			if b < 0 || b > a.BitLen() {
				return netip.Prefix{}, cfg.Errorf(n.Pos, "invalid netmask /%s", n.Mask)
			}
			bits = b
		} else {
			m, err := netip.ParseAddr(n.Mask)
			if err != nil || m.BitLen() != a.BitLen() {
				return netip.Prefix{}, cfg.Errorf(n.Pos, "invalid netmask %q", n.Mask)
			}
			bits = maskBits(m)
		}
	}
	return netip.PrefixFrom(a, bits).Masked(), nil
}

func maskBits(m netip.Addr) int {
	n := 0
	for _, b := range m.AsSlice() {
		for i := 7; i >= 0; i-- {
			if b&(1<<uint(i)) == 0 {
				return n
			}
			n++
		}
	}
	return n
}

func ipIn(v Value, pfx netip.Prefix) bool {
	if v.k != KindStr {
		return false
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(v.s, "["), "]"))
	if err != nil {
		return false
	}
	return pfx.Contains(a.Unmap())
}
