package textops

import (
	"bytes"
	"regexp"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// where says which part of the message a search or replace looks at.
type where uint8

const (
	whereAll            where = iota // the whole message (search)
	whereAfterFirstLine              // from the first header to the end (replace, subst, search_append)
	whereBody                        // the body
	whereHeaders                     // the headers only (replace_hdrs)
)

// region returns the part of the message to work on and its offset in the
// message; ok is false when there is none (no body for the body
// functions, an unparsable message). Like Kamailio's regexec on the
// message buffer, the text ends at the first NUL byte.
func (m *Module) region(c *script.Ctx, w where) (b []byte, off int, ok bool) {
	if c.Msg == nil || len(c.Msg.Raw) == 0 {
		return nil, 0, false
	}
	raw := c.Msg.Raw
	switch w {
	case whereAll:
		b = raw
	default:
		p, okp := m.msgs.Parsed(c)
		if p == nil {
			return nil, 0, false
		}
		switch w {
		case whereAfterFirstLine:
			off = p.HeadersStart
			b = raw[off:]
		case whereHeaders:
			if !okp {
				return nil, 0, false
			}
			off = p.HeadersStart
			b = raw[off:p.HeadersEnd]
			if len(b) == 0 {
				return nil, 0, false
			}
		case whereBody:
			if !okp || p.Body < 0 || p.Body >= len(raw) {
				return nil, 0, false
			}
			off = p.Body
			b = raw[off:]
		}
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return b, off, true
}

func constRegex(fc *script.FixupCtx, i int, flags sipmsg.RegexFlags) (*regexp.Regexp, error) {
	a := fc.Arg(i)
	s, ok := a.ConstString()
	if !ok {
		return nil, a.Errorf("expected a constant regular expression")
	}
	re, err := sipmsg.CompileRegex(s, flags)
	if err != nil {
		return nil, a.Errorf("bad regular expression %q: %v", s, err)
	}
	return re, nil
}

func constString(fc *script.FixupCtx, i int) (string, error) {
	return fc.Arg(i).String()
}

// search(re), search_body(re): does the message (body) match? (icase)
func (m *Module) fixSearch(w where) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		re, err := constRegex(fc, 0, sipmsg.ICase|sipmsg.Newline)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			b, _, ok := m.region(c, w)
			if !ok || len(b) == 0 && w == whereBody {
				return -1
			}
			if re.Match(b) {
				return 1
			}
			return -1
		}, nil
	}
}

// search_append(re, txt): insert txt after the first match.
func (m *Module) fixSearchAppend(w where) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		re, err := constRegex(fc, 0, sipmsg.ICase|sipmsg.Newline)
		if err != nil {
			return nil, err
		}
		txt, err := constString(fc, 1)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			b, off, ok := m.region(c, w)
			if !ok || len(b) == 0 {
				return -1
			}
			loc := re.FindIndex(b)
			if loc == nil {
				return -1
			}
			m.msgs.State(c).Changes.Anchor(off + loc[1]).After(txt)
			return 1
		}, nil
	}
}

// replace(re, txt) and friends: replace the first (or every) match by txt.
func (m *Module) fixReplace(w where, all bool, flags sipmsg.RegexFlags) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		re, err := constRegex(fc, 0, flags)
		if err != nil {
			return nil, err
		}
		txt, err := constString(fc, 1)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			b, off, ok := m.region(c, w)
			if !ok || len(b) == 0 {
				return -1
			}
			ch := &m.msgs.State(c).Changes
			if !all {
				loc := re.FindIndex(b)
				if loc == nil {
					return -1
				}
				ch.Delete(off+loc[0], loc[1]-loc[0]).After(txt)
				return 1
			}
			ret := -1
			for _, loc := range re.FindAllIndex(b, -1) {
				if loc[0] == loc[1] {
					c.Log.Error("textops: matched string is empty, invalid regular expression?", "function", fc.Name)
					return -1
				}
				ch.Delete(off+loc[0], loc[1]-loc[0]).After(txt)
				ret = 1
			}
			return ret
		}, nil
	}
}

// replace_str(match, rpl, mode): replace plain text, the first occurrence
// (mode "f") or all ("a").
func (m *Module) fixReplaceStr(w where) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		var fs [3]*script.Format
		for i := range fs {
			f, err := fc.Arg(i).Format()
			if err != nil {
				return nil, err
			}
			fs[i] = f
		}
		return func(c *script.Ctx) int {
			b, off, ok := m.region(c, w)
			if !ok {
				return -1
			}
			if w == whereBody && len(b) == 0 {
				return -1
			}
			key, rpl, mode := fs[0].String(c), fs[1].String(c), fs[2].String(c)
			if len(b) == 0 || key == "" {
				return 1
			}
			first := mode == "" || mode[0] == 'f' || mode[0] == 'F'
			ch := &m.msgs.State(c).Changes
			pos := 0
			for {
				i := bytes.Index(b[pos:], []byte(key))
				if i < 0 {
					break
				}
				ch.Delete(off+pos+i, len(key)).After(rpl)
				if first {
					return 1
				}
				pos += i + len(key)
			}
			return 1
		}, nil
	}
}

// subst('/re/repl/flags'), subst_body: sed-like replacement on the headers
// and body (or the body only).
func (m *Module) fixSubst(w where) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		se, err := m.substArg(fc)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			b, off, ok := m.region(c, w)
			if !ok || len(b) == 0 {
				return -1
			}
			ms, err := se.run(c, b, func() string { return m.msgs.Dest().RequestURI(c) })
			if err != nil {
				c.Log.Error("textops: subst failed", "function", fc.Name, "err", err)
				return -1
			}
			if len(ms) == 0 {
				return -1
			}
			ch := &m.msgs.State(c).Changes
			for _, mt := range ms {
				ch.Delete(off+mt.off, mt.n).After(mt.text)
			}
			return 1
		}, nil
	}
}

func (m *Module) substArg(fc *script.FixupCtx) (*substExpr, error) {
	a := fc.Arg(0)
	s, ok := a.ConstString()
	if !ok {
		return nil, a.Errorf("expected a constant subst expression")
	}
	se, err := parseSubst(s, fc.ParseFormat)
	if err != nil {
		return nil, a.Errorf("bad subst expression %q: %v", s, err)
	}
	return se, nil
}

// subst_uri('/re/repl/flags'), subst_user: rewrite the R-URI (or its user
// part) with a subst expression.
func (m *Module) fixSubstURI(user bool) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		se, err := m.substArg(fc)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			if c.Msg == nil || c.Msg.Req == nil {
				return -1
			}
			d := m.msgs.Dest()
			cur := d.RequestURI(c)
			uriFn := func() string { return cur }
			if !user {
				res, ok, err := se.substString(c, cur, uriFn)
				if err != nil {
					c.Log.Error("textops: subst_uri failed", "err", err)
					return -1
				}
				if !ok {
					return -1
				}
				if err := d.SetRequestURI(c, res); err != nil {
					c.Log.Error("textops: subst_uri: cannot set the R-URI", "err", err)
					return -1
				}
				return 1
			}
			u, err := sipmsg.ParseURI(cur)
			if err != nil {
				return -1
			}
			res, ok, err := se.substString(c, u.User, uriFn)
			if err != nil || !ok {
				if err != nil {
					c.Log.Error("textops: subst_user failed", "err", err)
				}
				return -1
			}
			nu, err := sipmsg.SetUser(cur, res)
			if err != nil {
				c.Log.Error("textops: subst_user: cannot rewrite the R-URI", "err", err)
				return -1
			}
			if err := d.SetRequestURI(c, nu); err != nil {
				c.Log.Error("textops: subst_user: cannot set the R-URI", "err", err)
				return -1
			}
			return 1
		}, nil
	}
}
