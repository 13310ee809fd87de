package sipio

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrBadHeader is wrapped by every error about a header name, header value
// or reason phrase that cannot be written into a SIP message.
var ErrBadHeader = errors.New("invalid SIP header")

// CheckHeaderValue returns an error when s cannot be written as a header
// value or reason phrase: it contains CR, LF or NUL (header injection).
// Values that come from the config, htable items, RPC input or DB rows must
// pass through it (or through a builder of this package, which calls it)
// before they reach the wire; sipgo does not check them.
func CheckHeaderValue(s string) error {
	// three vectorised scans beat one byte loop on header-sized strings
	if strings.IndexByte(s, '\n') < 0 && strings.IndexByte(s, '\r') < 0 && strings.IndexByte(s, 0) < 0 {
		return nil
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\r', '\n', 0:
			return fmt.Errorf("%w: value %q contains %s", ErrBadHeader, clip(s), ctlName(s[i]))
		}
	}
	return nil
}

// CheckHeaderName returns an error when s is not a SIP token (RFC 3261 §25.1),
// the only characters a header name may hold.
func CheckHeaderName(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty header name", ErrBadHeader)
	}
	for i := 0; i < len(s); i++ {
		if !isToken(s[i]) {
			return fmt.Errorf("%w: header name %q contains %q", ErrBadHeader, clip(s), s[i])
		}
	}
	return nil
}

func ctlName(c byte) string {
	switch c {
	case '\r':
		return "CR"
	case '\n':
		return "LF"
	}
	return "NUL"
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// checkWire verifies a serialised message whose header section (start line
// included) is b[:len(b)-bodyLen] and that holds nHeaders header fields: no
// NUL, no bare CR or LF, and exactly nHeaders+2 line ends (start line, one per
// header, the empty line). A CR LF smuggled inside a header value adds a line
// and is caught here, whatever API put it there.
func checkWire(b []byte, bodyLen, nHeaders int) error {
	if bodyLen > len(b) {
		return fmt.Errorf("%w: body longer than message", ErrBadHeader)
	}
	h := b[:len(b)-bodyLen]
	if !bytes.HasSuffix(h, []byte("\r\n\r\n")) {
		return fmt.Errorf("%w: header section does not end with an empty line", ErrBadHeader)
	}
	if bytes.IndexByte(h, 0) >= 0 {
		return fmt.Errorf("%w: NUL in header section", ErrBadHeader)
	}
	lines := 0
	for i := 0; i < len(h); i++ {
		switch h[i] {
		case '\r':
			if i+1 >= len(h) || h[i+1] != '\n' {
				return fmt.Errorf("%w: bare CR in header section", ErrBadHeader)
			}
			lines++
			i++
		case '\n':
			return fmt.Errorf("%w: bare LF in header section", ErrBadHeader)
		}
	}
	if lines != nHeaders+2 {
		return fmt.Errorf("%w: CR LF inside a header value or reason phrase", ErrBadHeader)
	}
	return nil
}
