package script

import (
	"fmt"
	"log/slog"
	"regexp"
	"strconv"

	"github.com/sipht/sipht/internal/cfg"
)

// FixupCtx is what a function's Fixup sees: the call site and its
// arguments. It is valid only during the Fixup call.
type FixupCtx struct {
	// Name is the function name, Pos the call position.
	Name string
	Pos  cfg.Pos
	// Log is the compiler's logger (for warnings).
	Log *slog.Logger

	args []*Arg
	cm   *compiler
}

// NArgs returns the number of arguments.
func (fc *FixupCtx) NArgs() int { return len(fc.args) }

// Arg returns argument i (0-based).
func (fc *FixupCtx) Arg(i int) *Arg { return fc.args[i] }

// Errorf returns an error positioned at the call.
func (fc *FixupCtx) Errorf(format string, args ...any) error {
	return &cfg.Error{Pos: fc.Pos, Msg: fc.Name + "(): " + fmt.Sprintf(format, args...)}
}

// Program returns the program being compiled (e.g. to look up a route by
// name with Program.Route after compilation, from a handler).
func (fc *FixupCtx) Program() *Program { return fc.cm.prog }

// ParseFormat compiles a format string found in this call.
func (fc *FixupCtx) ParseFormat(s string) (*Format, error) {
	return fc.cm.parseFormat(s, fc.Pos)
}

// ParsePV resolves a pseudo-variable written as text ("$avp(x)"), for
// modules whose parameters name variables (auth_db's load_credentials,
// auth's challenge_attr). A PV with transformations is read-only.
func (fc *FixupCtx) ParsePV(s string) (*PV, error) {
	sp, n, err := cfg.ParsePV(s)
	if err != nil {
		return nil, fc.Errorf("%v", err)
	}
	if n != len(s) {
		return nil, fc.Errorf("unexpected %q after %s", s[n:], s[:n])
	}
	sp.Pos = fc.Pos
	ref, err := fc.cm.resolvePV(sp, fc.Pos)
	if err != nil {
		return nil, err
	}
	if len(ref.trans) == 0 {
		return ref.pv, nil
	}
	return &PV{Get: ref.value}, nil
}

// Arg is one argument of a function call, as written. Use the helper that
// matches how the function reads it; they all report positioned errors.
type Arg struct {
	// Pos is where the argument starts.
	Pos cfg.Pos
	// Expr is the argument's syntax tree (raw access).
	Expr cfg.Expr

	fn string
	cm *compiler
}

func (a *Arg) errorf(format string, args ...any) error {
	return &cfg.Error{Pos: a.Pos, Msg: a.fn + "(): " + fmt.Sprintf(format, args...)}
}

// Errorf returns an error positioned at the argument.
func (a *Arg) Errorf(format string, args ...any) error { return a.errorf(format, args...) }

// IsConst reports whether the argument is a constant string or integer
// (a string containing PVs is not constant).
func (a *Arg) IsConst() bool {
	switch e := a.Expr.(type) {
	case *cfg.IntLit:
		return true
	case *cfg.StrLit:
		return !containsPV(e.V)
	}
	return false
}

func containsPV(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '$' {
			return true
		}
	}
	return false
}

// ConstString returns the argument as a constant string: a string literal
// as written (PVs not expanded), an integer in decimal, or a bare word.
// ok is false for anything else.
func (a *Arg) ConstString() (s string, ok bool) {
	switch e := a.Expr.(type) {
	case *cfg.StrLit:
		return e.V, true
	case *cfg.IntLit:
		return strconv.FormatInt(e.V, 10), true
	case *cfg.RawArg:
		return e.Text, true
	}
	return "", false
}

// String returns a constant string argument or an error saying one was
// expected.
func (a *Arg) String() (string, error) {
	if s, ok := a.ConstString(); ok {
		return s, nil
	}
	return "", a.errorf("expected a constant string")
}

// ConstInt returns a constant integer argument: an integer literal or a
// string literal holding a number ("404"). ok is false otherwise.
func (a *Arg) ConstInt() (n int64, ok bool) {
	switch e := a.Expr.(type) {
	case *cfg.IntLit:
		return e.V, true
	case *cfg.StrLit:
		if containsPV(e.V) {
			return 0, false
		}
		n, err := strconv.ParseInt(e.V, 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Format compiles the argument as a format string: a string literal is
// parsed for PVs, an integer is constant text, a lone PV prints its value,
// any other expression is evaluated per call and printed. Bare words are
// rejected.
func (a *Arg) Format() (*Format, error) {
	switch e := a.Expr.(type) {
	case *cfg.StrLit:
		return a.cm.parseFormat(e.V, e.Pos)
	case *cfg.IntLit:
		return ConstFormat(strconv.FormatInt(e.V, 10)), nil
	case *cfg.PVExpr:
		ref, err := a.cm.resolvePV(e.Spec, e.Pos)
		if err != nil {
			return nil, err
		}
		if ref.isNull {
			return ConstFormat("<null>"), nil
		}
		return &Format{text: e.Spec.Text, parts: []fpart{{pv: ref}}, single: ref}, nil
	case *cfg.RawArg:
		return nil, a.errorf("unexpected bare word %q: quote it (\"%s\") or #!define it", e.Text, e.Text)
	}
	x, err := a.cm.expr(a.Expr)
	if err != nil {
		return nil, err
	}
	if x.konst {
		return ConstFormat(x.kval.AsString()), nil
	}
	return &Format{text: "<expression>", dyn: x}, nil
}

// Value compiles the argument as an expression evaluated per call.
func (a *Arg) Value() (*Expr, error) {
	if r, ok := a.Expr.(*cfg.RawArg); ok {
		return nil, a.errorf("unexpected bare word %q: quote it (\"%s\") or #!define it", r.Text, r.Text)
	}
	if s, ok := a.Expr.(*cfg.StrLit); ok && containsPV(s.V) {
		f, err := a.cm.parseFormat(s.V, s.Pos)
		if err != nil {
			return nil, err
		}
		return &Expr{f: f}, nil
	}
	x, err := a.cm.expr(a.Expr)
	if err != nil {
		return nil, err
	}
	return &Expr{x: x}, nil
}

// IntParam is an integer argument: constant, or computed per call.
type IntParam struct {
	konst bool
	n     int64
	f     *Format
	x     *cexpr
}

// Get returns the value for this call.
func (p IntParam) Get(c *Ctx) int64 {
	switch {
	case p.konst:
		return p.n
	case p.x != nil:
		return p.x.intf(c)
	}
	return p.f.Value(c).AsInt()
}

// Const returns the constant value and whether the parameter is constant.
func (p IntParam) Const() (int64, bool) { return p.n, p.konst }

// Int compiles an integer argument: an integer or a numeric string literal
// (constant), a string with PVs or a PV (converted per call), or an
// expression.
func (a *Arg) Int() (IntParam, error) {
	if n, ok := a.ConstInt(); ok {
		return IntParam{konst: true, n: n}, nil
	}
	switch e := a.Expr.(type) {
	case *cfg.StrLit:
		if !containsPV(e.V) {
			return IntParam{}, a.errorf("expected a number, got %q", e.V)
		}
		f, err := a.cm.parseFormat(e.V, e.Pos)
		if err != nil {
			return IntParam{}, err
		}
		return IntParam{f: f}, nil
	case *cfg.RawArg:
		return IntParam{}, a.errorf("expected a number, got the bare word %q", e.Text)
	}
	x, err := a.cm.expr(a.Expr)
	if err != nil {
		return IntParam{}, err
	}
	if x.konst {
		return IntParam{konst: true, n: x.kval.AsInt()}, nil
	}
	return IntParam{x: x}, nil
}

// PV returns the pseudo-variable the argument names: a PV written as such
// ($var(x)) or in a string ("$var(x)"), as Kamailio's fixup_pvar does.
// writable requires it to have a Set.
func (a *Arg) PV(writable bool) (*PV, error) {
	var spec cfg.PVSpec
	var pos cfg.Pos
	switch e := a.Expr.(type) {
	case *cfg.PVExpr:
		spec, pos = e.Spec, e.Pos
	case *cfg.StrLit:
		sp, n, err := cfg.ParsePV(e.V)
		if err != nil || n != len(e.V) {
			return nil, a.errorf("expected a pseudo-variable, got %q", e.V)
		}
		spec, pos = sp, e.Pos
	default:
		return nil, a.errorf("expected a pseudo-variable")
	}
	ref, err := a.cm.resolvePV(spec, pos)
	if err != nil {
		return nil, err
	}
	if writable {
		if ref.pv.Set == nil || len(ref.trans) > 0 {
			return nil, a.errorf("%s is read-only", spec.Text)
		}
		return ref.pv, nil
	}
	if len(ref.trans) == 0 {
		return ref.pv, nil
	}
	return &PV{Get: ref.value}, nil
}

// Regexp compiles a constant argument as a POSIX extended regular
// expression (case-insensitive when icase).
func (a *Arg) Regexp(icase bool) (*regexp.Regexp, error) {
	s, ok := a.ConstString()
	if !ok {
		return nil, a.errorf("expected a constant regular expression")
	}
	re, err := cfg.CompileERE(s, icase)
	if err != nil {
		return nil, a.errorf("bad regular expression %q: %v", s, err)
	}
	return re, nil
}

// Flag returns a message flag argument: a number 0..63, or a name declared
// with "flags NAME[:bit], ..." (as Kamailio's setflag accepts).
func (a *Arg) Flag() (int, error) {
	var n int64
	switch e := a.Expr.(type) {
	case *cfg.IntLit:
		n = e.V
	case *cfg.StrLit:
		b, ok := a.cm.prog.flagNames[e.V]
		if !ok {
			return 0, a.errorf("unknown flag %q (declare it with: flags %s)", e.V, e.V)
		}
		n = int64(b)
	case *cfg.RawArg:
		b, ok := a.cm.prog.flagNames[e.Text]
		if !ok {
			return 0, a.errorf("unknown flag %q (declare it with \"flags %s\" or #!define it as a number)", e.Text, e.Text)
		}
		n = int64(b)
	default:
		return 0, a.errorf("expected a flag number or a declared flag name")
	}
	if n < 0 || n > 63 {
		return 0, a.errorf("flag %d out of range (0..63)", n)
	}
	return int(n), nil
}

// Expr is a compiled argument expression, evaluated per call.
type Expr struct {
	x *cexpr
	f *Format
}

// Value evaluates in value context (strings stay strings).
func (e *Expr) Value(c *Ctx) Value {
	if e.f != nil {
		return e.f.Value(c)
	}
	return e.x.valf(c)
}

// Int evaluates in integer context.
func (e *Expr) Int(c *Ctx) int64 {
	if e.f != nil {
		return e.f.Value(c).AsInt()
	}
	return e.x.intf(c)
}

// PVFixupCtx is what a PV class's Fixup sees.
type PVFixupCtx struct {
	// Pos is where the reference is; Spec its syntax as written.
	Pos  cfg.Pos
	Spec cfg.PVSpec
	// Inner is the inner name as written ("" when absent).
	Inner string

	cm *compiler
}

// HasInner reports whether the reference has an inner name.
func (pc *PVFixupCtx) HasInner() bool { return pc.Spec.HasInner }

// InnerFormat compiles the inner name as a format (it may contain PVs).
func (pc *PVFixupCtx) InnerFormat() (*Format, error) {
	return pc.cm.parseFormat(pc.Inner, pc.Pos)
}

// ParseFormat compiles part of the inner name (or any text) as a format.
func (pc *PVFixupCtx) ParseFormat(s string) (*Format, error) {
	return pc.cm.parseFormat(s, pc.Pos)
}

// ParsePV resolves a pseudo-variable written as text ("$avp(x)"), e.g. the
// inner name of $cnt(...).
func (pc *PVFixupCtx) ParsePV(s string) (*PV, error) {
	sp, n, err := cfg.ParsePV(s)
	if err != nil {
		return nil, pc.Errorf("%v", err)
	}
	if n != len(s) {
		return nil, pc.Errorf("unexpected %q after %s", s[n:], s[:n])
	}
	sp.Pos = pc.Pos
	ref, err := pc.cm.resolvePV(sp, pc.Pos)
	if err != nil {
		return nil, err
	}
	if len(ref.trans) == 0 {
		return ref.pv, nil
	}
	return &PV{Get: ref.value}, nil
}

// Errorf returns an error positioned at the reference.
func (pc *PVFixupCtx) Errorf(format string, args ...any) error {
	return &cfg.Error{Pos: pc.Pos, Msg: pc.Spec.Text + ": " + fmt.Sprintf(format, args...)}
}

// IndexKind tells what index a PV reference has.
type IndexKind uint8

// Index kinds.
const (
	IndexNone IndexKind = iota
	IndexInt            // [n], n may be negative
	IndexAll            // [*]
	IndexPV             // [$var(i)]
)

// Index is the parsed [index] of a reference.
type Index struct {
	Kind IndexKind
	N    int
	PV   *PV
}

// At returns the index for this call (for IndexPV: the PV's value).
func (ix Index) At(c *Ctx) int {
	if ix.Kind == IndexPV {
		return int(ix.PV.Get(c).AsInt())
	}
	return ix.N
}

// Index parses the reference's [index] (Kind IndexNone when absent).
func (pc *PVFixupCtx) Index() (Index, error) {
	if !pc.Spec.HasIndex {
		return Index{}, nil
	}
	s := pc.Spec.Index
	switch {
	case s == "*":
		return Index{Kind: IndexAll}, nil
	case s[0] == '$':
		pv, err := pc.ParsePV(s)
		if err != nil {
			return Index{}, err
		}
		return Index{Kind: IndexPV, PV: pv}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || (s[0] == '+') {
		return Index{}, pc.Errorf("invalid index [%s]: expected a number, * or a pseudo-variable", s)
	}
	return Index{Kind: IndexInt, N: n}, nil
}

// TransFixupCtx is what a transformation's Fixup sees.
type TransFixupCtx struct {
	Pos cfg.Pos
	// Spec is the transformation as written.
	Spec cfg.TransSpec
	// Params is the raw text after the first ',' ("" when none).
	Params string

	p     int // parse position in Params
	nread int // parameters read so far
	cm    *compiler
}

// Errorf returns an error positioned at the transformation.
func (tc *TransFixupCtx) Errorf(format string, args ...any) error {
	return &cfg.Error{Pos: tc.Pos, Msg: "transformation " + tc.Spec.Text + ": " + fmt.Sprintf(format, args...)}
}

// TransParam is one transformation parameter: a constant or a PV.
type TransParam struct {
	konst bool
	n     int64
	s     string
	pv    *PV
}

// Int returns the parameter as an integer (a PV is read per call; ok is
// false when its value is not an integer, as Kamailio requires).
func (tp TransParam) Int(c *Ctx) (int64, bool) {
	if tp.pv == nil {
		return tp.n, true
	}
	v := tp.pv.Get(c)
	if v.k != KindInt {
		if v.k == KindStr {
			if v.dual {
				return v.i, true
			}
			if n, ok := parseDecimal(v.s); ok {
				return n, true
			}
		}
		return 0, false
	}
	return v.i, true
}

// Str returns the parameter as a string (a PV is read per call; ok is
// false when it is not a non-empty string).
func (tp TransParam) Str(c *Ctx) (string, bool) {
	if tp.pv == nil {
		return tp.s, true
	}
	v := tp.pv.Get(c)
	if v.k == KindNull {
		return "", false
	}
	s := v.AsString()
	return s, s != ""
}

// Const reports whether the parameter is constant.
func (tp TransParam) Const() bool { return tp.pv == nil }

func (tc *TransFixupCtx) skipWS() {
	for tc.p < len(tc.Params) && (tc.Params[tc.p] == ' ' || tc.Params[tc.p] == '\t' || tc.Params[tc.p] == '\n') {
		tc.p++
	}
}

func (tc *TransFixupCtx) pvParam() (TransParam, bool, error) {
	tc.skipWS()
	if tc.p < len(tc.Params) && tc.Params[tc.p] == '$' {
		sp, n, err := cfg.ParsePV(tc.Params[tc.p:])
		if err != nil {
			return TransParam{}, true, tc.Errorf("%v", err)
		}
		ref, err := tc.cm.resolvePV(sp, tc.Pos)
		if err != nil {
			return TransParam{}, true, err
		}
		tc.p += n
		return TransParam{pv: &PV{Get: ref.value}}, true, nil
	}
	return TransParam{}, false, nil
}

// IntParam reads the next parameter as Kamailio's numeric parameter: a PV
// or [+-]digits.
func (tc *TransFixupCtx) IntParam() (TransParam, error) {
	if !tc.more() {
		return TransParam{}, tc.Errorf("missing parameter")
	}
	if tp, ok, err := tc.pvParam(); ok {
		return tp, err
	}
	s := tc.Params
	sign := int64(1)
	if tc.p < len(s) && (s[tc.p] == '-' || s[tc.p] == '+') {
		if s[tc.p] == '-' {
			sign = -1
		}
		tc.p++
	}
	tc.skipWS()
	start := tc.p
	var n int64
	for tc.p < len(s) && s[tc.p] >= '0' && s[tc.p] <= '9' {
		n = n*10 + int64(s[tc.p]-'0')
		tc.p++
	}
	if tc.p == start {
		return TransParam{}, tc.Errorf("invalid parameter %q: expected a number or a pseudo-variable", s[start:])
	}
	return TransParam{konst: true, n: sign * n}, nil
}

// StrParam reads the next parameter as Kamailio's string parameter: a PV,
// or the text up to the next ',' (or the end).
func (tc *TransFixupCtx) StrParam() (TransParam, error) {
	if !tc.more() {
		return TransParam{}, tc.Errorf("missing parameter")
	}
	if tp, ok, err := tc.pvParam(); ok {
		return tp, err
	}
	s := tc.Params
	start := tc.p
	for tc.p < len(s) && s[tc.p] != ',' && s[tc.p] != '\t' && s[tc.p] != '\n' {
		tc.p++
	}
	return TransParam{konst: true, s: s[start:tc.p]}, nil
}

// CharParam reads the next parameter as one character; \\ \n \r \t are
// escapes (the separator of {s.select}).
func (tc *TransFixupCtx) CharParam() (byte, error) {
	if !tc.more() {
		return 0, tc.Errorf("missing separator parameter")
	}
	s := tc.Params
	if tc.p >= len(s) {
		return 0, tc.Errorf("missing separator parameter")
	}
	c := s[tc.p]
	tc.p++
	if c == '\\' {
		if tc.p >= len(s) {
			return 0, tc.Errorf("unexpected end after '\\'")
		}
		e := s[tc.p]
		tc.p++
		switch e {
		case '\\':
			return '\\', nil
		case 'n':
			return '\n', nil
		case 'r':
			return '\r', nil
		case 't':
			return '\t', nil
		}
		return 0, tc.Errorf("unexpected escape char %q", e)
	}
	return c, nil
}

// more consumes the ',' before a parameter; the first parameter follows
// the name directly.
func (tc *TransFixupCtx) more() bool {
	if tc.nread == 0 {
		tc.nread++
		return tc.Spec.HasParams
	}
	tc.skipWS()
	if tc.p < len(tc.Params) && tc.Params[tc.p] == ',' {
		tc.p++
		tc.nread++
		return true
	}
	return false
}

// Done checks that all parameters were read.
func (tc *TransFixupCtx) Done() error {
	if tc.nread == 0 && tc.Spec.HasParams {
		return tc.Errorf("takes no parameters")
	}
	tc.skipWS()
	if tc.p < len(tc.Params) {
		return tc.Errorf("unexpected %q after the parameters", tc.Params[tc.p:])
	}
	return nil
}
