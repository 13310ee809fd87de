package sipio

import (
	"net/netip"
	"strconv"
	"strings"
)

// viaHop is the first via-parm of a Via header value, located without
// allocating: every string is a substring of the value.
type viaHop struct {
	transport string // "UDP", "TCP", ... as written
	host      string // sent-by host, IPv6 brackets removed
	portStr   string // sent-by port as written, "" when absent
	port      int    // 0 when absent
	branch    string // branch parameter value, "" when absent

	hasRport    bool
	rportName   int // offset just past the rport parameter name
	rportEnd    int // offset just past the rport parameter (name[=value])
	hasReceived bool
	receivedVal string // received parameter value
	rportVal    string // rport parameter value ("" when empty or absent)
	end         int    // offset where this via-parm ends (a ',' or the end)
}

// parseVia reads the first via-parm of a Via header value:
//
//	SIP / 2.0 / UDP host[:port] *( ; name [= value] ) [, next-via ...]
func parseVia(v string) (h viaHop, ok bool) {
	i := skipWS(v, 0)
	// sent-protocol: name / version / transport, LWS allowed around '/'.
	for k := 0; k < 2; k++ {
		j := strings.IndexByte(v[i:], '/')
		if j <= 0 {
			return h, false
		}
		i = skipWS(v, i+j+1)
	}
	start := i
	for i < len(v) && isToken(v[i]) {
		i++
	}
	if i == start {
		return h, false
	}
	h.transport = v[start:i]
	if i >= len(v) || (v[i] != ' ' && v[i] != '\t') {
		return h, false // transport and sent-by are separated by LWS
	}
	i = skipWS(v, i)
	// sent-by
	if i < len(v) && v[i] == '[' {
		j := strings.IndexByte(v[i:], ']')
		if j < 0 {
			return h, false
		}
		h.host = v[i+1 : i+j]
		i += j + 1
		if _, err := netip.ParseAddr(h.host); err != nil || !strings.Contains(h.host, ":") {
			return h, false
		}
	} else {
		start = i
		for i < len(v) && isHostChar(v[i]) {
			i++
		}
		h.host = v[start:i]
	}
	if h.host == "" {
		return h, false
	}
	i = skipWS(v, i)
	if i < len(v) && v[i] == ':' {
		i = skipWS(v, i+1)
		start = i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		h.portStr = v[start:i]
		p, err := strconv.Atoi(h.portStr)
		if err != nil || p < 1 || p > 65535 {
			return h, false
		}
		h.port = p
	}
	// parameters
	for {
		last := i // end of the hop so far, before any trailing LWS
		i = skipWS(v, i)
		if i >= len(v) {
			h.end = last
			return h, true
		}
		switch v[i] {
		case ',':
			h.end = last
			return h, true
		case ';':
		default:
			return h, false
		}
		i = skipWS(v, i+1)
		start = i
		for i < len(v) && isToken(v[i]) {
			i++
		}
		name := v[start:i]
		if name == "" {
			return h, false
		}
		nameEnd := i
		var val string
		j := skipWS(v, i)
		if j < len(v) && v[j] == '=' {
			j = skipWS(v, j+1)
			if j < len(v) && v[j] == '"' {
				q, qok := quotedEnd(v, j)
				if !qok {
					return h, false
				}
				val = v[j:q]
				j = q
			} else {
				vs := j
				for j < len(v) && isParamValueChar(v[j]) {
					j++
				}
				val = v[vs:j]
			}
			i = j
		}
		switch {
		case strings.EqualFold(name, "branch"):
			h.branch = val
		case strings.EqualFold(name, "rport"):
			h.hasRport = true
			h.rportName = nameEnd
			h.rportEnd = i
			h.rportVal = val
		case strings.EqualFold(name, "received"):
			h.hasReceived = true
			h.receivedVal = val
		}
	}
}

// quotedEnd returns the offset just past the closing quote of the quoted
// string starting at v[i] == '"'.
func quotedEnd(v string, i int) (int, bool) {
	for j := i + 1; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

func skipWS(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

// isToken reports RFC 3261 token characters.
func isToken(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	switch c {
	case '-', '.', '!', '%', '*', '_', '+', '`', '\'', '~':
		return true
	}
	return false
}

func isHostChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_'
}

// isParamValueChar accepts token characters plus the ones that show up in
// host and IPv6 values (received=[::1], maddr=...).
func isParamValueChar(c byte) bool {
	return isToken(c) || c == ':' || c == '[' || c == ']'
}

// viaHostIs reports whether the Via sent-by host is the IP address ip
// (Kamailio's check: an IP literal equal to the source; names never match).
func viaHostIs(host string, ip netip.Addr) bool {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return a.Unmap() == ip.Unmap() && a.Zone() == ""
}

// needReceived reports whether a reply or forwarded request must carry
// received=<source ip> on this hop: when the client asked for rport, when the
// hop already has a received parameter, or when the sent-by host is not the
// source IP (RFC 3261 §18.2.1, RFC 3581 §4, Kamailio's received_test).
func (h *viaHop) needReceived(src netip.Addr) bool {
	return h.hasRport || h.hasReceived || !viaHostIs(h.host, src)
}

// appendViaValue appends the Via value v (whose first hop is h) with
// received/rport applied for a message from src, the way Kamailio's local
// replies do it: an rport already present gets the source port as its value
// in place; force adds ";rport=<port>" when absent; ";received=<ip>" is then
// appended to the first hop when needReceived says so.
func appendViaValue(dst []byte, v string, h *viaHop, src netip.AddrPort, force bool) []byte {
	rcvd := h.needReceived(src.Addr())
	port := src.Port()
	switch {
	case h.hasRport:
		dst = append(dst, v[:h.rportName]...)
		dst = append(dst, '=')
		dst = strconv.AppendUint(dst, uint64(port), 10)
		dst = append(dst, v[h.rportEnd:h.end]...)
	case force:
		dst = append(dst, v[:h.end]...)
		dst = append(dst, ";rport="...)
		dst = strconv.AppendUint(dst, uint64(port), 10)
	default:
		dst = append(dst, v[:h.end]...)
	}
	if rcvd {
		dst = append(dst, ";received="...)
		dst = src.Addr().Unmap().WithZone("").AppendTo(dst)
	}
	return append(dst, v[h.end:]...)
}
