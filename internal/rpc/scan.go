package rpc

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Scan reads the next request parameters according to a Kamailio
// rpc->scan format, converting each into the matching destination:
//
//	s, S        string                  -> *string
//	d, u, b, t  32-bit integer          -> *int, *int32, *int64, *uint32, *bool (b)
//	f           double                  -> *float64
//	l, L, j, J  integer read as double  -> *int64, *int, *float64
//	*           the remaining conversions are optional
//	.           auto-convert the next parameter
//
// Every destination may also be a *Value. Scan continues where the previous
// Scan (or Method.Params) stopped, so a handler can loop over a variable
// number of parameters ("*.s" in core.echo).
//
// It returns the number of values stored. err is nil when every mandatory
// conversion succeeded (optional ones may be missing). On a missing
// mandatory parameter or a type mismatch err describes it in Kamailio's
// words ("error at parameter 1: expected string type but record doesn't
// match type"); that text is also kept as the call's pending fault, sent
// with code 400 if the handler returns without writing anything.
//
// Conversion rules follow the transport (Call.Dialect):
//
// BINRPC: s/S need a STR, d/u/b/t an INT, f/l/L/j/J a DOUBLE or an INT;
// with auto-conversion (the '.' modifier or the ctl "autoconversion"
// setting) an INT becomes its decimal text, a STR is parsed as a signed
// 32-bit integer or as a double (prefix, like strtod) and a DOUBLE is
// truncated to an integer or written as text.
//
// JSON-RPC: s/S need a JSON string (auto-conversion also takes a number,
// written as its text); integers and doubles take a number (truncated for
// integers), true/false as 1/0, or a string holding a number.
func (c *Call) Scan(format string, dst ...any) (int, error) {
	c.prepared = nil // as rpc_scan's rpc_fault_reset
	if err := checkFormat(format); err != nil {
		return 0, fmt.Errorf("rpc: Scan: %w", err)
	}
	return c.scan(format, dst)
}

// scanArgs runs format for Method.Params, appending to c.args.
func (c *Call) scanArgs(format string) (n, mandatory int, err error) {
	optional := false
	for i := 0; i < len(format); i++ {
		switch format[i] {
		case '*':
			optional = true
		case '.':
		default:
			if !optional {
				mandatory++
			}
		}
	}
	n, err = c.scan(format, nil)
	return n, mandatory, err
}

type scanError struct {
	index  int
	kind   string
	reason string
}

func (e *scanError) Error() string {
	return fmt.Sprintf("error at parameter %d: expected %s type but %s", e.index, e.kind, e.reason)
}

// Reasons, with the texts of Kamailio's binrpc_error().
const (
	reasonType  = "record doesn't match type"
	reasonEOP   = "end of packet encountered"
	reasonRange = "value out of range"
)

// errMissing marks a missing parameter internally.
var errMissing = errors.New("missing")

// scan implements Scan. With dst == nil values are appended to c.args.
func (c *Call) scan(format string, dst []any) (n int, err error) {
	optional := false
	auto := false
	di := 0
	for i := 0; i < len(format); i++ {
		conv := format[i]
		switch conv {
		case '*':
			optional = true
			continue
		case '.':
			auto = true
			continue
		}
		autoconv := auto || c.req.AutoConvert
		auto = false
		v, serr := c.scanOne(conv, autoconv)
		if serr != nil {
			e, ok := serr.(*scanError)
			if !ok { // missing
				if optional {
					return n, nil
				}
				name := convKind(conv).String()
				if autoconv {
					name = "any"
				}
				e = &scanError{c.cursor, name, reasonEOP}
			}
			c.prepared = &Fault{Code: 400, Message: e.Error()}
			return n, e
		}
		if dst == nil {
			c.args = append(c.args, v)
		} else {
			if di >= len(dst) {
				return n, fmt.Errorf("rpc: Scan: format %q has more conversions than destinations", format)
			}
			if err := store(dst[di], conv, v); err != nil {
				return n, err
			}
			di++
		}
		c.cursor++
		n++
	}
	return n, nil
}

func isIntConv(c byte) bool   { return c == 'd' || c == 'u' || c == 'b' || c == 't' }
func isFloatConv(c byte) bool { return c == 'f' || c == 'l' || c == 'L' || c == 'j' || c == 'J' }
func isStrConv(c byte) bool   { return c == 's' || c == 'S' }

func checkFormat(f string) error {
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c == '*' || c == '.' || isIntConv(c) || isFloatConv(c) || isStrConv(c) {
			continue
		}
		return fmt.Errorf("invalid format character %q", c)
	}
	return nil
}

func convKind(conv byte) Kind {
	switch {
	case isIntConv(conv):
		return KindInt
	case isFloatConv(conv):
		return KindDouble
	}
	return KindStr
}

// scanOne converts the parameter at c.cursor for conv. The returned Value
// has Kind KindStr (S), KindInt (I), KindDouble (F, and I = int64(F)) or,
// for l/L/j/J, KindLong (I, and F).
func (c *Call) scanOne(conv byte, auto bool) (Value, error) {
	want := convKind(conv)
	idx := c.cursor
	if idx >= len(c.req.Params) {
		if c.req.ParamErr != nil && idx == len(c.req.Params) {
			name := want.String()
			if auto {
				name = "any"
			}
			return Value{}, &scanError{idx, name, c.req.ParamErr.Error()}
		}
		return Value{}, errMissing
	}
	p := c.req.Params[idx]
	mismatch := func(reason string) error {
		name := want.String()
		if auto && c.req.Dialect == DialectBINRPC {
			// Kamailio reports the record's own type once it was read.
			name = p.Kind.String()
		}
		return &scanError{idx, name, reason}
	}
	var v Value
	var ok bool
	if c.req.Dialect == DialectJSON {
		v, ok = convJSON(p, want, auto)
	} else {
		v, ok = convBINRPC(p, want, auto)
	}
	if !ok {
		return Value{}, mismatch(reasonType)
	}
	if conv == 'l' || conv == 'L' || conv == 'j' || conv == 'J' {
		v.Kind = KindLong
	}
	if want == KindInt {
		if v.I > math.MaxInt32 || v.I < math.MinInt32 {
			if conv == 'u' && v.I >= 0 && v.I <= math.MaxUint32 {
				return v, nil
			}
			return Value{}, mismatch(reasonRange)
		}
	}
	return v, nil
}

func convBINRPC(p Value, want Kind, auto bool) (Value, bool) {
	switch want {
	case KindStr:
		if p.Kind == KindStr {
			return p, true
		}
		if auto && (p.Kind == KindInt || p.Kind == KindDouble) {
			return Str(p.Text()), true
		}
	case KindInt:
		if p.Kind == KindInt {
			return Int(int64(int32(p.I))), true
		}
		if auto {
			switch p.Kind {
			case KindDouble:
				return Int(truncInt(p.F)), true
			case KindStr:
				if i, ok := str2sint(p.S); ok {
					return Int(i), true
				}
			}
		}
	case KindDouble:
		switch p.Kind {
		case KindDouble:
			return Value{Kind: KindDouble, F: p.F, I: truncInt(p.F)}, true
		case KindInt: // accepted without auto-conversion, as Kamailio 5.8+ does
			return Value{Kind: KindDouble, F: float64(p.I), I: p.I}, true
		case KindStr:
			if auto {
				if f, ok := strtodPrefix(p.S); ok {
					return Value{Kind: KindDouble, F: f, I: truncInt(f)}, true
				}
			}
		}
	}
	return Value{}, false
}

func convJSON(p Value, want Kind, auto bool) (Value, bool) {
	switch want {
	case KindStr:
		if p.Kind == KindStr {
			return p, true
		}
		if auto && p.Kind == KindDouble {
			return Str(p.Text()), true
		}
	case KindInt:
		switch p.Kind {
		case KindDouble:
			if math.IsNaN(p.F) || math.IsInf(p.F, 0) {
				return Value{}, false
			}
			return Int(truncInt(p.F)), true
		case KindBool:
			return Int(p.I), true
		case KindStr:
			if i, err := strconv.ParseInt(strings.TrimSpace(p.S), 10, 64); err == nil {
				return Int(i), true
			}
		}
	case KindDouble:
		switch p.Kind {
		case KindDouble:
			return Value{Kind: KindDouble, F: p.F, I: truncInt(p.F)}, true
		case KindBool:
			return Value{Kind: KindDouble, F: float64(p.I), I: p.I}, true
		case KindStr:
			if f, err := strconv.ParseFloat(strings.TrimSpace(p.S), 64); err == nil {
				return Value{Kind: KindDouble, F: f, I: truncInt(f)}, true
			}
		}
	}
	return Value{}, false
}

// truncInt converts toward zero, saturating instead of C's undefined
// behaviour.
func truncInt(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// str2sint is Kamailio's str2sint: an optional sign then decimal digits,
// within 32 bits.
func str2sint(s string) (int64, bool) {
	i := 0
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		i = 1
	}
	var v int64
	for ; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
		if v > math.MaxInt32+1 {
			return 0, false
		}
	}
	if neg {
		v = -v
	}
	if v > math.MaxInt32 || v < math.MinInt32 {
		return 0, false
	}
	return v, true
}

// strtodPrefix parses the longest leading double, like C strtod with the
// "something was parsed" check binrpc_run.c makes.
func strtodPrefix(s string) (float64, bool) {
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := FloatPrefixLen(s)
	if end == 0 {
		return 0, false
	}
	f, err := strconv.ParseFloat(s[:end], 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, true
		}
		return 0, false
	}
	return f, true
}

// FloatPrefixLen returns the length of the longest prefix of s that C's
// strtod would read as a decimal number, "inf", "infinity" or "nan"
// (0 when none). Leading white space is not skipped.
func FloatPrefixLen(s string) int {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	rest := strings.ToLower(s[i:])
	switch {
	case strings.HasPrefix(rest, "infinity"):
		return i + 8
	case strings.HasPrefix(rest, "inf"):
		return i + 3
	case strings.HasPrefix(rest, "nan"):
		return i + 3
	}
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		j := i + 1
		frac := 0
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
			frac++
		}
		if digits+frac > 0 {
			i = j
			digits += frac
		}
	}
	if digits == 0 {
		return 0
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	return i
}

func store(dst any, conv byte, v Value) error {
	switch d := dst.(type) {
	case *Value:
		*d = v
	case *string:
		if !isStrConv(conv) {
			return fmt.Errorf("rpc: Scan: %%%c cannot be stored in %T", conv, dst)
		}
		*d = v.S
	case *int:
		if isStrConv(conv) {
			return fmt.Errorf("rpc: Scan: %%%c cannot be stored in %T", conv, dst)
		}
		*d = int(v.I)
	case *int32:
		if isStrConv(conv) {
			return fmt.Errorf("rpc: Scan: %%%c cannot be stored in %T", conv, dst)
		}
		*d = int32(v.I)
	case *int64:
		if isStrConv(conv) {
			return fmt.Errorf("rpc: Scan: %%%c cannot be stored in %T", conv, dst)
		}
		*d = v.I
	case *uint32:
		if isStrConv(conv) {
			return fmt.Errorf("rpc: Scan: %%%c cannot be stored in %T", conv, dst)
		}
		*d = uint32(v.I)
	case *bool:
		if isStrConv(conv) {
			return fmt.Errorf("rpc: Scan: %%%c cannot be stored in %T", conv, dst)
		}
		*d = v.I != 0
	case *float64:
		if isStrConv(conv) {
			return fmt.Errorf("rpc: Scan: %%%c cannot be stored in %T", conv, dst)
		}
		if v.Kind == KindDouble {
			*d = v.F
		} else {
			*d = float64(v.I)
		}
	default:
		return fmt.Errorf("rpc: Scan: unsupported destination %T", dst)
	}
	return nil
}
