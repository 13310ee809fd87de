package sipmsg

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(msg))
	f.Add([]byte("SIP/2.0 200 OK\r\nVia: x\r\n\r\n"))
	f.Add([]byte("A b c\n d\nX:\n\n"))
	f.Add([]byte("INVITE x SIP/2.0\r\nA: b\r\n c\r\n\td\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var p Parsed
		ok := Parse(raw, &p)
		if p.HeadersStart > len(raw) || p.HeadersEnd > len(raw) || p.Body > len(raw) {
			t.Fatalf("offsets out of range: %+v", p)
		}
		last := p.HeadersStart
		for _, h := range p.Headers {
			if h.Start < last || h.Start >= h.End || h.End > len(raw) || h.ValueStart > h.ValueEnd ||
				h.ValueStart < h.Start || h.ValueEnd > h.End {
				t.Fatalf("bad header offsets %+v in %q", h, raw)
			}
			if string(raw[h.ValueStart:h.ValueEnd]) != h.Value || !strings.HasPrefix(string(raw[h.Start:]), h.Name) {
				t.Fatalf("views do not match offsets: %+v", h)
			}
			if h.Type != TypeOf(h.Name) {
				t.Fatal("type")
			}
			last = h.End
		}
		if ok && (p.Body < 0 || p.HeadersEnd < last) {
			t.Fatalf("ok but body %d headers end %d", p.Body, p.HeadersEnd)
		}
		if ok {
			// no edits: Apply returns the message unchanged
			var ch Changes
			o := &ApplyOptions{Body: p.Body, HeadersEnd: p.HeadersEnd, ContentLength: p.FindType(HdrContentLength)}
			if out := ch.Apply(nil, raw, o); !bytes.Equal(out, raw) {
				t.Fatalf("Apply without edits changed the message")
			}
		}
	})
}

func FuzzChanges(f *testing.F) {
	f.Add([]byte("0123456789"), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte(msg), []byte{0, 200, 3, 1, 0, 0, 2, 50, 50})
	f.Fuzz(func(t *testing.T, raw, ops []byte) {
		var ch Changes
		for i := 0; i+2 < len(ops) && i < 60; i += 3 {
			off := int(ops[i+1]) * len(raw) / 256
			n := int(ops[i+2]) % (len(raw) + 3)
			switch ops[i] % 4 {
			case 0:
				ch.Delete(off, n)
			case 1:
				ch.Anchor(off).Before("b")
			case 2:
				ch.Delete(off, n).After("a")
			case 3:
				ch.Anchor(off).After("c")
			}
		}
		var p Parsed
		Parse(raw, &p)
		o := &ApplyOptions{Body: p.Body, HeadersEnd: p.HeadersEnd, ContentLength: p.FindType(HdrContentLength)}
		out := ch.Apply(nil, raw, o)
		if len(out) > len(raw)+3*len(ops)+64 {
			t.Fatalf("output grew too much: %d from %d", len(out), len(raw))
		}
		_ = ch.Clone().Apply(nil, raw, nil)
	})
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"sip:a@b", "sips:a:pw@[::1]:5061;transport=tls;lr?h=v", "tel:+1-2;x=y",
		"urn:service:sos", "sip:+1;npdi@h;user=phone", "sip:a;x@b", "sip:a?x@b;y", "sip:a@b;c:d@e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		for _, part := range []string{u.User, u.Password, u.Host, u.Port, u.Params, u.Headers} {
			if !strings.Contains(s, part) {
				t.Fatalf("part %q not in %q", part, s)
			}
		}
		if u.HasParams && (u.ParamsOff < 0 || u.ParamsOff+len(u.Params) > len(s) || s[u.ParamsOff:u.ParamsOff+len(u.Params)] != u.Params) {
			t.Fatalf("ParamsOff wrong for %q", s)
		}
		if u.PortNo > MaxPort {
			t.Fatalf("port %d", u.PortNo)
		}
		if r, err := SetUser(s, "x"); err == nil {
			if _, err := ParseURI(r); err != nil && u.Type != URIURN {
				t.Logf("SetUser(%q) = %q does not parse: %v", s, r, err)
			}
		}
		ParseParams(u.Params, func(p Param) bool {
			if p.Start < 0 || p.End > len(u.Params) || p.Start > p.End {
				t.Fatalf("param offsets %+v in %q", p, u.Params)
			}
			return true
		})
	})
}

func FuzzParseNameAddr(f *testing.F) {
	for _, s := range []string{`"A" <sip:a@b>;tag=1`, `sip:a@b;tag=2`, `A <sip:a@b>`, `"x\"y" <u>`, `<a>;b="c;d"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		na, err := ParseNameAddr(s)
		if err == nil {
			if na.URI == "" || !strings.Contains(s, na.URI) {
				t.Fatalf("URI %q not in %q", na.URI, s)
			}
			na.Tag()
		}
		SplitComma(s)
		ParseParams(s, func(p Param) bool {
			if p.Start < 0 || p.End > len(s) || p.Start > p.End {
				t.Fatalf("param offsets %+v in %q", p, s)
			}
			return true
		})
	})
}
