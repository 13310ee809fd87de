package textops

import (
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// mimeTypes and mimeSubtypes are the names Kamailio's MIME parser knows;
// any other name is "unknown", and all unknown names are equal to each
// other (has_body("foo/bar") is true for a "baz/qux" body, as in Kamailio).
var mimeTypes = map[string]int{"text": 1, "message": 2, "application": 3, "multipart": 4, "*": 0xfe}

var mimeSubtypes = map[string]int{
	"plain": 1, "cpim": 2, "sdp": 3, "cpl+xml": 4, "pidf+xml": 5, "rlmi+xml": 6, "related": 7,
	"lpidf+xml": 8, "xpidf+xml": 9, "watcherinfo+xml": 10, "external-body": 11,
	"xml+msrtc.pidf": 12, "cpim-pidf+xml": 13, "mixed": 14, "isup": 15, "*": 0xfe,
}

// mimeID returns Kamailio's number for a "type/subtype" (parameters after
// ';' ignored); ok is false when there is no '/'.
func mimeID(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, ';'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	t, st, ok := strings.Cut(s, "/")
	if !ok {
		return 0, false
	}
	t, st = strings.ToLower(strings.TrimSpace(t)), strings.ToLower(strings.TrimSpace(st))
	if t == "" || st == "" {
		return 0, false
	}
	ti, ok := mimeTypes[t]
	if !ok {
		ti = 0xff
	}
	si, ok := mimeSubtypes[st]
	if !ok {
		si = 0xff
	}
	return ti<<16 | si, true
}

// has_body([type]): the message has a Content-Length header with a value
// other than 0 (and, with a type, a Content-Type of that type; none means
// application/sdp).
func (m *Module) fixHasBody(fc *script.FixupCtx) (script.Handler, error) {
	want := 0
	if fc.NArgs() == 1 {
		s, err := fc.Arg(0).String()
		if err != nil {
			return nil, err
		}
		if s != "" {
			if strings.ContainsAny(s, ",") {
				return nil, fc.Arg(0).Errorf("multiple mimes not supported")
			}
			id, ok := mimeID(s)
			if !ok {
				return nil, fc.Arg(0).Errorf("unsupported mime %q", s)
			}
			want = id
		}
	}
	return func(c *script.Ctx) int {
		p, _ := m.msgs.Parsed(c)
		if p == nil {
			return -1
		}
		cl := p.FindType(sipmsg.HdrContentLength)
		if cl == nil {
			return -1
		}
		if n, err := strconv.Atoi(cl.Value); err != nil || n == 0 {
			return -1
		}
		if want == 0 {
			return 1
		}
		got := 3<<16 | 3 // application/sdp
		if ct := p.FindType(sipmsg.HdrContentType); ct != nil {
			id, ok := mimeID(ct.Value)
			if !ok {
				c.Log.Error("textops: failed to extract the content type")
				return -1
			}
			got = id
		}
		if got != want {
			return -1
		}
		return 1
	}, nil
}

// set_body(body, content_type): replace the body (and Content-Type,
// Content-Length) of the message that will be sent.
func (m *Module) fixSetBody(fc *script.FixupCtx) (script.Handler, error) {
	bf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	tf, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		body, ctype := bf.String(c), tf.String(c)
		if body == "" || ctype == "" {
			c.Log.Error("textops: set_body: invalid body or content-type parameter")
			return -1
		}
		p, ok := m.msgs.Parsed(c)
		if !ok || p.Body < 0 {
			c.Log.Error("textops: set_body: malformed sip message")
			return -1
		}
		ch := &m.msgs.State(c).Changes
		ch.DropFrom(p.Body)
		cl := p.FindType(sipmsg.HdrContentLength)
		if cl != nil {
			if n, err := strconv.Atoi(cl.Value); err == nil && n > 0 {
				if p.Body+n > len(c.Msg.Raw) {
					c.Log.Error("textops: set_body: invalid content length", "len", n)
					return -1
				}
				ch.Delete(p.Body, n)
			}
		}
		anchor := ch.Anchor(p.HeadersEnd)
		if cl == nil {
			anchor.After("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
		}
		ct := p.FindType(sipmsg.HdrContentType)
		if ct == nil || ct.Value != ctype {
			if ct != nil {
				ch.Delete(ct.Start, ct.End-ct.Start)
			}
			anchor.After("Content-Type: " + ctype + "\r\n")
		}
		ch.Anchor(p.Body).After(body)
		return 1
	}, nil
}

// set_reply_body(body, content_type): body of the next stateless reply.
func (m *Module) fixSetReplyBody(fc *script.FixupCtx) (script.Handler, error) {
	bf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	tf, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		body, ctype := bf.String(c), tf.String(c)
		if body == "" || ctype == "" || c.Msg == nil {
			c.Log.Error("textops: set_reply_body: invalid body or content-type parameter")
			return -1
		}
		if err := m.msgs.SetReplyBody(c, []byte(body), ctype); err != nil {
			c.Log.Error("textops: set_reply_body", "err", err)
			return -1
		}
		return 1
	}, nil
}

// privacy values (RFC 3323 / 3325) and their bits, as Kamailio's
// parse_privacy.
var privacyValues = map[string]uint{
	"user": 1, "header": 2, "session": 4, "none": 8, "critical": 16, "id": 32, "history": 64,
}

// is_privacy(value): the Privacy header lists value.
func (m *Module) fixIsPrivacy(fc *script.FixupCtx) (script.Handler, error) {
	s, err := fc.Arg(0).String()
	if err != nil {
		return nil, err
	}
	bit, ok := privacyValues[strings.ToLower(s)]
	if !ok {
		return nil, fc.Arg(0).Errorf("invalid privacy value %q", s)
	}
	return func(c *script.Ctx) int {
		p, ok := m.msgs.Parsed(c)
		if !ok {
			return -1
		}
		h := p.FindType(sipmsg.HdrPrivacy)
		if h == nil {
			return -1
		}
		var got uint
		for _, v := range strings.Split(h.Value, ";") {
			b, ok := privacyValues[strings.ToLower(strings.TrimSpace(v))]
			if !ok {
				return -1 // a malformed Privacy header fails to parse
			}
			got |= b
		}
		if got&bit != 0 {
			return 1
		}
		return -1
	}, nil
}
