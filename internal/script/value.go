package script

import (
	"strconv"
)

// Kind is the type of a Value.
type Kind uint8

// Value kinds. The zero Value is Null.
const (
	KindNull Kind = iota // undefined: $null, an unset $avp, a missing $sht item, a header that is not there
	KindInt
	KindStr
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindStr:
		return "str"
	}
	return "null"
}

// Value is a script value: an integer, a string or null (undefined), as
// Kamailio's pseudo-variables and expressions produce them. Values are
// small and passed by value; they never need allocation for integers.
//
// Integers are 64-bit. Kamailio evaluates script arithmetic in 32-bit C
// ints (2147483647 + 1 wraps to -2147483648); sipht does not wrap (see
// docs/kamailio-differences.md).
type Value struct {
	s string
	i int64
	k Kind
	// dual marks a string that also carries the integer i (see StrInt).
	dual bool
}

// Null is the undefined value.
var Null = Value{}

// Int returns an integer Value.
func Int(i int64) Value { return Value{k: KindInt, i: i} }

// Str returns a string Value.
func Str(s string) Value { return Value{k: KindStr, s: s} }

// StrInt returns a string Value that also carries an integer, as the
// Kamailio pseudo-variables whose value has both PV_VAL_STR and PV_VAL_INT
// but is typed as a string ($rm is "OPTIONS" and 512, $pr "udp" and 1, $rp
// "5060" and 5060): it is the string everywhere (printing, ==, +
// concatenation, assignment) except where Kamailio reads the integer:
// integer contexts (if, arithmetic, comparisons, (int)) and {s.int}.
// Assigning it to a variable stores the string only (Plain).
func StrInt(s string, i int64) Value { return Value{k: KindStr, s: s, i: i, dual: true} }

// Plain drops the integer a StrInt value carries.
func (v Value) Plain() Value {
	if v.dual {
		v.dual, v.i = false, 0
	}
	return v
}

// Bool returns Int(1) for true and Int(0) for false.
func Bool(b bool) Value {
	if b {
		return Value{k: KindInt, i: 1}
	}
	return Value{k: KindInt}
}

// Kind returns the value's type.
func (v Value) Kind() Kind { return v.k }

// IsNull reports whether the value is undefined.
func (v Value) IsNull() bool { return v.k == KindNull }

// IsInt reports whether the value is an integer.
func (v Value) IsInt() bool { return v.k == KindInt }

// IsStr reports whether the value is a string.
func (v Value) IsStr() bool { return v.k == KindStr }

// AsInt converts to an integer as Kamailio does: null is 0; a string is
// read as a decimal with optional sign ("-12", "+12"), then as 0x/0X hex;
// anything else (including " 12" and "12abc") is 0.
func (v Value) AsInt() int64 {
	switch v.k {
	case KindInt:
		return v.i
	case KindStr:
		if v.dual {
			return v.i
		}
		return StrToInt(v.s)
	}
	return 0
}

// AsString converts to a string: integers in decimal, null as "".
func (v Value) AsString() string {
	switch v.k {
	case KindStr:
		return v.s
	case KindInt:
		return strconv.FormatInt(v.i, 10)
	}
	return ""
}

// Append appends the value as xlog prints it: null as "<null>".
func (v Value) Append(b []byte) []byte {
	switch v.k {
	case KindStr:
		return append(b, v.s...)
	case KindInt:
		return strconv.AppendInt(b, v.i, 10)
	}
	return append(b, "<null>"...)
}

// AppendString appends the string conversion (null appends nothing).
func (v Value) AppendString(b []byte) []byte {
	switch v.k {
	case KindStr:
		return append(b, v.s...)
	case KindInt:
		return strconv.AppendInt(b, v.i, 10)
	}
	return b
}

// String returns the value as xlog prints it (null is "<null>").
func (v Value) String() string {
	if v.k == KindNull {
		return "<null>"
	}
	return v.AsString()
}

// GoString is used by %#v in test failure messages.
func (v Value) GoString() string {
	switch v.k {
	case KindInt:
		return "Int(" + strconv.FormatInt(v.i, 10) + ")"
	case KindStr:
		if v.dual {
			return "StrInt(" + strconv.Quote(v.s) + ", " + strconv.FormatInt(v.i, 10) + ")"
		}
		return "Str(" + strconv.Quote(v.s) + ")"
	}
	return "Null"
}

// StrToInt converts a string to an integer with Kamailio's rules (see
// Value.AsInt). Values that do not fit in 64 bits give 0.
func StrToInt(s string) int64 {
	if s == "" {
		return 0
	}
	if n, ok := parseDecimal(s); ok {
		return n
	}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		if u, err := strconv.ParseUint(s[2:], 16, 64); err == nil {
			return int64(u)
		}
	}
	return 0
}

// parseDecimal accepts [+-]?[0-9]+ and nothing else.
func parseDecimal(s string) (int64, bool) {
	i := 0
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		i = 1
	}
	if i >= len(s) {
		return 0, false
	}
	var n uint64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (1<<63)/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
		if n > 1<<63 || (!neg && n > 1<<63-1) {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}
