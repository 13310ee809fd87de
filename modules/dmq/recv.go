package dmq

import (
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// job is a received KDMQ request waiting for a DMQ worker.
type job struct {
	ch  *Channel
	msg *sipio.Msg
}

// registerScript declares dmq_handle_message([rc]), dmq_process_message([rc])
// and dmq_is_from_node().
func (m *Module) registerScript(h *module.Host) error {
	handle := func(inline bool) func(fc *script.FixupCtx) (script.Handler, error) {
		return func(fc *script.FixupCtx) (script.Handler, error) {
			m.scriptHandles.Store(true)
			var rc script.IntParam
			hasRC := fc.NArgs() == 1
			if hasRC {
				var err error
				if rc, err = fc.Arg(0).Int(); err != nil {
					return nil, err
				}
			}
			return func(c *script.Ctx) int {
				ret := 0
				if hasRC {
					if rc.Get(c) >= 1 {
						ret = 1
					}
				}
				if c.Msg == nil || c.Msg.Req == nil {
					return -1
				}
				if !m.receive(c.Msg, inline) {
					return -1
				}
				return ret
			}, nil
		}
	}
	fns := []script.Func{
		{Name: "dmq_handle_message", MinArgs: 0, MaxArgs: 1, Routes: script.RequestRoute, Module: "dmq", Fixup: handle(false)},
		{Name: "dmq_process_message", MinArgs: 0, MaxArgs: 1, Routes: script.RequestRoute, Module: "dmq", Fixup: handle(true)},
		{Name: "dmq_is_from_node", MinArgs: 0, MaxArgs: 0, Routes: script.RequestRoute, Module: "dmq",
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				return func(c *script.Ctx) int {
					if c.Msg != nil && m.isFromNode(c.Msg) {
						return 1
					}
					return -1
				}, nil
			}},
	}
	for _, f := range fns {
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// isFromNode reports whether the message's source IP is the address of a
// node other than this one (dmq_is_from_node).
func (m *Module) isFromNode(msg *sipio.Msg) bool {
	ip := msg.Source.Addr().Unmap()
	m.list.mu.Lock()
	defer m.list.mu.Unlock()
	for _, n := range m.list.nodes {
		if !n.local && n.ip == ip {
			return true
		}
	}
	return false
}

// PreScript (module.PreScripter) is the default handling of KDMQ requests
// when the config never calls dmq_handle_message or dmq_process_message:
// every KDMQ request is taken before request_route (which then does not
// run for it) and handled as dmq_handle_message would.
func (m *Module) PreScript(c *script.Ctx) bool {
	msg := c.Msg
	if m.scriptHandles.Load() || msg == nil || msg.Req == nil || msg.Req.Method != "KDMQ" {
		return true
	}
	if !m.receive(msg, false) {
		// no channel in the R-URI: nothing Kamailio would answer either
		m.metrics.received("<none>", "dropped")
	}
	return false
}

// receive is dmq_handle_message (inline=false: queued to a worker) and
// dmq_process_message (inline). It returns false when the R-URI has no
// user part (Kamailio's error case: no reply).
func (m *Module) receive(msg *sipio.Msg, inline bool) bool {
	if m.dropped(msg.Source.Addr()) {
		return true
	}
	name := msg.Req.Recipient.User
	if name == "" {
		return false
	}
	c := m.channel(name)
	if c == nil {
		m.metrics.received("<unknown>", "404")
		m.reply(msg, RespNotFound)
		return true
	}
	if !m.started.Load() {
		m.reply(msg, Response{Code: 500, Reason: "Server Internal Error"})
		m.metrics.received(name, "500")
		return true
	}
	if inline {
		m.process(c, msg)
		return true
	}
	cl := msg.Clone()
	q := m.jobs[workerFor(msg, len(m.jobs))]
	select {
	case q <- job{ch: c, msg: cl}:
	default:
		// every queue slot taken: handle it here rather than drop it
		m.metrics.inlineJobs.Add(1)
		m.process(c, cl)
	}
	return true
}

// workerFor keeps the requests of one source on one worker, so that they
// are handled in the order they were queued.
func workerFor(msg *sipio.Msg, n int) int { return sipio.SourceIndex(msg.Source, n) }

// worker handles the jobs of one queue, in order, until the module stops.
// The requests of one node come in the order they were read: the SIP
// transport hands a source's KDMQ requests to one SIP worker
// (OrderedMethods) and receive puts them on one DMQ worker's queue
// (workerFor). The queue is never closed: receive may still be sending to
// it while Stop runs.
func (m *Module) worker(q chan job) {
	defer m.workersWG.Done()
	done := m.ctx.Done()
	for {
		select {
		case j := <-q:
			if m.ctx.Err() == nil { // stopping: what is still queued is dropped
				m.process(j.ch, j.msg)
			}
		case <-done:
			return
		}
	}
}

// process runs a channel's handler on a request and sends the reply.
func (m *Module) process(c *Channel, msg *sipio.Msg) {
	r := &Request{Channel: c.peer.Channel, Body: msg.Req.Body(), Msg: msg}
	if h := msg.Req.GetHeader("Content-Type"); h != nil {
		r.ContentType = strings.TrimSpace(h.Value())
	} else if h := msg.Req.GetHeader("c"); h != nil {
		r.ContentType = strings.TrimSpace(h.Value())
	}
	if h := msg.Req.GetHeader("Max-Forwards"); h != nil {
		r.MaxForwards, _ = strconv.Atoi(strings.TrimSpace(h.Value()))
	}
	if h := msg.Req.GetHeader("From"); h != nil {
		if u, err := ParseURI(nameAddrURI(h.Value())); err == nil {
			r.From = u
			r.Node = m.list.find(&u)
		}
	} else if h := msg.Req.GetHeader("f"); h != nil {
		if u, err := ParseURI(nameAddrURI(h.Value())); err == nil {
			r.From = u
			r.Node = m.list.find(&u)
		}
	}
	if m.extensions {
		if h := msg.Req.GetHeader(Header); h != nil {
			r.Sipht, r.Incarnation, _ = parseHeader(h.Value())
			if r.Node != nil {
				m.learn(r.Node, h.Value())
			}
		} else if r.Node != nil {
			m.learn(r.Node, "")
		}
	}
	resp := m.callHandler(c, r)
	m.metrics.received(c.peer.Channel, codeLabel(resp.Code))
	if resp.Code > 0 && resp.Reason != "" {
		m.reply(msg, resp)
	}
}

func (m *Module) callHandler(c *Channel, r *Request) (resp Response) {
	defer func() {
		if p := recover(); p != nil {
			m.log.Error("DMQ channel handler panicked", "channel", c.peer.Channel, "panic", p)
			resp = Response{Code: 500, Reason: "Server Internal Error"}
		}
	}()
	return c.peer.Handle(r)
}

// reply answers a KDMQ request statelessly (Kamailio's slb.freply), with
// this node's X-Sipht-DMQ header.
func (m *Module) reply(msg *sipio.Msg, r Response) {
	if m.sip == nil {
		if m.host == nil || m.host.SIP == nil {
			return
		}
		m.sip = m.host.SIP
	}
	o := &sipio.ReplyOptions{ContentType: r.ContentType, Body: r.Body}
	if m.extensions {
		o.Headers = []sipio.Field{{Name: Header, Value: m.headerValue()}}
	}
	if err := m.sip.Respond(msg, r.Code, r.Reason, o); err != nil {
		m.log.Debug("KDMQ reply not sent", "code", r.Code, "err", err)
	}
}

// nameAddrURI extracts the URI of a From/To value: the part in <>, or the
// text before the first ';'.
func nameAddrURI(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			return v[i+1 : i+j]
		}
		return v[i+1:]
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		return v[:i]
	}
	return v
}
