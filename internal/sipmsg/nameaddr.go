package sipmsg

import (
	"errors"
	"strings"
)

// NameAddr is a parsed From/To-style header body:
// [display-name] <uri>;params or uri;params. Its strings are substrings of
// the parsed text.
type NameAddr struct {
	// Display is the display name as written: a quoted one keeps its
	// quotes ("\"Alice\""), a token one is trimmed ("Alice Smith"). Empty
	// when absent.
	Display string
	// URI is the address without its angle brackets.
	URI string
	// Params are the header parameters after the address, without the
	// first ';'.
	Params string
	// Tag is the value of the tag parameter ("" when absent).
	Tag string
	// HasTag reports whether a tag parameter is present.
	HasTag bool
}

// ErrNameAddr is returned for a header body that is not a name-addr or
// addr-spec.
var ErrNameAddr = errors.New("bad name-addr")

// ParseNameAddr parses a From/To/Contact-style header body as Kamailio's
// parse_to does: a display name (a quoted string, or tokens) followed by
// <uri>, or a bare URI whose ';' parameters belong to the header; then
// ;name[=value] parameters, of which tag is picked out.
func ParseNameAddr(s string) (NameAddr, error) {
	var na NameAddr
	s = trimLWS(s)
	if s == "" {
		return na, ErrNameAddr
	}
	rest := ""
	switch {
	case s[0] == '"':
		end := quotedEnd(s, 0)
		if end < 0 {
			return na, ErrNameAddr
		}
		na.Display = s[:end+1]
		s = trimLWS(s[end+1:])
		if s == "" || s[0] != '<' {
			return na, ErrNameAddr
		}
		fallthrough
	case s[0] == '<':
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return na, ErrNameAddr
		}
		na.URI = s[1:end]
		rest = trimLWS(s[end+1:])
	default:
		if lt := strings.IndexByte(s, '<'); lt >= 0 {
			// token display name
			na.Display = trimLWS(s[:lt])
			if strings.ContainsAny(na.Display, "\">;") {
				return na, ErrNameAddr
			}
			end := strings.IndexByte(s[lt:], '>')
			if end < 0 {
				return na, ErrNameAddr
			}
			na.URI = s[lt+1 : lt+end]
			rest = trimLWS(s[lt+end+1:])
		} else {
			// addr-spec: the URI ends at the first ';' (or blank)
			end := strings.IndexAny(s, "; \t")
			if end < 0 {
				end = len(s)
			}
			na.URI = s[:end]
			rest = trimLWS(s[end:])
		}
	}
	na.URI = trimLWS(na.URI)
	if na.URI == "" {
		return na, ErrNameAddr
	}
	if rest != "" {
		if rest[0] != ';' {
			return na, ErrNameAddr
		}
		na.Params = rest[1:]
		if v, ok := lookupHeaderParam(na.Params, "tag"); ok {
			na.Tag, na.HasTag = v, true
		}
	}
	return na, nil
}

// lookupHeaderParam is LookupParam for header parameters: ';' separates
// them except inside quoted values.
func lookupHeaderParam(params, name string) (string, bool) {
	for params != "" {
		end := len(params)
		inq := false
		for i := 0; i < len(params); i++ {
			c := params[i]
			if c == '"' {
				inq = !inq
			} else if c == '\\' && inq {
				i++
			} else if c == ';' && !inq {
				end = i
				break
			}
		}
		p := params[:end]
		if end < len(params) {
			params = params[end+1:]
		} else {
			params = ""
		}
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(trimLWS(k), name) {
			return trimLWS(v), true
		}
	}
	return "", false
}

// quotedEnd returns the index of the quote closing the quoted string that
// starts at s[i], honouring backslash escapes, or -1.
func quotedEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// trimLWS trims spaces, tabs, CR and LF at both ends.
func trimLWS(s string) string {
	i, j := 0, len(s)
	for i < j && isLWS(s[i]) {
		i++
	}
	for j > i && isLWS(s[j-1]) {
		j--
	}
	return s[i:j]
}

func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
