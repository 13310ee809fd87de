package sanity

import (
	"errors"
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// creds are the digest credential parameters the checks look at.
type creds struct {
	username, realm, nonce, uri, response, qop, cnonce, nc *string
}

var errNotDigest = errors.New("not a Digest credential")
var errBadCreds = errors.New("malformed credentials")

// parseCreds parses an Authorization / Proxy-Authorization value:
// `Digest name=value, name="quoted value", ...`. It returns errNotDigest
// for another scheme.
func parseCreds(v string) (creds, error) {
	var cr creds
	v = strings.TrimLeft(v, " \t\r\n")
	i := strings.IndexAny(v, " \t\r\n")
	if i < 0 {
		if strings.EqualFold(v, "digest") {
			return cr, errBadCreds
		}
		return cr, errNotDigest
	}
	if !strings.EqualFold(v[:i], "digest") {
		return cr, errNotDigest
	}
	s := v[i:]
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		if s == "" {
			return cr, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return cr, errBadCreds
		}
		name := strings.TrimSpace(s[:eq])
		if name == "" || strings.ContainsAny(name, " \t,\"") {
			return cr, errBadCreds
		}
		s = strings.TrimLeft(s[eq+1:], " \t\r\n")
		var val string
		if strings.HasPrefix(s, "\"") {
			j := sipmsg.QuotedEnd(s)
			if j < 0 {
				return cr, errBadCreds
			}
			val, s = s[1:j], s[j+1:]
			s = strings.TrimLeft(s, " \t\r\n")
			if s != "" && s[0] != ',' {
				return cr, errBadCreds
			}
		} else {
			j := strings.IndexByte(s, ',')
			if j < 0 {
				j = len(s)
			}
			val, s = strings.TrimSpace(s[:j]), s[j:]
		}
		vv := val
		switch strings.ToLower(name) {
		case "username":
			cr.username = &vv
		case "realm":
			cr.realm = &vv
		case "nonce":
			cr.nonce = &vv
		case "uri":
			cr.uri = &vv
		case "response":
			cr.response = &vv
		case "qop":
			cr.qop = &vv
		case "cnonce":
			cr.cnonce = &vv
		case "nc":
			cr.nc = &vv
		}
	}
}

// checkDigest checks every Authorization, then Proxy-Authorization header.
// strict (the digest check) fails without a reply on a non-Digest scheme;
// the authorization check lets it pass.
func (m *Module) checkDigest(c *script.Ctx, p *sipmsg.Parsed, strict bool) int {
	for _, t := range []sipmsg.HeaderType{sipmsg.HdrAuthorization, sipmsg.HdrProxyAuthorization} {
		for i := range p.Headers {
			h := &p.Headers[i]
			if h.Type != t {
				continue
			}
			cr, err := parseCreds(h.Value)
			if err == errNotDigest {
				if strict {
					return checkFailed
				}
				return checkPassed
			}
			if err != nil {
				m.reply(c, 400, "Bad Auth Header")
				return checkFailed
			}
			bad := cr.username == nil || cr.realm == nil || cr.nonce == nil || cr.uri == nil || cr.response == nil
			if cr.qop != nil && (strings.EqualFold(*cr.qop, "auth") || strings.EqualFold(*cr.qop, "auth-int")) {
				bad = bad || cr.cnonce == nil || cr.nc == nil
			}
			switch {
			case bad:
				m.reply(c, 400, "Bad Auth Credentials")
			case *cr.username == "":
				m.reply(c, 400, "Auth Empty User")
			case *cr.nonce == "":
				m.reply(c, 400, "Auth Empty Nonce")
			case *cr.response == "":
				m.reply(c, 400, "Auth Empty Response")
			default:
				continue
			}
			return checkFailed
		}
	}
	return checkPassed
}
