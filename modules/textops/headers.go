package textops

import (
	"regexp"
	"time"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// hnameArg reads a constant header-name argument (Kamailio's hname_fixup:
// the name is not a format, "$x" is taken literally).
func hnameArg(fc *script.FixupCtx, i int) (sipmsg.HeaderName, error) {
	a := fc.Arg(i)
	s, ok := a.ConstString()
	if !ok {
		return sipmsg.HeaderName{}, a.Errorf("expected a constant header name")
	}
	if s == "" {
		return sipmsg.HeaderName{}, a.Errorf("empty header name")
	}
	return sipmsg.NewHeaderName(s), nil
}

// dynName resolves a header name computed at run time (remove_hf_pv ...).
func dynName(s string) (sipmsg.HeaderName, bool) {
	if s == "" || len(s) > 252 {
		return sipmsg.HeaderName{}, false
	}
	return sipmsg.NewHeaderName(s), true
}

// append_hf(txt[, hdr]) / insert_hf(txt[, hdr]): add header text after the
// last header (after the last hdr) or before the first header (before the
// first hdr).
func (m *Module) fixAddHF(insert bool) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		txt, err := fc.Arg(0).Format()
		if err != nil {
			return nil, err
		}
		var anchor *sipmsg.HeaderName
		if fc.NArgs() == 2 {
			n, err := hnameArg(fc, 1)
			if err != nil {
				return nil, err
			}
			anchor = &n
		}
		return func(c *script.Ctx) int {
			p, ok := m.msgs.Parsed(c)
			if !ok || len(p.Headers) == 0 {
				c.Log.Error("textops: error while parsing message", "function", fc.Name)
				return -1
			}
			var at *sipmsg.Header
			if anchor != nil {
				for i := range p.Headers {
					if anchor.Matches(&p.Headers[i]) {
						at = &p.Headers[i]
						if insert {
							break
						}
					}
				}
			}
			var off int
			switch {
			case !insert && at == nil:
				off = p.HeadersEnd
			case !insert:
				off = at.End
			case at == nil:
				off = p.Headers[0].Start
			default:
				off = at.Start
			}
			s := txt.String(c)
			if s == "" {
				return -1 // "nothing to add"
			}
			m.msgs.State(c).Changes.Anchor(off).Before(s)
			return 1
		}, nil
	}
}

// append_urihf(prefix, suffix): append prefix + the request URI as
// received + suffix after the last header.
func (m *Module) fixAppendURIHF(fc *script.FixupCtx) (script.Handler, error) {
	prefix, err := constString(fc, 0)
	if err != nil {
		return nil, err
	}
	suffix, err := constString(fc, 1)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		p, ok := m.msgs.Parsed(c)
		if !ok || len(p.Headers) == 0 {
			return -1
		}
		_, uri, _, okr := sipmsg.RequestLine(p.FirstLine)
		if !okr {
			return -1
		}
		m.msgs.State(c).Changes.Anchor(p.HeadersEnd).Before(prefix + uri + suffix)
		return 1
	}, nil
}

// removeHeaders deletes every header for which match is true; it returns
// 1 when one was removed, -1 otherwise.
func (m *Module) removeHeaders(c *script.Ctx, match func(h *sipmsg.Header) bool) int {
	p, ok := m.msgs.Parsed(c)
	if !ok {
		return -1
	}
	ch := &m.msgs.State(c).Changes
	n := 0
	for i := range p.Headers {
		h := &p.Headers[i]
		if match(h) {
			ch.Delete(h.Start, h.End-h.Start)
			n++
		}
	}
	if n == 0 {
		return -1
	}
	return 1
}

func (m *Module) fixRemoveHF(fc *script.FixupCtx) (script.Handler, error) {
	n, err := hnameArg(fc, 0)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		return m.removeHeaders(c, n.Matches)
	}, nil
}

// reNameMatch matches a regular expression against a header name.
func reNameMatch(re *regexp.Regexp) func(h *sipmsg.Header) bool {
	return func(h *sipmsg.Header) bool { return re.MatchString(h.Name) }
}

func (m *Module) fixRemoveHFRe(fc *script.FixupCtx) (script.Handler, error) {
	re, err := constRegex(fc, 0, sipmsg.ICase|sipmsg.Newline)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int { return m.removeHeaders(c, reNameMatch(re)) }, nil
}

// remove_hf_exp(match_re, skip_re): remove the headers whose name matches
// the first expression and not the second.
func (m *Module) fixRemoveHFExp(fc *script.FixupCtx) (script.Handler, error) {
	mre, err := constRegex(fc, 0, sipmsg.ICase|sipmsg.Newline)
	if err != nil {
		return nil, err
	}
	sre, err := constRegex(fc, 1, sipmsg.ICase|sipmsg.Newline)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		return m.removeHeaders(c, func(h *sipmsg.Header) bool {
			return !sre.MatchString(h.Name) && mre.MatchString(h.Name)
		})
	}, nil
}

func (m *Module) fixRemoveHFPV(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		n, ok := dynName(f.String(c))
		if !ok {
			return -1
		}
		return m.removeHeaders(c, n.Matches)
	}, nil
}

// remove_hf_idx(name, idx): remove the idx-th header of that name
// (negative: from the end). 1 removed (or nothing to do), 2 not found.
func (m *Module) fixRemoveHFIdx(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	idx, err := fc.Arg(1).Int()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		n, ok := dynName(f.String(c))
		if !ok {
			return -1
		}
		p, okp := m.msgs.Parsed(c)
		if !okp {
			return -1
		}
		var hs []*sipmsg.Header
		for i := range p.Headers {
			if n.Matches(&p.Headers[i]) {
				hs = append(hs, &p.Headers[i])
			}
		}
		pos := int(idx.Get(c))
		if pos < 0 {
			pos += len(hs)
			if pos < 0 {
				return 1
			}
		}
		if pos >= len(hs) {
			return 2
		}
		h := hs[pos]
		m.msgs.State(c).Changes.Delete(h.Start, h.End-h.Start)
		return 1
	}, nil
}

func (m *Module) isPresent(c *script.Ctx, match func(h *sipmsg.Header) bool) int {
	p, ok := m.msgs.Parsed(c)
	if !ok {
		return -1
	}
	for i := range p.Headers {
		if match(&p.Headers[i]) {
			return 1
		}
	}
	return -1
}

func (m *Module) fixIsPresentHF(fc *script.FixupCtx) (script.Handler, error) {
	n, err := hnameArg(fc, 0)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int { return m.isPresent(c, n.Matches) }, nil
}

func (m *Module) fixIsPresentHFRe(fc *script.FixupCtx) (script.Handler, error) {
	re, err := constRegex(fc, 0, sipmsg.ICase|sipmsg.Newline)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int { return m.isPresent(c, reNameMatch(re)) }, nil
}

func (m *Module) fixIsPresentHFPV(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		n, ok := dynName(f.String(c))
		if !ok {
			return -1
		}
		return m.isPresent(c, n.Matches)
	}, nil
}

// append_to_reply(txt): header text for the next stateless reply.
func (m *Module) fixAppendToReply(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		if c.Msg == nil {
			return -1
		}
		if err := m.msgs.AddReplyHeaders(c, f.String(c)); err != nil {
			c.Log.Error("textops: append_to_reply: unable to add the header", "err", err)
			return -1
		}
		return 1
	}, nil
}

// append_time(): a Date header (now, GMT) for the next stateless reply.
func (m *Module) fixAppendTime(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		if c.Msg == nil {
			return -1
		}
		d := time.Now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")
		if err := m.msgs.AddReplyHeaders(c, "Date: "+d+"\r\n"); err != nil {
			return -1
		}
		return 1
	}, nil
}

// hfFlag reads the optional flags argument of search_hf / subst_hf: 'f'
// for the first header, 'l' for the last, anything else for all.
func hfFlag(fc *script.FixupCtx, i int) (byte, error) {
	if fc.NArgs() <= i {
		return 0, nil
	}
	s, err := fc.Arg(i).String()
	if err != nil || s == "" {
		return 0, err
	}
	return s[0], nil
}

// search_hf(hf, re, flags): the body of a header called hf matches re:
// any of them, the first ('f') or the last ('l').
func (m *Module) fixSearchHF(fc *script.FixupCtx) (script.Handler, error) {
	n, err := hnameArg(fc, 0)
	if err != nil {
		return nil, err
	}
	re, err := constRegex(fc, 1, sipmsg.ICase|sipmsg.Newline)
	if err != nil {
		return nil, err
	}
	flag, err := hfFlag(fc, 2)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		p, ok := m.msgs.Parsed(c)
		if !ok {
			return -1
		}
		var last *sipmsg.Header
		for i := range p.Headers {
			h := &p.Headers[i]
			if !n.Matches(h) {
				continue
			}
			if flag == 'l' {
				last = h
				continue
			}
			if re.MatchString(h.Value) {
				return 1
			}
			if flag == 'f' {
				return -1
			}
		}
		if last != nil && re.MatchString(last.Value) {
			return 1
		}
		return -1
	}, nil
}

// subst_hf(hf, '/re/repl/flags', flags): subst on the body of the headers
// called hf (all, the first 'f' or the last 'l').
func (m *Module) fixSubstHF(fc *script.FixupCtx) (script.Handler, error) {
	n, err := hnameArg(fc, 0)
	if err != nil {
		return nil, err
	}
	a := fc.Arg(1)
	s, ok := a.ConstString()
	if !ok {
		return nil, a.Errorf("expected a constant subst expression")
	}
	se, err := parseSubst(s, fc.ParseFormat)
	if err != nil {
		return nil, a.Errorf("bad subst expression %q: %v", s, err)
	}
	flag, err := hfFlag(fc, 2)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		p, ok := m.msgs.Parsed(c)
		if !ok {
			return -1
		}
		uri := func() string { return m.msgs.Dest().RequestURI(c) }
		ch := &m.msgs.State(c).Changes
		raw := c.Msg.Raw
		apply := func(h *sipmsg.Header) (int, bool) {
			ms, err := se.run(c, raw[h.ValueStart:h.ValueEnd], uri)
			if err != nil {
				c.Log.Error("textops: subst_hf failed", "err", err)
				return -1, false
			}
			for _, mt := range ms {
				ch.Delete(h.ValueStart+mt.off, mt.n).After(mt.text)
			}
			return len(ms), true
		}
		ret := -1
		var last *sipmsg.Header
		for i := range p.Headers {
			h := &p.Headers[i]
			if !n.Matches(h) {
				continue
			}
			if flag == 'l' {
				last = h
			} else {
				k, ok := apply(h)
				if !ok {
					return -1
				}
				if k == 0 && flag == 'f' {
					return -1
				}
				if k > 0 {
					ret = 1
				}
			}
			if flag == 'f' {
				return ret
			}
		}
		if last != nil {
			k, ok := apply(last)
			if !ok || k == 0 {
				return -1
			}
			ret = 1
		}
		return ret
	}, nil
}

// dynRegex compiles a regular expression computed at run time (the *_pv
// functions), icase and newline-sensitive as Kamailio's.
func dynRegex(c *script.Ctx, f *script.Format) (*regexp.Regexp, bool) {
	s := f.String(c)
	if s == "" {
		return nil, false
	}
	re, err := sipmsg.CompileRegex(s, sipmsg.ICase|sipmsg.Newline)
	if err != nil {
		c.Log.Error("textops: failed to compile regex", "re", s, "err", err)
		return nil, false
	}
	return re, true
}

func (m *Module) fixRemoveHFRePV(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		re, ok := dynRegex(c, f)
		if !ok {
			return -1
		}
		return m.removeHeaders(c, reNameMatch(re))
	}, nil
}

func (m *Module) fixRemoveHFExpPV(fc *script.FixupCtx) (script.Handler, error) {
	mf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	sf, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		mre, ok := dynRegex(c, mf)
		if !ok {
			return -1
		}
		sre, ok := dynRegex(c, sf)
		if !ok {
			return -1
		}
		return m.removeHeaders(c, func(h *sipmsg.Header) bool {
			return !sre.MatchString(h.Name) && mre.MatchString(h.Name)
		})
	}, nil
}

func (m *Module) fixIsPresentHFRePV(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		re, ok := dynRegex(c, f)
		if !ok {
			return -1
		}
		return m.isPresent(c, reNameMatch(re))
	}, nil
}
