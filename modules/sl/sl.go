// Package sl is Kamailio's sl (stateless replies) module for sipht:
// sl_send_reply(code, reason) and its alias sl_reply, send_reply (always
// stateless: sipht has no tm), send_reply_mode, sl_reply_error() and
// sl_forward_reply; modparams default_code, default_reason, bind_tm (accepted),
// rich_redirect (accepted). Replies are built by sipio.Respond, byte for
// byte like Kamailio's (Via with received/rport, To-tag for codes >= 180,
// Server header). A 3xx reply carries the message's branches as Contact,
// as Kamailio's does.
//
// Like Kamailio's sl, the module absorbs ACKs for its own replies before
// the script runs: an ACK whose To-tag is one sl generated, arriving within
// 2 seconds of the last stateless reply, is dropped (and event_route
// [sl:filtered-ack] runs if the config has it).
package sl

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
	"github.com/sipht/sipht/modules/core"
)

func init() {
	module.Register(module.Info{
		Name:    "sl",
		Summary: "stateless replies: sl_send_reply, send_reply, sl_reply_error",
		New: func() module.Module {
			return &Module{defaultCode: 500, defaultReason: "Internal Server Error"}
		},
	})
}

// Module is one loaded sl module.
type Module struct {
	defaultCode   int64
	defaultReason string

	sip     *sipio.Server
	msgs    *sipmsg.Msgs
	routing core.RoutingSlot
	prog    *script.Program
	ackRt   *script.Route
	ackCtx  chan *script.Ctx
	// lastReply is when a stateless reply was last sent (unix nanos); ACKs
	// are only filtered within ackWindow of it, as Kamailio's sl_timeout.
	lastReply atomic.Int64
}

// ackWindow is Kamailio's SL_RPL_WAIT_TIME.
const ackWindow = 2 * time.Second

// Params declares sl's modparams.
func (m *Module) Params() []module.Param {
	ignore := func(module.Value) error { return nil }
	return []module.Param{
		{Name: "default_code", Kind: module.ParamInt, Doc: "code used when the code argument cannot be read",
			Set: func(v module.Value) error {
				if v.Int < 100 || v.Int > 699 {
					return fmt.Errorf("default_code %d out of range 100..699", v.Int)
				}
				m.defaultCode = v.Int
				return nil
			}},
		{Name: "default_reason", Kind: module.ParamStr, Doc: "reason used when the reason argument cannot be read",
			Set: func(v module.Value) error {
				if err := sipio.CheckHeaderValue(v.Str); err != nil {
					return err
				}
				m.defaultReason = v.Str
				return nil
			}},
		{Name: "bind_tm", Kind: module.ParamInt, Doc: "accepted; sipht has no tm, replies are always stateless", Set: ignore},
		{Name: "rich_redirect", Kind: module.ParamInt, Doc: "accepted; 3xx Contact lists carry the branch URIs", Set: ignore},
		{Name: "event_callback_fl_ack", Kind: module.ParamStr, Set: ignore},
		{Name: "event_callback_lres_sent", Kind: module.ParamStr, Set: ignore},
	}
}

// Init registers the functions.
func (m *Module) Init(h *module.Host) error {
	m.routing = core.RoutingOf(h.Script)
	m.msgs = sipmsg.For(h.Script)
	reply := func(name string, routes script.RouteType, tmFallback bool) script.Func {
		return script.Func{Name: name, MinArgs: 2, MaxArgs: 2, Routes: routes, Module: "sl",
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) { return m.fixupReply(fc, tmFallback) }}
	}
	funcs := []script.Func{
		reply("sl_send_reply", script.RequestRoute, false),
		reply("sl_reply", script.RequestRoute, false),
		reply("send_reply", script.RequestRoute|script.OnReplyRoute|script.FailureRoute, true),
		{Name: "send_reply_mode", MinArgs: 3, MaxArgs: 3, Module: "sl",
			Routes: script.RequestRoute | script.OnReplyRoute | script.FailureRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				if _, err := fc.Arg(2).Int(); err != nil {
					return nil, err
				}
				return m.fixupReply(fc, true)
			}},
		{Name: "sl_reply_error", MinArgs: 0, MaxArgs: 0, Routes: script.RequestRoute, Module: "sl",
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) { return m.replyError, nil }},
		{Name: "sl_forward_reply", MinArgs: 0, MaxArgs: 2, Routes: script.OnReplyRoute | script.ReplyRoute, Module: "sl",
			Fixup: m.fixupForwardReply},
	}
	for _, f := range funcs {
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// Start keeps the SIP transport and looks up event_route[sl:filtered-ack].
func (m *Module) Start(_ context.Context, h *module.Host) error {
	m.sip = h.SIP
	m.prog = h.Program
	if h.Program != nil {
		if r := h.Program.EventRoute("sl:filtered-ack"); r != nil {
			m.ackRt = r
			m.ackCtx = make(chan *script.Ctx, 4)
		}
	}
	return nil
}

// fixupReply compiles sl_send_reply/send_reply(code, reason): both may
// contain PVs; a code that cannot be read falls back to default_code, as
// in Kamailio.
func (m *Module) fixupReply(fc *script.FixupCtx, _ bool) (script.Handler, error) {
	code, err := fc.Arg(0).Int()
	if err != nil {
		return nil, err
	}
	if n, ok := code.Const(); ok && (n < 100 || n > 699) {
		return nil, fc.Arg(0).Errorf("invalid reply code %d (must be 100..699)", n)
	}
	reason, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	name := fc.Name
	return func(c *script.Ctx) int {
		n := code.Get(c)
		if n < 100 || n > 699 {
			// Kamailio sends "SIP/2.0 099 ..." or "000"; sipht does
			// not send an invalid status line (see
			// docs/kamailio-differences.md).
			c.Log.Error(name+"(): invalid reply code, using default_code", "code", n, "default_code", m.defaultCode)
			n = m.defaultCode
		}
		return m.send(c, int(n), reason.String(c))
	}, nil
}

// send sends a stateless reply through sipmsg.SendReply, so that the
// reply headers and body the script added (append_to_reply,
// set_reply_body) are included: 1 on success, -1 on failure or for an ACK,
// -2 for a message sanity marked as not to be answered.
func (m *Module) send(c *script.Ctx, code int, reason string) int {
	if c.Msg == nil || c.Msg.Req == nil || m.sip == nil {
		return -1
	}
	var opts *sipio.ReplyOptions
	if code >= 300 && code < 400 {
		if ct := contacts(m.routing.Get(c)); ct != "" {
			opts = &sipio.ReplyOptions{Headers: []sipio.Field{{Name: "Contact", Value: ct}}}
		}
	}
	m.lastReply.Store(time.Now().UnixNano())
	return m.msgs.SendReply(c, m.sip, code, reason, opts)
}

// contacts lists the R-URI (when the script changed it: Kamailio's
// ruri_is_new) and the branches as a Contact value for a redirect, as
// Kamailio's print_dset.
func contacts(rt *core.Routing) string {
	var b strings.Builder
	add := func(uri string, q int) {
		if uri == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("<" + uri + ">")
		if q >= 0 {
			b.WriteString(";q=" + qString(q))
		}
	}
	if rt.RURIIsNew() {
		add(rt.URI(), -1)
	}
	for _, br := range rt.Branches() {
		add(br.URI, br.Q)
	}
	return b.String()
}

// qString prints a q value stored as thousandths ("0.5", "1").
func qString(q int) string {
	if q >= 1000 {
		return "1"
	}
	s := strconv.Itoa(1000 + q)[1:]
	return "0." + strings.TrimRight(s, "0")
}

// replyError answers with the reason of the last core error, as Kamailio's
// sl_reply_error ("500 I'm terribly sorry, server error occurred (1/SL)"
// when there was none).
func (m *Module) replyError(c *script.Ctx) int {
	if c.Msg == nil || c.Msg.Req == nil {
		return -1
	}
	code, text := errReason(m.routing.Get(c).Error())
	m.send(c, code, text)
	c.Log.Error("stateless error reply used: " + text)
	return 1
}

// errReason is Kamailio's err2reason_phrase with the "SL" signature.
func errReason(e int) (int, string) {
	code, txt := 500, "I'm terribly sorry, server error occurred"
	switch e {
	case core.ErrSend:
		code, txt = 477, "Unfortunately error on sending to next hop occurred"
	case core.ErrBadAddress:
		code, txt = 478, "Unresolvable destination"
	case core.ErrBadReq:
		code, txt = 400, "Bad Request"
	case core.ErrBadURI:
		code, txt = 479, "Regretfully, we were not able to process the URI"
	case 0:
		e = core.ErrUnspec
	}
	return code, fmt.Sprintf("%s (%d/SL)", txt, -e)
}

// fixupForwardReply compiles sl_forward_reply([code[, reason]]): relays the
// reply being processed statelessly (code may change within its class).
func (m *Module) fixupForwardReply(fc *script.FixupCtx) (script.Handler, error) {
	var code, reason *script.Format
	var err error
	if fc.NArgs() >= 1 {
		if code, err = fc.Arg(0).Format(); err != nil {
			return nil, err
		}
	}
	if fc.NArgs() == 2 {
		if reason, err = fc.Arg(1).Format(); err != nil {
			return nil, err
		}
	}
	return func(c *script.Ctx) int {
		if c.Msg == nil || c.Msg.Res == nil || m.sip == nil {
			c.Log.Error("sl_forward_reply: invalid SIP message type")
			return -1
		}
		res := c.Msg.Res
		if code != nil {
			s := code.String(c)
			if s != "" {
				n, err := strconv.Atoi(s)
				if len(s) != 3 || err != nil {
					c.Log.Error("sl_forward_reply: invalid reply code value", "code", s)
					return -1
				}
				if n/100 != res.StatusCode/100 {
					c.Log.Error("sl_forward_reply: reply code class cannot be changed")
					return -1
				}
				res.StatusCode = n
			}
		}
		if reason != nil {
			if s := reason.String(c); s != "" {
				if err := sipio.CheckHeaderValue(s); err != nil {
					return -1
				}
				res.Reason = s
			}
		}
		if err := m.sip.ForwardReply(c.Msg); err != nil {
			c.Log.Error("sl_forward_reply failed", "err", err)
			return -1
		}
		return 1
	}, nil
}

// PreScript drops ACKs to sl's own replies (Kamailio's sl_filter_ACK).
func (m *Module) PreScript(c *script.Ctx) bool {
	msg := c.Msg
	if msg == nil || msg.Req == nil || msg.Req.Method != "ACK" || m.sip == nil {
		return true
	}
	last := m.lastReply.Load()
	if last == 0 || time.Since(time.Unix(0, last)) >= ackWindow {
		return true
	}
	to, ok := core.NameAddrHeader(msg, "To")
	if !ok {
		return true
	}
	if tag, n := to.Tag(); n == 0 || !m.sip.IsLocalToTag(tag) {
		return true
	}
	if m.ackRt != nil {
		m.runFilteredAck(msg)
	}
	return false
}

// runFilteredAck runs event_route[sl:filtered-ack] on the ACK with a
// context of its own (the worker's is in use).
func (m *Module) runFilteredAck(msg *sipio.Msg) {
	var ec *script.Ctx
	select {
	case ec = <-m.ackCtx:
	default:
		ec = m.prog.NewCtx()
	}
	ec.Reset(msg)
	m.ackRt.Run(ec)
	ec.Reset(nil)
	select {
	case m.ackCtx <- ec:
	default:
	}
}
