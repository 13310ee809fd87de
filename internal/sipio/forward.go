package sipio

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"strconv"
	"strings"
)

// Forward relays the request in m statelessly to `to` (Kamailio's forward()):
// it puts our Via on top, with a branch derived from the request so that a
// retransmission is forwarded with the same branch; it applies received/rport
// to the previous top Via as for a reply; everything else (the Request-URI as
// it is now in m.Req, the other headers, the body) is sent as m.Req holds it.
// Max-Forwards is not decremented (the maxfwd module's job) and no
// Record-Route is added. Replies come back to our Via and are relayed by
// ForwardReply.
func (s *Server) Forward(m *Msg, to Target) error {
	if err := s.running(); err != nil {
		return err
	}
	if m == nil || m.Req == nil {
		return errNoRequest
	}
	if !to.Addr.IsValid() || to.Addr.Port() == 0 {
		return fmt.Errorf("sipio: forward: invalid destination %s", to.Addr)
	}
	to.Addr = unmapAP(to.Addr)
	req := m.Req
	if err := CheckHeaderValue(string(req.Method)); err != nil {
		return fmt.Errorf("sipio: forward: method: %w", err)
	}
	var local netip.AddrPort
	var sock *udpSocket
	switch to.Transport {
	case UDP:
		sock = s.udpFor(to.Local, to.Addr.Addr())
		if sock == nil || sock.local.Addr().Is4() != to.Addr.Addr().Is4() {
			return fmt.Errorf("%w (forward over udp to %s)", ErrNoSocket, to.Addr)
		}
		local = sock.local
	case TCP:
		l := s.tcpListenerFor(to.Local, to.Addr.Addr())
		if l == nil {
			return fmt.Errorf("%w (forward over tcp to %s)", ErrNoSocket, to.Addr)
		}
		local = l.local
	default:
		return fmt.Errorf("sipio: cannot forward over %s", to.Transport)
	}
	host, err := s.sentByHost(local, to.Addr)
	if err != nil {
		return err
	}
	uri := req.Recipient.String()
	bp := getBuf(len(m.Raw) + 256)
	defer putBuf(bp)
	b := (*bp)[:0]
	b = append(b, req.Method...)
	b = append(b, ' ')
	b = append(b, uri...)
	b = append(b, " SIP/2.0\r\nVia: SIP/2.0/"...)
	b = append(b, to.Transport.upper()...)
	b = append(b, ' ')
	b = appendHost(b, host)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(local.Port()), 10)
	b = append(b, ";branch="...)
	first := true
	var branchAt int
	b = append(b, "z9hG4bK"...)
	branchAt = len(b)
	b = append(b, "0000000000000000\r\n"...)
	n := 1 // our Via
	h64 := fnv.New64a()
	h64.Write([]byte(uri))
	for _, h := range req.Headers() {
		name, v := h.Name(), h.Value()
		if err := CheckHeaderName(name); err != nil {
			return fmt.Errorf("sipio: forward: %w", err)
		}
		if err := CheckHeaderValue(v); err != nil {
			return fmt.Errorf("sipio: forward: header %s: %w", name, err)
		}
		b = append(b, name...)
		b = append(b, ": "...)
		k := kindOf(name)
		if k == hdrVia && first {
			first = false
			hop, ok := parseVia(v)
			if !ok {
				return fmt.Errorf("sipio: forward: malformed top Via %q", clip(v))
			}
			h64.Write([]byte(v))
			b = appendViaValue(b, v, &hop, m.Source, m.ForceRport)
		} else {
			if k == hdrCallID || k == hdrCSeq || k == hdrFrom {
				h64.Write([]byte(v))
			}
			b = append(b, v...)
		}
		b = append(b, "\r\n"...)
		n++
	}
	if first {
		return errors.New("sipio: forward: request has no Via")
	}
	b = append(b, "\r\n"...)
	b = append(b, req.Body()...)
	var sum [8]byte
	hex.Encode(b[branchAt:branchAt+16], h64.Sum(sum[:0]))
	if err := checkWire(b, len(req.Body()), n); err != nil {
		return fmt.Errorf("sipio: forward: %w", err)
	}
	*bp = b[:0]
	if to.Transport == UDP {
		if len(b) > maxUDPPayload(to.Addr.Addr()) {
			return fmt.Errorf("%w: %d bytes over UDP", ErrTooLarge, len(b))
		}
		if err := s.writeUDP(sock, b, to.Addr); err != nil {
			return err
		}
	} else {
		c, err := s.tcpConnTo(to.Addr, local)
		if err != nil {
			return err
		}
		if err := c.write(b); err != nil {
			return err
		}
	}
	s.ctr.requestsOut.Add(1)
	return nil
}

// ForwardReply relays a reply that came back through a request we forwarded
// statelessly (Kamailio's core reply forwarding): the top Via must be one of
// ours; it is removed and the reply goes to the next Via — its received IP
// (or its host, which must then be an IP address: no DNS here), its rport
// value (or its port, or 5060), over its transport (UDP or TCP).
func (s *Server) ForwardReply(m *Msg) error {
	if err := s.running(); err != nil {
		return err
	}
	if m == nil || m.Res == nil {
		return errors.New("sipio: ForwardReply needs a reply")
	}
	res := m.Res
	if err := CheckHeaderValue(res.Reason); err != nil {
		return fmt.Errorf("sipio: forward reply: reason: %w", err)
	}
	if res.StatusCode < 100 || res.StatusCode > 699 {
		return fmt.Errorf("sipio: forward reply: status %d", res.StatusCode)
	}
	bp := getBuf(len(m.Raw) + 64)
	defer putBuf(bp)
	b := (*bp)[:0]
	b = append(b, "SIP/2.0 "...)
	b = strconv.AppendInt(b, int64(res.StatusCode), 10)
	b = append(b, ' ')
	b = append(b, res.Reason...)
	b = append(b, "\r\n"...)
	stage := 0 // 0: top Via not seen, 1: looking for the next hop, 2: done
	var next viaHop
	n := 0
	for _, h := range res.Headers() {
		name, v := h.Name(), h.Value()
		if err := CheckHeaderName(name); err != nil {
			return fmt.Errorf("sipio: forward reply: %w", err)
		}
		if err := CheckHeaderValue(v); err != nil {
			return fmt.Errorf("sipio: forward reply: header %s: %w", name, err)
		}
		if kindOf(name) == hdrVia && stage < 2 {
			if stage == 0 {
				top, ok := parseVia(v)
				if !ok {
					return fmt.Errorf("sipio: forward reply: malformed top Via %q", clip(v))
				}
				if !s.isOurVia(&top) {
					return fmt.Errorf("sipio: forward reply: top Via %s:%s is not ours", top.host, top.portStr)
				}
				stage = 1
				rest := strings.TrimLeft(v[top.end:], " \t")
				if !strings.HasPrefix(rest, ",") {
					continue // the whole header was our hop
				}
				v = strings.TrimLeft(rest[1:], " \t")
			}
			hop, ok := parseVia(v)
			if !ok {
				return fmt.Errorf("sipio: forward reply: malformed Via %q", clip(v))
			}
			next, stage = hop, 2
		}
		b = append(b, name...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
		n++
	}
	if stage != 2 {
		return errors.New("sipio: forward reply: no Via left after ours")
	}
	b = append(b, "\r\n"...)
	b = append(b, res.Body()...)
	if err := checkWire(b, len(res.Body()), n); err != nil {
		return fmt.Errorf("sipio: forward reply: %w", err)
	}
	*bp = b[:0]
	dst, tp, err := viaDestination(&next)
	if err != nil {
		return fmt.Errorf("sipio: forward reply: %w", err)
	}
	switch tp {
	case UDP:
		u := s.udpFor(netip.AddrPort{}, dst.Addr())
		if u == nil {
			return fmt.Errorf("%w (udp to %s)", ErrNoSocket, dst)
		}
		err = s.writeUDP(u, b, dst)
	case TCP:
		var c *tcpConn
		if c, err = s.tcpConnTo(dst, netip.AddrPort{}); err == nil {
			err = c.write(b)
		}
	}
	if err != nil {
		return err
	}
	s.ctr.replySent(res.StatusCode)
	return nil
}

// isOurVia reports whether a Via hop names one of our sockets.
func (s *Server) isOurVia(h *viaHop) bool {
	ip, err := netip.ParseAddr(h.host)
	if err != nil {
		return false
	}
	port := h.port
	if port == 0 {
		port = DefaultPort
	}
	return s.IsLocal(ip, uint16(port), 0)
}

// viaDestination is where a reply goes per a Via hop (RFC 3261 §18.2.2 with
// RFC 3581): received or host, rport value or port or 5060.
func viaDestination(h *viaHop) (netip.AddrPort, Transport, error) {
	var tp Transport
	switch strings.ToUpper(h.transport) {
	case "UDP":
		tp = UDP
	case "TCP":
		tp = TCP
	default:
		return netip.AddrPort{}, 0, fmt.Errorf("next hop transport %s is not supported", h.transport)
	}
	host := h.host
	if h.receivedVal != "" {
		host = strings.Trim(h.receivedVal, "[]")
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.AddrPort{}, 0, fmt.Errorf("next hop %q is not an IP address (no DNS for reply routing)", host)
	}
	port := DefaultPort
	if h.port != 0 {
		port = h.port
	}
	if h.rportVal != "" {
		p, err := strconv.Atoi(h.rportVal)
		if err != nil || p < 1 || p > 65535 {
			return netip.AddrPort{}, 0, fmt.Errorf("next hop rport %q is invalid", h.rportVal)
		}
		port = p
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), tp, nil
}
