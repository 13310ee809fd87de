package registrar

import (
	"errors"
	"strings"
)

// ContactParam is one parameter of a contact.
type ContactParam struct {
	Name  string // as written
	Value string // without quotes
	// HasValue is false for a parameter without '='.
	HasValue bool
}

// Contact is one entry of a Contact header value, as the registrar reads
// it: the URI (without the angle brackets) and the contact parameters that
// follow it.
type Contact struct {
	URI    string
	Params []ContactParam
}

// Param returns the value of the first parameter called name
// (case-insensitive) and whether it is present.
func (c *Contact) Param(name string) (ContactParam, bool) {
	for _, p := range c.Params {
		if strings.EqualFold(p.Name, name) {
			return p, true
		}
	}
	return ContactParam{}, false
}

// ErrContactSyntax is returned for a Contact header value that cannot be
// parsed.
var ErrContactSyntax = errors.New("contact parse error")

// ParseContacts parses one Contact header value: "*" (star is true), or a
// comma-separated list of name-addr or addr-spec entries with parameters.
// Display names (tokens or quoted strings) are skipped. In an addr-spec
// without angle brackets the URI ends at the first ';', ',' or white
// space, so the parameters after it are contact parameters (RFC 3261
// §20.10). Quoted parameter values may contain commas and semicolons; the
// quotes (double or single, as Kamailio accepts) are removed. It never
// panics; a malformed value gives ErrContactSyntax.
func ParseContacts(v string, dst []Contact) (out []Contact, star bool, err error) {
	s := trimLWS(v)
	if s == "" {
		return dst, false, ErrContactSyntax
	}
	if s[0] == '*' {
		if trimLWS(s[1:]) != "" {
			return dst, false, ErrContactSyntax
		}
		return dst, true, nil
	}
	out = dst
	for {
		var c Contact
		s = trimLeft(s)
		if s == "" {
			return dst, false, ErrContactSyntax
		}
		s, err = parseAddress(s, &c)
		if err != nil {
			return dst, false, err
		}
		s, err = parseParams(s, &c)
		if err != nil {
			return dst, false, err
		}
		out = append(out, c)
		s = trimLeft(s)
		if s == "" {
			return out, false, nil
		}
		if s[0] != ',' {
			return dst, false, ErrContactSyntax
		}
		s = s[1:]
	}
}

// parseAddress reads [display-name] <uri> or a bare uri.
func parseAddress(s string, c *Contact) (string, error) {
	// Find '<' before any ',' or ';' that is outside a quoted display name.
	i := 0
	for i < len(s) {
		switch s[i] {
		case '"':
			end, ok := quotedEnd(s, i)
			if !ok {
				return s, ErrContactSyntax
			}
			i = end
			continue
		case '<':
			j := strings.IndexByte(s[i+1:], '>')
			if j < 0 {
				return s, ErrContactSyntax
			}
			uri := trimLWS(s[i+1 : i+1+j])
			if uri == "" {
				return s, ErrContactSyntax
			}
			c.URI = uri
			return s[i+2+j:], nil
		case ',', ';':
			i = len(s)
			continue
		}
		i++
	}
	// addr-spec: the URI runs up to ';', ',' or white space.
	s = trimLeft(s)
	j := 0
	for j < len(s) {
		b := s[j]
		if b == ';' || b == ',' || b == ' ' || b == '\t' || b == '\r' || b == '\n' {
			break
		}
		if b == '"' || b == '<' || b == '>' {
			return s, ErrContactSyntax
		}
		j++
	}
	if j == 0 {
		return s, ErrContactSyntax
	}
	c.URI = s[:j]
	return s[j:], nil
}

// quotedEnd returns the index after the closing quote of the quoted string
// starting at s[i] (backslash escapes honoured).
func quotedEnd(s string, i int) (int, bool) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j + 1, true
		}
	}
	return 0, false
}

// parseParams reads *( ";" name [ "=" value ] ) up to ',' or the end.
func parseParams(s string, c *Contact) (string, error) {
	for {
		s = trimLeft(s)
		if s == "" || s[0] == ',' {
			return s, nil
		}
		if s[0] != ';' {
			return s, ErrContactSyntax
		}
		s = trimLeft(s[1:])
		n := 0
		for n < len(s) && isTokenChar(s[n]) {
			n++
		}
		if n == 0 {
			return s, ErrContactSyntax
		}
		p := ContactParam{Name: s[:n]}
		s = trimLeft(s[n:])
		if s != "" && s[0] == '=' {
			s = trimLeft(s[1:])
			if s == "" {
				return s, ErrContactSyntax
			}
			if s[0] == '"' || s[0] == '\'' {
				end, ok := quotedEnd(s, 0)
				if !ok {
					return s, ErrContactSyntax
				}
				p.Value = s[1 : end-1]
				s = s[end:]
			} else {
				v := 0
				for v < len(s) && s[v] != ';' && s[v] != ',' && s[v] != ' ' && s[v] != '\t' && s[v] != '\r' && s[v] != '\n' {
					v++
				}
				p.Value = s[:v]
				s = s[v:]
			}
			p.HasValue = true
		}
		c.Params = append(c.Params, p)
	}
}

func isTokenChar(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~[]:/@?&$", b) >= 0
}

func trimLeft(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n') {
		s = s[1:]
	}
	return s
}

func trimLWS(s string) string {
	s = trimLeft(s)
	for len(s) > 0 {
		switch s[len(s)-1] {
		case ' ', '\t', '\r', '\n':
			s = s[:len(s)-1]
		default:
			return s
		}
	}
	return s
}

// ParseQ reads a q value as Kamailio's str2q: "0", "0.5", "1", "1.000" ...
// into 0..1000; leading spaces or tabs are allowed, at most three decimals
// count.
func ParseQ(s string) (int, bool) {
	const (
		stStart = iota
		st0
		st1
		st0Pt
		st1Pt
		st1Pt0
		st0PtN
	)
	state := stStart
	q, order, digits := 0, 100, 1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case stStart:
			switch c {
			case ' ', '\t':
			case '0':
				q, state = 0, st0
			case '1':
				q, state = 1000, st1
			case '.':
				state = st0Pt
			default:
				return 0, false
			}
		case st0:
			switch c {
			case '0':
			case '.':
				state = st0Pt
			case '1':
				q, state = 1000, st1
			default:
				return 0, false
			}
		case st1:
			if c != '.' {
				return 0, false
			}
			state = st1Pt
		case st0Pt:
			if c < '0' || c > '9' {
				return 0, false
			}
			q = int(c-'0') * order
			order /= 10
			state = st0PtN
		case st1Pt:
			if c != '0' {
				return 0, false
			}
			state = st1Pt0
		case st1Pt0:
			if c != '0' {
				return 0, false
			}
		case st0PtN:
			if c < '0' || c > '9' {
				return 0, false
			}
			if digits <= 3 {
				q += int(c-'0') * order
				order /= 10
				digits++
			}
		}
	}
	switch state {
	case stStart, st0Pt, st1Pt:
		return 0, false
	}
	return q, true
}

// FormatQ writes a q value as Kamailio's q2str ("1", "0", "0.5", "0.25").
func FormatQ(dst []byte, q int) []byte {
	switch {
	case q >= 1000:
		return append(dst, '1')
	case q <= 0:
		return append(dst, '0')
	}
	dst = append(dst, '0', '.', byte('0'+q/100))
	q %= 100
	if q == 0 {
		return dst
	}
	dst = append(dst, byte('0'+q/10))
	q %= 10
	if q == 0 {
		return dst
	}
	return append(dst, byte('0'+q))
}

// Method bits (Kamailio's METHOD_*), used by the contact methods parameter,
// the Allow header and method_filtering.
var methodBits = map[string]uint32{
	"INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "REGISTER": 32, "SUBSCRIBE": 64,
	"NOTIFY": 128, "MESSAGE": 256, "OPTIONS": 512, "PRACK": 1024, "UPDATE": 2048, "REFER": 4096,
	"PUBLISH": 8192, "KDMQ": 16384, "GET": 32768, "POST": 65536, "PUT": 131072, "DELETE": 262144,
}

const methodOther = 524288

// MethodBit returns the bit of a method name (METHOD_OTHER for unknown).
func MethodBit(m string) uint32 {
	if b, ok := methodBits[m]; ok {
		return b
	}
	if b, ok := methodBits[strings.ToUpper(m)]; ok {
		return b
	}
	return methodOther
}

// ParseMethods reads a comma-separated method list (the methods contact
// parameter, an Allow header) into a bit set.
func ParseMethods(s string) (uint32, bool) {
	var mask uint32
	s = trimLeft(s)
	if s == "" {
		return 0, true
	}
	for {
		n := 0
		for n < len(s) && isTokenChar(s[n]) {
			n++
		}
		if n == 0 {
			return 0, false
		}
		mask |= MethodBit(s[:n])
		s = trimLeft(s[n:])
		if s == "" {
			return mask, true
		}
		if s[0] != ',' {
			return 0, false
		}
		s = trimLeft(s[1:])
		if s == "" {
			return mask, true
		}
	}
}
