package pv

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
	"github.com/sipht/sipht/modules/core"
)

// More of the pv module's transformations, beyond those the script engine
// has ({s.len}, {s.int}, {s.md5}, {s.substr}, {uri.user} ...): hashes,
// encodings, escapes, s.before/s.after, s.count, s.corehash, the rest of
// {uri.*} and {param.*}. Each follows Kamailio 5.6's pv_trans.c: an integer
// input is used as its decimal text; a failed transformation makes the
// value undefined.

// str returns the string form of a defined value.
func trStr(v script.Value) (string, bool) {
	if v.IsNull() {
		return "", false
	}
	return v.AsString(), true
}

func moreTransforms() []script.Transform {
	var out []script.Transform
	add := func(class, name string, fix func(tc *script.TransFixupCtx) (script.TransFunc, error)) {
		out = append(out, script.Transform{Class: class, Name: name, Fixup: fix})
	}
	plain := func(f func(s string) (script.Value, bool)) func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		return func(tc *script.TransFixupCtx) (script.TransFunc, error) {
			if err := tc.Done(); err != nil {
				return nil, err
			}
			return func(_ *script.Ctx, v script.Value) (script.Value, bool) {
				s, ok := trStr(v)
				if !ok {
					return script.Null, false
				}
				return f(s)
			}, nil
		}
	}
	hexOf := func(b []byte) (script.Value, bool) { return script.Str(hex.EncodeToString(b)), true }
	add("s", "sha1", plain(func(s string) (script.Value, bool) { h := sha1.Sum([]byte(s)); return hexOf(h[:]) }))
	add("s", "sha256", plain(func(s string) (script.Value, bool) { h := sha256.Sum256([]byte(s)); return hexOf(h[:]) }))
	add("s", "sha384", plain(func(s string) (script.Value, bool) { h := sha512.Sum384([]byte(s)); return hexOf(h[:]) }))
	add("s", "sha512", plain(func(s string) (script.Value, bool) { h := sha512.Sum512([]byte(s)); return hexOf(h[:]) }))
	add("s", "encode.hexa", plain(func(s string) (script.Value, bool) { return hexOf([]byte(s)) }))
	add("s", "decode.hexa", plain(func(s string) (script.Value, bool) {
		b, err := hex.DecodeString(s[:len(s)/2*2])
		if err != nil {
			return script.Null, false
		}
		return script.Str(string(b)), true
	}))
	add("s", "encode.base64", plain(func(s string) (script.Value, bool) {
		return script.Str(base64.StdEncoding.EncodeToString([]byte(s))), true
	}))
	add("s", "decode.base64", plain(func(s string) (script.Value, bool) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
				return script.Null, false
			}
		}
		if len(b) == 0 && s != "" {
			return script.Null, false
		}
		return script.Str(string(b)), true
	}))
	add("s", "numeric", func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		if err := tc.Done(); err != nil {
			return nil, err
		}
		return func(_ *script.Ctx, v script.Value) (script.Value, bool) {
			if !v.IsStr() {
				return script.Null, false
			}
			s := v.AsString()
			b := make([]byte, 0, len(s))
			for i := 0; i < len(s); i++ {
				if s[i] >= '0' && s[i] <= '9' {
					b = append(b, s[i])
				}
			}
			return script.Str(string(b)), true
		}, nil
	})
	add("s", "escape.common", plain(func(s string) (script.Value, bool) { return script.Str(escapeCommon(s)), true }))
	add("s", "unescape.common", plain(func(s string) (script.Value, bool) { return script.Str(unescapeCommon(s)), true }))
	add("s", "escape.user", plain(func(s string) (script.Value, bool) { return escapeURIPart(s, "-_.!~*'()&=+$,;?") }))
	add("s", "escape.param", plain(func(s string) (script.Value, bool) { return escapeURIPart(s, "-_.!~*'()[]/:&+$") }))
	add("s", "unescape.user", plain(unescapeURIPart))
	add("s", "unescape.param", plain(unescapeURIPart))
	add("s", "unquote", plain(func(s string) (script.Value, bool) {
		if len(s) >= 2 && s[0] == s[len(s)-1] && (s[0] == '"' || s[0] == '\'') {
			s = s[1 : len(s)-1]
		}
		return script.Str(s), true
	}))
	add("s", "unbracket", plain(func(s string) (script.Value, bool) {
		if len(s) >= 2 {
			switch s[0:1] + s[len(s)-1:] {
			case "()", "[]", "{}", "<>":
				s = s[1 : len(s)-1]
			}
		}
		return script.Str(s), true
	}))
	// charParam reads Kamailio's string parameter; for count, before and
	// after (marker=true) the parameter may be the ',' itself:
	// {s.count,,} counts commas.
	charParam := func(name string, marker bool, f func(s string, c byte) script.Value) {
		add("s", name, func(tc *script.TransFixupCtx) (script.TransFunc, error) {
			var p script.TransParam
			var konst string
			raw := strings.TrimLeft(tc.Params, " \t\n")
			if marker && tc.Spec.HasParams && !strings.HasPrefix(raw, "$") {
				end := strings.IndexAny(raw, ",\t\n")
				switch {
				case end < 0:
					konst = raw
				case raw[end] == ',':
					konst = raw[:end+1]
					if strings.TrimSpace(raw[end+1:]) != "" {
						return nil, tc.Errorf("unexpected %q after the parameter", raw[end+1:])
					}
				default:
					konst = raw[:end]
				}
			} else {
				var err error
				if p, err = tc.StrParam(); err != nil {
					return nil, err
				}
				if err := tc.Done(); err != nil {
					return nil, err
				}
				if p.Const() {
					konst, _ = p.Str(nil)
				}
			}
			isConst := marker && tc.Spec.HasParams && !strings.HasPrefix(raw, "$") || p.Const()
			if isConst && konst == "" {
				return nil, tc.Errorf("empty parameter")
			}
			return func(c *script.Ctx, v script.Value) (script.Value, bool) {
				s, ok := trStr(v)
				if !ok {
					return script.Null, false
				}
				ps := konst
				if !isConst {
					if ps, ok = p.Str(c); !ok || ps == "" {
						return script.Null, false
					}
				}
				return f(s, ps[0]), true
			}, nil
		})
	}
	charParam("stripto", false, func(s string, c byte) script.Value {
		if i := strings.IndexByte(s, c); i >= 0 {
			return script.Str(s[i:])
		}
		return script.Str("")
	})
	charParam("before", true, func(s string, c byte) script.Value {
		if i := strings.IndexByte(s, c); i >= 0 {
			return script.Str(s[:i])
		}
		return script.Str(s)
	})
	charParam("after", true, func(s string, c byte) script.Value {
		i := strings.IndexByte(s, c)
		if i < 0 || i >= len(s)-1 {
			return script.Str("")
		}
		return script.Str(s[i+1:])
	})
	charParam("count", true, func(s string, c byte) script.Value {
		return script.Int(int64(strings.Count(s, string(c))))
	})
	prefixes := func(quoted bool) func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		return func(tc *script.TransFixupCtx) (script.TransFunc, error) {
			mp, err := optIntParam(tc)
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx, v script.Value) (script.Value, bool) {
				s, ok := trStr(v)
				if !ok {
					return script.Null, false
				}
				max := len(s)
				if mp != nil {
					n, ok := mp.Int(c)
					if !ok {
						return script.Null, false
					}
					if n > 0 && int(n) < max {
						max = int(n)
					}
				}
				var b strings.Builder
				for i := 1; i <= max; i++ {
					if i > 1 {
						b.WriteByte(',')
					}
					if quoted {
						b.WriteByte('\'')
					}
					b.WriteString(s[:i])
					if quoted {
						b.WriteByte('\'')
					}
				}
				return script.Str(b.String()), true
			}, nil
		}
	}
	add("s", "prefixes", prefixes(false))
	add("s", "prefixes.quoted", prefixes(true))
	add("s", "corehash", func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		sp, err := optIntParam(tc)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx, v script.Value) (script.Value, bool) {
			s, ok := trStr(v)
			if !ok {
				return script.Null, false
			}
			var size uint32
			if sp != nil {
				n, ok := sp.Int(c)
				if !ok {
					return script.Null, false
				}
				size = uint32(n)
			}
			return script.Str(strconv.FormatUint(uint64(CoreHash(s, size)), 10)), true
		}, nil
	})

	// {uri.*} beyond the engine's user/host/port/passwd/params/headers/transport
	uriPart := func(f func(u *sipmsg.URI, raw string) string) func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		return func(tc *script.TransFixupCtx) (script.TransFunc, error) {
			if err := tc.Done(); err != nil {
				return nil, err
			}
			return func(_ *script.Ctx, v script.Value) (script.Value, bool) {
				if !v.IsStr() || v.AsString() == "" {
					return script.Null, false
				}
				u, err := sipmsg.ParseURI(v.AsString())
				if err != nil {
					return script.Null, false
				}
				return script.Str(f(&u, v.AsString())), true
			}, nil
		}
	}
	param := func(name string) func(u *sipmsg.URI, _ string) string {
		return func(u *sipmsg.URI, _ string) string { v, _ := core.URIParam(u, name); return v }
	}
	add("uri", "scheme", uriPart(func(_ *sipmsg.URI, raw string) string {
		s, _, _ := strings.Cut(raw, ":")
		return s
	}))
	for _, p := range []string{"ttl", "lr", "maddr", "method", "r2"} {
		add("uri", p, uriPart(param(p)))
	}
	add("uri", "uparam", uriPart(param("user")))
	add("uri", "tosocket", uriPart(func(u *sipmsg.URI, _ string) string {
		proto := "udp"
		if u.Transport.Set {
			proto = strings.ToLower(u.Transport.Value)
		}
		port := u.PortNo
		if port == 0 {
			port = 5060
		}
		return proto + ":" + u.Host + ":" + strconv.Itoa(port)
	}))
	add("uri", "param", func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		p, err := tc.StrParam()
		if err != nil {
			return nil, err
		}
		if err := tc.Done(); err != nil {
			return nil, err
		}
		return func(c *script.Ctx, v script.Value) (script.Value, bool) {
			if !v.IsStr() || v.AsString() == "" {
				return script.Null, false
			}
			u, err := sipmsg.ParseURI(v.AsString())
			if err != nil {
				return script.Null, false
			}
			name, ok := p.Str(c)
			if !ok || name == "" {
				return script.Null, false
			}
			val, _ := core.URIParam(&u, name)
			return script.Str(val), true
		}, nil
	})

	// {param.count[,sep]}, {param.name,n[,sep]}, {param.valueat,n[,sep]}
	sepParam := func(tc *script.TransFixupCtx) (byte, error) {
		p, err := tc.StrParam()
		if err != nil {
			return 0, err
		}
		s, _ := p.Str(nil)
		if !p.Const() || len(s) != 1 {
			return 0, tc.Errorf("the separator must be one character")
		}
		return s[0], nil
	}
	add("param", "count", func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		sep := byte(';')
		if tc.Spec.HasParams {
			var err error
			if sep, err = sepParam(tc); err != nil {
				return nil, err
			}
		}
		if err := tc.Done(); err != nil {
			return nil, err
		}
		return func(_ *script.Ctx, v script.Value) (script.Value, bool) {
			ps, ok := paramList(v, sep)
			if !ok {
				return script.Null, false
			}
			return script.Int(int64(len(ps))), true
		}, nil
	})
	indexed := func(name bool) func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		return func(tc *script.TransFixupCtx) (script.TransFunc, error) {
			ip, err := tc.IntParam()
			if err != nil {
				return nil, err
			}
			sep := byte(';')
			if s, err := sepParamOpt(tc); err != nil {
				return nil, err
			} else if s != 0 {
				sep = s
			}
			if err := tc.Done(); err != nil {
				return nil, err
			}
			return func(c *script.Ctx, v script.Value) (script.Value, bool) {
				ps, ok := paramList(v, sep)
				if !ok {
					return script.Null, false
				}
				n, ok := ip.Int(c)
				if !ok {
					return script.Null, false
				}
				if n < 0 {
					n += int64(len(ps))
				}
				if n < 0 || n >= int64(len(ps)) {
					return script.Str(""), true
				}
				if name {
					return script.Str(ps[n].name), true
				}
				return script.Str(ps[n].value), true
			}, nil
		}
	}
	add("param", "name", indexed(true))
	add("param", "valueat", indexed(false))
	return out
}

// sepParamOpt reads an optional one-character separator parameter.
func sepParamOpt(tc *script.TransFixupCtx) (byte, error) {
	p, err := tc.StrParam()
	if err != nil {
		return 0, nil // no more parameters
	}
	s, _ := p.Str(nil)
	if !p.Const() || len(s) != 1 {
		return 0, tc.Errorf("the separator must be one character")
	}
	return s[0], nil
}

type nameValue struct{ name, value string }

// paramList splits "a=1;b;c=x" as Kamailio's parse_params2 (a trailing
// separator is ignored; an empty list fails).
func paramList(v script.Value, sep byte) ([]nameValue, bool) {
	if !v.IsStr() || v.AsString() == "" {
		return nil, false
	}
	s := v.AsString()
	if len(s) > 1 && s[len(s)-1] == sep {
		s = s[:len(s)-1]
	}
	var out []nameValue
	for _, p := range strings.Split(s, string(sep)) {
		k, val, _ := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, false
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
			val = val[1 : len(val)-1]
		}
		out = append(out, nameValue{k, val})
	}
	return out, len(out) > 0
}

// CoreHash is Kamailio's case-sensitive core_hash (bytes read as signed
// chars, as on x86); size, a power of two, turns it into a slot index.
func CoreHash(s string, size uint32) uint32 {
	var h, v uint32
	sc := func(i int) uint32 { return uint32(int32(int8(s[i]))) }
	i := 0
	for ; i+4 <= len(s); i += 4 {
		v = sc(i)<<24 + sc(i+1)<<16 + sc(i+2)<<8 + sc(i+3)
		h += v ^ (v >> 3)
	}
	v = 0
	for ; i < len(s); i++ {
		v <<= 8
		v += sc(i)
	}
	h += v ^ (v >> 3)
	h = (h + (h >> 11)) + ((h >> 13) + (h >> 23))
	if size != 0 {
		return h & (size - 1)
	}
	return h
}

func escapeCommon(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case 0:
			b.WriteString("\\0")
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func unescapeCommon(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '\'', '"', '\\':
				b.WriteByte(s[i+1])
				i++
				continue
			case '0':
				b.WriteByte(0)
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapeURIPart %-escapes everything but letters, digits and keep; control
// characters and bytes above 126 fail, as in Kamailio.
func escapeURIPart(s, keep string) (script.Value, bool) {
	const hexd = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c < 32 || c > 126:
			return script.Null, false
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', strings.IndexByte(keep, c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexd[c>>4])
			b.WriteByte(hexd[c&15])
		}
	}
	return script.Str(b.String()), true
}

// unescapeURIPart decodes %xx; a bad escape or one giving a control or
// non-ASCII character fails.
func unescapeURIPart(s string) (script.Value, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return script.Null, false
		}
		n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil || n < 32 || n > 126 {
			return script.Null, false
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return script.Str(b.String()), true
}

// optIntParam reads the optional integer parameter of a transformation
// ({s.prefixes[,n]}, {s.corehash[,size]}), nil when there is none, and
// checks that nothing follows it.
func optIntParam(tc *script.TransFixupCtx) (*script.TransParam, error) {
	var p *script.TransParam
	if tc.Spec.HasParams {
		ip, err := tc.IntParam()
		if err != nil {
			return nil, err
		}
		p = &ip
	}
	if err := tc.Done(); err != nil {
		return nil, err
	}
	return p, nil
}
