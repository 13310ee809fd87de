// Package textops is Kamailio's textops module: regular-expression search
// and replace on the message (search, replace, subst ...), header
// functions (append_hf, insert_hf, remove_hf, is_present_hf ...), body
// functions (has_body, set_body, set_reply_body ...), is_method, the reply
// headers of append_to_reply, and string comparisons (cmp_str,
// starts_with, in_list ...).
//
// Changes to the message are recorded as edits (internal/sipmsg.Changes)
// applied when the message is sent or by textopsx's msg_apply_changes(),
// so $hdr() and is_present_hf() keep seeing the headers as received, as in
// Kamailio.
package textops

import (
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

func init() {
	module.Register(module.Info{
		Name:    "textops",
		Summary: "text operations on SIP messages: search, replace, headers, body, is_method",
		New:     func() module.Module { return &Module{} },
	})
}

// Module is the textops module.
type Module struct {
	host *module.Host
	msgs *sipmsg.Msgs
}

// Params returns the module parameters (textops has none).
func (m *Module) Params() []module.Param { return nil }

// Init declares the functions.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.msgs = sipmsg.For(h.Script)
	for _, f := range m.funcs() {
		f.Module = "textops"
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

// routes that Kamailio's textops allows for reply-related functions
const (
	reqFailBranch = script.RequestRoute | script.FailureRoute | script.BranchRoute
	anyRoute      = script.AnyRoute
)

func (m *Module) funcs() []script.Func {
	return []script.Func{
		// search and replace
		{Name: "search", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSearch(whereAll)},
		{Name: "search_body", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSearch(whereBody)},
		{Name: "search_hf", MinArgs: 3, MaxArgs: 3, Fixup: m.fixSearchHF},
		{Name: "subst_hf", MinArgs: 3, MaxArgs: 3, Fixup: m.fixSubstHF},
		{Name: "search_append", MinArgs: 2, MaxArgs: 2, Fixup: m.fixSearchAppend(whereAfterFirstLine)},
		{Name: "search_append_body", MinArgs: 2, MaxArgs: 2, Fixup: m.fixSearchAppend(whereBody)},
		{Name: "replace", MinArgs: 2, MaxArgs: 2, Fixup: m.fixReplace(whereAfterFirstLine, false, sipmsg.ICase|sipmsg.Newline)},
		{Name: "replace_all", MinArgs: 2, MaxArgs: 2, Fixup: m.fixReplace(whereAfterFirstLine, true, sipmsg.ICase|sipmsg.Newline)},
		{Name: "replace_body", MinArgs: 2, MaxArgs: 2, Fixup: m.fixReplace(whereBody, false, sipmsg.ICase|sipmsg.Newline)},
		{Name: "replace_body_all", MinArgs: 2, MaxArgs: 2, Fixup: m.fixReplace(whereBody, true, sipmsg.ICase|sipmsg.Newline)},
		{Name: "replace_body_atonce", MinArgs: 2, MaxArgs: 2, Fixup: m.fixReplace(whereBody, true, sipmsg.ICase)},
		{Name: "replace_hdrs", MinArgs: 2, MaxArgs: 2, Fixup: m.fixReplace(whereHeaders, false, sipmsg.ICase|sipmsg.Newline)},
		{Name: "replace_str", MinArgs: 3, MaxArgs: 3, Fixup: m.fixReplaceStr(whereAfterFirstLine)},
		{Name: "replace_body_str", MinArgs: 3, MaxArgs: 3, Fixup: m.fixReplaceStr(whereBody)},
		{Name: "replace_hdrs_str", MinArgs: 3, MaxArgs: 3, Fixup: m.fixReplaceStr(whereHeaders)},
		{Name: "subst", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSubst(whereAfterFirstLine)},
		{Name: "subst_body", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSubst(whereBody)},
		{Name: "subst_uri", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSubstURI(false),
			Routes: script.RequestRoute | script.OnReplyRoute | script.ReplyRoute | script.FailureRoute | script.BranchRoute},
		{Name: "subst_user", MinArgs: 1, MaxArgs: 1, Fixup: m.fixSubstURI(true),
			Routes: script.RequestRoute | script.OnReplyRoute | script.ReplyRoute | script.FailureRoute | script.BranchRoute},

		// headers
		{Name: "append_hf", MinArgs: 1, MaxArgs: 2, Fixup: m.fixAddHF(false)},
		{Name: "insert_hf", MinArgs: 1, MaxArgs: 2, Fixup: m.fixAddHF(true)},
		{Name: "append_urihf", MinArgs: 2, MaxArgs: 2, Fixup: m.fixAppendURIHF, Routes: reqFailBranch},
		{Name: "remove_hf", MinArgs: 1, MaxArgs: 1, Fixup: m.fixRemoveHF},
		{Name: "remove_hf_re", MinArgs: 1, MaxArgs: 1, Fixup: m.fixRemoveHFRe},
		{Name: "remove_hf_exp", MinArgs: 2, MaxArgs: 2, Fixup: m.fixRemoveHFExp},
		{Name: "remove_hf_pv", MinArgs: 1, MaxArgs: 1, Fixup: m.fixRemoveHFPV},
		{Name: "remove_hf_re_pv", MinArgs: 1, MaxArgs: 1, Fixup: m.fixRemoveHFRePV},
		{Name: "remove_hf_exp_pv", MinArgs: 2, MaxArgs: 2, Fixup: m.fixRemoveHFExpPV},
		{Name: "is_present_hf_re_pv", MinArgs: 1, MaxArgs: 1, Fixup: m.fixIsPresentHFRePV},
		{Name: "remove_hf_idx", MinArgs: 2, MaxArgs: 2, Fixup: m.fixRemoveHFIdx},
		{Name: "is_present_hf", MinArgs: 1, MaxArgs: 1, Fixup: m.fixIsPresentHF},
		{Name: "is_present_hf_re", MinArgs: 1, MaxArgs: 1, Fixup: m.fixIsPresentHFRe},
		{Name: "is_present_hf_pv", MinArgs: 1, MaxArgs: 1, Fixup: m.fixIsPresentHFPV},
		{Name: "append_to_reply", MinArgs: 1, MaxArgs: 1, Fixup: m.fixAppendToReply, Routes: reqFailBranch},
		{Name: "append_time", MinArgs: 0, MaxArgs: 0, Fixup: m.fixAppendTime, Routes: reqFailBranch},

		// body
		{Name: "has_body", MinArgs: 0, MaxArgs: 1, Fixup: m.fixHasBody},
		{Name: "set_body", MinArgs: 2, MaxArgs: 2, Fixup: m.fixSetBody,
			Routes: reqFailBranch | script.OnReplyRoute | script.ReplyRoute},
		{Name: "set_reply_body", MinArgs: 2, MaxArgs: 2, Fixup: m.fixSetReplyBody, Routes: reqFailBranch},

		// message tests
		{Name: "is_method", MinArgs: 1, MaxArgs: 1, Fixup: fixIsMethod},
		{Name: "is_privacy", MinArgs: 1, MaxArgs: 1, Fixup: m.fixIsPrivacy},

		// strings
		{Name: "cmp_str", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(cmpStr)},
		{Name: "cmp_istr", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(cmpIStr)},
		{Name: "starts_with", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(startsWith)},
		{Name: "ends_with", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(endsWith)},
		{Name: "str_find", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(strFind)},
		{Name: "str_ifind", MinArgs: 2, MaxArgs: 2, Fixup: script.StrFunc2(strIFind)},
		{Name: "search_str", MinArgs: 2, MaxArgs: 2, Fixup: fixSearchStr},
		{Name: "regex_substring", MinArgs: 5, MaxArgs: 5, Fixup: fixRegexSubstring,
			Routes: reqFailBranch | script.OnReplyRoute | script.ReplyRoute},
		{Name: "in_list", MinArgs: 3, MaxArgs: 3, Fixup: fixInList(false)},
		{Name: "in_list_prefix", MinArgs: 3, MaxArgs: 3, Fixup: fixInList(true)},
	}
}
