package sipio

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// Field is one header to add to a message we build.
type Field struct {
	Name, Value string
}

// ReplyOptions are the optional parts of a stateless reply. The zero value
// (or a nil pointer) gives Kamailio's plain sl_send_reply shape.
type ReplyOptions struct {
	// Headers are written after the headers copied from the request, in
	// order (Kamailio's append_to_reply lumps, WWW-Authenticate, Contact of a
	// redirect, Retry-After ...). Names and values are checked.
	Headers []Field
	// ContentType is written when Body is not empty.
	ContentType string
	Body        []byte
	// ToTag replaces the derived To-tag (see Server.ToTag) when the request's
	// To has no tag and the code is 180 or more.
	ToTag string
}

// toTagSep separates the per-server prefix from the per-request suffix, as in
// Kamailio's sl tags ("2580992359066b42b513252e6d502cf5.80c4a21b").
const toTagSep = '.'

// ToTag returns the To-tag the server's stateless replies to m carry when the
// request has none: a 32-hex-digit prefix fixed per server (derived from
// Config.TagSecret) and an 8-hex-digit suffix computed from the top Via's
// host, port and branch, so a retransmission gets the same tag — Kamailio's
// sl scheme, which also lets IsLocalToTag recognise the ACK for such a reply.
func (s *Server) ToTag(m *Msg) string {
	hop, ok := topVia(m.Req)
	if !ok {
		return ""
	}
	var b [41]byte
	return string(s.appendToTag(b[:0], &hop))
}

func (s *Server) appendToTag(dst []byte, hop *viaHop) []byte {
	dst = append(dst, s.tagPrefix...)
	dst = append(dst, toTagSep)
	c := fnv32a(s.tagSeed, hop.host)
	c = fnv32a(c, ":")
	c = fnv32a(c, hop.portStr)
	c = fnv32a(c, ";")
	c = fnv32a(c, hop.branch)
	var h [4]byte
	h[0], h[1], h[2], h[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	return hex.AppendEncode(dst, h[:])
}

// fnv32a continues an FNV-1a hash over s.
func fnv32a(h uint32, s string) uint32 {
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// IsLocalToTag reports whether tag was made by this server's ToTag (an ACK
// or CANCEL carrying it belongs to one of our stateless replies).
func (s *Server) IsLocalToTag(tag string) bool {
	return len(tag) == len(s.tagPrefix)+9 && tag[len(s.tagPrefix)] == toTagSep &&
		strings.HasPrefix(tag, s.tagPrefix)
}

func initTag(secret []byte) (prefix string, seed uint32) {
	sum := md5.Sum(append([]byte("sipht-sl-tag:"), secret...))
	return hex.EncodeToString(sum[:]), fnv32a(2166136261, string(secret))
}

// topVia parses the first Via header of a request or reply.
func topVia(msg interface{ Headers() []sip.Header }) (viaHop, bool) {
	if msg == nil {
		return viaHop{}, false
	}
	for _, h := range msg.Headers() {
		if kindOf(h.Name()) == hdrVia {
			return parseVia(h.Value())
		}
	}
	return viaHop{}, false
}

// AppendResponse appends to dst a stateless reply to the request in m, shaped
// like Kamailio's sl_send_reply: status line; the request's Via headers (the
// first with received/rport applied for m.Source, see appendViaValue),
// Record-Route (only for 180-299), From, To (with a To-tag added for codes
// >= 180 when it has none), Call-ID and CSeq, in the request's order; then
// o.Headers, Content-Type, the Server header if configured, Content-Length
// and the body. Every value written is checked for CR, LF and NUL.
func (s *Server) AppendResponse(dst []byte, m *Msg, code int, reason string, o *ReplyOptions) ([]byte, error) {
	b, _, err := s.appendResponse(dst, m, code, reason, o)
	return b, err
}

var errNoRequest = errors.New("sipio: reply to a message that is not a request")

func (s *Server) appendResponse(dst []byte, m *Msg, code int, reason string, o *ReplyOptions) ([]byte, viaHop, error) {
	var hop viaHop
	if m == nil || m.Req == nil {
		return dst, hop, errNoRequest
	}
	if code < 100 || code > 699 {
		return dst, hop, fmt.Errorf("sipio: reply code %d is not in 100..699", code)
	}
	if err := CheckHeaderValue(reason); err != nil {
		return dst, hop, fmt.Errorf("reason phrase: %w", err)
	}
	if o == nil {
		o = &noOptions
	}
	dst = append(dst, "SIP/2.0 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	dst = append(dst, "\r\n"...)
	first, sawTo := true, false
	for _, h := range m.Req.Headers() {
		name := h.Name()
		k := kindOf(name)
		switch k {
		case hdrVia, hdrFrom, hdrTo, hdrCallID, hdrCSeq:
		case hdrRecordRoute:
			if code < 180 || code >= 300 {
				continue
			}
		default:
			continue
		}
		v := h.Value()
		if err := CheckHeaderValue(v); err != nil {
			return dst, hop, fmt.Errorf("request %s header: %w", name, err)
		}
		dst = append(dst, name...)
		dst = append(dst, ": "...)
		switch {
		case k == hdrVia && first:
			first = false
			var ok bool
			if hop, ok = parseVia(v); !ok {
				return dst, hop, fmt.Errorf("sipio: cannot reply: malformed top Via %q", clip(v))
			}
			dst = appendViaValue(dst, v, &hop, m.Source, m.ForceRport)
		case k == hdrTo && !sawTo:
			sawTo = true
			dst = append(dst, v...)
			if code >= 180 && !hasTagParam(v) {
				dst = append(dst, ";tag="...)
				if o.ToTag != "" {
					if err := checkParamValue(o.ToTag); err != nil {
						return dst, hop, fmt.Errorf("To-tag: %w", err)
					}
					dst = append(dst, o.ToTag...)
				} else {
					dst = s.appendToTag(dst, &hop)
				}
			}
		default:
			dst = append(dst, v...)
		}
		dst = append(dst, "\r\n"...)
	}
	if first {
		return dst, hop, errors.New("sipio: cannot reply: request has no Via")
	}
	for _, f := range o.Headers {
		if err := CheckHeaderName(f.Name); err != nil {
			return dst, hop, err
		}
		if err := CheckHeaderValue(f.Value); err != nil {
			return dst, hop, fmt.Errorf("header %s: %w", f.Name, err)
		}
		dst = append(dst, f.Name...)
		dst = append(dst, ": "...)
		dst = append(dst, f.Value...)
		dst = append(dst, "\r\n"...)
	}
	if len(o.Body) > 0 && o.ContentType != "" {
		if err := CheckHeaderValue(o.ContentType); err != nil {
			return dst, hop, fmt.Errorf("Content-Type: %w", err)
		}
		dst = append(dst, "Content-Type: "...)
		dst = append(dst, o.ContentType...)
		dst = append(dst, "\r\n"...)
	}
	if s.cfg.ServerHeader != "" {
		dst = append(dst, "Server: "...)
		dst = append(dst, s.cfg.ServerHeader...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(o.Body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, o.Body...)
	return dst, hop, nil
}

var noOptions ReplyOptions

// checkParamValue rejects what cannot be a header parameter value.
func checkParamValue(v string) error {
	if v == "" {
		return fmt.Errorf("%w: empty parameter value", ErrBadHeader)
	}
	for i := 0; i < len(v); i++ {
		if !isParamValueChar(v[i]) {
			return fmt.Errorf("%w: parameter value %q contains %q", ErrBadHeader, clip(v), v[i])
		}
	}
	return nil
}

// hasTagParam reports whether a To/From header value carries a tag header
// parameter (not a URI parameter inside <...>, not text in a quoted display
// name).
func hasTagParam(v string) bool {
	i := skipWS(v, 0)
	if i < len(v) && v[i] == '"' {
		q, ok := quotedEnd(v, i)
		if !ok {
			return false
		}
		i = q
	}
	if lt := strings.IndexByte(v[i:], '<'); lt >= 0 {
		gt := strings.IndexByte(v[i+lt:], '>')
		if gt < 0 {
			return false
		}
		i += lt + gt + 1
	}
	for {
		semi := strings.IndexByte(v[i:], ';')
		if semi < 0 {
			return false
		}
		i += semi + 1
		j := skipWS(v, i)
		if len(v)-j >= 3 && strings.EqualFold(v[j:j+3], "tag") {
			k := skipWS(v, j+3)
			if k == len(v) || v[k] == '=' || v[k] == ';' {
				return true
			}
		}
	}
}

// Respond sends a stateless reply to the request in m (Kamailio's
// sl_send_reply): built by AppendResponse, routed by replyRoute. It is the
// fast path: no sipgo objects are built.
func (s *Server) Respond(m *Msg, code int, reason string, o *ReplyOptions) error {
	bp := getBuf(1024)
	b, hop, err := s.appendResponse((*bp)[:0], m, code, reason, o)
	if err == nil {
		err = s.sendReply(m, &hop, b)
	}
	*bp = b[:0]
	putBuf(bp)
	if err != nil {
		return err
	}
	s.ctr.replySent(code)
	return nil
}

// NewResponse builds the same reply as AppendResponse as a sipgo Response,
// for code that wants to edit it with sipgo's API before passing it to Reply.
// (sipgo's own sip.NewResponseFromRequest must not be used on messages from
// this package: with the lazy parser its rport/received and To-tag changes go
// to a parsed copy that is never serialised, and it has no source address.)
func (s *Server) NewResponse(m *Msg, code int, reason string, o *ReplyOptions) (*sip.Response, error) {
	b, err := s.AppendResponse(nil, m, code, reason, o)
	if err != nil {
		return nil, err
	}
	msg, err := s.parser.ParseSIP(b)
	if err != nil {
		return nil, fmt.Errorf("sipio: reparse reply: %w", err)
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return nil, errors.New("sipio: built reply did not parse as a reply")
	}
	return res, nil
}

var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Reply sends res, a reply to the request in m, to where m came from (see
// Respond for the routing). The serialised reply is checked for header
// injection first. Reply does not touch res's Via: build res with
// NewResponse to get received/rport and the To-tag right.
func (s *Server) Reply(m *Msg, res *sip.Response) error {
	if m == nil || m.Req == nil {
		return errNoRequest
	}
	if res == nil {
		return errors.New("sipio: nil reply")
	}
	hop, ok := topVia(m.Req)
	if !ok {
		return errors.New("sipio: cannot reply: request has no valid Via")
	}
	buf := bufferPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufferPool.Put(buf)
	res.StringWrite(buf)
	b := buf.Bytes()
	if err := checkWire(b, len(res.Body()), len(res.Headers())); err != nil {
		return fmt.Errorf("reply %d: %w", res.StatusCode, err)
	}
	if err := s.sendReply(m, &hop, b); err != nil {
		return err
	}
	s.ctr.replySent(res.StatusCode)
	return nil
}

// replyAddr is where a reply to a request from src goes (RFC 3261 §18.2.2,
// RFC 3581, Kamailio with reply_to_via=0): the source IP; the source port when
// the request asked for rport (or force_rport was used), else the Via port,
// else 5060.
func replyAddr(src netip.AddrPort, hop *viaHop, force bool) netip.AddrPort {
	port := src.Port()
	if !hop.hasRport && !force {
		port = DefaultPort
		if hop.port != 0 {
			port = uint16(hop.port)
		}
	}
	return netip.AddrPortFrom(src.Addr(), port)
}

// sendReply writes a built reply for m: over UDP from the socket the request
// came in on; over TCP on the request's connection, or when that is gone on a
// connection to the source IP and the Via port (RFC 3261 §18.2.2).
func (s *Server) sendReply(m *Msg, hop *viaHop, b []byte) error {
	switch m.Transport {
	case UDP:
		sock := m.udp
		if sock == nil {
			sock = s.udpFor(m.Local, m.Source.Addr())
			if sock == nil {
				return fmt.Errorf("sipio: no UDP socket to reply from (%s)", m.Local)
			}
		}
		return s.writeUDP(sock, b, replyAddr(m.Source, hop, m.ForceRport))
	case TCP:
		if c := m.conn; c != nil && !c.closed.Load() {
			if err := c.write(b); err == nil {
				return nil
			}
		}
		port := uint16(DefaultPort)
		if hop.port != 0 {
			port = uint16(hop.port)
		}
		c, err := s.tcpConnTo(netip.AddrPortFrom(m.Source.Addr(), port), m.Local)
		if err != nil {
			s.ctr.sendErrors.Add(1)
			return fmt.Errorf("sipio: reply over TCP: %w", err)
		}
		return c.write(b)
	}
	return fmt.Errorf("sipio: cannot reply over %s", m.Transport)
}
