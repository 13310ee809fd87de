package sipmsg

import (
	"errors"
	"strings"
)

// URIType is the scheme of a parsed URI.
type URIType uint8

// URI types (Kamailio's uri_type).
const (
	URIError URIType = iota
	URISIP
	URISIPS
	URITel
	URITels
	URIURN
)

// String returns the scheme name ("sip", "tel" ...).
func (t URIType) String() string {
	switch t {
	case URISIP:
		return "sip"
	case URISIPS:
		return "sips"
	case URITel:
		return "tel"
	case URITels:
		return "tels"
	case URIURN:
		return "urn"
	}
	return ""
}

// URI is a URI split the way Kamailio 5.6's parse_uri splits it. The
// string fields are views into the parsed text.
type URI struct {
	Type     URIType
	User     string
	Password string
	Host     string
	Port     string // as written ("" when absent)
	PortNo   int
	// Params is the text after the first ';' up to '?' (without them);
	// for a sip: URI with user=phone (phone2tel) it is the parameters of the
	// telephone number in the user part, and SIPParams keeps the URI's own.
	Params    string
	SIPParams string
	Headers   string
	// ParamsOff and SIPParamsOff are the offsets of Params and SIPParams in
	// the parsed text.
	ParamsOff, SIPParamsOff int
	// HasPassword, HasPort, HasParams and HasHeaders tell an empty part
	// that was written ("sip:a@b;") from an absent one.
	HasPassword, HasPort, HasParams, HasHeaders, HasSIPParams bool
	// UserPhone is set when a sip: URI carried user=phone and became a tel
	// URI (Kamailio's phone2tel, on by default).
	UserPhone bool
	// Known parameters found while parsing (last occurrence wins).
	Transport, UserParam, TTL, Method, MAddr, LR, R2, GR param
}

type param struct {
	Set         bool
	Name, Value string
}

// ErrBadURI is returned by ParseURI for a URI Kamailio would not parse.
var ErrBadURI = errors.New("bad URI")

// MaxPort is the highest port number a URI may carry.
const MaxPort = 65535

type uriState uint8

const (
	stInit uriState = iota
	stUser
	stPassword
	stPasswordAlpha
	stHost
	stHostP
	stHost6P
	stHost6End
	stPort
	stParam  // at the start of a parameter (after ';')
	stParamP // inside a parameter name
	stValue  // inside a parameter value
	stHeaders
)

// ParseURI parses s as Kamailio 5.6's parse_uri does: the schemes sip:,
// sips:, tel: and urn: (case-insensitive), "user[:password]@host[:port]"
// with the same tolerance for odd characters in the user part and the
// same rejections (empty user before '@', bad host characters, a port
// that is not a number up to 65535 and 5 digits, ';' in headers ...).
func ParseURI(s string) (URI, error) {
	var u URI
	if len(s) < 5 {
		return u, ErrBadURI
	}
	var sch [4]byte
	for i := 0; i < 4; i++ {
		sch[i] = s[i] | 0x20
	}
	p := 4
	switch string(sch[:]) {
	case "sip:":
		u.Type = URISIP
	case "sips":
		if s[4] != ':' {
			return u, ErrBadURI
		}
		p++
		u.Type = URISIPS
	case "tel:":
		u.Type = URITel
	case "urn:":
		u.Type = URIURN
	default:
		return u, ErrBadURI
	}
	bad := func() (URI, error) { return URI{}, ErrBadURI }

	st := stInit
	p0 := p
	start := p
	hostStart := -1
	foundUser := false
	errHeaders := false
	pass := -1 // offset of a ':' that may separate user and password
	portNo := 0
	var pname, pval int = -1, -1 // current parameter name/value start
	var user, host, port, params, headers, passwd string
	var hasPass, hasPort, hasParams, hasHeaders bool
	paramsOff := 0
	setHost := func(from, to int) { host, hostStart = s[from:to], from }

	endParam := func(end int) {
		if pname < 0 {
			return
		}
		name := s[pname:end]
		val := ""
		if pval >= 0 {
			name = s[pname : pval-1]
			val = s[pval:end]
		}
		pr := param{Set: true, Name: name, Value: val}
		switch strings.ToLower(name) {
		case "transport":
			if pval >= 0 && val != "" {
				u.Transport = pr
			}
		case "user":
			if pval >= 0 {
				u.UserParam = pr
			}
		case "ttl":
			if pval >= 0 {
				u.TTL = pr
			}
		case "method":
			if pval >= 0 {
				u.Method = pr
			}
		case "maddr":
			if pval >= 0 {
				u.MAddr = pr
			}
		case "lr":
			u.LR = pr
		case "r2":
			u.R2 = pr
		case "gr":
			u.GR = pr
		}
		pname, pval = -1, -1
	}
	// stillAtUser handles an '@' found after what looked like host,
	// params or headers: everything so far was the user part.
	stillAtUser := func(i int) bool {
		if foundUser {
			return false
		}
		if pass >= 0 {
			user = s[p0:pass]
			passwd, hasPass = s[pass+1:i], true
		} else {
			user = s[p0:i]
			passwd, hasPass = "", false
		}
		typ := u.Type
		u = URI{Type: typ}
		host, port, params, headers, hostStart = "", "", "", "", -1
		hasPort, hasParams, hasHeaders = false, false, false
		pass = -1
		start = i + 1
		foundUser = true
		errHeaders = false
		pname, pval = -1, -1
		st = stHost
		return true
	}
	isPortDigit := func(c byte) bool { return c >= '0' && c <= '9' }

	for i := p; i < len(s); i++ {
		c := s[i]
		switch st {
		case stInit:
			switch c {
			case '[':
				st = stHost6P
			case ']', ':':
				return bad()
			default:
				st = stUser // the character belongs to the user part
			}
		case stUser:
			switch c {
			case '@':
				if i-start <= 0 {
					return bad()
				}
				user = s[start:i]
				st = stHost
				foundUser = true
				start = i + 1
			case ':':
				user = s[start:i]
				st = stPassword
				start = i + 1
				portNo = 0
			case ';':
				setHost(start, i)
				st = stParam
				start = i + 1
			case '?':
				setHost(start, i)
				st = stHeaders
				start = i + 1
			case '[', ']':
				return bad()
			}
		case stPassword:
			switch {
			case c == '@':
				passwd, hasPass = s[start:i], true
				portNo = 0
				st = stHost
				foundUser = true
				start = i + 1
			case c == ';' || c == '?':
				port, hasPort = s[start:i], true
				u.PortNo = portNo
				host, hostStart = user, p0
				user = ""
				foundUser = true
				start = i + 1
				if c == ';' {
					st = stParam
				} else {
					st = stHeaders
				}
			case isPortDigit(c):
				portNo = portNo*10 + int(c-'0')
				if portNo > MaxPort {
					return bad()
				}
			case c == '[' || c == ']' || c == ':':
				return bad()
			default:
				portNo = 0
				st = stPasswordAlpha
			}
		case stPasswordAlpha:
			switch c {
			case '@':
				passwd, hasPass = s[start:i], true
				st = stHost
				foundUser = true
				start = i + 1
			case ';', '?', '[', ']', ':':
				return bad()
			}
		case stHost:
			switch {
			case c == '[':
				st = stHost6P
			case isAlnum(c):
				st = stHostP
			default:
				return bad()
			}
		case stHostP, stHost6End:
			switch c {
			case ':', ';', '?':
				setHost(start, i)
				start = i + 1
				switch c {
				case ':':
					st = stPort
					portNo = 0
				case ';':
					st = stParam
				default:
					st = stHeaders
				}
			case '&', '@':
				return bad()
			default:
				if st == stHost6End || !(isAlnum(c) || c == '.' || c == '-') {
					return bad()
				}
			}
		case stHost6P:
			switch c {
			case ']':
				st = stHost6End
			case '[', '&', '@', ';', '?':
				return bad()
			}
		case stPort:
			switch {
			case c == ';' || c == '?':
				port, hasPort = s[start:i], true
				u.PortNo = portNo
				start = i + 1
				if c == ';' {
					st = stParam
				} else {
					st = stHeaders
				}
			case isPortDigit(c):
				portNo = portNo*10 + int(c-'0')
				if portNo > MaxPort {
					return bad()
				}
			default:
				return bad()
			}
		case stParam, stParamP, stValue:
			if st == stParam {
				pname, pval = i, -1
			}
			switch c {
			case '@':
				if !stillAtUser(i) {
					return bad()
				}
			case ';':
				endParam(i)
				if pass >= 0 {
					foundUser = true
					pass = -1
				}
				st = stParam
			case '?':
				endParam(i)
				params, hasParams, paramsOff = s[start:i], true, start
				st = stHeaders
				start = i + 1
				if pass >= 0 {
					foundUser = true
					pass = -1
				}
			case ':':
				if !foundUser {
					if pass >= 0 {
						foundUser = true
						pass = -1
					} else {
						pass = i
					}
				}
				if st == stValue {
					st = stValue
				} else {
					st = stParamP
				}
			case '=':
				if st != stValue {
					if pval < 0 && pname >= 0 {
						pval = i + 1
					}
					st = stValue
				}
			default:
				if st == stParam {
					st = stParamP
				}
			}
		case stHeaders:
			switch c {
			case '@':
				if !stillAtUser(i) {
					return bad()
				}
			case ';':
				if foundUser {
					return bad()
				}
				errHeaders = true
				if pass >= 0 {
					return bad()
				}
			case ':':
				if !foundUser {
					if pass >= 0 {
						foundUser = true
						pass = -1
					} else {
						pass = i
					}
				}
			case '?':
				if pass >= 0 {
					foundUser = true
					pass = -1
				}
			}
		}
	}
	// end of the URI
	end := len(s)
	switch st {
	case stInit:
		return bad()
	case stUser:
		if foundUser {
			return bad()
		}
		setHost(start, end)
	case stPassword:
		if foundUser {
			return bad()
		}
		port, hasPort = s[start:end], true
		u.PortNo = portNo
		host, hostStart = user, p0
		user = ""
	case stPasswordAlpha:
		if u.Type != URIURN {
			return bad()
		}
		setHost(start, end)
	case stHostP, stHost6End:
		setHost(start, end)
	case stHost, stHost6P:
		return bad()
	case stPort:
		port, hasPort = s[start:end], true
		u.PortNo = portNo
	case stParam, stParamP, stValue:
		endParam(end)
		params, hasParams, paramsOff = s[start:end], true, start
	case stHeaders:
		headers, hasHeaders = s[start:end], true
		if errHeaders {
			return bad()
		}
	}
	u.User, u.Password, u.Host, u.Port, u.Params, u.Headers = user, passwd, host, port, params, headers
	u.HasPassword, u.HasPort, u.HasParams, u.HasHeaders = hasPass, hasPort, hasParams, hasHeaders
	u.ParamsOff = paramsOff
	switch u.Type {
	case URISIP, URISIPS:
		u.SIPParams, u.HasSIPParams, u.SIPParamsOff = u.Params, u.HasParams, u.ParamsOff
		if u.UserParam.Set && u.UserParam.Value == "phone" {
			u.Type = URITel
			u.UserPhone = true
			if k := strings.IndexByte(u.User, ';'); k >= 0 {
				u.Params, u.HasParams, u.ParamsOff = u.User[k+1:], true, p0+k+1
				u.User = u.User[:k]
			} else {
				u.Params, u.HasParams = "", false
			}
		}
	case URITel, URITels:
		u.User, u.Host = u.Host, ""
	}
	if len(u.Port) > 5 {
		return URI{}, ErrBadURI
	}
	if u.Host != "" && u.User == "" {
		// '@' before the host but no user part
		if hostStart > 0 && s[hostStart-1] == '@' || u.Host[0] == '@' {
			return URI{}, ErrBadURI
		}
	}
	return u, nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// Param is one "name[=value]" of a parameter list.
type Param struct {
	Name, Value string
	HasValue    bool
	// Start is the offset of the name and End the offset after the value
	// (after the name when there is no value) in the parsed list.
	Start, End int
}

// ParseParams splits a ';'-separated parameter list as Kamailio's
// parse_params does for URI parameters: names and values are trimmed of
// blanks, a quoted value loses its quotes. It stops at the first
// malformed parameter (an empty name, an unterminated quote) and reports
// ok=false; fn returns false to stop early.
func ParseParams(s string, fn func(p Param) bool) bool {
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
		if i >= len(s) {
			return true
		}
		segStart := i
		inQuote := false
		for ; i < len(s); i++ {
			if s[i] == '"' {
				inQuote = !inQuote
			} else if s[i] == '\\' && inQuote && i+1 < len(s) {
				i++
			} else if s[i] == ';' && !inQuote {
				break
			}
		}
		if inQuote {
			return false
		}
		seg := s[segStart:i]
		next := i + 1
		name, val, has := strings.Cut(seg, "=")
		lead := len(name) - len(strings.TrimLeft(name, " \t\r\n"))
		name = strings.TrimSpace(name)
		if name == "" {
			return false
		}
		p := Param{Name: name, HasValue: has, Start: segStart + lead, End: segStart + lead + len(name)}
		if has {
			eq := segStart + strings.IndexByte(seg, '=')
			v := strings.TrimRight(val, " \t\r\n")
			p.End = eq + 1 + len(v)
			v = strings.TrimLeft(v, " \t\r\n")
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			p.Value = v
		}
		if !fn(p) {
			return true
		}
		i = next
	}
	return true
}

// SetUser returns uri with its user part replaced by user, rebuilt the
// way Kamailio's rewriteuser (SET_USER) does: scheme, user, password (kept
// only when there is a user), tel: parameters, '@' host, port, parameters
// and headers; an empty user removes the user part and the '@'.
func SetUser(uri, user string) (string, error) {
	u, err := ParseURI(uri)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(uri) + len(user))
	switch u.Type {
	case URISIP:
		b.WriteString("sip")
	case URISIPS:
		b.WriteString("sips")
	case URITel:
		if u.UserPhone {
			b.WriteString("sip")
		} else {
			b.WriteString("tel")
		}
	case URITels:
		if u.UserPhone {
			b.WriteString("sips")
		} else {
			b.WriteString("tels")
		}
	default:
		b.WriteString("sip")
	}
	b.WriteByte(':')
	hasUser := user != ""
	b.WriteString(user)
	if hasUser && u.HasPassword {
		b.WriteByte(':')
		b.WriteString(u.Password)
	}
	if (u.Type == URITel || u.Type == URITels) && u.HasParams {
		b.WriteByte(';')
		b.WriteString(u.Params)
	}
	if u.Type == URISIP || u.Type == URISIPS || u.UserPhone {
		if hasUser {
			b.WriteByte('@')
		}
		b.WriteString(u.Host)
	}
	if u.HasPort {
		b.WriteByte(':')
		b.WriteString(u.Port)
	}
	if u.HasSIPParams {
		b.WriteByte(';')
		b.WriteString(u.SIPParams)
	}
	if u.HasHeaders {
		b.WriteByte('?')
		b.WriteString(u.Headers)
	}
	if b.Len() > MaxURISize {
		return "", errors.New("URI too long")
	}
	return b.String(), nil
}

// MaxURISize is Kamailio's MAX_URI_SIZE: the longest URI a rewrite may
// produce.
const MaxURISize = 1024
