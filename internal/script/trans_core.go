package script

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"
	"strings"
)

// core transformations: {s.*}, {uri.*}, {param.*} (Kamailio's pv module)

func registerCoreTransforms(r *Registry) {
	noParams := func(f TransFunc) func(tc *TransFixupCtx) (TransFunc, error) {
		return func(tc *TransFixupCtx) (TransFunc, error) {
			if err := tc.Done(); err != nil {
				return nil, err
			}
			return f, nil
		}
	}
	add := func(class, name string, fix func(tc *TransFixupCtx) (TransFunc, error)) {
		must(r.AddTransform(Transform{Class: class, Name: name, Fixup: fix}))
	}
	add("s", "len", noParams(trLen))
	add("s", "int", noParams(trInt))
	add("s", "md5", noParams(trMD5))
	add("s", "tolower", noParams(trCase(false)))
	add("s", "toupper", noParams(trCase(true)))
	add("s", "trim", noParams(trTrim(true, true)))
	add("s", "ltrim", noParams(trTrim(true, false)))
	add("s", "rtrim", noParams(trTrim(false, true)))
	add("s", "substr", fixSubstr)
	add("s", "select", fixSelect)
	add("s", "strip", fixStrip(false))
	add("s", "striptail", fixStrip(true))
	add("s", "replace", fixReplace)
	for _, part := range []string{"user", "host", "port", "passwd", "params", "headers", "transport"} {
		add("uri", part, noParams(trURI(part)))
	}
	add("param", "value", fixParamValue(false))
	add("param", "in", fixParamValue(true))
}

// asStr gives the string form of a non-null value (ints in decimal).
func asStr(v Value) (string, bool) {
	switch v.k {
	case KindStr:
		return v.s, true
	case KindInt:
		return strconv.FormatInt(v.i, 10), true
	}
	return "", false
}

func trLen(_ *Ctx, v Value) (Value, bool) {
	switch v.k {
	case KindStr:
		return Int(int64(len(v.s))), true
	case KindInt:
		n := 1
		for x := v.i; x >= 10 || x <= -10; x /= 10 {
			n++
		}
		if v.i < 0 {
			n++
		}
		return Int(int64(n)), true
	}
	return Null, false
}

func trInt(_ *Ctx, v Value) (Value, bool) {
	switch v.k {
	case KindInt:
		return v, true
	case KindStr:
		if v.dual {
			return Int(v.i), true
		}
		if n, ok := parseDecimal(v.s); ok {
			return Int(n), true
		}
	}
	return Null, false
}

func trMD5(_ *Ctx, v Value) (Value, bool) {
	s, ok := asStr(v)
	if !ok {
		return Null, false
	}
	sum := md5.Sum([]byte(s))
	return Str(hex.EncodeToString(sum[:])), true
}

func trCase(upper bool) TransFunc {
	return func(_ *Ctx, v Value) (Value, bool) {
		switch v.k {
		case KindInt:
			return v, true // Kamailio keeps an int as it is
		case KindStr:
			b := []byte(v.s)
			for i, c := range b {
				if upper && c >= 'a' && c <= 'z' {
					b[i] = c - 'a' + 'A'
				} else if !upper && c >= 'A' && c <= 'Z' {
					b[i] = c - 'A' + 'a'
				}
			}
			return Str(string(b)), true
		}
		return Null, false
	}
}

func trTrim(left, right bool) TransFunc {
	return func(_ *Ctx, v Value) (Value, bool) {
		s, ok := asStr(v)
		if !ok {
			return Null, false
		}
		if left {
			s = strings.TrimLeft(s, " \t\r\n")
		}
		if right {
			s = strings.TrimRight(s, " \t\r\n")
		}
		return Str(s), true
	}
}

// {s.substr,offset,length}: offset may be negative (from the end); length 0
// means "to the end".
func fixSubstr(tc *TransFixupCtx) (TransFunc, error) {
	p1, err := tc.IntParam()
	if err != nil {
		return nil, err
	}
	p2, err := tc.IntParam()
	if err != nil {
		return nil, err
	}
	if p2.Const() && p2.n < 0 {
		return nil, tc.Errorf("negative length")
	}
	if err := tc.Done(); err != nil {
		return nil, err
	}
	return func(c *Ctx, v Value) (Value, bool) {
		s, ok := asStr(v)
		if !ok {
			return Null, false
		}
		i64, ok1 := p1.Int(c)
		j64, ok2 := p2.Int(c)
		if !ok1 || !ok2 || j64 < 0 {
			return Null, false
		}
		i, j := int(i64), int(j64)
		n := len(s)
		if i >= 0 {
			if i >= n {
				return Null, false
			}
			if i+j >= n {
				j = 0
			}
			if j == 0 {
				return Str(s[i:]), true
			}
			return Str(s[i : i+j]), true
		}
		i = -i
		if i > n {
			return Null, false
		}
		if i < j {
			j = 0
		}
		if j == 0 {
			return Str(s[n-i:]), true
		}
		return Str(s[n-i : n-i+j]), true
	}, nil
}

// {s.select,index,separator}: the index-th field (negative from the end);
// "" when there are not enough fields.
func fixSelect(tc *TransFixupCtx) (TransFunc, error) {
	p1, err := tc.IntParam()
	if err != nil {
		return nil, err
	}
	sep, err := tc.CharParam()
	if err != nil {
		return nil, err
	}
	if err := tc.Done(); err != nil {
		return nil, err
	}
	return func(c *Ctx, v Value) (Value, bool) {
		s, ok := asStr(v)
		if !ok {
			return Null, false
		}
		n64, ok := p1.Int(c)
		if !ok {
			return Null, false
		}
		idx := int(n64)
		if idx < 0 {
			// walk from the end
			idx = -idx - 1
			end := len(s)
			for p := len(s) - 1; p >= 0; p-- {
				if s[p] == sep {
					if idx == 0 {
						return Str(s[p+1 : end]), true
					}
					end = p
					idx--
				}
			}
			if idx == 0 {
				return Str(s[:end]), true
			}
			return Str(""), true
		}
		start := 0
		for p := 0; p < len(s); p++ {
			if s[p] == sep {
				if idx == 0 {
					return Str(s[start:p]), true
				}
				start = p + 1
				idx--
			}
		}
		if idx == 0 {
			return Str(s[start:]), true
		}
		return Str(""), true
	}, nil
}

// {s.strip,n} removes n characters from the start; {s.striptail,n} from
// the end.
func fixStrip(tail bool) func(tc *TransFixupCtx) (TransFunc, error) {
	return func(tc *TransFixupCtx) (TransFunc, error) {
		p1, err := tc.IntParam()
		if err != nil {
			return nil, err
		}
		if err := tc.Done(); err != nil {
			return nil, err
		}
		return func(c *Ctx, v Value) (Value, bool) {
			s, ok := asStr(v)
			if !ok {
				return Null, false
			}
			n64, ok := p1.Int(c)
			if !ok {
				return Null, false
			}
			n := int(n64)
			switch {
			case n <= 0:
				return Str(s), true
			case n >= len(s):
				return Str(""), true
			case tail:
				return Str(s[:len(s)-n]), true
			}
			return Str(s[n:]), true
		}, nil
	}
}

// {s.replace,match,replacement}: replaces every occurrence.
func fixReplace(tc *TransFixupCtx) (TransFunc, error) {
	p1, err := tc.StrParam()
	if err != nil {
		return nil, err
	}
	p2, err := tc.StrParam()
	if err != nil {
		return nil, err
	}
	if err := tc.Done(); err != nil {
		return nil, err
	}
	return func(c *Ctx, v Value) (Value, bool) {
		s, ok := asStr(v)
		if !ok {
			return Null, false
		}
		from, ok1 := p1.Str(c)
		to, ok2 := p2.Str(c)
		if !ok1 || !ok2 {
			return Null, false
		}
		if from == "" {
			return Str(s), true
		}
		return Str(strings.ReplaceAll(s, from, to)), true
	}, nil
}

// sipURI is the part of a parsed SIP URI the transformations need.
type sipURI struct {
	user, passwd, host, port, params, headers string
}

// parseSIPURI splits sip:/sips:/tel: URIs like Kamailio's parse_uri.
func parseSIPURI(s string) (sipURI, bool) {
	var u sipURI
	colon := strings.IndexByte(s, ':')
	if colon <= 0 {
		return u, false
	}
	scheme := strings.ToLower(s[:colon])
	rest := s[colon+1:]
	switch scheme {
	case "sip", "sips":
	case "tel", "tels":
		// tel:number;params
		num := rest
		if i := strings.IndexByte(num, ';'); i >= 0 {
			u.params = num[i+1:]
			num = num[:i]
		}
		if num == "" {
			return u, false
		}
		u.user = num
		return u, true
	default:
		return u, false
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		u.headers = rest[i+1:]
		rest = rest[:i]
	}
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		ui := rest[:at]
		rest = rest[at+1:]
		if i := strings.IndexByte(ui, ':'); i >= 0 {
			u.passwd = ui[i+1:]
			ui = ui[:i]
		}
		u.user = ui
	}
	if i := strings.IndexByte(rest, ';'); i >= 0 {
		u.params = rest[i+1:]
		rest = rest[:i]
	}
	host := rest
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return u, false
		}
		u.host = host[:end+1]
		host = host[end+1:]
		if host != "" {
			if host[0] != ':' {
				return u, false
			}
			u.port = host[1:]
		}
	} else if i := strings.IndexByte(host, ':'); i >= 0 {
		u.host = host[:i]
		u.port = host[i+1:]
	} else {
		u.host = host
	}
	if u.host == "" {
		return u, false
	}
	if u.port != "" {
		if _, err := strconv.ParseUint(u.port, 10, 16); err != nil {
			return u, false
		}
	}
	return u, true
}

func trURI(part string) TransFunc {
	return func(_ *Ctx, v Value) (Value, bool) {
		if v.k != KindStr || v.s == "" {
			return Null, false
		}
		s := v.s
		if len(s) > 4 && s[len(s)-1] == ';' {
			s = s[:len(s)-1]
		}
		u, ok := parseSIPURI(s)
		if !ok {
			return Null, false
		}
		switch part {
		case "user":
			return Str(u.user), true
		case "host":
			return Str(u.host), true
		case "port":
			return Str(u.port), true
		case "passwd":
			return Str(u.passwd), true
		case "params":
			return Str(u.params), true
		case "headers":
			return Str(u.headers), true
		case "transport":
			return Str(paramValue(u.params, "transport", ';')), true
		}
		return Null, false
	}
}

// paramValue returns the value of name (case-insensitive) in a
// separator-separated "a=1;b=2;c" list; "" when absent or valueless.
func paramValue(s, name string, sep byte) string {
	v, _ := paramLookup(s, name, sep)
	return v
}

func paramLookup(s, name string, sep byte) (string, bool) {
	for len(s) > 0 {
		var item string
		if i := strings.IndexByte(s, sep); i >= 0 {
			item, s = s[:i], s[i+1:]
		} else {
			item, s = s, ""
		}
		n, val, _ := strings.Cut(item, "=")
		if strings.EqualFold(strings.TrimSpace(n), name) {
			val = strings.TrimSpace(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			return val, true
		}
	}
	return "", false
}

// {param.value,name[,sep]} and {param.in,name[,sep]}.
func fixParamValue(in bool) func(tc *TransFixupCtx) (TransFunc, error) {
	return func(tc *TransFixupCtx) (TransFunc, error) {
		p1, err := tc.StrParam()
		if err != nil {
			return nil, err
		}
		sep := byte(';')
		if tc.more() {
			s, err := tc.rawChar()
			if err != nil {
				return nil, err
			}
			sep = s
		}
		if err := tc.Done(); err != nil {
			return nil, err
		}
		return func(c *Ctx, v Value) (Value, bool) {
			if v.k != KindStr || v.s == "" {
				return Null, false
			}
			name, ok := p1.Str(c)
			if !ok {
				return Null, false
			}
			s := v.s
			if len(s) > 1 && s[len(s)-1] == sep {
				s = s[:len(s)-1]
			}
			val, found := paramLookup(s, name, sep)
			if in {
				return Bool(found), true
			}
			return Str(val), true
		}, nil
	}
}

// rawChar reads a one-character parameter (after more() consumed ',').
func (tc *TransFixupCtx) rawChar() (byte, error) {
	if tc.p >= len(tc.Params) {
		return 0, tc.Errorf("missing separator")
	}
	c := tc.Params[tc.p]
	tc.p++
	return c, nil
}
