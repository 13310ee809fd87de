package sipio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ListenSpec is one socket to open, as a Kamailio `listen=` value describes
// it. ParseListen makes them.
type ListenSpec struct {
	Transport Transport // UDP or TCP (TLS and SCTP parse but the server refuses them)
	Host      string    // IP literal (IPv6 without brackets), host name or interface name
	Port      uint16    // never 0 after ParseListen

	// AdvertiseHost and AdvertisePort are what `advertise` said (0 when no
	// port was given). sipht keeps them for the script ($RAi...) but does not
	// yet use them in Via or Record-Route.
	AdvertiseHost string
	AdvertisePort uint16
	Name          string // the socket name from `name "..."`
}

// String formats the spec the way `kamailio -c` lists it ("udp:127.0.0.1:5060").
func (l ListenSpec) String() string {
	h := l.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return l.Transport.String() + ":" + h + ":" + strconv.Itoa(int(l.Port))
}

// DefaultPort is the SIP port a listen without one gets (Kamailio's `port`
// default); TLS uses 5061.
const DefaultPort = 5060

// ParseListen parses one Kamailio `listen=` value:
//
//	[proto:]addr[:port] [advertise addr[:port]] [name "label"]
//
// proto is udp, tcp, tls or sctp (any case); addr is an IPv4 address, an
// IPv6 address in brackets (or bare when no port follows), a host name or an
// interface name such as "lo"; port 0 or a missing port means 5060 (5061
// for tls). Without proto, Kamailio listens on every enabled protocol, so the
// result holds one UDP and one TCP spec (a caller honouring disable_tcp
// drops the TCP one). Differences from Kamailio 5.6: a port above 65535 is an
// error (Kamailio silently wraps it modulo 65536), and tls/sctp are returned
// so that the server can refuse them with a clear message instead of
// silently not listening.
func ParseListen(spec string) ([]ListenSpec, error) {
	fail := func(format string, a ...any) ([]ListenSpec, error) {
		return nil, fmt.Errorf("listen %q: %s", spec, fmt.Sprintf(format, a...))
	}
	fields := strings.Fields(spec)
	if len(fields) == 0 {
		return fail("empty value")
	}
	var l ListenSpec
	var protos []Transport
	rest := fields[0]
	if i := strings.IndexByte(rest, ':'); i > 0 {
		word, after := rest[:i], rest[i+1:]
		if t, ok := parseProto(word); ok {
			protos = []Transport{t}
			rest = after
		} else if strings.EqualFold(word, "ws") || strings.EqualFold(word, "wss") {
			return fail("%s is not a listen protocol (Kamailio serves WebSocket over tcp/tls sockets)", word)
		} else if strings.Count(rest, ":") == 1 && !allDigits(after) {
			return fail("unknown protocol %q (want udp, tcp, tls or sctp)", word)
		}
	}
	host, port, err := splitHostPort(rest)
	if err != nil {
		return fail("%v", err)
	}
	l.Host, l.Port = host, port
	for i := 1; i < len(fields); i++ {
		switch strings.ToLower(fields[i]) {
		case "advertise":
			if i+1 >= len(fields) {
				return fail("advertise needs an address")
			}
			i++
			h, p, err := splitHostPort(fields[i])
			if err != nil {
				return fail("advertise: %v", err)
			}
			l.AdvertiseHost, l.AdvertisePort = h, p
		case "name":
			if i+1 >= len(fields) {
				return fail("name needs a value")
			}
			i++
			n := fields[i]
			if len(n) >= 2 && n[0] == '"' && n[len(n)-1] == '"' {
				n = n[1 : len(n)-1]
			}
			if n == "" {
				return fail("empty name")
			}
			l.Name = n
		default:
			return fail("unexpected %q (want advertise or name)", fields[i])
		}
	}
	if protos == nil {
		protos = []Transport{UDP, TCP}
	}
	out := make([]ListenSpec, 0, len(protos))
	for _, t := range protos {
		s := l
		s.Transport = t
		if s.Port == 0 {
			s.Port = DefaultPort
			if t == TLS {
				s.Port = DefaultPort + 1
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// parseProto recognises a listen protocol prefix.
func parseProto(s string) (Transport, bool) {
	switch strings.ToLower(s) {
	case "udp":
		return UDP, true
	case "tcp":
		return TCP, true
	case "tls":
		return TLS, true
	case "sctp":
		return SCTP, true
	}
	return 0, false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// splitHostPort splits host[:port], [v6][:port] or a bare IPv6 address.
func splitHostPort(s string) (string, uint16, error) {
	if s == "" {
		return "", 0, errors.New("missing address")
	}
	var host, port string
	switch {
	case s[0] == '[':
		i := strings.IndexByte(s, ']')
		if i < 0 {
			return "", 0, errors.New("missing ] after IPv6 address")
		}
		host = s[1:i]
		r := s[i+1:]
		if r != "" {
			if r[0] != ':' {
				return "", 0, fmt.Errorf("unexpected %q after ]", r)
			}
			port = r[1:]
			if port == "" {
				return "", 0, errors.New("empty port")
			}
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", 0, fmt.Errorf("%q is not an IPv6 address", host)
		}
	case strings.Count(s, ":") > 1:
		// bare IPv6 address, no port possible
		if a, err := netip.ParseAddr(s); err != nil || !a.Is6() {
			return "", 0, fmt.Errorf("%q is not an IPv6 address (put IPv6 addresses with a port in brackets)", s)
		}
		host = s
	default:
		host = s
		if i := strings.IndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
			if port == "" {
				return "", 0, errors.New("empty port")
			}
		}
		if err := checkHostWord(host); err != nil {
			return "", 0, err
		}
	}
	if port == "" {
		return host, 0, nil
	}
	p, err := strconv.ParseUint(port, 10, 32)
	if err != nil {
		return "", 0, fmt.Errorf("port %q is not a number", port)
	}
	if p > 65535 {
		return "", 0, fmt.Errorf("port %d is above 65535", p)
	}
	return host, uint16(p), nil
}

// checkHostWord accepts an IPv4 address, a host name or an interface name.
func checkHostWord(h string) error {
	if h == "" {
		return errors.New("missing address")
	}
	if h == "*" {
		return errors.New("\"*\" is not an address (use 0.0.0.0 or [::])")
	}
	digitsAndDots := true
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("%q is not an IP address, host name or interface name", h)
		}
		if !(c >= '0' && c <= '9' || c == '.') {
			digitsAndDots = false
		}
	}
	if digitsAndDots {
		if _, err := netip.ParseAddr(h); err != nil {
			return fmt.Errorf("%q is not an IPv4 address", h)
		}
	}
	return nil
}

// resolveListenHost turns a spec's host into the addresses to bind: the
// literal itself, the IPv4 addresses of an interface (Kamailio binds IPv6
// interface addresses only with auto_bind_ipv6), or the first address a
// host name resolves to (as Kamailio does).
func resolveListenHost(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	if ifi, err := net.InterfaceByName(host); err == nil {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("interface %s: %w", host, err)
		}
		var v4, v6 []netip.Addr
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := p.Addr().Unmap()
			switch {
			case ip.Is4():
				v4 = append(v4, ip)
			case !ip.IsLinkLocalUnicast():
				v6 = append(v6, ip)
			}
		}
		if len(v4) > 0 {
			return v4, nil
		}
		if len(v6) > 0 {
			return v6, nil
		}
		return nil, fmt.Errorf("interface %s has no usable address", host)
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve %s: no address", host)
	}
	// prefer IPv4 like Kamailio's resolver does
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return []netip.Addr{ip.Unmap()}, nil
		}
	}
	return []netip.Addr{ips[0]}, nil
}
