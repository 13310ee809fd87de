package pv

import (
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// transforms returns {nameaddr.uri|name|len} and
// {tobody.uri|display|tag|user|host|params}.
func transforms() []script.Transform {
	var out []script.Transform
	noParams := func(f script.TransFunc) func(tc *script.TransFixupCtx) (script.TransFunc, error) {
		return func(tc *script.TransFixupCtx) (script.TransFunc, error) {
			if err := tc.Done(); err != nil {
				return nil, err
			}
			return f, nil
		}
	}
	for _, part := range []string{"uri", "name", "len"} {
		out = append(out, script.Transform{Class: "nameaddr", Name: part, Fixup: noParams(trNameAddr(part))})
	}
	for _, part := range []string{"uri", "display", "tag", "user", "host", "params"} {
		out = append(out, script.Transform{Class: "tobody", Name: part, Fixup: noParams(trToBody(part))})
	}
	return out
}

// trNameAddr is Kamailio's parse_nameaddr as {nameaddr.*} uses it: name is
// the raw text before the first unquoted '<' (blanks kept), uri what is
// inside <>, len the length up to and including '>'. Without '<' the whole
// value is the URI.
func trNameAddr(part string) script.TransFunc {
	return func(_ *script.Ctx, v script.Value) (script.Value, bool) {
		if !v.IsStr() || v.AsString() == "" {
			return script.Null, false
		}
		s := v.AsString()
		name, uri, n := "", s, len(s)
		if lt := findUnquoted(s, 0, '<'); lt >= 0 {
			gt := findUnquoted(s, lt+1, '>')
			if gt < 0 {
				return script.Null, false
			}
			name, uri, n = s[:lt], s[lt+1:gt], gt+1
		}
		switch part {
		case "uri":
			return script.Str(uri), true
		case "name":
			return script.Str(name), true
		}
		return script.Int(int64(n)), true
	}
}

// findUnquoted returns the index of c in s at or after from, outside
// double quotes, or -1.
func findUnquoted(s string, from int, c byte) int {
	inq := false
	for i := from; i < len(s); i++ {
		switch {
		case s[i] == '"' && (i == 0 || s[i-1] != '\\'):
			inq = !inq
		case s[i] == c && !inq:
			return i
		}
	}
	return -1
}

// trToBody parses the value as a To/From header body.
func trToBody(part string) script.TransFunc {
	return func(_ *script.Ctx, v script.Value) (script.Value, bool) {
		if !v.IsStr() || v.AsString() == "" {
			return script.Null, false
		}
		na, err := sipmsg.ParseNameAddr(v.AsString())
		if err != nil {
			return script.Null, false
		}
		u, err := sipmsg.ParseURI(na.URI)
		if err != nil {
			return script.Null, false
		}
		switch part {
		case "uri":
			return script.Str(na.URI), true
		case "display":
			return script.Str(na.Display), true
		case "tag":
			tag, _ := na.Tag()
			return script.Str(tag), true
		case "user":
			return script.Str(u.User), true
		case "host":
			return script.Str(u.Host), true
		}
		return script.Str(strings.TrimLeft(na.Params, " \t")), true
	}
}

// functions returns pv_isset, pv_unset, is_int, typeof and not_empty.
func functions() []script.Func {
	pvArg := func(writable bool, h func(pv *script.PV) script.Handler) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			pv, err := fc.Arg(0).PV(writable)
			if err != nil {
				return nil, err
			}
			return h(pv), nil
		}
	}
	return []script.Func{
		{Name: "pv_isset", MinArgs: 1, MaxArgs: 1, Fixup: pvArg(false, func(pv *script.PV) script.Handler {
			return func(c *script.Ctx) int {
				if pv.Get(c).IsNull() {
					return -1
				}
				return 1
			}
		})},
		{Name: "pv_unset", MinArgs: 1, MaxArgs: 1, Fixup: pvArg(true, func(pv *script.PV) script.Handler {
			return func(c *script.Ctx) int {
				if err := pv.Set(c, script.Null); err != nil {
					c.Log.Error("pv_unset failed", "err", err)
				}
				return 1
			}
		})},
		{Name: "is_int", MinArgs: 1, MaxArgs: 1, Fixup: pvArg(false, func(pv *script.PV) script.Handler {
			return func(c *script.Ctx) int {
				if pv.Get(c).IsInt() {
					return 1
				}
				return -1
			}
		})},
		{Name: "not_empty", MinArgs: 1, MaxArgs: 1, Fixup: pvArg(false, func(pv *script.PV) script.Handler {
			return func(c *script.Ctx) int {
				if v := pv.Get(c); v.IsStr() && v.AsString() != "" {
					return 1
				}
				return -1
			}
		})},
		{Name: "typeof", MinArgs: 2, MaxArgs: 2, Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			pv, err := fc.Arg(0).PV(false)
			if err != nil {
				return nil, err
			}
			t, err := fc.Arg(1).String()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				v := pv.Get(c)
				var ok bool
				switch {
				case strings.HasPrefix(t, "i"):
					ok = v.IsInt()
				case strings.HasPrefix(t, "s"):
					ok = v.IsStr()
				case strings.HasPrefix(t, "n"):
					ok = v.IsNull()
				}
				if ok {
					return 1
				}
				return -1
			}, nil
		}},
	}
}
