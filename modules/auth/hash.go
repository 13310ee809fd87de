package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// Algorithm is the digest hash algorithm (auth's "algorithm" modparam).
type Algorithm uint8

// The algorithms Kamailio's auth module knows.
const (
	MD5    Algorithm = iota // the default ("" or "MD5")
	SHA256                  // "SHA-256"
)

// ParseAlgorithm reads the "algorithm" modparam: "" and "MD5" are MD5,
// "SHA-256" is SHA-256 (exact spelling, as Kamailio compares them).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "", "MD5":
		return MD5, nil
	case "SHA-256":
		return SHA256, nil
	}
	return MD5, fmt.Errorf("invalid algorithm %q: possible values are \"\", \"MD5\" or \"SHA-256\"", s)
}

// HexLen is the length of a hex digest: 32 for MD5, 64 for SHA-256.
func (a Algorithm) HexLen() int {
	if a == SHA256 {
		return 64
	}
	return 32
}

// String returns the algorithm's name as written in challenges.
func (a Algorithm) String() string {
	if a == SHA256 {
		return "SHA-256"
	}
	return "MD5"
}

// sum writes the lower-case hex digest of the parts, joined by ':', into
// dst (which must hold HexLen bytes) and returns dst[:HexLen]. The input is
// assembled in a stack buffer, so short inputs do not allocate.
func (a Algorithm) sum(dst []byte, parts ...string) []byte {
	var in [512]byte
	b := in[:0]
	for i, p := range parts {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, p...)
	}
	return a.sumBytes(dst, b)
}

func hexInto(dst, sum []byte) []byte {
	hex.Encode(dst, sum)
	return dst[:2*len(sum)]
}

// HA1 returns H(username:realm:password) in lower-case hex (Kamailio's
// calc_HA1 without -sess). For calculate_ha1 the username is the whole
// digest username, "alice" or "alice@domain".
func (a Algorithm) HA1(dst []byte, username, realm, password string) []byte {
	return a.sum(dst, username, realm, password)
}

// Response computes the expected digest response (RFC 2617 §3.2.2.1, as
// Kamailio's calc_response): HA2 = H(method:uri[:H(body)]) where H(body) is
// only used for qop=auth-int; response = H(HA1:nonce[:nc:cnonce:qop]:HA2),
// the nc/cnonce/qop part only when the credentials carry a non-empty qop.
// ha1 is the hex HA1 as stored or computed. dst must hold HexLen bytes.
func (a Algorithm) Response(dst []byte, ha1 string, c *Credentials, method string, body []byte) []byte {
	var ha2buf [64]byte
	var ha2 []byte
	if c.QOP == QOPAuthInt {
		var hb [64]byte
		hbody := a.sumBytes(hb[:], body)
		ha2 = a.sum(ha2buf[:], method, c.URI, unsafeString(hbody))
	} else {
		ha2 = a.sum(ha2buf[:], method, c.URI)
	}
	if c.QOPText != "" {
		return a.sum(dst, ha1, c.Nonce, c.NC, c.CNonce, c.QOPText, unsafeString(ha2))
	}
	return a.sum(dst, ha1, c.Nonce, unsafeString(ha2))
}

func (a Algorithm) sumBytes(dst, b []byte) []byte {
	if a == SHA256 {
		s := sha256.Sum256(b)
		return hexInto(dst, s[:])
	}
	s := md5.Sum(b)
	return hexInto(dst, s[:])
}

// CheckResponse reports whether the credentials' response matches the one
// computed from ha1, in constant time. Like Kamailio, a response of the
// wrong length is malformed (ok false, malformed true) and the comparison
// is of lower-case hex, byte for byte.
func (a Algorithm) CheckResponse(ha1 string, c *Credentials, method string, body []byte) (ok, malformed bool) {
	if len(c.Response) != a.HexLen() {
		return false, true
	}
	var buf [64]byte
	want := a.Response(buf[:], ha1, c, method, body)
	return subtle.ConstantTimeCompare(want, unsafeBytes(c.Response)) == 1, false
}

// ValidHA1 reports whether s looks like a hex HA1 for the algorithm (used
// to warn about a ha1 column filled for another algorithm).
func (a Algorithm) ValidHA1(s string) bool {
	if len(s) != a.HexLen() {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F')
	}) < 0
}
