package sipmsg

import (
	"errors"
	"strings"
)

// NameAddr is a From/To/Contact-style header value split into its parts.
type NameAddr struct {
	Display string // the display name as written (quotes kept)
	URI     string
	Params  string // the header parameters after the URI, without the first ';'
	// Bracket tells whether the URI was written in <...>.
	Bracket bool
}

// ErrBadNameAddr is returned by ParseNameAddr for a malformed value.
var ErrBadNameAddr = errors.New("malformed name-addr")

// QuotedEnd returns the index of the '"' that closes the quoted string
// at the start of s (s[0] is its opening '"'), skipping characters escaped
// with a backslash, or -1 when the string is not closed.
func QuotedEnd(s string) int {
	for j := 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// ParseNameAddr splits v as `["display"] <uri>;params`, `display <uri>` or
// `uri;params` (where the parameters after a bare URI belong to the
// header, RFC 3261 §20.10). It does not validate the URI.
func ParseNameAddr(v string) (NameAddr, error) {
	var na NameAddr
	s := strings.TrimLeft(v, " \t\r\n")
	i := 0
	if strings.HasPrefix(s, "\"") {
		j := QuotedEnd(s)
		if j < 0 {
			return na, ErrBadNameAddr
		}
		na.Display = s[:j+1]
		i = j + 1
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
		if i >= len(s) || s[i] != '<' {
			return na, ErrBadNameAddr
		}
	}
	rest := s[i:]
	lt := strings.IndexByte(rest, '<')
	semi := strings.IndexByte(rest, ';')
	if lt >= 0 && (semi < 0 || lt < semi || na.Display != "") {
		if na.Display == "" {
			na.Display = strings.TrimRight(rest[:lt], " \t\r\n")
		}
		gt := strings.IndexByte(rest[lt:], '>')
		if gt < 0 {
			return na, ErrBadNameAddr
		}
		na.URI = strings.TrimSpace(rest[lt+1 : lt+gt])
		na.Bracket = true
		after := strings.TrimLeft(rest[lt+gt+1:], " \t\r\n")
		if after != "" {
			if after[0] != ';' {
				return na, ErrBadNameAddr
			}
			na.Params = after[1:]
		}
	} else {
		uri := rest
		if semi >= 0 {
			uri, na.Params = rest[:semi], rest[semi+1:]
		}
		na.URI = strings.TrimSpace(uri)
		if strings.ContainsAny(na.URI, " \t") {
			return na, ErrBadNameAddr
		}
	}
	if na.URI == "" {
		return na, ErrBadNameAddr
	}
	return na, nil
}

// Tag returns the value of the tag parameter of the header and how many
// tag parameters it has (sanity's duptags check counts them).
func (na NameAddr) Tag() (tag string, n int) {
	ParseParams(na.Params, func(p Param) bool {
		if strings.EqualFold(p.Name, "tag") {
			if n == 0 {
				tag = p.Value
			}
			n++
		}
		return true
	})
	return tag, n
}

// SplitComma splits a header value at the commas that separate its
// elements (Via hops, Contacts, Routes), not those inside quotes or <...>.
func SplitComma(v string) []string {
	var out []string
	depth, inQ, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case inQ:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQ = false
			}
		case c == '"':
			inQ = true
		case c == '<':
			depth++
		case c == '>':
			if depth > 0 {
				depth--
			}
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(v[start:]))
}
