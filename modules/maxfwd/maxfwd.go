// Package maxfwd is Kamailio's maxfwd module: mf_process_maxfwd_header()
// decrements the Max-Forwards header in place (or adds one when missing)
// and is false when it reached 0, so the script can answer 483;
// is_maxfwd_lt() compares it with a limit.
package maxfwd

import (
	"fmt"
	"strconv"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{
		Name:    "maxfwd",
		Summary: "Max-Forwards processing: mf_process_maxfwd_header, is_maxfwd_lt",
		New:     func() module.Module { return &Module{maxLimit: 70} },
	})
}

// Module is the maxfwd module.
type Module struct {
	maxLimit int
	msgs     *sipmsg.Msgs
}

// Params returns max_limit (0..255, default 70): a larger received value
// is lowered to it.
func (m *Module) Params() []module.Param {
	return []module.Param{{Name: "max_limit", Kind: module.ParamInt, Doc: "highest Max-Forwards value kept (0..255)",
		Set: func(v module.Value) error {
			if v.Int < 0 || v.Int > 255 {
				return fmt.Errorf("max_limit %d is not in 0..255", v.Int)
			}
			m.maxLimit = int(v.Int)
			return nil
		}}}
}

// Init declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.msgs = sipmsg.For(h.Script)
	fs := []script.Func{}
	for _, n := range []string{"mf_process_maxfwd_header", "maxfwd_process", "process_maxfwd"} {
		fs = append(fs, script.Func{Name: n, MinArgs: 1, MaxArgs: 1, Routes: script.RequestRoute, Fixup: m.fixProcess})
	}
	for _, n := range []string{"is_maxfwd_lt", "maxfwd_at_least", "mf_lowlimit"} {
		fs = append(fs, script.Func{Name: n, MinArgs: 1, MaxArgs: 1,
			Routes: script.RequestRoute | script.FailureRoute | script.BranchRoute, Fixup: m.fixLT})
	}
	for _, f := range fs {
		f.Module = "maxfwd"
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// present returns the current Max-Forwards value (the decremented one
// after mf_process_maxfwd_header), the header, and -1 when there is no
// header or -2 when its value is not a number.
func (m *Module) present(c *script.Ctx) (int, *sipmsg.Header) {
	p, _ := m.msgs.Parsed(c)
	if p == nil {
		return -2, nil
	}
	h := p.FindType(sipmsg.HdrMaxForwards)
	if h == nil {
		return -1, nil
	}
	st := m.msgs.MaxForwards(c)
	if st.Known {
		return st.Value, h
	}
	v, ok := str2s(h.Value)
	if !ok {
		return -2, h
	}
	*st = sipmsg.MaxFwd{Known: true, Value: v, Start: h.ValueStart, End: h.ValueEnd}
	return v, h
}

// str2s is Kamailio's str2s: up to 5 decimal digits into an unsigned
// 16-bit number (wrapping), anything else an error; "" is 0.
func str2s(s string) (int, bool) {
	var v uint16
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || i >= 5 {
			return 0, false
		}
		v = v*10 + uint16(c-'0')
	}
	return int(v), true
}

func (m *Module) fixProcess(fc *script.FixupCtx) (script.Handler, error) {
	lim, err := fc.Arg(0).Int()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		limit := lim.Get(c)
		if limit < 0 || limit > 255 {
			c.Log.Error("maxfwd: invalid param value", "value", limit)
			return -1
		}
		if c.Msg == nil || c.Msg.Req == nil {
			return -2
		}
		val, h := m.present(c)
		switch {
		case val == -1:
			p, ok := m.msgs.Parsed(c)
			if !ok || len(p.Headers) == 0 {
				return -2
			}
			m.msgs.State(c).Changes.Anchor(p.Headers[0].Start).
				Before("Max-Forwards: " + strconv.FormatInt(limit, 10) + "\r\n")
			return 2
		case val == -2:
			c.Log.Error("maxfwd: unable to parse the max forwards number")
			return -2
		case val == 0:
			return -1
		}
		if val > m.maxLimit {
			val = m.maxLimit + 1
		}
		val--
		st := m.msgs.MaxForwards(c)
		st.Value = val
		// write the new value right-aligned over the old one, padded with
		// blanks, as Kamailio does (so "10" becomes " 9")
		width := st.End - st.Start
		digits := strconv.Itoa(val)
		if len(digits) > width {
			digits = digits[len(digits)-width:]
		}
		pad := make([]byte, width)
		for i := range pad {
			pad[i] = ' '
		}
		copy(pad[width-len(digits):], digits)
		if err := m.msgs.SetRawValue(c, h.Name, 0, st.Start, st.End, string(pad)); err != nil {
			c.Log.Error("maxfwd: decrement failed", "err", err)
			return -2
		}
		return 1
	}, nil
}

func (m *Module) fixLT(fc *script.FixupCtx) (script.Handler, error) {
	lim, err := fc.Arg(0).Int()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		limit := lim.Get(c)
		if limit < 0 || limit > 255 {
			c.Log.Error("maxfwd: invalid param value", "value", limit)
			return -1
		}
		val, _ := m.present(c)
		switch {
		case val < 0:
			return val - 1
		case int64(val) >= limit:
			return -1
		}
		return 1
	}, nil
}
