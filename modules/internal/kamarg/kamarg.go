// Package kamarg compiles module function arguments the way Kamailio's
// fixups read them, for the auth, auth_db, registrar and usrloc modules.
package kamarg

import (
	"github.com/sipht/sipht/internal/script"
)

// Int is an integer argument: a constant (an int literal or a string
// holding a decimal number, converted at load time) or a pseudo-variable
// whose value must be an integer when the function runs (Kamailio's
// get_int_fparam: "Could not convert PV to int" for a string or $null).
type Int struct {
	konst bool
	n     int64
	e     *script.Expr
}

// CompileInt compiles argument a as an Int.
func CompileInt(a *script.Arg) (Int, error) {
	if n, ok := a.ConstInt(); ok {
		return Int{konst: true, n: n}, nil
	}
	if _, ok := a.ConstString(); ok && a.IsConst() {
		return Int{}, a.Errorf("expected a number")
	}
	e, err := a.Value()
	if err != nil {
		return Int{}, err
	}
	return Int{e: e}, nil
}

// ConstInt returns an Int that is always n.
func ConstInt(n int64) Int { return Int{konst: true, n: n} }

// Get returns the value; ok is false when a pseudo-variable's value is not
// an integer.
func (p Int) Get(c *script.Ctx) (n int64, ok bool) {
	if p.konst {
		return p.n, true
	}
	v := p.e.Value(c)
	if !v.IsInt() {
		return 0, false
	}
	return v.AsInt(), true
}

// Const returns the constant value, if the argument is constant.
func (p Int) Const() (int64, bool) { return p.n, p.konst }

// Str is a string argument: constant text or a format with
// pseudo-variables ("$fd", "$var(realm)"), printed per call.
type Str struct {
	f *script.Format
}

// CompileStr compiles argument a as a Str.
func CompileStr(a *script.Arg) (Str, error) {
	f, err := a.Format()
	if err != nil {
		return Str{}, err
	}
	return Str{f: f}, nil
}

// ConstStr returns a Str that is always s.
func ConstStr(s string) Str { return Str{f: script.ConstFormat(s)} }

// Get returns the printed value. A single pseudo-variable that is $null
// prints as "" (the functions then report an empty value, as Kamailio).
func (p Str) Get(c *script.Ctx) string {
	if p.f.SinglePV() != nil {
		v := p.f.Value(c)
		if v.IsNull() {
			return ""
		}
		if v.IsStr() {
			return v.AsString()
		}
	}
	return p.f.String(c)
}

// Const returns the text of a constant argument.
func (p Str) Const() (string, bool) {
	if p.f.IsConst() {
		return p.f.Const(), true
	}
	return "", false
}
