package pv

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
	"github.com/sipht/sipht/modules/core"
)

// hdrName is the (possibly dynamic) header name of $hdr/$hdrc.
type hdrName struct {
	konst sipmsg.HeaderName
	dyn   *script.Format
}

func (m *Module) parseHdrName(pc *script.PVFixupCtx) (hdrName, error) {
	in := strings.TrimSpace(pc.Inner)
	if in == "" {
		return hdrName{}, pc.Errorf("empty header name")
	}
	if strings.IndexByte(in, '$') >= 0 {
		f, err := pc.ParseFormat(in)
		if err != nil {
			return hdrName{}, err
		}
		return hdrName{dyn: f}, nil
	}
	if in != "*" && !validHeaderName(in) {
		return hdrName{}, pc.Errorf("invalid header name %q", in)
	}
	return hdrName{konst: sipmsg.NewHeaderName(in)}, nil
}

// name returns the header name for this message; ok is false for a
// dynamic name that is not a valid header name.
func (n hdrName) name(c *script.Ctx) (sipmsg.HeaderName, bool) {
	if n.dyn == nil {
		return n.konst, true
	}
	s := strings.TrimSpace(n.dyn.String(c))
	return sipmsg.NewHeaderName(s), s == "*" || validHeaderName(s)
}

// validHeaderName reports whether name is a header name Kamailio's parser
// accepts: letters, digits and - . _ + ~ only, not empty.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') && c != '-' && c != '.' && c != '_' && c != '+' && c != '~' {
			return false
		}
	}
	return true
}

func hdrMatch(h sip.Header, name sipmsg.HeaderName) bool {
	return name.Name == "*" || core.MatchHeader(name, h.Name())
}

// fixupHdr compiles $hdr(name), $(hdr(name)[n]) (n < 0 counts from the
// last), $(hdr(name)[*]) (all bodies joined with ","): the header bodies
// as received, compact names matching their full forms.
func (m *Module) fixupHdr(pc *script.PVFixupCtx) (*script.PV, error) {
	hn, err := m.parseHdrName(pc)
	if err != nil {
		return nil, err
	}
	ix, err := pc.Index()
	if err != nil {
		return nil, err
	}
	get := func(c *script.Ctx) script.Value {
		name, ok := hn.name(c)
		if !ok {
			c.Log.Error("error parsing header name", "name", name.Name)
			return script.Null
		}
		hs := core.Headers(c.Msg)
		switch ix.Kind {
		case script.IndexAll:
			b := c.GetBuf()
			found := false
			for _, h := range hs {
				if hdrMatch(h, name) {
					if found {
						b = append(b, ',')
					}
					b = append(b, h.Value()...)
					found = true
				}
			}
			var v script.Value
			if found {
				v = script.Str(string(b))
			}
			c.PutBuf(b)
			return v
		case script.IndexNone:
			for _, h := range hs {
				if hdrMatch(h, name) {
					return script.Str(h.Value())
				}
			}
			return script.Null
		}
		k := ix.At(c)
		if k < 0 {
			n := 0
			for _, h := range hs {
				if hdrMatch(h, name) {
					n++
				}
			}
			k += n
			if k < 0 {
				return script.Null
			}
		}
		for _, h := range hs {
			if hdrMatch(h, name) {
				if k == 0 {
					return script.Str(h.Value())
				}
				k--
			}
		}
		return script.Null
	}
	return &script.PV{Get: get}, nil // no Count: Kamailio's $cnt takes only $avp and $xavp
}

// fixupHdrc compiles $hdrc(name): how many headers called name there are.
func (m *Module) fixupHdrc(pc *script.PVFixupCtx) (*script.PV, error) {
	hn, err := m.parseHdrName(pc)
	if err != nil {
		return nil, err
	}
	return &script.PV{Get: func(c *script.Ctx) script.Value {
		name, ok := hn.name(c)
		if !ok {
			return script.Int(0)
		}
		n := 0
		for _, h := range core.Headers(c.Msg) {
			if name.Name != "*" && hdrMatch(h, name) {
				n++
			}
		}
		return script.Int(int64(n))
	}}, nil
}
