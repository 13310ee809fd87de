package sipmsg

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// Msgs is the per-message state that several modules share, found with
// For. One exists per script registry (so per server).
type Msgs struct {
	slot script.Slot[State]
	dest Dest
	self Myself
}

// sharedKey is the script.Registry.Shared key of the Msgs.
const sharedKey = "sipmsg"

// For returns the Msgs of a registry, creating it on first use. Call it
// from Init (or a Fixup): every module of a server gets the same one.
func For(r *script.Registry) *Msgs {
	return r.Shared(sharedKey, func() any {
		x := &Msgs{}
		x.slot = script.NewSlot[State](r, nil, func(s *State) { s.reset() })
		x.dest = defaultDest{x}
		return x
	}).(*Msgs)
}

// State is what the script changed on the message being processed. Get it
// with Msgs.State; it is reset for every message.
type State struct {
	// Changes holds the edits (lumps) made to the message.
	Changes Changes

	raw      []byte // the bytes parsed is about
	parsed   Parsed
	parsedOK bool
	parsedAt *byte

	reply     []string // reply header lumps, raw text (append_to_reply)
	replyBody []byte
	hasBody   bool

	maxfwd MaxFwd

	noReply bool // FL_MSG_NOREPLY: sanity decided the message gets no reply

	// default destination state (see defaultDest)
	newURI    string
	hasNewURI bool
	dstURI    string
	branches  []Branch
	bflags    uint32 // branch flags of the main branch (branch 0)
	sflags    uint32 // script flags, reset for every message
}

func (s *State) reset() {
	s.Changes.Reset()
	s.raw, s.parsedOK, s.parsedAt = nil, false, nil
	s.parsed.Headers = s.parsed.Headers[:0]
	clear(s.reply)
	s.reply = s.reply[:0]
	s.replyBody, s.hasBody = nil, false
	s.maxfwd = MaxFwd{}
	s.noReply = false
	s.newURI, s.hasNewURI, s.dstURI = "", false, ""
	clear(s.branches)
	s.branches = s.branches[:0]
	s.bflags, s.sflags = 0, 0
}

// State returns the state of the message c is processing.
func (x *Msgs) State(c *script.Ctx) *State { return x.slot.Get(c) }

// Parsed returns the header structure of the message c is processing
// (parsed once per message and again after msg_apply_changes replaced its
// bytes); ok is false when there is no message or it is malformed. The
// strings in it point into the message's bytes: copy them to keep them
// beyond the message.
func (x *Msgs) Parsed(c *script.Ctx) (p *Parsed, ok bool) {
	if c.Msg == nil || len(c.Msg.Raw) == 0 {
		return nil, false
	}
	s := x.slot.Get(c)
	raw := c.Msg.Raw
	if s.parsedAt != &raw[0] || len(s.raw) != len(raw) {
		s.raw, s.parsedAt = raw, &raw[0]
		s.parsedOK = Parse(raw, &s.parsed)
	}
	return &s.parsed, s.parsedOK
}

// ---- edits ----

// Apply returns the message c is processing with the script's edits
// applied (a copy; the message itself is not changed), with Content-Length
// fixed when the body changed, or when force is set. With no edits it
// returns the message's bytes as they are (force aside).
func (x *Msgs) Apply(c *script.Ctx, force bool) ([]byte, error) {
	return x.ApplyWith(c, nil, force)
}

// ApplyWith is Apply with the edits in ch instead of the message's own
// (a forwarder passes a Clone of State.Changes with its Via edits added).
func (x *Msgs) ApplyWith(c *script.Ctx, ch *Changes, force bool) ([]byte, error) {
	p, ok := x.Parsed(c)
	if !ok {
		return nil, errors.New("sipmsg: cannot parse the message to apply changes")
	}
	if ch == nil {
		ch = &x.slot.Get(c).Changes
	}
	raw := c.Msg.Raw
	if ch.Len() == 0 && !force {
		return raw, nil
	}
	o := ApplyOptions{Body: p.Body, HeadersEnd: p.HeadersEnd, ContentLength: p.FindType(HdrContentLength),
		ForceContentLength: force}
	return ch.Apply(make([]byte, 0, len(raw)+256), raw, &o), nil
}

// Replace makes b the message c is processing: b is parsed (with the
// server's parser) into c.Msg.Req / c.Msg.Res and becomes c.Msg.Raw; the
// edits are dropped (they are part of b). This is msg_apply_changes():
// afterwards $hdr() and every function see the new message.
func (x *Msgs) Replace(c *script.Ctx, b []byte) error {
	m := c.Msg
	if m == nil {
		return errors.New("sipmsg: no message")
	}
	msg, err := parser.ParseSIP(b)
	if err != nil {
		return fmt.Errorf("sipmsg: the changed message does not parse: %w", err)
	}
	switch t := msg.(type) {
	case *sip.Request:
		if m.Req == nil {
			return errors.New("sipmsg: the changed message is not a request")
		}
		m.Req = t
	case *sip.Response:
		if m.Res == nil {
			return errors.New("sipmsg: the changed message is not a reply")
		}
		m.Res = t
	default:
		return fmt.Errorf("sipmsg: unexpected message type %T", msg)
	}
	m.Raw = b
	s := x.slot.Get(c)
	s.Changes.Reset()
	s.raw, s.parsedAt, s.parsedOK = nil, nil, false
	if s.hasNewURI && m.Req != nil {
		// keep the rewritten R-URI visible through the request line
		_ = setRecipient(m.Req, s.newURI)
	}
	return nil
}

// parser is sipgo's parser in the lazy mode sipio uses (headers stay raw
// name/value pairs).
var parser = func() *sip.Parser {
	def := sip.DefaultHeadersParser()
	p := sip.NewParser(sip.WithHeadersParsers(map[string]sip.HeaderParser{
		"content-length": def["content-length"],
		"l":              def["l"],
	}))
	p.MaxMessageLength = 1 << 20
	return p
}()

// SetRawValue overwrites raw[start:end] (the value of the nth header
// called name, as first parsed) with v, which must have the same length:
// in a copy of the message's bytes that then becomes c.Msg.Raw, and in the
// parsed request's header list — the in-place rewrite Kamailio's maxfwd
// does, visible to $hdr() at once. The offsets of the edits stay valid.
func (x *Msgs) SetRawValue(c *script.Ctx, name string, nth, start, end int, v string) error {
	m := c.Msg
	if m == nil || start < 0 || end > len(m.Raw) || start > end || len(v) != end-start {
		return errors.New("sipmsg: SetRawValue: bad region")
	}
	if err := sipio.CheckHeaderValue(v); err != nil {
		return err
	}
	b := append([]byte(nil), m.Raw...)
	copy(b[start:end], v)
	var hs []sip.Header
	if m.Req != nil {
		hs = m.Req.Headers()
	} else if m.Res != nil {
		hs = m.Res.Headers()
	}
	for i, sh := range hs {
		if EqualHeaderNames(sh.Name(), name) {
			if nth == 0 {
				hs[i] = sip.NewHeader(sh.Name(), v)
				break
			}
			nth--
		}
	}
	m.Raw = b
	return nil
}

// ---- reply lumps ----

// AddReplyHeaders records header text (one or more "Name: value" lines,
// each ended by CRLF) for the next stateless reply to this message
// (Kamailio's append_to_reply / add_lump_rpl). A line without ':' is an
// error; a missing final CRLF is added.
func (x *Msgs) AddReplyHeaders(c *script.Ctx, text string) error {
	if _, err := ReplyFields(nil, text); err != nil {
		return err
	}
	s := x.slot.Get(c)
	s.reply = append(s.reply, text)
	return nil
}

// SetReplyBody records the body (and, as a reply header, its Content-Type)
// of the next stateless reply (set_reply_body).
func (x *Msgs) SetReplyBody(c *script.Ctx, body []byte, contentType string) error {
	if err := x.AddReplyHeaders(c, "Content-Type: "+contentType+"\r\n"); err != nil {
		return err
	}
	s := x.slot.Get(c)
	s.replyBody, s.hasBody = body, true
	return nil
}

// ReplyOptions returns the options a stateless reply to this message must
// be sent with: the reply headers added by the script (append_to_reply,
// set_reply_body, sanity's Unsupported ...) followed by those in o, and the
// body set by set_reply_body when o has none. sl_send_reply and every
// module that sends a stateless reply call it. o may be nil; it is not
// modified.
func (x *Msgs) ReplyOptions(c *script.Ctx, o *sipio.ReplyOptions) *sipio.ReplyOptions {
	s := x.slot.Get(c)
	if len(s.reply) == 0 && !s.hasBody {
		return o
	}
	out := &sipio.ReplyOptions{}
	if o != nil {
		*out = *o
	}
	// the texts are concatenated first, as Kamailio writes its reply lumps
	// one after the other (a text without a line end continues the last
	// header line of the previous one)
	var fs []sipio.Field
	if len(s.reply) == 1 {
		fs, _ = ReplyFields(fs, s.reply[0])
	} else {
		fs, _ = ReplyFields(fs, strings.Join(s.reply, ""))
	}
	if o != nil {
		fs = append(fs, o.Headers...)
	}
	out.Headers = fs
	if s.hasBody && len(out.Body) == 0 {
		out.Body = s.replyBody
	}
	return out
}

// ReplyFields splits reply header text into fields, appending to dst.
// Kamailio copies the text as it is into the reply, so a line without a
// line end is glued to the next header: here it is an error only when a
// line has no ':' (sipio writes each field on its own line).
func ReplyFields(dst []sipio.Field, text string) ([]sipio.Field, error) {
	for text != "" {
		line, rest, _ := strings.Cut(text, "\n")
		text = rest
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		name, val, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return dst, fmt.Errorf("reply header %q: expected \"Name: value\"", line)
		}
		if err := sipio.CheckHeaderName(name); err != nil {
			return dst, err
		}
		dst = append(dst, sipio.Field{Name: name, Value: strings.TrimLeft(val, " \t")})
	}
	return dst, nil
}

// ---- flags ----

// BranchFlags returns the branch flags of branch 0 ($bf, setbflag).
func (x *Msgs) BranchFlags(c *script.Ctx) *uint32 { return &x.slot.Get(c).bflags }

// ScriptFlags returns the script flags (setsflag; Kamailio resets them at
// the start of every top route).
func (x *Msgs) ScriptFlags(c *script.Ctx) *uint32 { return &x.slot.Get(c).sflags }

// SetNoReply marks the message as one that must not be answered
// (Kamailio's FL_MSG_NOREPLY, set by sanity_check): SendReply then sends
// nothing and returns -2.
func (x *Msgs) SetNoReply(c *script.Ctx) { x.slot.Get(c).noReply = true }

// NoReply reports whether SetNoReply was called for this message.
func (x *Msgs) NoReply(c *script.Ctx) bool { return x.slot.Get(c).noReply }

// SendReply sends a stateless reply to the request c is processing the way
// Kamailio's sl module does (sl_send_reply, and the replies of sanity and
// siputils): no reply to an ACK or to a reply (-1), none to a message
// marked SetNoReply (-2); the reply headers and body the script added are
// included (ReplyOptions). It returns 1 when the reply was sent.
func (x *Msgs) SendReply(c *script.Ctx, srv *sipio.Server, code int, reason string, o *sipio.ReplyOptions) int {
	m := c.Msg
	if m == nil || m.Req == nil || srv == nil {
		return -1
	}
	if x.NoReply(c) {
		return -2
	}
	if strings.EqualFold(string(m.Req.Method), "ACK") {
		return -1
	}
	if err := srv.Respond(m, code, reason, x.ReplyOptions(c, o)); err != nil {
		c.Log.Error("cannot send the reply", "code", code, "err", err)
		return -1
	}
	return 1
}

// MaxFwd is what the maxfwd module remembers about a message's
// Max-Forwards header once it has read it (Kamailio keeps it in the parsed
// header): the current value and where the value was in the message.
type MaxFwd struct {
	Known      bool
	Value      int
	Start, End int // the value's bytes in the message as first parsed
}

// MaxForwards returns the message's MaxFwd record.
func (x *Msgs) MaxForwards(c *script.Ctx) *MaxFwd { return &x.slot.Get(c).maxfwd }

// SetStatus overwrites the 3-digit status code of a reply at offset off of
// its bytes (change_reply_status rewrites the buffer in place); the bytes
// are copied first, so views of the old ones stay valid.
func (x *Msgs) SetStatus(c *script.Ctx, off int, code string) error {
	m := c.Msg
	if m == nil || len(code) != 3 || off < 0 || off+3 > len(m.Raw) {
		return errors.New("sipmsg: SetStatus: bad status or offset")
	}
	b := append([]byte(nil), m.Raw...)
	copy(b[off:], code)
	m.Raw = b
	return nil
}

// Materialize returns the message to send for the one c is processing:
// c.Msg itself when the script made no edits, otherwise a copy whose bytes
// have the edits applied (Apply) and whose parsed request or reply is
// parsed from them. For a request, the copy's Request-URI is the one the
// script set (Dest). The copy can be given to sipio.Server.Forward (or
// ForwardReply for a reply): this is how forward() and stateless reply
// relaying send what append_hf, remove_hf, subst ... changed. c.Msg is not
// modified.
func (x *Msgs) Materialize(c *script.Ctx) (*sipio.Msg, error) {
	m := c.Msg
	if m == nil {
		return nil, errors.New("sipmsg: no message")
	}
	if x.slot.Get(c).Changes.Len() == 0 {
		return m, nil
	}
	b, err := x.Apply(c, false)
	if err != nil {
		return nil, err
	}
	msg, err := parser.ParseSIP(b)
	if err != nil {
		return nil, fmt.Errorf("sipmsg: the changed message does not parse: %w", err)
	}
	mc := *m
	mc.Raw = b
	switch t := msg.(type) {
	case *sip.Request:
		if m.Req == nil {
			return nil, errors.New("sipmsg: the changed message is not a reply")
		}
		mc.Req = t
		if uri := x.dest.RequestURI(c); uri != "" {
			if err := setRecipient(t, uri); err != nil {
				return nil, err
			}
		}
	case *sip.Response:
		if m.Res == nil {
			return nil, errors.New("sipmsg: the changed message is not a request")
		}
		mc.Res = t
	}
	return &mc, nil
}
