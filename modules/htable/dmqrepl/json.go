package dmqrepl

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// A small JSON reader and writer for DMQ bodies.
//
// The writer produces what Kamailio's srjson (cJSON) prints: strings keep
// bytes >= 0x20 as they are (no HTML escaping, no UTF-8 validation; a value
// with invalid UTF-8 survives the trip), escape '"' '\' and \b \f \n \r \t,
// and write other control bytes as \u00xx with lower-case hex.
//
// The reader accepts standard JSON plus what srjson lets through (raw
// control bytes and invalid UTF-8 inside strings) and rejects everything
// else: trailing data, nesting deeper than maxDepth, bad escapes. It never
// builds a tree: objects and arrays are walked with callbacks.

// maxDepth bounds nesting (DMQ bodies need 4 levels).
const maxDepth = 8

// jkind is a JSON value kind.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNum
	jStr
	jObj
	jArr
)

func (k jkind) String() string {
	return [...]string{"null", "boolean", "number", "string", "object", "array"}[k]
}

// jval is one JSON value. For objects and arrays raw holds the text, to
// walk with members/elements.
type jval struct {
	kind  jkind
	str   string
	num   float64
	isInt bool // num is integral and int holds it exactly
	int   int64
	b     bool
	raw   []byte
}

var errJSON = errors.New("malformed JSON")

type jsonError struct {
	pos int
	msg string
}

func (e *jsonError) Error() string { return fmt.Sprintf("malformed JSON at byte %d: %s", e.pos, e.msg) }
func (e *jsonError) Unwrap() error { return errJSON }

type jparser struct {
	data  []byte
	pos   int
	depth int
}

func (p *jparser) fail(msg string) error { return &jsonError{pos: p.pos, msg: msg} }

func (p *jparser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\r', '\n':
			p.pos++
		default:
			return
		}
	}
}

// parseJSON parses a whole document.
func parseJSON(data []byte) (jval, error) {
	p := &jparser{data: data}
	p.skipWS()
	v, err := p.value()
	if err != nil {
		return jval{}, err
	}
	p.skipWS()
	if p.pos != len(p.data) {
		// srjson ignores what follows the value; Kamailio never sends it
		if p.data[p.pos] == 0 && allZero(p.data[p.pos:]) {
			return v, nil
		}
		return jval{}, p.fail("data after the JSON value")
	}
	return v, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func (p *jparser) value() (jval, error) {
	if p.pos >= len(p.data) {
		return jval{}, p.fail("unexpected end")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.container('{', '}')
	case c == '[':
		return p.container('[', ']')
	case c == '"':
		s, err := p.str()
		return jval{kind: jStr, str: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case hasPrefix(p.data[p.pos:], "true"):
		p.pos += 4
		return jval{kind: jBool, b: true}, nil
	case hasPrefix(p.data[p.pos:], "false"):
		p.pos += 5
		return jval{kind: jBool}, nil
	case hasPrefix(p.data[p.pos:], "null"):
		p.pos += 4
		return jval{kind: jNull}, nil
	}
	return jval{}, p.fail("unexpected character " + strconv.QuoteRune(rune(p.data[p.pos])))
}

func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// container validates an object or array and returns its raw text.
func (p *jparser) container(open, close byte) (jval, error) {
	if p.depth >= maxDepth {
		return jval{}, p.fail("nested too deep")
	}
	p.depth++
	defer func() { p.depth-- }()
	start := p.pos
	p.pos++
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == close {
		p.pos++
		return p.done(open, start), nil
	}
	for {
		if open == '{' {
			p.skipWS()
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return jval{}, p.fail("expected a member name")
			}
			if _, err := p.str(); err != nil {
				return jval{}, err
			}
			p.skipWS()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return jval{}, p.fail("expected ':'")
			}
			p.pos++
		}
		p.skipWS()
		if _, err := p.value(); err != nil {
			return jval{}, err
		}
		p.skipWS()
		if p.pos >= len(p.data) {
			return jval{}, p.fail("unterminated " + string(open))
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
			continue
		case close:
			p.pos++
			return p.done(open, start), nil
		}
		return jval{}, p.fail("expected ',' or '" + string(close) + "'")
	}
}

func (p *jparser) done(open byte, start int) jval {
	k := jObj
	if open == '[' {
		k = jArr
	}
	return jval{kind: k, raw: p.data[start:p.pos]}
}

func (p *jparser) number() (jval, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return jval{}, p.fail("bad number")
	}
	integral := true
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		integral = false
		if digits() == 0 {
			return jval{}, p.fail("bad number")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		integral = false
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return jval{}, p.fail("bad number")
		}
	}
	text := string(p.data[start:p.pos])
	v := jval{kind: jNum}
	if integral {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			v.isInt, v.int, v.num = true, n, float64(n)
			return v, nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return jval{}, p.fail("bad number")
	}
	v.num = f
	if f == math.Trunc(f) && f >= -9.2e18 && f <= 9.2e18 {
		v.isInt, v.int = true, int64(f)
	}
	return v, nil
}

// str parses a string and returns it unescaped.
func (p *jparser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// fast path: no escapes
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := string(p.data[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' {
			break
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch c {
		case '"':
			p.pos++
			return string(buf), nil
		case '\\':
			p.pos++
			if p.pos >= len(p.data) {
				return "", p.fail("unterminated string")
			}
			e := p.data[p.pos]
			p.pos++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("bad \\u escape")
				}
				if r >= 0xD800 && r <= 0xDBFF && hasPrefix(p.data[p.pos:], "\\u") {
					save := p.pos
					p.pos += 2
					if r2, ok := p.hex4(); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
					} else {
						p.pos = save
					}
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", p.fail("bad escape")
			}
		default:
			buf = append(buf, c)
			p.pos++
		}
	}
	return "", p.fail("unterminated string")
}

func (p *jparser) hex4() (rune, bool) {
	if p.pos+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := p.data[p.pos+i]
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

// members calls fn for each member of an object value, in order.
func (v jval) members(fn func(name string, mv jval) error) error {
	if v.kind != jObj {
		return errJSON
	}
	p := &jparser{data: v.raw, pos: 1, depth: 1}
	for {
		p.skipWS()
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			return nil
		}
		name, err := p.str()
		if err != nil {
			return err
		}
		p.skipWS()
		p.pos++ // ':' (validated by parseJSON)
		p.skipWS()
		mv, err := p.value()
		if err != nil {
			return err
		}
		if err := fn(name, mv); err != nil {
			return err
		}
		p.skipWS()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
		}
	}
}

// elements calls fn for each element of an array value, in order.
func (v jval) elements(fn func(ev jval) error) error {
	if v.kind != jArr {
		return errJSON
	}
	p := &jparser{data: v.raw, pos: 1, depth: 1}
	for {
		p.skipWS()
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			return nil
		}
		ev, err := p.value()
		if err != nil {
			return err
		}
		if err := fn(ev); err != nil {
			return err
		}
		p.skipWS()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
		}
	}
}

// firstMember returns the name of an object's first member ("" if none).
func (v jval) firstMember() string {
	var first string
	stop := errors.New("stop")
	v.members(func(name string, _ jval) error { first = name; return stop })
	return first
}

// ---------------------------------------------------------------------
// Writing

// appendJSONInt appends an integer (srjson prints integral numbers with
// %d, or %.0f beyond 32 bits: both are the decimal digits).
func appendJSONInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
