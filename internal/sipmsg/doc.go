// Package sipmsg is the per-message state that the modules working on a
// SIP message share, and the Kamailio-compatible parsers they need.
//
// # Shared state (Msgs, State)
//
// sipmsg.For(h.Script) returns the Msgs of a server (one per script
// registry, found through script.Registry.Shared); call it from Init. Per
// message it holds:
//
//   - Changes, Kamailio's lumps: append_hf, remove_hf, subst, replace,
//     set_body, maxfwd's added header ... record edits at offsets of the
//     received bytes (c.Msg.Raw); the message itself is not changed, so
//     $hdr() and is_present_hf() keep seeing the received headers, as in
//     Kamailio. Overlapping edits resolve as Kamailio resolves its lumps.
//   - Apply(c, force) returns the bytes with the edits applied and
//     Content-Length fixed when the body changed; Materialize(c) returns a
//     *sipio.Msg (a copy, reparsed, with the Request-URI of Dest) ready for
//     sipio.Server.Forward or ForwardReply — the core module's forward()
//     and reply relaying must send that, not c.Msg, to honour the edits.
//     A forwarder that adds its own edits (Via) applies a
//     State(c).Changes.Clone() with ApplyWith.
//   - Replace(c, b) makes b the message (textopsx's msg_apply_changes()).
//   - SetRawValue / SetStatus: the few in-place rewrites Kamailio does on
//     the received buffer (maxfwd's decrement, change_reply_status); they
//     also update the parsed headers, so $hdr(Max-Forwards) reads 69
//     after mf_process_maxfwd_header, as in Kamailio. A $hdr implementation
//     must read c.Msg.Req/Res (or c.Msg.Raw), not a copy taken earlier.
//   - Reply headers and body for the next stateless reply
//     (append_to_reply, set_reply_body, sanity's Unsupported):
//     AddReplyHeaders / SetReplyBody record them; ReplyOptions(c, o)
//     returns the sipio.ReplyOptions a reply must be sent with, and
//     SendReply(c, srv, code, reason, o) sends a reply the way Kamailio's sl
//     does (no reply to ACK, none to a message marked SetNoReply by sanity).
//     sl_send_reply and every module that replies statelessly use them.
//   - Branch flags of branch 0 (BranchFlags, $bf), script flags
//     (ScriptFlags), the NoReply mark and maxfwd's record.
//
// # Destination state (Dest)
//
// The R-URI as rewritten by the script, the destination URI ($du) and the
// appended branches belong to the core module. Dest is the interface the
// modules use for them; until the core installs its implementation with
// SetDest (from its Init), a default one keeps them in State and writes a
// rewritten R-URI into c.Msg.Req.Recipient (what sipio.Forward sends).
// Likewise the myself check (is_myself, is_first_hop) is a Myself function
// installed with SetMyself; EnsureMyself installs one built from the
// listeners and alias= entries.
//
// # Parsers (untrusted input, fuzzed)
//
// Parse scans a raw message into header fields with their offsets
// (compact names, folded lines, LF-only line ends) and Kamailio's header
// type numbers (TypeOf, HeaderName). ParseURI is Kamailio 5.6's parse_uri
// (same acceptance, checked against Kamailio on a corpus), ParseParams its
// parameter splitter, ParseNameAddr splits From/To/Contact values.
// CompileRegex compiles POSIX EREs with regcomp's REG_ICASE/REG_NEWLINE
// semantics and leftmost-longest extents.
package sipmsg
