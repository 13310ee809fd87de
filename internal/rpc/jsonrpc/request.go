// Package jsonrpc implements Kamailio's jsonrpcs module for sipht: JSON-RPC
// 2.0 requests served from an rpc.Registry over HTTP (an http.Handler for
// POST /RPC), unix or UDP datagram sockets and a FIFO, with replies shaped
// as jsonrpcs shapes them (cJSON pretty printing, RET_ARRAY results, HTTP
// status line carrying the fault code and text).
package jsonrpc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/sipht/sipht/internal/rpc"
)

// jsonrpcs module defaults.
const (
	// DefaultFIFOName is the FIFO file name, relative to the runtime
	// directory (jsonrpcs fifo_name).
	DefaultFIFOName = "kamailio_rpc.fifo"
	// DefaultDgramSocket is the datagram socket, relative to the runtime
	// directory (jsonrpcs dgram_socket).
	DefaultDgramSocket = "kamailio_rpc.sock"
	// DefaultFIFOReplyDir is where FIFO clients create their reply FIFOs.
	DefaultFIFOReplyDir = "/tmp/"
	// DefaultTransport is jsonrpcs' transport bitmask default: FIFO (2)
	// and datagram (4); 1 is HTTP, 0 means every configured one.
	DefaultTransport = 6
)

// IDKind is the type of a request id.
type IDKind uint8

// Request id kinds.
const (
	IDNone   IDKind = iota // no "id" member: the reply has none either
	IDString               // echoed as a string
	IDNumber               // echoed as a number (in Kamailio's number format)
	IDNull                 // echoed as null
)

// ID is a request id.
type ID struct {
	Kind IDKind
	S    string
	F    float64
}

// Request is a parsed JSON-RPC request document.
type Request struct {
	// Version is the "jsonrpc" member when it is a string; HasVersion
	// tells whether it was.
	Version    string
	HasVersion bool
	// Method is the "method" member when it is a string.
	Method    string
	HasMethod bool
	// Params are the members of "params" (array or object) in order; an
	// object's member names are ignored, as Kamailio does.
	Params []rpc.Value
	// BadParams is set when "params" exists but is not an array or an
	// object (Kamailio then answers an empty result).
	BadParams bool
	// ID is the "id" member.
	ID ID
	// ReplyName is the "reply_name" member (FIFO transport).
	ReplyName    string
	HasReplyName bool
}

// Valid reports whether the request may run a method: "jsonrpc" is "2.0"
// and "method" is a string. Kamailio answers other requests with an empty
// result and no error.
func (r *Request) Valid() bool { return r.HasVersion && r.Version == "2.0" && r.HasMethod }

// Limits bound what ParseRequest accepts.
type Limits struct {
	// MaxDepth bounds nesting (default 32).
	MaxDepth int
	// MaxParams bounds the number of parameters (default 1024).
	MaxParams int
}

// ErrSyntax wraps every parse error.
var ErrSyntax = errors.New("jsonrpc: invalid JSON")

type parser struct {
	s        []byte
	i        int
	maxDepth int
	sb       strings.Builder
}

// ParseRequest parses a request document. Member names are matched
// case-insensitively and the first occurrence wins, as srjson does; text
// after the document is ignored, as Kamailio ignores it. A document that is
// valid JSON but not an object yields an empty Request.
func ParseRequest(data []byte, lim Limits) (*Request, error) {
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = 32
	}
	if lim.MaxParams <= 0 {
		lim.MaxParams = 1024
	}
	p := &parser{s: data, maxDepth: lim.MaxDepth}
	req := &Request{}
	p.skipWS()
	if p.i >= len(p.s) {
		return nil, fmt.Errorf("%w: empty document", ErrSyntax)
	}
	if p.s[p.i] != '{' {
		if err := p.skipValue(1); err != nil {
			return nil, err
		}
		return req, nil
	}
	p.i++
	var seenVersion, seenMethod, seenParams, seenID, seenReply bool
	p.skipWS()
	if p.peek() == '}' {
		p.i++
		return req, nil
	}
	for {
		p.skipWS()
		key, err := p.parseString()
		if err != nil {
			return nil, err
		}
		p.skipWS()
		if p.peek() != ':' {
			return nil, p.errf("expected ':'")
		}
		p.i++
		p.skipWS()
		switch strings.ToLower(key) {
		case "jsonrpc":
			err = p.stringMember(&seenVersion, &req.Version, &req.HasVersion)
		case "method":
			err = p.stringMember(&seenMethod, &req.Method, &req.HasMethod)
		case "reply_name":
			err = p.stringMember(&seenReply, &req.ReplyName, &req.HasReplyName)
		case "id":
			if seenID {
				err = p.skipValue(1)
				break
			}
			seenID = true
			req.ID, err = p.parseID()
		case "params":
			if seenParams {
				err = p.skipValue(1)
				break
			}
			seenParams = true
			err = p.parseParams(req, lim.MaxParams)
		default:
			err = p.skipValue(1)
		}
		if err != nil {
			return nil, err
		}
		p.skipWS()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case '}':
			p.i++
			return req, nil
		}
		return nil, p.errf("expected ',' or '}'")
	}
}

// stringMember reads the value of a member that should be a string: the
// first occurrence (*seen false) sets *dst, and *has when it is a valid
// string; a later occurrence, or a value of another type, is skipped.
func (p *parser) stringMember(seen *bool, dst *string, has *bool) error {
	if *seen {
		return p.skipValue(1)
	}
	*seen = true
	if p.peek() != '"' {
		return p.skipValue(1)
	}
	var err error
	*dst, err = p.parseString()
	*has = err == nil
	return err
}

func (p *parser) errf(format string, a ...any) error {
	return fmt.Errorf("%w at offset %d: %s", ErrSyntax, p.i, fmt.Sprintf(format, a...))
}

func (p *parser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// skipWS skips every byte <= 32, as srjson does.
func (p *parser) skipWS() {
	for p.i < len(p.s) && p.s[p.i] <= ' ' {
		p.i++
	}
}

func (p *parser) parseID() (ID, error) {
	switch c := p.peek(); {
	case c == '"':
		s, err := p.parseString()
		return ID{Kind: IDString, S: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		f, _, err := p.parseNumber()
		return ID{Kind: IDNumber, F: f}, err
	case c == 'n':
		if err := p.literal("null"); err != nil {
			return ID{}, err
		}
		return ID{Kind: IDNull}, nil
	case c == 't':
		// Kamailio echoes the numeric value of other types
		return ID{Kind: IDNumber, F: 1}, p.literal("true")
	case c == 'f':
		return ID{Kind: IDNumber}, p.literal("false")
	}
	return ID{Kind: IDNumber}, p.skipValue(1)
}

func (p *parser) parseParams(req *Request, maxParams int) error {
	open := p.peek()
	if open != '[' && open != '{' {
		req.BadParams = true
		return p.skipValue(1)
	}
	p.i++
	p.skipWS()
	closer := byte(']')
	if open == '{' {
		closer = '}'
	}
	if p.peek() == closer {
		p.i++
		return nil
	}
	for {
		p.skipWS()
		if open == '{' {
			if _, err := p.parseString(); err != nil {
				return err
			}
			p.skipWS()
			if p.peek() != ':' {
				return p.errf("expected ':'")
			}
			p.i++
			p.skipWS()
		}
		v, err := p.parseParam()
		if err != nil {
			return err
		}
		if len(req.Params) >= maxParams {
			return p.errf("more than %d parameters", maxParams)
		}
		req.Params = append(req.Params, v)
		p.skipWS()
		switch p.peek() {
		case ',':
			p.i++
			continue
		case closer:
			p.i++
			return nil
		}
		return p.errf("expected ',' or %q", closer)
	}
}

func (p *parser) parseParam() (rpc.Value, error) {
	switch c := p.peek(); {
	case c == '"':
		s, err := p.parseString()
		return rpc.Str(s), err
	case c == '-' || (c >= '0' && c <= '9'):
		f, lit, err := p.parseNumber()
		return rpc.Value{Kind: rpc.KindDouble, F: f, S: lit}, err
	case c == 't':
		return rpc.Bool(true), p.literal("true")
	case c == 'f':
		return rpc.Bool(false), p.literal("false")
	case c == 'n':
		return rpc.Null(), p.literal("null")
	case c == '{':
		return rpc.Value{Kind: rpc.KindStruct}, p.skipValue(2)
	case c == '[':
		return rpc.Value{Kind: rpc.KindArray}, p.skipValue(2)
	}
	return rpc.Value{}, p.errf("unexpected character %q", p.peek())
}

func (p *parser) literal(lit string) error {
	if !strings.HasPrefix(string(p.s[p.i:min(len(p.s), p.i+len(lit))]), lit) {
		return p.errf("bad literal")
	}
	p.i += len(lit)
	return nil
}

// skipValue validates and skips one value at nesting depth.
func (p *parser) skipValue(depth int) error {
	if depth > p.maxDepth {
		return p.errf("nesting deeper than %d", p.maxDepth)
	}
	switch c := p.peek(); {
	case c == '"':
		_, err := p.parseString()
		return err
	case c == '-' || (c >= '0' && c <= '9'):
		_, _, err := p.parseNumber()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '[' || c == '{':
		closer := byte(']')
		if c == '{' {
			closer = '}'
		}
		p.i++
		p.skipWS()
		if p.peek() == closer {
			p.i++
			return nil
		}
		for {
			p.skipWS()
			if c == '{' {
				if _, err := p.parseString(); err != nil {
					return err
				}
				p.skipWS()
				if p.peek() != ':' {
					return p.errf("expected ':'")
				}
				p.i++
				p.skipWS()
			}
			if err := p.skipValue(depth + 1); err != nil {
				return err
			}
			p.skipWS()
			switch p.peek() {
			case ',':
				p.i++
				continue
			case closer:
				p.i++
				return nil
			}
			return p.errf("expected ',' or %q", closer)
		}
	}
	return p.errf("unexpected character %q", p.peek())
}

// parseNumber reads a JSON number and returns its value and literal.
func (p *parser) parseNumber() (float64, string, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	digits := 0
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
		digits++
	}
	if digits == 0 {
		return 0, "", p.errf("bad number")
	}
	if p.peek() == '.' {
		p.i++
		frac := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			frac++
		}
		if frac == 0 {
			return 0, "", p.errf("bad number")
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		p.i++
		if c := p.peek(); c == '+' || c == '-' {
			p.i++
		}
		exp := 0
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
			exp++
		}
		if exp == 0 {
			return 0, "", p.errf("bad number")
		}
	}
	lit := string(p.s[start:p.i])
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil {
		var ne *strconv.NumError
		if !(errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange)) {
			return 0, "", p.errf("bad number")
		}
	}
	return f, lit, nil
}

func hexVal(b byte) (rune, bool) {
	switch {
	case b >= '0' && b <= '9':
		return rune(b - '0'), true
	case b >= 'a' && b <= 'f':
		return rune(b-'a') + 10, true
	case b >= 'A' && b <= 'F':
		return rune(b-'A') + 10, true
	}
	return 0, false
}

func (p *parser) hex4(at int) (rune, bool) {
	if at+4 > len(p.s) {
		return 0, false
	}
	var r rune
	for k := 0; k < 4; k++ {
		v, ok := hexVal(p.s[at+k])
		if !ok {
			return 0, false
		}
		r = r<<4 | v
	}
	return r, true
}

// parseString reads a string. Like srjson it accepts raw control
// characters and bytes that are not UTF-8, and an unknown escape stands
// for the escaped character.
func (p *parser) parseString() (string, error) {
	if p.peek() != '"' {
		return "", p.errf("expected a string")
	}
	p.i++
	start := p.i
	// fast path: no escapes
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '"' {
			s := string(p.s[start:p.i])
			p.i++
			return s, nil
		}
		if c == '\\' {
			break
		}
		p.i++
	}
	p.sb.Reset()
	p.sb.Write(p.s[start:p.i])
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '"':
			p.i++
			return p.sb.String(), nil
		case '\\':
			p.i++
			if p.i >= len(p.s) {
				return "", p.errf("unterminated string")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'b':
				p.sb.WriteByte('\b')
			case 'f':
				p.sb.WriteByte('\f')
			case 'n':
				p.sb.WriteByte('\n')
			case 'r':
				p.sb.WriteByte('\r')
			case 't':
				p.sb.WriteByte('\t')
			case 'u':
				r, ok := p.hex4(p.i)
				if !ok {
					return "", p.errf("bad \\u escape")
				}
				p.i += 4
				if utf16.IsSurrogate(r) {
					if p.i+6 <= len(p.s) && p.s[p.i] == '\\' && p.s[p.i+1] == 'u' {
						if r2, ok := p.hex4(p.i + 2); ok {
							if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
								p.i += 6
								p.sb.WriteRune(dec)
								continue
							}
						}
					}
					r = utf8.RuneError
				}
				p.sb.WriteRune(r)
			default:
				p.sb.WriteByte(e)
			}
		default:
			p.sb.WriteByte(c)
			p.i++
		}
	}
	return "", p.errf("unterminated string")
}
