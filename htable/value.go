package htable

import "strconv"

// Kind is the type of a Value.
type Kind uint8

const (
	// KindNull is the kind of the zero Value: no value ($null in the
	// Kamailio script language).
	KindNull Kind = iota
	// KindInt is a 64-bit signed integer.
	KindInt
	// KindStr is a string.
	KindStr
)

// String returns "null", "int" or "str" (the names htable.dump uses for
// the last two).
func (k Kind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindStr:
		return "str"
	default:
		return "null"
	}
}

// Value is an item value: an int64, a string, or null (the zero Value).
// Values are small and passed by value.
type Value struct {
	s string
	n int64
	k Kind
}

// Int returns an integer Value.
func Int(n int64) Value { return Value{n: n, k: KindInt} }

// Str returns a string Value.
func Str(s string) Value { return Value{s: s, k: KindStr} }

// Kind reports the kind of v.
func (v Value) Kind() Kind { return v.k }

// IsNull reports whether v is the null value.
func (v Value) IsNull() bool { return v.k == KindNull }

// IsInt reports whether v holds an integer.
func (v Value) IsInt() bool { return v.k == KindInt }

// IsStr reports whether v holds a string.
func (v Value) IsStr() bool { return v.k == KindStr }

// Int returns the integer held by v, or 0 if v is not an integer.
func (v Value) Int() int64 {
	if v.k != KindInt {
		return 0
	}
	return v.n
}

// Int32 returns the integer held by v truncated to 32 bits, the way
// Kamailio's wire formats (BINRPC, DMQ, htable.dump) carry integers.
// It returns 0 if v is not an integer.
func (v Value) Int32() int32 { return int32(v.Int()) }

// Str returns the string held by v, or "" if v is not a string.
func (v Value) Str() string {
	if v.k != KindStr {
		return ""
	}
	return v.s
}

// String formats v for display: the decimal integer, the raw string, or
// "<null>" (as Kamailio's xlog prints a null value).
func (v Value) String() string {
	switch v.k {
	case KindInt:
		return strconv.FormatInt(v.n, 10)
	case KindStr:
		return v.s
	default:
		return "<null>"
	}
}

// Equal reports whether v and w have the same kind and content.
func (v Value) Equal(w Value) bool {
	return v.k == w.k && v.n == w.n && v.s == w.s
}

// Item is a copy of one table item.
type Item struct {
	Key   string
	Value Value
	// Expire is the absolute expiry time in Unix seconds; 0 means the item
	// never expires.
	Expire int64
}
