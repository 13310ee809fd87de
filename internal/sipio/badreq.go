package sipio

import (
	"bytes"
	"net/netip"
	"strings"
)

// rejectGarbage deals with a message that could not be parsed, or a request
// that lacks what a reply needs. When the raw bytes still show a request
// (not an ACK) with a usable top Via, a Call-ID and a CSeq, it is answered
// with "400 Bad Request" built from those raw header lines; anything else is
// dropped. Both are counted. (Kamailio 5.6 silently drops such requests.)
func (s *Server) rejectGarbage(m *Msg, cause error) {
	s.ctr.parseErrors.Add(1)
	bp := getBuf(1024)
	defer putBuf(bp)
	b, hop, ok := s.appendBadRequest((*bp)[:0], m.Raw, m.Source, m.ForceRport)
	*bp = b[:0]
	if !ok {
		s.ctr.drop(DropParseError)
		s.log.Debug("dropped unparsable SIP message", "source", m.Source.String(), "transport", m.Transport.String(), "error", cause)
		return
	}
	if err := s.sendReply(m, &hop, b); err != nil {
		s.ctr.drop(DropParseError)
		s.log.Debug("could not send 400 for unparsable request", "source", m.Source.String(), "error", err)
		return
	}
	s.ctr.badReqSent.Add(1)
	s.ctr.replySent(400)
	s.ctr.drop(DropBadRequest)
	s.log.Debug("answered unparsable SIP request with 400", "source", m.Source.String(), "transport", m.Transport.String(), "error", cause)
}

// rawHeader is one header line found in raw bytes.
type rawHeader struct {
	name, value []byte
}

const maxRawVias = 16

// appendBadRequest builds a 400 for raw, or reports ok=false when raw is not
// an answerable request.
func (s *Server) appendBadRequest(dst, raw []byte, src netip.AddrPort, force bool) (out []byte, hop viaHop, ok bool) {
	line, next, ok := firstLine(raw)
	if !ok || !looksLikeRequestLine(line) {
		return dst, hop, false
	}
	var (
		vias                   [maxRawVias]rawHeader
		nvia                   int
		from, to, callid, cseq rawHeader
		bad                    bool
	)
	scanHeaders(raw, next, func(name, value []byte) bool {
		k := kindOfBytes(name)
		if k == hdrOther || k == hdrRecordRoute || k == hdrContentLength || k == hdrMaxForwards {
			return true
		}
		if bytes.IndexByte(value, '\r') >= 0 || bytes.IndexByte(value, 0) >= 0 || len(value) == 0 {
			if k == hdrVia && nvia == 0 {
				bad = true
				return false
			}
			return true
		}
		h := rawHeader{name, value}
		switch k {
		case hdrVia:
			if nvia < maxRawVias {
				vias[nvia] = h
				nvia++
			}
		case hdrFrom:
			if from.name == nil {
				from = h
			}
		case hdrTo:
			if to.name == nil {
				to = h
			}
		case hdrCallID:
			if callid.name == nil {
				callid = h
			}
		case hdrCSeq:
			if cseq.name == nil {
				cseq = h
			}
		}
		return true
	})
	if bad || nvia == 0 || callid.name == nil || cseq.name == nil {
		return dst, hop, false
	}
	_, method, mok := cseqMethod(bytesString(cseq.value))
	if !mok || strings.EqualFold(method, "ACK") {
		return dst, hop, false
	}
	topv := bytesString(vias[0].value)
	if hop, ok = parseVia(topv); !ok {
		return dst, hop, false
	}
	dst = append(dst, "SIP/2.0 400 Bad Request\r\n"...)
	for i := 0; i < nvia; i++ {
		dst = append(dst, vias[i].name...)
		dst = append(dst, ": "...)
		if i == 0 {
			dst = appendViaValue(dst, topv, &hop, src, force)
		} else {
			dst = append(dst, vias[i].value...)
		}
		dst = append(dst, "\r\n"...)
	}
	if from.name != nil {
		dst = appendRaw(dst, from)
	}
	if to.name != nil {
		dst = append(dst, to.name...)
		dst = append(dst, ": "...)
		dst = append(dst, to.value...)
		if !hasTagParam(bytesString(to.value)) {
			dst = append(dst, ";tag="...)
			dst = s.appendToTag(dst, &hop)
		}
		dst = append(dst, "\r\n"...)
	}
	dst = appendRaw(dst, callid)
	dst = appendRaw(dst, cseq)
	if s.cfg.ServerHeader != "" {
		dst = append(dst, "Server: "...)
		dst = append(dst, s.cfg.ServerHeader...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "Content-Length: 0\r\n\r\n"...)
	return dst, hop, true
}

func appendRaw(dst []byte, h rawHeader) []byte {
	dst = append(dst, h.name...)
	dst = append(dst, ": "...)
	dst = append(dst, h.value...)
	return append(dst, "\r\n"...)
}

// looksLikeRequestLine accepts "TOKEN SP something SP SIP/2.0".
func looksLikeRequestLine(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	for _, c := range line[:sp] {
		if !isToken(c) {
			return false
		}
	}
	const v = "SIP/2.0"
	if len(line) < sp+2+len(v) {
		return false
	}
	tail := line[len(line)-len(v):]
	return line[len(line)-len(v)-1] == ' ' && strings.EqualFold(bytesString(tail), v)
}
