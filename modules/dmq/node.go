package dmq

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/sipio"
)

// Status is a node's state in the node list, as Kamailio's DMQ keeps it.
type Status uint8

// Node states. The numeric values are Kamailio's (1<<1 .. 1<<4); only the
// names travel on the wire.
const (
	StatusActive   Status = 1 << 1
	StatusTimeout  Status = 1 << 2
	StatusDisabled Status = 1 << 3
	StatusPending  Status = 1 << 4
)

// String returns the status as node lists and dmq.list_nodes write it.
func (s Status) String() string {
	switch s {
	case StatusActive:
		return "active"
	case StatusTimeout:
		return "timeout"
	case StatusDisabled:
		return "disabled"
	case StatusPending:
		return "pending"
	}
	return "unknown"
}

// ParseStatus reads a status name (case-sensitive, as Kamailio compares).
func ParseStatus(s string) (Status, bool) {
	switch s {
	case "active":
		return StatusActive, true
	case "timeout":
		return StatusTimeout, true
	case "disabled":
		return StatusDisabled, true
	case "pending":
		return StatusPending, true
	}
	return 0, false
}

// URI is a parsed DMQ node address, sip:[user@]host[:port][;params]. Host
// and Port keep their text: Kamailio identifies nodes by comparing that
// text (127.0.0.1 is not localhost, and a missing port is not 5060).
type URI struct {
	Scheme string // "sip" or "sips"
	User   string
	Host   string // as written; IPv6 keeps its brackets
	Port   string // digits as written, "" when absent
	// Proto is the transport=... parameter (UDP when absent or "udp";
	// Kamailio tells the two apart, sipht does not).
	Proto sipio.Transport
	// ProtoName is the transport parameter's value as written, lower-cased
	// ("" when absent); kept for transports sipio cannot send over.
	ProtoName string
	Params    []Param // every ;name[=value] parameter in order
}

// Param is one URI parameter.
type Param struct{ Name, Value string }

// Param returns the value of the parameter name (case-insensitive name,
// as Kamailio's parse_params) and whether it is present.
func (u *URI) Param(name string) (string, bool) {
	for _, p := range u.Params {
		if strings.EqualFold(p.Name, name) {
			return p.Value, true
		}
	}
	return "", false
}

// maxHostLen is Kamailio's limit on a node's host (build_dmq_node).
const maxHostLen = 254

// ParseURI parses a node URI. It accepts what Kamailio's parse_uri accepts
// for node addresses (scheme sip or sips, an optional user part, an IPv4,
// [IPv6] or name host, an optional numeric port, parameters) and rejects
// headers (?), spaces and control characters.
func ParseURI(s string) (URI, error) {
	var u URI
	orig := s
	bad := func(why string) (URI, error) {
		return URI{}, fmt.Errorf("dmq: bad node URI %q: %s", clipStr(orig), why)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return bad("space or control character")
		}
	}
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return bad("no scheme")
	}
	switch strings.ToLower(s[:i]) {
	case "sip":
		u.Scheme = "sip"
	case "sips":
		u.Scheme = "sips"
	default:
		return bad("scheme is not sip or sips")
	}
	s = s[i+1:]
	if strings.ContainsAny(s, "?<>\"") {
		return bad("headers or brackets are not allowed")
	}
	var params string
	if j := strings.IndexByte(s, ';'); j >= 0 {
		s, params = s[:j], s[j+1:]
	}
	if j := strings.LastIndexByte(s, '@'); j >= 0 {
		u.User, s = s[:j], s[j+1:]
		if u.User == "" {
			return bad("empty user part")
		}
	}
	if strings.HasPrefix(s, "[") {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return bad("unterminated IPv6 reference")
		}
		u.Host, s = s[:j+1], s[j+1:]
		if _, err := netip.ParseAddr(u.Host[1 : len(u.Host)-1]); err != nil {
			return bad("invalid IPv6 address")
		}
	} else {
		j := strings.IndexByte(s, ':')
		if j < 0 {
			j = len(s)
		}
		u.Host, s = s[:j], s[j:]
		if !validHostName(u.Host) {
			return bad("invalid host")
		}
	}
	if len(u.Host) > maxHostLen {
		return bad("host longer than 254 characters")
	}
	if s != "" {
		if s[0] != ':' {
			return bad("garbage after host")
		}
		u.Port = s[1:]
		if u.Port != "" {
			n, err := strconv.Atoi(u.Port)
			if err != nil || n < 0 || n > 65535 || len(u.Port) > 5 {
				return bad("invalid port")
			}
		}
	}
	u.Proto = sipio.UDP
	if params != "" {
		for _, p := range strings.Split(params, ";") {
			if p == "" {
				continue
			}
			name, val, _ := strings.Cut(p, "=")
			if name == "" {
				return bad("empty parameter name")
			}
			u.Params = append(u.Params, Param{Name: name, Value: val})
			if strings.EqualFold(name, "transport") {
				u.ProtoName = strings.ToLower(val)
				if u.Proto = sipio.ParseTransport(val); u.Proto == 0 {
					return bad("unknown transport " + strconv.Quote(val))
				}
			}
		}
	}
	return u, nil
}

func validHostName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// SameNode reports whether two URIs name the same node: same host text,
// port text and transport (Kamailio's cmp_dmq_node).
func (u *URI) SameNode(v *URI) bool {
	return u.Host == v.Host && u.Port == v.Port && u.Proto == v.Proto
}

// appendProto writes ";transport=x" for transports other than UDP, as
// Kamailio's build_node_str and build_uri_str do.
func (u *URI) appendProto(b []byte) []byte {
	if u.Proto == sipio.UDP || u.Proto == 0 {
		return b
	}
	b = append(b, ";transport="...)
	return append(b, u.Proto.String()...)
}

// AppendNodeLine appends u as a node-list line (without the CRLF):
// sip:host:port[;transport=x];status=s. The port is always written, empty
// when the URI has none (Kamailio does the same).
func (u *URI) AppendNodeLine(b []byte, st Status) []byte {
	b = append(b, "sip:"...)
	b = append(b, u.Host...)
	b = append(b, ':')
	b = append(b, u.Port...)
	b = u.appendProto(b)
	b = append(b, ";status="...)
	return append(b, st.String()...)
}

// AppendChannelURI appends sip:channel@host[:port][;transport=x], the
// R-URI, To and From of a KDMQ request (Kamailio's build_uri_str).
func (u *URI) AppendChannelURI(b []byte, channel string) []byte {
	b = append(b, "sip:"...)
	b = append(b, channel...)
	b = append(b, '@')
	b = append(b, u.Host...)
	if u.Port != "" {
		b = append(b, ':')
		b = append(b, u.Port...)
	}
	return u.appendProto(b)
}

// String returns sip:host:port[;transport=x] (no status).
func (u URI) String() string {
	b := append([]byte("sip:"), u.Host...)
	if u.Port != "" {
		b = append(b, ':')
		b = append(b, u.Port...)
	}
	return string(u.appendProto(b))
}

// PortNum returns the port, 5060 when absent (5061 for sips/tls).
func (u *URI) PortNum() uint16 {
	if u.Port == "" {
		if u.Scheme == "sips" || u.Proto == sipio.TLS {
			return 5061
		}
		return 5060
	}
	n, _ := strconv.Atoi(u.Port)
	return uint16(n)
}

// NodeLine is one parsed line of a node-list body.
type NodeLine struct {
	URI URI
	// Status is the line's status=...; StatusPending when the line has
	// none. HasStatus tells whether it had one.
	Status    Status
	HasStatus bool
	// HasParams reports whether the line had any ;parameters (Kamailio
	// only updates a known node's status from lines with parameters).
	HasParams bool
	// Raw is the line as taken from the body (after Kamailio's trimming).
	Raw string
}

// ErrBadStatus is wrapped by errors for status=... values that are not one
// of active, timeout, disabled, pending.
var ErrBadStatus = errors.New("invalid status")

// ParseNodeLine parses one node-list line.
func ParseNodeLine(line string) (NodeLine, error) {
	u, err := ParseURI(line)
	if err != nil {
		return NodeLine{}, err
	}
	nl := NodeLine{URI: u, Status: StatusPending, HasParams: len(u.Params) > 0, Raw: line}
	for _, p := range u.Params {
		if p.Name == "status" { // Kamailio matches this name case-sensitively
			st, ok := ParseStatus(p.Value)
			if !ok {
				return NodeLine{}, fmt.Errorf("dmq: node %q: %w %q", clipStr(line), ErrBadStatus, clipStr(p.Value))
			}
			nl.Status, nl.HasStatus = st, true
			break
		}
	}
	return nl, nil
}

// SplitNodeList splits a node-list body into lines exactly as Kamailio
// 5.6's extract_node_list does: at each '\n', dropping the last character
// of every line (the '\n' — or, for a final line without a newline, its
// last real character), then trimming trailing spaces, tabs, CRs and LFs.
// Lines that end up empty are returned too (Kamailio fails on them).
func SplitNodeList(body []byte) []string {
	var out []string
	for len(body) > 0 {
		var line []byte
		if i := indexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body[:len(body)-1], nil
		}
		n := len(line)
		for n > 0 {
			c := line[n-1]
			if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
				break
			}
			n--
		}
		out = append(out, string(line[:n]))
	}
	return out
}

// ParseNodeList parses a node-list body. Unlike Kamailio, which stops at
// (and on 5.6 deadlocks after) the first bad line, sipht skips blank and
// invalid lines and reports them in errs.
func ParseNodeList(body []byte) (lines []NodeLine, errs []error) {
	for _, l := range SplitNodeList(body) {
		if l == "" {
			continue
		}
		nl, err := ParseNodeLine(l)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lines = append(lines, nl)
	}
	return lines, errs
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func clipStr(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
