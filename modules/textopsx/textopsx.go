// Package textopsx is Kamailio's textopsx module, the common part:
// msg_apply_changes() (make the script's edits part of the message, so
// $hdr() and the other functions see them), change_reply_status(),
// remove_body(), keep_hf() and fnmatch().
package textopsx

import (
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{
		Name:    "textopsx",
		Summary: "msg_apply_changes, change_reply_status, remove_body, keep_hf, fnmatch",
		New:     func() module.Module { return &Module{} },
	})
}

// Module is the textopsx module.
type Module struct {
	msgs *sipmsg.Msgs
}

// Params returns the module parameters (none).
func (m *Module) Params() []module.Param { return nil }

// Init declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.msgs = sipmsg.For(h.Script)
	replies := script.OnReplyRoute | script.ReplyRoute
	fs := []script.Func{
		{Name: "msg_apply_changes", Routes: script.RequestRoute | replies, Fixup: m.fixApply},
		{Name: "change_reply_status", MinArgs: 2, MaxArgs: 2, Routes: replies, Fixup: m.fixChangeStatus(true)},
		{Name: "change_reply_status_code", MinArgs: 1, MaxArgs: 1, Routes: replies, Fixup: m.fixChangeStatus(false)},
		{Name: "remove_body", Fixup: m.fixRemoveBody},
		{Name: "keep_hf", MinArgs: 0, MaxArgs: 1, Fixup: m.fixKeepHF},
		{Name: "fnmatch", MinArgs: 2, MaxArgs: 3, Fixup: fixFnmatch},
	}
	for _, f := range fs {
		f.Module = "textopsx"
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// msg_apply_changes(): apply the edits to the message itself.
func (m *Module) fixApply(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		if c.Msg == nil {
			return -1
		}
		if m.msgs.State(c).Changes.Len() == 0 {
			return 1
		}
		b, err := m.msgs.Apply(c, false)
		if err != nil {
			c.Log.Error("textopsx: couldn't update msg buffer content", "err", err)
			return -1
		}
		if err := m.msgs.Replace(c, b); err != nil {
			c.Log.Error("textopsx: couldn't update msg buffer content", "err", err)
			return -1
		}
		return 1
	}, nil
}

// change_reply_status(code, reason) / change_reply_status_code(code):
// change the status of a reply being relayed; the class of a provisional
// or 2xx reply cannot change.
func (m *Module) fixChangeStatus(withReason bool) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		cp, err := fc.Arg(0).Int()
		if err != nil {
			return nil, err
		}
		var rf *script.Format
		if withReason {
			if rf, err = fc.Arg(1).Format(); err != nil {
				return nil, err
			}
		}
		return func(c *script.Ctx) int {
			if c.Msg == nil || c.Msg.Res == nil {
				return -1
			}
			res := c.Msg.Res
			code := int(cp.Get(c))
			reason := ""
			if rf != nil {
				if reason = rf.String(c); reason == "" {
					c.Log.Error("textopsx: invalid reason parameter")
					return -1
				}
			}
			if code < 100 || code > 699 {
				c.Log.Error("textopsx: wrong status code", "code", code)
				return -1
			}
			if (code < 300 || res.StatusCode < 300) && code/100 != res.StatusCode/100 {
				c.Log.Error("textopsx: the class of provisional or positive final replies cannot be changed")
				return -1
			}
			p, ok := m.msgs.Parsed(c)
			if !ok {
				return -1
			}
			// the status digits are rewritten in place (after "SIP/2.0 "),
			// the reason phrase through an edit
			line := p.FirstLine
			sp := strings.IndexByte(line, ' ')
			if sp < 0 || sp+4 > len(line) {
				return -1
			}
			if err := m.msgs.SetStatus(c, sp+1, strconv.Itoa(code)); err != nil {
				c.Log.Error("textopsx: cannot change the status", "err", err)
				return -1
			}
			res.StatusCode = code
			if withReason {
				rs := sp + 4
				for rs < len(line) && line[rs] == ' ' {
					rs++
				}
				m.msgs.State(c).Changes.Delete(rs, len(line)-rs).After(reason)
				res.Reason = reason
			}
			return 1
		}, nil
	}
}

// remove_body(): delete the body of the message that will be sent.
func (m *Module) fixRemoveBody(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		p, ok := m.msgs.Parsed(c)
		if !ok || p.Body < 0 || p.Body >= len(c.Msg.Raw) {
			return 1
		}
		m.msgs.State(c).Changes.Delete(p.Body, len(c.Msg.Raw)-p.Body)
		return 1
	}, nil
}

// keep_hf([re]): remove every header except the ones a SIP message needs
// (Via, From, To, Call-ID, CSeq, Contact, Content-Length, Content-Type,
// Route, Record-Route, Max-Forwards) and those whose name matches re.
// Like Kamailio 5.6 it returns -1 even when it worked.
func (m *Module) fixKeepHF(fc *script.FixupCtx) (script.Handler, error) {
	var keep func(string) bool
	if fc.NArgs() == 1 {
		a := fc.Arg(0)
		s, ok := a.ConstString()
		if !ok {
			return nil, a.Errorf("expected a constant regular expression")
		}
		re, err := sipmsg.CompileRegex(s, sipmsg.ICase|sipmsg.Newline)
		if err != nil {
			return nil, a.Errorf("bad regular expression %q: %v", s, err)
		}
		keep = re.MatchString
	}
	return func(c *script.Ctx) int {
		p, ok := m.msgs.Parsed(c)
		if !ok {
			return -1
		}
		ch := &m.msgs.State(c).Changes
		for i := range p.Headers {
			h := &p.Headers[i]
			switch h.Type {
			case sipmsg.HdrFrom, sipmsg.HdrTo, sipmsg.HdrCallID, sipmsg.HdrCSeq, sipmsg.HdrVia,
				sipmsg.HdrContact, sipmsg.HdrContentLength, sipmsg.HdrContentType, sipmsg.HdrRoute,
				sipmsg.HdrRecordRoute, sipmsg.HdrMaxForwards:
				continue
			}
			if keep != nil && keep(h.Name) {
				continue
			}
			ch.Delete(h.Start, h.End-h.Start)
		}
		return -1
	}, nil
}

// fnmatch(value, pattern[, flags]): shell wildcard match ("i" in flags:
// case-insensitive).
func fixFnmatch(fc *script.FixupCtx) (script.Handler, error) {
	vf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	pf, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	var ff *script.Format
	if fc.NArgs() == 3 {
		if ff, err = fc.Arg(2).Format(); err != nil {
			return nil, err
		}
	}
	return func(c *script.Ctx) int {
		v, p := vf.String(c), pf.String(c)
		fold := false
		if ff != nil {
			if f := ff.String(c); f != "" && (f[0] == 'i' || f[0] == 'I') {
				fold = true
			}
		}
		if fold {
			v, p = strings.ToLower(v), strings.ToLower(p)
		}
		if Fnmatch(p, v) {
			return 1
		}
		return -1
	}, nil
}
