// Package siputils is Kamailio's siputils module: has_totag, is_request,
// is_reply, the R-URI parameter functions (uri_param, add_uri_param,
// uri_param_rm ...), URI comparisons (cmp_uri, cmp_aor), tel2sip, number
// checks (is_e164, is_numeric ...), is_first_hop, is_gruu, set_uri_user /
// set_uri_host and the OPTIONS responder options_reply.
package siputils

import (
	"context"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{
		Name:    "siputils",
		Summary: "SIP utilities: has_totag, is_reply, uri_param, cmp_uri, options_reply ...",
		New: func() module.Module {
			return &Module{accept: "*/*", acceptLang: "en"}
		},
	})
}

// Module is the siputils module.
type Module struct {
	host *module.Host
	msgs *sipmsg.Msgs

	accept, acceptEnc, acceptLang, supported string
	// accepted for compatibility; the functions that use them are not
	// implemented
	contactSep, rpidPrefix, rpidSuffix, rpidAVP string
}

// Params returns the module parameters.
func (m *Module) Params() []module.Param {
	str := func(name, doc string, p *string) module.Param {
		return module.Param{Name: name, Kind: module.ParamStr, Doc: doc,
			Set: func(v module.Value) error { *p = v.Str; return nil }}
	}
	return []module.Param{
		str("options_accept", "Accept header value of options_reply (default */*)", &m.accept),
		str("options_accept_encoding", "Accept-Encoding header value of options_reply (default empty)", &m.acceptEnc),
		str("options_accept_language", "Accept-Language header value of options_reply (default en)", &m.acceptLang),
		str("options_support", "Supported header value of options_reply (default empty)", &m.supported),
		str("contact_flds_separator", "accepted, unused (contact encoding is not implemented)", &m.contactSep),
		str("rpid_prefix", "accepted, unused (RPID functions are not implemented)", &m.rpidPrefix),
		str("rpid_suffix", "accepted, unused (RPID functions are not implemented)", &m.rpidSuffix),
		str("rpid_avp", "accepted, unused (RPID functions are not implemented)", &m.rpidAVP),
	}
}

// Init declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.msgs = sipmsg.For(h.Script)
	const reqBranchFail = script.RequestRoute | script.BranchRoute | script.FailureRoute
	fs := []script.Func{
		{Name: "has_totag", Fixup: m.fixHasTotag},
		{Name: "is_request", Fixup: fixIsRequest(true)},
		{Name: "is_reply", Fixup: fixIsRequest(false)},
		{Name: "uri_param", MinArgs: 1, MaxArgs: 2, Routes: reqBranchFail, Fixup: m.fixURIParam},
		{Name: "uri_param_any", MinArgs: 1, MaxArgs: 1, Routes: reqBranchFail, Fixup: m.fixURIParamAny},
		{Name: "uri_param_rm", MinArgs: 1, MaxArgs: 1, Routes: reqBranchFail, Fixup: m.fixURIParamRm},
		{Name: "add_uri_param", MinArgs: 1, MaxArgs: 1, Routes: script.RequestRoute, Fixup: m.fixAddURIParam},
		{Name: "get_uri_param", MinArgs: 2, MaxArgs: 2, Routes: script.RequestRoute, Fixup: m.fixGetURIParam},
		{Name: "tel2sip", MinArgs: 3, MaxArgs: 3,
			Routes: script.RequestRoute | script.FailureRoute | script.BranchRoute | script.OnReplyRoute | script.ReplyRoute, Fixup: fixTel2SIP},
		{Name: "is_uri", MinArgs: 1, MaxArgs: 1, Fixup: fixIsURI},
		{Name: "is_e164", MinArgs: 1, MaxArgs: 1, Routes: script.RequestRoute | script.FailureRoute, Fixup: fixIsE164(false)},
		{Name: "is_uri_user_e164", MinArgs: 1, MaxArgs: 1, Fixup: fixIsE164(true)},
		{Name: "cmp_uri", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(cmpURI)},
		{Name: "cmp_aor", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(cmpAOR)},
		{Name: "cmp_hdr_name", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(cmpHdrName)},
		{Name: "is_gruu", MinArgs: 0, MaxArgs: 1, Fixup: m.fixIsGRUU},
		{Name: "is_first_hop", MinArgs: 0, MaxArgs: 1, Fixup: m.fixIsFirstHop},
		{Name: "is_tel_number", MinArgs: 1, MaxArgs: 1, Fixup: script.StrFunc(isTelNumber)},
		{Name: "is_numeric", MinArgs: 1, MaxArgs: 1, Fixup: script.StrFunc(isNumeric)},
		{Name: "is_alphanum", MinArgs: 1, MaxArgs: 1, Fixup: script.StrFunc(isAlphanum)},
		{Name: "is_alphanumex", MinArgs: 2, MaxArgs: 2, Fixup: fixIsAlphanumEx},
		{Name: "set_uri_user", MinArgs: 2, MaxArgs: 2, Fixup: fixSetURIPart(setURIUser)},
		{Name: "set_uri_host", MinArgs: 2, MaxArgs: 2, Fixup: fixSetURIPart(setURIHost)},
		{Name: "options_reply", Routes: script.RequestRoute, Fixup: m.fixOptionsReply},
	}
	for _, f := range fs {
		f.Module = "siputils"
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// Start installs the default myself check (is_first_hop on replies) unless
// the core module installed one.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	m.msgs.EnsureMyself(h.SIP, h.Core.Aliases)
	return nil
}
