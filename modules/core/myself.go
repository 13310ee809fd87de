package core

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/sipht/sipht/internal/core"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
)

// Myself decides whether a host (and port) is this server, as Kamailio's
// check_self does for `uri == myself` and is_myself(): the host equals a
// listening socket's name as written in listen= or one of its addresses
// and the port is that socket's (port 0 matches any); or the host is an
// alias= name (an alias without port matches any port); or, with
// auto_aliases=yes, a name found by reverse DNS for a listening address
// when the server started. Host names compare case-insensitively; the
// transport is not compared. Myself is filled when the SIP transport
// starts; before that nothing matches.
type Myself struct {
	set atomic.Pointer[selfSet]
}

type selfSet struct {
	socks   []selfSock
	aliases []core.Alias // lower-case hosts
}

type selfSock struct {
	tp    sipio.Transport
	names []string // lower-case: listen host as written, advertise host
	addrs []netip.Addr
	ports []uint16 // bound port, advertised port
}

// MyselfOf returns the registry's Myself matcher, creating it the first
// time and installing it as the registry's sipmsg.Myself check (so kex's
// is_myself and every `== myself` use the same rules).
func MyselfOf(reg *script.Registry) *Myself {
	return reg.Shared("core.myself", func() any {
		m := &Myself{}
		sipmsg.For(reg).SetMyself(func(host string, port int, tp sipio.Transport) bool {
			if port < 0 || port > 65535 {
				return false
			}
			return m.MatchTransport(host, uint16(port), tp)
		})
		return m
	}).(*Myself)
}

// Build computes the matcher from the open listeners and the core
// parameters. With auto_aliases it does reverse DNS lookups (bounded by
// ctx), so it runs once at start, never per message.
func (m *Myself) Build(ctx context.Context, ls []sipio.Listener, p *core.Params) {
	s := &selfSet{}
	for _, a := range p.Aliases {
		a.Host = strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(a.Host, "["), "]"))
		s.aliases = append(s.aliases, a)
	}
	for _, l := range ls {
		ss := selfSock{tp: l.Transport, ports: []uint16{l.Addr.Port()}}
		if h := strings.ToLower(l.Spec.Host); h != "" {
			ss.names = append(ss.names, strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
		}
		if l.Spec.AdvertiseHost != "" {
			ss.names = append(ss.names, strings.ToLower(l.Spec.AdvertiseHost))
		}
		if l.Spec.AdvertisePort != 0 {
			ss.ports = append(ss.ports, l.Spec.AdvertisePort)
		}
		ss.addrs = append(ss.addrs, l.Addr.Addr().Unmap())
		for _, a := range l.Addrs {
			ss.addrs = append(ss.addrs, a.Unmap())
		}
		s.socks = append(s.socks, ss)
		if p.AutoAliases {
			for _, a := range ss.addrs {
				if a.IsUnspecified() {
					continue
				}
				for _, name := range reverseNames(ctx, a) {
					s.aliases = append(s.aliases, core.Alias{Host: name, Port: int(l.Addr.Port()), Transport: l.Transport.String()})
				}
			}
		}
	}
	m.set.Store(s)
}

// reverseNames returns the names reverse DNS gives for a (at most 2 s).
func reverseNames(ctx context.Context, a netip.Addr) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, a.String())
	if err != nil {
		return nil
	}
	out := names[:0]
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSuffix(n, ".")); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Match reports whether host:port is this server (port 0: any port), over
// any transport. host may be an IPv6 reference in brackets. It does not
// allocate.
func (m *Myself) Match(host string, port uint16) bool { return m.MatchTransport(host, port, 0) }

// MatchTransport is Match for one transport (0: any), as kex's
// is_myself("sip:h;transport=tcp") asks.
func (m *Myself) MatchTransport(host string, port uint16, tp sipio.Transport) bool {
	s := m.set.Load()
	if s == nil || host == "" {
		return false
	}
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	var ip netip.Addr
	ipParsed := false
	for i := range s.socks {
		sk := &s.socks[i]
		if port != 0 && !hasPort(sk.ports, port) || tp != 0 && sk.tp != tp {
			continue
		}
		for _, n := range sk.names {
			if strings.EqualFold(n, host) {
				return true
			}
		}
		if !ipParsed {
			ip, _ = netip.ParseAddr(host)
			ip = ip.Unmap()
			ipParsed = true
		}
		if ip.IsValid() {
			for _, a := range sk.addrs {
				if a == ip {
					return true
				}
			}
		}
	}
	for _, a := range s.aliases {
		if (a.Port == 0 || port == 0 || a.Port == int(port)) && strings.EqualFold(a.Host, host) &&
			(tp == 0 || a.Transport == "" || strings.EqualFold(a.Transport, tp.String())) {
			return true
		}
	}
	return false
}

func hasPort(ps []uint16, p uint16) bool {
	for _, x := range ps {
		if x == p {
			return true
		}
	}
	return false
}

// MatchURI reports whether a URI's host and port (5060, or 5061 with
// transport=tls, when absent: URIPort) are this server. An unparsable URI
// or one without host (tel:) is not.
func (m *Myself) MatchURI(uri string) bool {
	u, err := sipmsg.ParseURI(uri)
	if err != nil {
		return false
	}
	return m.MatchParsed(&u)
}

// MatchParsed is MatchURI for a parsed URI.
func (m *Myself) MatchParsed(u *sipmsg.URI) bool {
	if u.Host == "" {
		return false
	}
	return m.Match(u.Host, URIPort(u))
}

// unsafeString views b as a string without copying; the string must not
// outlive b's contents.
func unsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}
