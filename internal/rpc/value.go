package rpc

import (
	"math"
	"strconv"
	"time"
)

// Kind is the type of a request parameter or of a reply value.
//
// Request parameters arrive as KindInt, KindStr and KindDouble from BINRPC
// (kamcmd never sends anything else) and as KindDouble (every JSON number),
// KindStr, KindBool and KindNull from JSON-RPC; containers sent as
// parameters are kept as KindStruct / KindArray placeholders that no scan
// accepts.
//
// Reply values use the remaining kinds to carry the encoding differences
// Kamailio's RPC API has between transports (see the Add* methods of Call).
type Kind uint8

// Kinds of values.
const (
	KindInt    Kind = iota // 32-bit integer (BINRPC INT, rpc->add "d")
	KindStr                // string (BINRPC STR)
	KindDouble             // floating point (BINRPC DOUBLE, value x1000 on the wire)
	KindStruct             // a container; as a parameter only a placeholder
	KindArray              // a container; as a parameter only a placeholder
	KindBytes              // BINRPC BYTES (a string without NUL terminator)
	KindBool               // rpc->add "b": BINRPC INT 0/1, JSON true/false
	KindNull               // JSON null; in replies a NULL string
	KindLong               // rpc->add "l"/"L": BINRPC DOUBLE, JSON integer
	KindTime               // rpc->add "t": BINRPC INT (unix time), JSON "YYYYMMDDTHH:MM:SS"
)

var kindNames = [...]string{
	KindInt:    "integer",
	KindStr:    "string",
	KindDouble: "float",
	KindStruct: "structure",
	KindArray:  "array",
	KindBytes:  "bytes array",
	KindBool:   "boolean",
	KindNull:   "null",
	KindLong:   "integer",
	KindTime:   "time",
}

// String returns the type name Kamailio uses in its scan faults
// ("integer", "string", "float", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "<unknown/error>"
}

// Value is one scalar: a request parameter or a reply value.
// Only the field matching Kind is meaningful, except that JSON numbers keep
// their literal text in S so that auto-conversion to a string is exact.
type Value struct {
	Kind Kind
	I    int64   // KindInt, KindBool (0/1), KindLong, KindTime (unix seconds)
	F    float64 // KindDouble
	S    string  // KindStr, KindBytes; literal text of a JSON number
}

// Int returns an integer value (BINRPC INT).
func Int(v int64) Value { return Value{Kind: KindInt, I: v} }

// Str returns a string value.
func Str(s string) Value { return Value{Kind: KindStr, S: s} }

// Double returns a floating point value.
func Double(f float64) Value { return Value{Kind: KindDouble, F: f} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{Kind: KindBool, I: 1}
	}
	return Value{Kind: KindBool}
}

// Long returns a 64-bit integer value (BINRPC DOUBLE, as Kamailio's "l").
func Long(v int64) Value { return Value{Kind: KindLong, I: v} }

// Time returns a time value (BINRPC INT of the unix time, JSON string).
func Time(t time.Time) Value { return Value{Kind: KindTime, I: t.Unix()} }

// Null returns the NULL string value.
func Null() Value { return Value{Kind: KindNull} }

// Text renders a scalar as text the way auto-conversion to a string does:
// integers in decimal, doubles in the shortest form that reads back the
// same ("2.5", "3"), strings unchanged.
func (v Value) Text() string {
	switch v.Kind {
	case KindStr, KindBytes:
		return v.S
	case KindInt, KindLong, KindTime:
		return strconv.FormatInt(v.I, 10)
	case KindBool:
		if v.I != 0 {
			return "1"
		}
		return "0"
	case KindDouble:
		if v.S != "" && isIntLiteral(v.S) {
			return v.S
		}
		if v.F == math.Trunc(v.F) && math.Abs(v.F) < 1e15 {
			return strconv.FormatInt(int64(v.F), 10)
		}
		return strconv.FormatFloat(v.F, 'g', -1, 64)
	case KindNull:
		return ""
	}
	return ""
}

func isIntLiteral(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	if s[0] == '-' {
		i = 1
	}
	if i == len(s) || len(s)-i > 18 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
