package sipio

import (
	"bytes"
	"strings"
)

// hdrKind names the headers the transport itself needs to recognise.
type hdrKind uint8

const (
	hdrOther hdrKind = iota
	hdrVia
	hdrFrom
	hdrTo
	hdrCallID
	hdrCSeq
	hdrRecordRoute
	hdrContentLength
	hdrMaxForwards
)

// kindOf classifies a header name, full or compact form, case-insensitively,
// without allocating.
func kindOf(name string) hdrKind {
	switch len(name) {
	case 1:
		switch name[0] | 0x20 {
		case 'v':
			return hdrVia
		case 'f':
			return hdrFrom
		case 't':
			return hdrTo
		case 'i':
			return hdrCallID
		case 'l':
			return hdrContentLength
		}
	case 2:
		if strings.EqualFold(name, "to") {
			return hdrTo
		}
	case 3:
		if strings.EqualFold(name, "via") {
			return hdrVia
		}
	case 4:
		if strings.EqualFold(name, "from") {
			return hdrFrom
		}
		if strings.EqualFold(name, "cseq") {
			return hdrCSeq
		}
	case 7:
		if strings.EqualFold(name, "call-id") {
			return hdrCallID
		}
	case 12:
		if strings.EqualFold(name, "record-route") {
			return hdrRecordRoute
		}
		if strings.EqualFold(name, "max-forwards") {
			return hdrMaxForwards
		}
	case 14:
		if strings.EqualFold(name, "content-length") {
			return hdrContentLength
		}
	}
	return hdrOther
}

// kindOfBytes is kindOf for a byte slice; the conversion does not allocate.
func kindOfBytes(name []byte) hdrKind { return kindOf(bytesString(name)) }

// bytesString views b as a string without copying. The string must not
// outlive b's contents.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafeString(b)
}

// firstLine returns the start line of a raw message (without CR LF) and the
// offset of the byte after its line end, or ok=false when there is none.
func firstLine(data []byte) (line []byte, next int, ok bool) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		return nil, 0, false
	}
	line = data[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, i + 1, true
}

// scanHeaders walks the header lines of a raw message that start at off,
// calling fn with each header's name and value, both trimmed. A line ends at
// LF (a preceding CR is dropped). Continuation lines (starting with SP or HT)
// are skipped: this is a best-effort scanner for the transport's own needs
// (TCP framing, matching replies to our requests, answering garbage with 400),
// not a SIP parser. fn returns false to stop. scanHeaders returns the offset
// of the body (after the empty line), or -1 when the header section does not
// end inside data.
func scanHeaders(data []byte, off int, fn func(name, value []byte) bool) int {
	for off < len(data) {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return -1
		}
		line := data[off : off+i]
		off += i + 1
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) == 0 {
			return off
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		if fn != nil && !fn(trimSpace(line[:c]), trimSpace(line[c+1:])) {
			fn = nil // keep walking to find the body offset
		}
	}
	return -1
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isKeepAlive reports whether a datagram or stream prefix holds only CR, LF,
// NUL or blanks: a NAT keep-alive, not a message.
func isKeepAlive(b []byte) bool {
	for _, c := range b {
		switch c {
		case '\r', '\n', 0, ' ', '\t':
		default:
			return false
		}
	}
	return true
}

// isResponseLine reports whether a start line is a status line.
func isResponseLine(line []byte) bool {
	return len(line) >= 8 && (line[0]|0x20) == 's' && (line[1]|0x20) == 'i' &&
		(line[2]|0x20) == 'p' && line[3] == '/'
}

// cseqMethod returns the method part of a CSeq value ("10 KDMQ" -> "KDMQ").
func cseqMethod(v string) (num, method string, ok bool) {
	v = strings.TrimSpace(v)
	i := strings.IndexAny(v, " \t")
	if i <= 0 {
		return "", "", false
	}
	num = v[:i]
	for _, c := range []byte(num) {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	method = strings.TrimSpace(v[i:])
	if method == "" {
		return "", "", false
	}
	return num, method, true
}
