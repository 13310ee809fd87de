package auth

import "strings"

// QOP is the parsed qop parameter of digest credentials.
type QOP uint8

// qop values, as Kamailio's parse_qop sorts them.
const (
	QOPNone    QOP = iota // absent or empty
	QOPAuth               // "auth" (case-insensitive)
	QOPAuthInt            // "auth-int"
	QOPOther              // anything else
)

// Fields that Credentials.Has reports.
const (
	HasUsername uint16 = 1 << iota
	HasRealm
	HasNonce
	HasURI
	HasResponse
	HasCNonce
	HasOpaque
	HasQOP
	HasNC
	HasAlgorithm
)

// Credentials are the digest parameters of one Authorization or
// Proxy-Authorization header value. All strings are substrings of the
// parsed value (no copy is made), so they stay valid as long as the value.
//
// Parsing follows Kamailio's digest parser: the scheme is "Digest"
// (case-insensitive) followed by a space, tab, CR, LF or comma; parameter
// names are case-insensitive; a quoted value ends at the next '"' (no
// escapes); an unquoted value ends at a space, tab, CR, LF or comma;
// whatever follows a value up to the next comma is ignored; unknown
// parameters are skipped and a repeated one replaces the earlier value.
type Credentials struct {
	// Username is the whole username parameter; User and Domain are its
	// parts ("alice@example.com" gives "alice" and "example.com"; a
	// "sip:" or other scheme prefix before the user is dropped).
	Username, User, Domain      string
	Realm, Nonce, URI, Response string
	CNonce, Opaque, NC, QOPText string
	Algorithm                   string
	QOP                         QOP
	// Has tells which parameters were present (HasRealm ...): a quoted
	// empty value is present, an absent parameter is not.
	Has uint16
}

// Present reports whether every field in mask was present.
func (c *Credentials) Present(mask uint16) bool { return c.Has&mask == mask }

// ParseResult says what ParseCredentials found.
type ParseResult int8

// ParseCredentials results.
const (
	ParseOK        ParseResult = 0  // digest credentials parsed
	ParseNotDigest ParseResult = 1  // another scheme (Basic, ...): skipped by the auth functions
	ParseMalformed ParseResult = -2 // digest credentials that cannot be parsed
)

// ParseCredentials parses a header value "Digest username=..., realm=...".
// It never panics and does not allocate.
func ParseCredentials(v string, c *Credentials) ParseResult {
	*c = Credentials{}
	s := trimLeadingLWS(v)
	const scheme = "digest"
	if len(s) < len(scheme)+1 {
		return ParseNotDigest
	}
	if !strings.EqualFold(s[:len(scheme)], scheme) {
		return ParseNotDigest
	}
	switch s[len(scheme)] {
	case ' ', '\t', '\r', '\n', ',':
	default:
		return ParseNotDigest
	}
	s = trimLeadingLWS(s[len(scheme)+1:])
	for {
		var ok bool
		s, ok = c.parseParam(s)
		if !ok {
			*c = Credentials{}
			return ParseMalformed
		}
		i := strings.IndexByte(s, ',')
		if i < 0 {
			break
		}
		s = trimLeadingLWS(s[i+1:])
	}
	if c.Has&HasQOP != 0 {
		c.QOP = parseQOP(c.QOPText)
	}
	if c.Has&HasUsername != 0 {
		c.User = c.Username
		if len(c.Username) > 2 {
			if at := strings.IndexByte(c.Username, '@'); at >= 0 {
				c.Domain = c.Username[at+1:]
				c.User = c.Username[:at]
			}
			if colon := strings.IndexByte(c.User, ':'); colon >= 0 {
				c.User = c.User[colon+1:]
			}
		}
	}
	return ParseOK
}

// parseParam reads one name=value pair at the start of s and returns what
// follows the value.
func (c *Credentials) parseParam(s string) (string, bool) {
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return s, false
	}
	name := strings.TrimRight(s[:eq], " \t\r\n")
	var dst *string
	var bit uint16
	switch {
	case strings.EqualFold(name, "username"):
		dst, bit = &c.Username, HasUsername
	case strings.EqualFold(name, "realm"):
		dst, bit = &c.Realm, HasRealm
	case strings.EqualFold(name, "nonce"):
		dst, bit = &c.Nonce, HasNonce
	case strings.EqualFold(name, "uri"):
		dst, bit = &c.URI, HasURI
	case strings.EqualFold(name, "response"):
		dst, bit = &c.Response, HasResponse
	case strings.EqualFold(name, "cnonce"):
		dst, bit = &c.CNonce, HasCNonce
	case strings.EqualFold(name, "opaque"):
		dst, bit = &c.Opaque, HasOpaque
	case strings.EqualFold(name, "qop"):
		dst, bit = &c.QOPText, HasQOP
	case strings.EqualFold(name, "nc"):
		dst, bit = &c.NC, HasNC
	case strings.EqualFold(name, "algorithm"):
		dst, bit = &c.Algorithm, HasAlgorithm
	}
	s = trimLeadingLWS(s[eq+1:])
	if s == "" {
		return s, false
	}
	var val string
	if s[0] == '"' {
		if len(s) < 2 {
			return s, false
		}
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			return s, false
		}
		val, s = s[1:1+end], s[2+end:]
	} else {
		i := 0
		for i < len(s) {
			b := s[i]
			if b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == ',' {
				break
			}
			i++
		}
		if i == 0 {
			return s, false
		}
		val, s = s[:i], s[i:]
	}
	if dst != nil {
		*dst = val
		c.Has |= bit
	}
	return s, true
}

func parseQOP(v string) QOP {
	v = strings.Trim(v, " \t\r\n")
	switch {
	case v == "":
		return QOPNone
	case strings.EqualFold(v, "auth"):
		return QOPAuth
	case strings.EqualFold(v, "auth-int"):
		return QOPAuthInt
	}
	return QOPOther
}

func trimLeadingLWS(s string) string {
	for len(s) > 0 {
		switch s[0] {
		case ' ', '\t', '\r', '\n':
			s = s[1:]
		default:
			return s
		}
	}
	return s
}
