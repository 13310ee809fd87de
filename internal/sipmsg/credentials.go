package sipmsg

import (
	"errors"
	"strings"
)

// Credentials are the Digest credentials of an Authorization or
// Proxy-Authorization header. Strings are substrings of the parsed value,
// quoted values without their quotes; absent parameters are "".
type Credentials struct {
	// Username is the whole username parameter; User and Domain are its
	// parts as Kamailio splits it ($au, $ad): "alice@example.com" gives
	// alice and example.com, and a "sip:" style prefix before the user is
	// dropped.
	Username, User, Domain                                          string
	Realm, Nonce, URI, Response, CNonce, Opaque, QOP, NC, Algorithm string
}

// Errors returned by ParseCredentials.
var (
	ErrNotDigest   = errors.New("credentials: not a Digest scheme")
	ErrCredentials = errors.New("credentials: malformed parameters")
)

// ParseCredentials parses a Digest Authorization/Proxy-Authorization value
// as Kamailio's parse_digest_cred does: the scheme "Digest" (any case)
// followed by a blank or ',', then name=value parameters separated by ','
// where a value is a quoted string (no escapes) or a token ending at a
// blank or ','. Unknown parameters are skipped. ErrNotDigest is returned for
// other schemes.
func ParseCredentials(v string) (Credentials, error) {
	var c Credentials
	s := strings.TrimLeft(v, " \t\r\n")
	if len(s) < 7 || !strings.EqualFold(s[:6], "digest") {
		return c, ErrNotDigest
	}
	switch s[6] {
	case ' ', '\t', '\r', '\n', ',':
	default:
		return c, ErrNotDigest
	}
	s = strings.TrimLeft(s[7:], " \t\r\n")
	for {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return c, ErrCredentials
		}
		name := strings.TrimRight(s[:eq], " \t\r\n")
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		if s == "" {
			return c, ErrCredentials
		}
		var val string
		if s[0] == '"' {
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return c, ErrCredentials
			}
			val, s = s[1:1+end], s[2+end:]
		} else {
			end := strings.IndexAny(s, " \t\r\n,")
			if end < 0 {
				end = len(s)
			}
			if end == 0 {
				return c, ErrCredentials
			}
			val, s = s[:end], s[end:]
		}
		if p := c.field(name); p != nil {
			*p = val
		}
		comma := strings.IndexByte(s, ',')
		if comma < 0 {
			break
		}
		s = strings.TrimLeft(s[comma+1:], " \t\r\n")
	}
	c.splitUsername()
	return c, nil
}

func (c *Credentials) field(name string) *string {
	switch strings.ToLower(name) {
	case "username":
		return &c.Username
	case "realm":
		return &c.Realm
	case "nonce":
		return &c.Nonce
	case "uri":
		return &c.URI
	case "response":
		return &c.Response
	case "cnonce":
		return &c.CNonce
	case "opaque":
		return &c.Opaque
	case "qop":
		return &c.QOP
	case "nc":
		return &c.NC
	case "algorithm":
		return &c.Algorithm
	}
	return nil
}

// splitUsername is Kamailio's parse_username: user@domain, and a
// "scheme:" prefix removed from the user.
func (c *Credentials) splitUsername() {
	c.User = c.Username
	if len(c.Username) <= 2 {
		return
	}
	if at := strings.IndexByte(c.Username, '@'); at >= 0 {
		c.Domain = c.Username[at+1:]
		c.User = c.Username[:at]
	}
	if col := strings.IndexByte(c.User, ':'); col >= 0 {
		c.User = c.User[col+1:]
	}
}
