package ctlcli

import (
	"math"
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/rpc"
)

// ParseArg types one command-line word as kamcmd does: a word that C's
// strtol reads completely (leading white space and a sign allowed, and
// the empty word) is an INT truncated to 32 bits; else a word strtod reads
// completely ("2.5", "1e3", "inf", "0x1p4") is a DOUBLE; anything else is
// a STR, without a leading "s:" (which forces a string: "s:15").
func ParseArg(w string) rpc.Value {
	if i, ok := strtol(w); ok {
		return rpc.Int(int64(int32(i)))
	}
	if f, ok := strtod(w); ok {
		return rpc.Double(f)
	}
	if s, ok := strings.CutPrefix(w, "s:"); ok {
		return rpc.Str(s)
	}
	return rpc.Str(w)
}

func isSpace(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }

// strtol reports whether C's strtol(w, &end, 10) consumes all of w and
// returns its (saturated 64-bit) value.
func strtol(w string) (int64, bool) {
	if w == "" {
		return 0, true // no conversion, but *end == 0
	}
	i := 0
	for i < len(w) && isSpace(w[i]) {
		i++
	}
	neg := false
	if i < len(w) && (w[i] == '+' || w[i] == '-') {
		neg = w[i] == '-'
		i++
	}
	start := i
	var v uint64
	overflow := false
	for i < len(w) && w[i] >= '0' && w[i] <= '9' {
		d := uint64(w[i] - '0')
		if v > (math.MaxUint64-d)/10 {
			overflow = true
		} else {
			v = v*10 + d
		}
		i++
	}
	if i == start || i != len(w) {
		return 0, false
	}
	if neg {
		if overflow || v > 1<<63 {
			return math.MinInt64, true
		}
		return -int64(v), true
	}
	if overflow || v > math.MaxInt64 {
		return math.MaxInt64, true
	}
	return int64(v), true
}

// strtod reports whether C's strtod consumes all of w.
func strtod(w string) (float64, bool) {
	i := 0
	for i < len(w) && isSpace(w[i]) {
		i++
	}
	s := w[i:]
	if s == "" {
		return 0, false
	}
	if f, ok := hexFloat(s); ok {
		return f, true
	}
	low := strings.ToLower(s)
	body := strings.TrimLeft(low, "+-")
	if strings.HasPrefix(body, "nan(") && strings.HasSuffix(body, ")") {
		inner := body[4 : len(body)-1]
		if strings.Trim(inner, "abcdefghijklmnopqrstuvwxyz0123456789_") == "" && len(low)-len(body) <= 1 {
			return math.NaN(), true
		}
	}
	n := rpc.FloatPrefixLen(s)
	if n == 0 || n != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if ok := asNumErr(err, &ne); ok && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}

func asNumErr(err error, ne **strconv.NumError) bool {
	e, ok := err.(*strconv.NumError)
	if ok {
		*ne = e
	}
	return ok
}

// hexFloat reads C99 hexadecimal floating constants ("0x10", "0x1.8p3").
func hexFloat(s string) (float64, bool) {
	i := 0
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	if i+1 >= len(s) || s[i] != '0' || (s[i+1] != 'x' && s[i+1] != 'X') {
		return 0, false
	}
	i += 2
	var mant float64
	digits := 0
	exp := 0
	for i < len(s) {
		d, ok := hexDigit(s[i])
		if !ok {
			break
		}
		mant = mant*16 + float64(d)
		digits++
		i++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) {
			d, ok := hexDigit(s[i])
			if !ok {
				break
			}
			mant = mant*16 + float64(d)
			exp -= 4
			digits++
			i++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'p' || s[i] == 'P') {
		j := i + 1
		eneg := false
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			eneg = s[j] == '-'
			j++
		}
		k := j
		e := 0
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			if e < 100000 {
				e = e*10 + int(s[k]-'0')
			}
			k++
		}
		if k > j {
			if eneg {
				e = -e
			}
			exp += e
			i = k
		}
	}
	if i != len(s) {
		return 0, false
	}
	f := math.Ldexp(mant, exp)
	if neg {
		f = -f
	}
	return f, true
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// unescape resolves \n, \r, \t and \\ in a -f format, as kamcmd does.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case 'r':
				b.WriteByte('\r')
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}
