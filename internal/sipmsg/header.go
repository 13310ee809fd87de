package sipmsg

import "strings"

// compact maps the one-letter header names Kamailio knows (RFC 3261 §7.3.3
// and extensions) to their full names.
var compact = [26]string{
	'a' - 'a': "Accept-Contact",
	'b' - 'a': "Referred-By",
	'c' - 'a': "Content-Type",
	'd' - 'a': "Request-Disposition",
	'e' - 'a': "Content-Encoding",
	'f' - 'a': "From",
	'i' - 'a': "Call-ID",
	'j' - 'a': "Reject-Contact",
	'k' - 'a': "Supported",
	'l' - 'a': "Content-Length",
	'm' - 'a': "Contact",
	'o' - 'a': "Event",
	'r' - 'a': "Refer-To",
	's' - 'a': "Subject",
	't' - 'a': "To",
	'u' - 'a': "Allow-Events",
	'v' - 'a': "Via",
	'x' - 'a': "Session-Expires",
	'y' - 'a': "Identity",
}

// FullHeaderName returns the full form of a compact header name ("f" ->
// "From", "I" -> "Call-ID") and any other name unchanged. It does not
// allocate.
func FullHeaderName(name string) string {
	if len(name) == 1 {
		c := name[0] | 0x20
		if c >= 'a' && c <= 'z' {
			if full := compact[c-'a']; full != "" {
				return full
			}
		}
	}
	return name
}

// HeaderNameEqual reports whether two header names name the same header:
// case-insensitively, a compact form equal to its full form ("f" and
// "From"), as Kamailio matches known header types.
func HeaderNameEqual(a, b string) bool {
	return strings.EqualFold(FullHeaderName(a), FullHeaderName(b))
}

// ValidHeaderName reports whether name is a header name Kamailio's parser
// accepts: letters, digits and - . _ + ~ only, not empty.
func ValidHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) && c != '-' && c != '.' && c != '_' && c != '+' && c != '~' {
			return false
		}
	}
	return true
}

// RequestLine splits the first line of a raw SIP request ("OPTIONS
// sip:a@b SIP/2.0") into its method, Request-URI and version. raw may hold
// the whole message; only its first line is read.
func RequestLine(raw string) (method, uri, version string, ok bool) {
	line := raw
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = strings.TrimSuffix(line, "\r")
	sp1 := strings.IndexByte(line, ' ')
	if sp1 <= 0 {
		return "", "", "", false
	}
	sp2 := strings.LastIndexByte(line, ' ')
	if sp2 <= sp1+1 || sp2 == len(line)-1 {
		return "", "", "", false
	}
	return line[:sp1], line[sp1+1 : sp2], line[sp2+1:], true
}
