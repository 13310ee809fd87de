package sipmsg

import (
	"bytes"
	"strings"
)

// HeaderType is Kamailio's header type number (hdr_types_t): functions
// that take a header name in the config (is_present_hf, remove_hf,
// append_hf's anchor ...) resolve a known name to its type once, so that
// "Via" also matches "v:" and "call-id" matches "Call-ID" and "i:".
type HeaderType int8

// Header types, numbered as in Kamailio 5.6 (parser/hf.h).
const (
	HdrError              HeaderType = -1
	HdrOther              HeaderType = 0
	HdrVia                HeaderType = 1
	HdrTo                 HeaderType = 3
	HdrFrom               HeaderType = 4
	HdrCSeq               HeaderType = 5
	HdrCallID             HeaderType = 6
	HdrContact            HeaderType = 7
	HdrMaxForwards        HeaderType = 8
	HdrRoute              HeaderType = 9
	HdrRecordRoute        HeaderType = 10
	HdrContentType        HeaderType = 11
	HdrContentLength      HeaderType = 12
	HdrAuthorization      HeaderType = 13
	HdrExpires            HeaderType = 14
	HdrMinExpires         HeaderType = 15
	HdrProxyAuthorization HeaderType = 16
	HdrSupported          HeaderType = 17
	HdrRequire            HeaderType = 18
	HdrProxyRequire       HeaderType = 19
	HdrUnsupported        HeaderType = 20
	HdrAllow              HeaderType = 21
	HdrEvent              HeaderType = 22
	HdrAccept             HeaderType = 23
	HdrAcceptLanguage     HeaderType = 24
	HdrOrganization       HeaderType = 25
	HdrPriority           HeaderType = 26
	HdrSubject            HeaderType = 27
	HdrUserAgent          HeaderType = 28
	HdrServer             HeaderType = 29
	HdrContentDisposition HeaderType = 30
	HdrDiversion          HeaderType = 31
	HdrRemotePartyID      HeaderType = 32
	HdrReferTo            HeaderType = 33
	HdrSIPIfMatch         HeaderType = 34
	HdrSessionExpires     HeaderType = 35
	HdrMinSE              HeaderType = 36
	HdrSubscriptionState  HeaderType = 37
	HdrAcceptContact      HeaderType = 38
	HdrAllowEvents        HeaderType = 39
	HdrContentEncoding    HeaderType = 40
	HdrReferredBy         HeaderType = 41
	HdrRejectContact      HeaderType = 42
	HdrRequestDisposition HeaderType = 43
	HdrWWWAuthenticate    HeaderType = 44
	HdrProxyAuthenticate  HeaderType = 45
	HdrDate               HeaderType = 46
	HdrIdentity           HeaderType = 47
	HdrIdentityInfo       HeaderType = 48
	HdrRetryAfter         HeaderType = 49
	HdrPPreferredIdentity HeaderType = 50
	HdrPAssertedIdentity  HeaderType = 51
	HdrPath               HeaderType = 52
	HdrPrivacy            HeaderType = 53
	HdrReason             HeaderType = 54
	HdrCallInfo           HeaderType = 55
)

// knownHeaders are the names Kamailio 5.6's header-name parser recognises
// (parse_hname2.c), compact forms included.
var knownHeaders = [...]struct {
	name string
	t    HeaderType
}{
	{"a", HdrAcceptContact}, {"Accept", HdrAccept}, {"Accept-Contact", HdrAcceptContact},
	{"Accept-Language", HdrAcceptLanguage}, {"Allow", HdrAllow}, {"Allow-Events", HdrAllowEvents},
	{"Authorization", HdrAuthorization}, {"b", HdrReferredBy}, {"c", HdrContentType},
	{"Call-Id", HdrCallID}, {"Call-Info", HdrCallInfo}, {"Contact", HdrContact},
	{"Content-Disposition", HdrContentDisposition}, {"Content-Encoding", HdrContentEncoding},
	{"Content-Length", HdrContentLength}, {"Content-Type", HdrContentType}, {"CSeq", HdrCSeq},
	{"d", HdrRequestDisposition}, {"Date", HdrDate}, {"Diversion", HdrDiversion},
	{"e", HdrContentEncoding}, {"Event", HdrEvent}, {"Expires", HdrExpires}, {"f", HdrFrom},
	{"From", HdrFrom}, {"i", HdrCallID}, {"Identity", HdrIdentity}, {"Identity-Info", HdrIdentityInfo},
	{"j", HdrRejectContact}, {"k", HdrSupported}, {"l", HdrContentLength}, {"m", HdrContact},
	{"Max-Forwards", HdrMaxForwards}, {"Min-Expires", HdrMinExpires}, {"Min-SE", HdrMinSE},
	{"o", HdrEvent}, {"Organization", HdrOrganization}, {"Path", HdrPath}, {"Priority", HdrPriority},
	{"Privacy", HdrPrivacy}, {"Proxy-Authenticate", HdrProxyAuthenticate},
	{"Proxy-Authorization", HdrProxyAuthorization}, {"Proxy-Require", HdrProxyRequire},
	{"P-Preferred-Identity", HdrPPreferredIdentity}, {"P-Asserted-Identity", HdrPAssertedIdentity},
	{"r", HdrReferTo}, {"Reason", HdrReason}, {"Record-Route", HdrRecordRoute},
	{"Refer-To", HdrReferTo}, {"Referred-By", HdrReferredBy}, {"Reject-Contact", HdrRejectContact},
	{"Remote-Party-ID", HdrRemotePartyID}, {"Request-Disposition", HdrRequestDisposition},
	{"Require", HdrRequire}, {"Retry-After", HdrRetryAfter}, {"Route", HdrRoute}, {"s", HdrSubject},
	{"Server", HdrServer}, {"Session-Expires", HdrSessionExpires}, {"SIP-If-Match", HdrSIPIfMatch},
	{"Subject", HdrSubject}, {"Subscription-State", HdrSubscriptionState}, {"Supported", HdrSupported},
	{"t", HdrTo}, {"To", HdrTo}, {"u", HdrAllowEvents}, {"Unsupported", HdrUnsupported},
	{"User-Agent", HdrUserAgent}, {"v", HdrVia}, {"Via", HdrVia}, {"x", HdrSessionExpires},
	{"y", HdrIdentity}, {"WWW-Authenticate", HdrWWWAuthenticate},
}

// byLen indexes knownHeaders by name length for an allocation-free lookup.
var byLen [24][]int16

func init() {
	for i, k := range knownHeaders {
		byLen[len(k.name)] = append(byLen[len(k.name)], int16(i))
	}
}

// TypeOf returns the header type of a name (case-insensitive, compact
// forms included); HdrOther for names Kamailio does not know.
func TypeOf(name string) HeaderType {
	if len(name) >= len(byLen) {
		return HdrOther
	}
	for _, i := range byLen[len(name)] {
		if strings.EqualFold(knownHeaders[i].name, name) {
			return knownHeaders[i].t
		}
	}
	return HdrOther
}

// HeaderName is a header name given in the config (is_present_hf("X"),
// remove_hf("Via")): a known name matches by type, any other name by
// case-insensitive comparison, as Kamailio's hname fixup does.
type HeaderName struct {
	Name string
	Type HeaderType
}

// NewHeaderName resolves a header name once.
func NewHeaderName(name string) HeaderName {
	return HeaderName{Name: name, Type: TypeOf(name)}
}

// Matches reports whether a header of the message is the named one.
func (n HeaderName) Matches(h *Header) bool {
	if n.Type != HdrOther {
		return h.Type == n.Type
	}
	return h.Type == HdrOther && strings.EqualFold(h.Name, n.Name)
}

// Header is one header field of a raw message. Name and Value are views
// into the raw bytes (valid while they are); Start/End delimit the whole
// field in the raw message, from the first byte of the name to after the
// line end of its last (continuation) line — what remove_hf deletes.
type Header struct {
	Name  string
	Value string // the body without leading/trailing blanks and line end
	Type  HeaderType
	// Start and End delimit the field (End is after its CRLF); ValueStart
	// and ValueEnd delimit Value.
	Start, End           int
	ValueStart, ValueEnd int
}

// Parsed is the header structure of a raw message, found by Parse.
type Parsed struct {
	// FirstLine is the start line without its line end.
	FirstLine string
	// HeadersStart is the offset of the first header (after the start
	// line's line end).
	HeadersStart int
	// Headers in message order.
	Headers []Header
	// HeadersEnd is the offset of the empty line that ends the headers
	// (Kamailio's msg->unparsed after parsing them all): append_hf inserts
	// here.
	HeadersEnd int
	// Body is the offset of the body (after the empty line); -1 when the
	// header section does not end.
	Body int
}

// MaxHeaders bounds how many header fields Parse records: a message with
// more is rejected (Kamailio's parser has no such limit, but a 64 KiB
// datagram cannot hold many more real headers).
const MaxHeaders = 1024

// Parse scans raw (a whole SIP message) into p, reusing p's slices. A line
// ends at LF (a preceding CR is part of the line end); lines starting with
// a blank continue the previous header. It returns false when the start
// line or a header line is malformed (no ':' or an empty name) or there
// are more than MaxHeaders headers; p then holds what was parsed before.
func Parse(raw []byte, p *Parsed) bool {
	p.Headers = p.Headers[:0]
	p.Body, p.HeadersEnd, p.HeadersStart, p.FirstLine = -1, len(raw), 0, ""
	i := bytes.IndexByte(raw, '\n')
	if i < 0 {
		return false
	}
	line := raw[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	p.FirstLine = bstr(line)
	p.HeadersStart = i + 1
	off := i + 1
	for off < len(raw) {
		start := off
		j := bytes.IndexByte(raw[off:], '\n')
		if j < 0 {
			p.HeadersEnd = start
			return false // unterminated header section
		}
		lineEnd := off + j
		next := lineEnd + 1
		content := lineEnd
		if content > off && raw[content-1] == '\r' {
			content--
		}
		if content == off { // the empty line
			p.HeadersEnd = start
			p.Body = next
			return true
		}
		if raw[off] == ' ' || raw[off] == '\t' {
			// continuation without a header before it
			if len(p.Headers) == 0 {
				return false
			}
			h := &p.Headers[len(p.Headers)-1]
			h.End = next
			h.ValueEnd = trimRight(raw, h.ValueStart, content)
			h.Value = bstr(raw[h.ValueStart:h.ValueEnd])
			off = next
			continue
		}
		c := bytes.IndexByte(raw[off:content], ':')
		if c <= 0 {
			return false
		}
		nameEnd := trimRight(raw, off, off+c)
		if nameEnd == off {
			return false
		}
		if len(p.Headers) >= MaxHeaders {
			return false
		}
		vs := off + c + 1
		for vs < content && (raw[vs] == ' ' || raw[vs] == '\t') {
			vs++
		}
		ve := trimRight(raw, vs, content)
		name := bstr(raw[off:nameEnd])
		p.Headers = append(p.Headers, Header{
			Name: name, Value: bstr(raw[vs:ve]), Type: TypeOf(name),
			Start: start, End: next, ValueStart: vs, ValueEnd: ve,
		})
		off = next
	}
	p.HeadersEnd = len(raw)
	return false
}

func trimRight(b []byte, from, to int) int {
	for to > from && (b[to-1] == ' ' || b[to-1] == '\t' || b[to-1] == '\r' || b[to-1] == '\n') {
		to--
	}
	return to
}

// Find returns the first header matching n, or nil.
func (p *Parsed) Find(n HeaderName) *Header {
	for i := range p.Headers {
		if n.Matches(&p.Headers[i]) {
			return &p.Headers[i]
		}
	}
	return nil
}

// FindType returns the first header of type t, or nil.
func (p *Parsed) FindType(t HeaderType) *Header {
	for i := range p.Headers {
		if p.Headers[i].Type == t {
			return &p.Headers[i]
		}
	}
	return nil
}

// IsRequest reports whether the start line is a request line (not
// "SIP/..." as a status line starts).
func (p *Parsed) IsRequest() bool {
	l := p.FirstLine
	return !(len(l) >= 4 && strings.EqualFold(l[:4], "SIP/"))
}

// RequestLine splits a request line into method, URI and version
// (separated by single or multiple blanks). ok is false for a status line
// or a line without three parts.
func RequestLine(line string) (method, uri, version string, ok bool) {
	f := strings.Fields(line)
	if len(f) != 3 || (len(f[0]) >= 4 && strings.EqualFold(f[0][:4], "SIP/")) {
		return "", "", "", false
	}
	return f[0], f[1], f[2], true
}

// EqualHeaderNames compares two header names as Kamailio's cmp_hdrname_str:
// known names by type (so "Via" equals "v"), others case-insensitively,
// trailing blanks ignored.
func EqualHeaderNames(a, b string) bool {
	a = strings.TrimRight(a, " \t\r\n")
	b = strings.TrimRight(b, " \t\r\n")
	ta, tb := TypeOf(a), TypeOf(b)
	if ta != HdrOther || tb != HdrOther {
		return ta == tb
	}
	return strings.EqualFold(a, b)
}
