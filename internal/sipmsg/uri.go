// Package sipmsg parses the parts of SIP messages that routing scripts and
// modules look at, the way Kamailio 5.6's parser reads them: URIs (sip:,
// sips:, tel:, urn:), name-addr header bodies (From, To, Contact ...),
// header names with their compact forms, and Digest credentials
// (Authorization, Proxy-Authorization).
//
// Everything here works on strings and returns substrings of its input:
// parsing allocates nothing. Inputs come from the network, so every parser
// returns an error instead of panicking on any input (see the fuzz tests).
package sipmsg

import (
	"errors"
	"strings"
)

// Scheme is a URI scheme.
type Scheme uint8

// URI schemes, as Kamailio's uri_type.
const (
	SchemeNone Scheme = iota
	SchemeSIP
	SchemeSIPS
	SchemeTel
	SchemeTels
	SchemeURN
)

// String returns the scheme as written in URIs ("sip", "sips" ...), as $rz
// prints it.
func (s Scheme) String() string {
	switch s {
	case SchemeSIP:
		return "sip"
	case SchemeSIPS:
		return "sips"
	case SchemeTel:
		return "tel"
	case SchemeTels:
		return "tels"
	case SchemeURN:
		return "urn"
	}
	return "none"
}

// Proto is a transport named by a URI's transport parameter, with
// Kamailio's numbers (udp=1 ... wss=6; 0 when absent).
type Proto uint8

// Transport protocols (Kamailio's PROTO_*).
const (
	ProtoNone Proto = iota
	ProtoUDP
	ProtoTCP
	ProtoTLS
	ProtoSCTP
	ProtoWS
	ProtoWSS
)

// String returns the protocol name in lower case ("" for ProtoNone).
func (p Proto) String() string {
	switch p {
	case ProtoUDP:
		return "udp"
	case ProtoTCP:
		return "tcp"
	case ProtoTLS:
		return "tls"
	case ProtoSCTP:
		return "sctp"
	case ProtoWS:
		return "ws"
	case ProtoWSS:
		return "wss"
	}
	return ""
}

// ParseProto maps a transport name (any case) to its Proto; ProtoNone for
// unknown names.
func ParseProto(s string) Proto {
	switch {
	case strings.EqualFold(s, "udp"):
		return ProtoUDP
	case strings.EqualFold(s, "tcp"):
		return ProtoTCP
	case strings.EqualFold(s, "tls"):
		return ProtoTLS
	case strings.EqualFold(s, "sctp"):
		return ProtoSCTP
	case strings.EqualFold(s, "ws"):
		return ProtoWS
	case strings.EqualFold(s, "wss"):
		return ProtoWSS
	}
	return ProtoNone
}

// URI is a parsed URI. Its strings are substrings of the parsed text.
// Absent parts are "" (HasPort tells an absent port from ":").
type URI struct {
	Scheme Scheme
	// User is the user part (for tel: URIs the number). Passwd follows
	// "user:" when present.
	User, Passwd string
	// Host is the host as written; an IPv6 reference keeps its brackets.
	// Empty for tel: URIs.
	Host string
	// Port is the port as written and PortNo its value (0 when absent).
	Port   string
	PortNo uint16
	// Params are the parameters after the first ';' (without it), Headers
	// the part after '?'.
	Params, Headers string
	// Transport is the value of the transport parameter and Proto what it
	// names.
	Transport string
	Proto     Proto
}

// DefaultPort returns the port the URI means: its own, or 5061 when its
// transport is TLS, else 5060 (Kamailio's GET_URI_PORT; a sips: URI
// without transport=tls counts as 5060 there too).
func (u *URI) DefaultPort() uint16 {
	if u.PortNo != 0 {
		return u.PortNo
	}
	if u.Proto == ProtoTLS {
		return 5061
	}
	return 5060
}

// Param returns the value of the URI parameter name (case-insensitive) and
// whether it is present ("" for a parameter without value).
func (u *URI) Param(name string) (string, bool) {
	return LookupParam(u.Params, name, ';')
}

// Errors returned by ParseURI.
var (
	ErrURIScheme = errors.New("uri: unknown or missing scheme")
	ErrURIUser   = errors.New("uri: bad user part")
	ErrURIHost   = errors.New("uri: bad host")
	ErrURIPort   = errors.New("uri: bad port")
)

// ParseURI parses a sip:, sips:, tel: or urn: URI as Kamailio's parse_uri
// accepts it: the scheme in any case; an optional user[:password]@ (a user
// cannot be empty nor contain '[' or ']'); a host (an IPv6 reference in
// brackets, or letters, digits, '.', '-' starting with a letter or digit);
// an optional port of 1 to 5 digits not above 65535; ;parameters and
// ?headers. A tel: URI keeps its number in User and has no host.
func ParseURI(s string) (URI, error) {
	var u URI
	colon := strings.IndexByte(s, ':')
	if colon < 3 || colon > 4 || len(s) < 5 {
		return u, ErrURIScheme
	}
	switch sch := s[:colon]; {
	case strings.EqualFold(sch, "sip"):
		u.Scheme = SchemeSIP
	case strings.EqualFold(sch, "sips"):
		u.Scheme = SchemeSIPS
	case strings.EqualFold(sch, "tel"):
		u.Scheme = SchemeTel
	case strings.EqualFold(sch, "tels"):
		u.Scheme = SchemeTels
	case strings.EqualFold(sch, "urn"):
		u.Scheme = SchemeURN
	default:
		return u, ErrURIScheme
	}
	rest := s[colon+1:]
	if rest == "" {
		return u, ErrURIHost
	}
	if u.Scheme == SchemeTel || u.Scheme == SchemeTels {
		num := rest
		if i := strings.IndexByte(num, ';'); i >= 0 {
			u.Params = num[i+1:]
			num = num[:i]
		}
		if i := strings.IndexByte(num, '?'); i >= 0 {
			u.Headers = num[i+1:]
			num = num[:i]
		}
		if num == "" || strings.ContainsAny(num, "@[]:") {
			return u, ErrURIUser
		}
		u.User = num
		u.setTransport()
		return u, nil
	}
	if u.Scheme == SchemeURN {
		u.Host = rest
		return u, nil
	}
	// user part: up to the first '@' (a '@' can only end the user part)
	if at := strings.IndexByte(rest, '@'); at >= 0 {
		ui := rest[:at]
		rest = rest[at+1:]
		if ui == "" || ui[0] == ':' {
			return u, ErrURIUser
		}
		if i := strings.IndexByte(ui, ':'); i >= 0 {
			u.Passwd = ui[i+1:]
			ui = ui[:i]
			if strings.IndexByte(u.Passwd, ':') >= 0 {
				return u, ErrURIUser
			}
		}
		if strings.ContainsAny(ui, "[]") || strings.ContainsAny(u.Passwd, "[]") {
			return u, ErrURIUser
		}
		u.User = ui
	}
	// headers, then parameters
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		u.Headers = rest[i+1:]
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		u.Params = rest[i+1:]
		rest = rest[:i]
	}
	host := rest
	if host == "" {
		return u, ErrURIHost
	}
	if host[0] == '[' {
		end := strings.IndexByte(host, ']')
		if end < 2 {
			return u, ErrURIHost
		}
		for i := 1; i < end; i++ {
			switch host[i] {
			case '[', '&', '@', ';', '?':
				return u, ErrURIHost
			}
		}
		u.Host = host[:end+1]
		host = host[end+1:]
		if host != "" && host[0] != ':' {
			return u, ErrURIHost
		}
	} else {
		end := strings.IndexByte(host, ':')
		if end < 0 {
			end = len(host)
		}
		h := host[:end]
		if h == "" || !isAlnum(h[0]) {
			return u, ErrURIHost
		}
		for i := 1; i < len(h); i++ {
			if c := h[i]; !isAlnum(c) && c != '.' && c != '-' {
				return u, ErrURIHost
			}
		}
		u.Host = h
		host = host[end:]
	}
	if host != "" { // ":port"
		p := host[1:]
		if p == "" || len(p) > 5 {
			return u, ErrURIPort
		}
		n := 0
		for i := 0; i < len(p); i++ {
			if p[i] < '0' || p[i] > '9' {
				return u, ErrURIPort
			}
			n = n*10 + int(p[i]-'0')
		}
		if n > 65535 {
			return u, ErrURIPort
		}
		u.Port, u.PortNo = p, uint16(n)
	}
	u.setTransport()
	return u, nil
}

func (u *URI) setTransport() {
	if v, ok := LookupParam(u.Params, "transport", ';'); ok {
		u.Transport = v
		u.Proto = ParseProto(v)
	}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// LookupParam finds name (case-insensitive) in a sep-separated list of
// name[=value] parameters ("a=1;b;c=x") and returns its value, trimmed of
// blanks ("" for a parameter without value) and whether it was found.
func LookupParam(params, name string, sep byte) (string, bool) {
	for params != "" {
		var p string
		if i := strings.IndexByte(params, sep); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			p, params = params, ""
		}
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// AppendURI appends the URI rebuilt from its parts: scheme, user[:passwd]@,
// host, :port, ;params and ?headers (a tel: URI: scheme, number, ;params).
func (u *URI) AppendURI(b []byte) []byte {
	b = append(b, u.Scheme.String()...)
	b = append(b, ':')
	if u.Scheme == SchemeTel || u.Scheme == SchemeTels {
		b = append(b, u.User...)
	} else {
		if u.User != "" {
			b = append(b, u.User...)
			if u.Passwd != "" {
				b = append(b, ':')
				b = append(b, u.Passwd...)
			}
			b = append(b, '@')
		}
		b = append(b, u.Host...)
		if u.Port != "" {
			b = append(b, ':')
			b = append(b, u.Port...)
		}
	}
	if u.Params != "" {
		b = append(b, ';')
		b = append(b, u.Params...)
	}
	if u.Headers != "" {
		b = append(b, '?')
		b = append(b, u.Headers...)
	}
	return b
}

// String returns the rebuilt URI (see AppendURI).
func (u *URI) String() string { return string(u.AppendURI(nil)) }
