// Package kamjson writes JSON text byte for byte as Kamailio's JSON
// printers write it. Kamailio prints JSON with cJSON or its fork srjson
// (jsonrpcs replies, htable's DMQ messages); peers and goldens compare
// the bytes, so sipht's JSON-RPC replies and DMQ payloads share these
// functions rather than encoding/json.
package kamjson

// AppendString appends s as a JSON string escaped as cJSON and srjson
// escape it: quote, backslash and control characters (\b \f \n \r \t, the
// others as \u00XX); other bytes, UTF-8 or not, are copied unchanged.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 31 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			const hex = "0123456789abcdef"
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
