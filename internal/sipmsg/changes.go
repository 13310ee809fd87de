package sipmsg

import (
	"sort"
	"strconv"
	"unsafe"
)

// bstr views b as a string without copying (see Header for the lifetime).
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Changes is the list of edits a routing script made to a message — what
// Kamailio calls lumps. Functions such as append_hf, remove_hf, subst and
// replace do not touch the received message: they record an edit at an
// offset of the original bytes, and the edits are applied when the message
// is sent (forward, relay) or when msg_apply_changes() is called. So $hdr()
// and is_present_hf() keep seeing the original headers, as in Kamailio.
//
// An edit is an anchor at an offset of the original message, which either
// deletes n bytes there (a "del" lump) or deletes nothing (a "nop" anchor);
// text can be inserted before and after each anchor. Anchors are kept
// sorted by offset; anchors at the same offset keep their creation order.
// Apply reproduces Kamailio's way of resolving overlaps: a deletion that
// starts inside an earlier one is cut to what is left after it, and an
// anchor inside a deleted zone moves to the end of that zone (text inserted
// there is still written).
type Changes struct {
	anchors []*Lump
}

// Lump is one anchor of Changes. Insert text around it with Before and
// After.
type Lump struct {
	off, n int
	del    bool
	// before and after hold the inserted texts in insertion order; like
	// Kamailio's insert_new_lump_before/after, the newest is written first.
	before, after []string
}

// Len reports how many anchors there are.
func (ch *Changes) Len() int { return len(ch.anchors) }

// Reset removes every edit.
func (ch *Changes) Reset() {
	clear(ch.anchors)
	ch.anchors = ch.anchors[:0]
}

// Clone returns an independent copy (a forwarder adds its own Via edits to
// a clone, so that the script's edits stay as they are for the next
// branch).
func (ch *Changes) Clone() *Changes {
	out := &Changes{anchors: make([]*Lump, len(ch.anchors))}
	for i, l := range ch.anchors {
		c := *l
		c.before = append([]string(nil), l.before...)
		c.after = append([]string(nil), l.after...)
		out.anchors[i] = &c
	}
	return out
}

func (ch *Changes) insert(l *Lump) *Lump {
	// after every anchor with an offset <= l.off (stable)
	i := sort.Search(len(ch.anchors), func(i int) bool { return ch.anchors[i].off > l.off })
	ch.anchors = append(ch.anchors, nil)
	copy(ch.anchors[i+1:], ch.anchors[i:])
	ch.anchors[i] = l
	return l
}

// Anchor adds an anchor at off that deletes nothing (Kamailio's
// anchor_lump).
func (ch *Changes) Anchor(off int) *Lump {
	return ch.insert(&Lump{off: off})
}

// Delete adds an anchor at off that deletes n bytes (Kamailio's del_lump).
func (ch *Changes) Delete(off, n int) *Lump {
	return ch.insert(&Lump{off: off, n: n, del: true})
}

// Before inserts text just before the anchor; when several texts are
// inserted before one anchor, the newest is written first (as Kamailio's
// insert_new_lump_before).
func (l *Lump) Before(text string) *Lump {
	l.before = append(l.before, text)
	return l
}

// After inserts text just after the anchor (and after what it deletes);
// the newest "after" text is written first, as Kamailio does.
func (l *Lump) After(text string) *Lump {
	l.after = append(l.after, text)
	return l
}

// Offset returns the anchor's offset in the original message.
func (l *Lump) Offset() int { return l.off }

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// Body is the offset of the body in raw (Parsed.Body); with
	// ContentLength it lets Apply fix the Content-Length header when edits
	// change the body's length (as Kamailio does). -1 or 0 disables it.
	Body int
	// ContentLength is the Content-Length header of raw, if any.
	ContentLength *Header
	// HeadersEnd is where a Content-Length header is added when the body
	// changed and the message had none.
	HeadersEnd int
	// ForceContentLength writes a correct Content-Length even when the body
	// did not change (stream transports need one).
	ForceContentLength bool
}

// Apply appends to dst the message raw with the edits applied.
func (ch *Changes) Apply(dst, raw []byte, o *ApplyOptions) []byte {
	if o == nil {
		o = &ApplyOptions{}
	}
	anchors := ch.anchors
	var clExtra *Lump
	if o.Body > 0 && o.Body <= len(raw) {
		delta := ch.bodyDelta(raw, o.Body)
		newLen := len(raw) - o.Body + delta
		if delta != 0 || o.ForceContentLength {
			if cl := o.ContentLength; cl != nil {
				if cl.Value != strconv.Itoa(newLen) {
					clExtra = &Lump{off: cl.ValueStart, n: cl.ValueEnd - cl.ValueStart, del: true,
						after: []string{strconv.Itoa(newLen)}}
				}
			} else if o.HeadersEnd > 0 && (newLen > 0 || o.ForceContentLength) {
				clExtra = &Lump{off: o.HeadersEnd, before: []string{"Content-Length: " + strconv.Itoa(newLen) + "\r\n"}}
			}
		}
	}
	if clExtra != nil {
		c := &Changes{anchors: append([]*Lump(nil), anchors...)}
		c.insert(clExtra)
		anchors = c.anchors
	}
	s := 0 // next original byte to copy
	for _, l := range anchors {
		off := l.off
		if off > len(raw) {
			off = len(raw)
		}
		if off < s {
			off = s
		}
		dst = append(dst, raw[s:off]...)
		s = off
		for i := len(l.before) - 1; i >= 0; i-- {
			dst = append(dst, l.before[i]...)
		}
		if l.del {
			end := l.off + l.n
			if end > len(raw) {
				end = len(raw)
			}
			if end > s {
				s = end
			}
		}
		for i := len(l.after) - 1; i >= 0; i-- {
			dst = append(dst, l.after[i]...)
		}
	}
	return append(dst, raw[s:]...)
}

// bodyDelta computes by how many bytes the edits change the part of raw
// from body on.
func (ch *Changes) bodyDelta(raw []byte, body int) int {
	delta, s := 0, 0
	for _, l := range ch.anchors {
		off := min(l.off, len(raw))
		off = max(off, s)
		s = off
		ins := 0
		for _, t := range l.before {
			ins += len(t)
		}
		for _, t := range l.after {
			ins += len(t)
		}
		del := 0
		if l.del {
			end := min(l.off+l.n, len(raw))
			if end > s {
				// count only the deleted bytes inside the body
				from := max(s, body)
				if end > from {
					del = end - from
				}
				s = end
			}
		}
		if off >= body {
			delta += ins
		}
		delta -= del
	}
	return delta
}

// DropFrom removes the anchors at or after off (set_body drops the body
// edits made before it, as Kamailio frees the body lumps).
func (ch *Changes) DropFrom(off int) {
	out := ch.anchors[:0]
	for _, l := range ch.anchors {
		if l.off < off {
			out = append(out, l)
		}
	}
	clear(ch.anchors[len(out):])
	ch.anchors = out
}
