// Package sanity is Kamailio's sanity module: sanity_check() runs a set of
// checks on a request (R-URI version and scheme, required headers, CSeq,
// Content-Length, Expires, Proxy-Require, URIs, digest credentials ...)
// and answers a failing request itself with Kamailio's error replies
// (400 "Bad Request URI", 420 with Unsupported, 505 ...).
package sanity

import (
	"fmt"
	"strings"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// Message checks (the bits of sanity_check's first argument and of the
// default_checks parameter).
const (
	CheckRURISIPVersion  = 1 << 0
	CheckRURIScheme      = 1 << 1
	CheckRequiredHeaders = 1 << 2
	CheckViaSIPVersion   = 1 << 3 // always passes in Kamailio 5.6
	CheckViaProtocol     = 1 << 4 // always passes in Kamailio 5.6
	CheckCSeqMethod      = 1 << 5
	CheckCSeqValue       = 1 << 6
	CheckContentLength   = 1 << 7
	CheckExpiresValue    = 1 << 8
	CheckProxyRequire    = 1 << 9
	CheckParseURIs       = 1 << 10
	CheckDigest          = 1 << 11
	CheckDupTags         = 1 << 12
	CheckAuthorization   = 1 << 13
	CheckVia1Header      = 1 << 14
	maxChecks            = 1 << 15

	// DefaultChecks is Kamailio's default set (999).
	DefaultChecks = CheckRURISIPVersion | CheckRURIScheme | CheckRequiredHeaders | CheckCSeqMethod |
		CheckCSeqValue | CheckContentLength | CheckExpiresValue | CheckProxyRequire | CheckDigest
)

// URI checks (second argument, uri_checks parameter).
const (
	URICheckRURI    = 1 << 0
	URICheckFrom    = 1 << 1
	URICheckTo      = 1 << 2
	URICheckContact = 1 << 3
	maxURIChecks    = 1 << 4

	// DefaultURIChecks is Kamailio's default (7).
	DefaultURIChecks = URICheckRURI | URICheckFrom | URICheckTo
)

func init() {
	module.Register(module.Info{
		Name:    "sanity",
		Summary: "sanity_check(): syntax checks on requests, answered with Kamailio's error replies",
		New: func() module.Module {
			return &Module{msgChecks: DefaultChecks, uriChecks: DefaultURIChecks, autodrop: 1}
		},
	})
}

// Module is the sanity module.
type Module struct {
	host *module.Host
	msgs *sipmsg.Msgs

	msgChecks, uriChecks int64
	proxyRequire         []string
	autodrop, noreply    int64
	pending              script.Slot[pending]
}

// Params returns default_checks, uri_checks, proxy_require, autodrop and
// noreply.
func (m *Module) Params() []module.Param {
	return []module.Param{
		{Name: "default_checks", Kind: module.ParamInt, Doc: "checks sanity_check() runs without arguments",
			Set: func(v module.Value) error { m.msgChecks = v.Int; return nil }},
		{Name: "uri_checks", Kind: module.ParamInt, Doc: "URIs checked by the URI check without arguments",
			Set: func(v module.Value) error { m.uriChecks = v.Int; return nil }},
		{Name: "proxy_require", Kind: module.ParamStr, Doc: "comma-separated Proxy-Require extensions supported",
			Set: func(v module.Value) error { m.proxyRequire = parseStrList(v.Str); return nil }},
		{Name: "autodrop", Kind: module.ParamInt, Doc: "1: a failed check ends the script (sanity_check returns 0)",
			Set: func(v module.Value) error { m.autodrop = v.Int; return nil }},
		{Name: "noreply", Kind: module.ParamInt, Doc: "1: do not reply; sanity_reply() sends the reply later",
			Set: func(v module.Value) error { m.noreply = v.Int; return nil }},
	}
}

// parseStrList splits a comma-separated list, trimming blanks.
func parseStrList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var out []string
	for _, e := range strings.Split(s, ",") {
		out = append(out, strings.TrimSpace(e))
	}
	return out
}

// Init declares sanity_check and sanity_reply.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.msgs = sipmsg.For(h.Script)
	m.pending = script.NewSlot[pending](h.Script, nil, nil)
	routes := script.RequestRoute | script.OnReplyRoute | script.ReplyRoute
	for _, f := range []script.Func{
		{Name: "sanity_check", MinArgs: 0, MaxArgs: 2, Routes: routes, Fixup: m.fixCheck},
		{Name: "sanity_reply", Routes: routes, Fixup: m.fixReply},
	} {
		f.Module = "sanity"
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

func (m *Module) fixCheck(fc *script.FixupCtx) (script.Handler, error) {
	var mp, up *script.IntParam
	if fc.NArgs() >= 1 {
		p, err := fc.Arg(0).Int()
		if err != nil {
			return nil, err
		}
		mp = &p
	}
	if fc.NArgs() == 2 {
		p, err := fc.Arg(1).Int()
		if err != nil {
			return nil, err
		}
		up = &p
	}
	return func(c *script.Ctx) int {
		msgChecks, uriChecks := m.msgChecks, m.uriChecks
		if mp != nil {
			msgChecks = mp.Get(c)
		}
		if up != nil {
			uriChecks = up.Get(c)
		}
		if msgChecks < 1 || msgChecks >= maxChecks {
			c.Log.Error(fmt.Sprintf("sanity: input parameter (%d) outside of valid range <1-%d)", msgChecks, maxChecks))
			return -1
		}
		if uriChecks < 1 || uriChecks >= maxURIChecks {
			c.Log.Error(fmt.Sprintf("sanity: second input parameter (%d) outside of valid range <1-%d", uriChecks, maxURIChecks))
			return -1
		}
		ret := m.check(c, int(msgChecks), int(uriChecks))
		if m.autodrop != 0 {
			return ret
		}
		if ret == checkFailed {
			return -1
		}
		return ret
	}, nil
}

// sanity_reply(): with noreply=1, send the reply a failed check prepared
// (500 "Server Sanity Failure" when there is none).
func (m *Module) fixReply(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		if c.Msg == nil || c.Msg.Req == nil || strings.EqualFold(string(c.Msg.Req.Method), "ACK") || m.noreply == 0 {
			return 1
		}
		if m.msgs.NoReply(c) {
			return 1
		}
		st := m.pending.Get(c)
		code, reason := st.code, st.reason
		if code == 0 || reason == "" {
			code, reason = 500, "Server Sanity Failure"
		}
		if m.msgs.SendReply(c, m.host.SIP, code, reason, nil) < 0 {
			return -1
		}
		return 1
	}, nil
}
