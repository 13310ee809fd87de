package siputils

import (
	"net/netip"
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
)

func fixIsRequest(req bool) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		return func(c *script.Ctx) int {
			if c.Msg == nil {
				return -1
			}
			if req == (c.Msg.Req != nil) && (c.Msg.Req != nil || c.Msg.Res != nil) {
				return 1
			}
			return -1
		}, nil
	}
}

// has_totag(): the To header has a non-empty tag parameter.
func (m *Module) fixHasTotag(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		p, _ := m.msgs.Parsed(c)
		if p == nil {
			return -1
		}
		h := p.FindType(sipmsg.HdrTo)
		if h == nil {
			return -1
		}
		na, err := sipmsg.ParseNameAddr(h.Value)
		if err != nil {
			c.Log.Error("siputils: To parsing failed", "err", err)
			return -1
		}
		if tag, _ := na.Tag(); tag == "" {
			return -1
		}
		return 1
	}, nil
}

// ruri returns the current R-URI parsed; ok=false (with an error logged)
// when it does not parse.
func (m *Module) ruri(c *script.Ctx) (string, sipmsg.URI, bool) {
	if c.Msg == nil || c.Msg.Req == nil {
		return "", sipmsg.URI{}, false
	}
	s := m.msgs.Dest().RequestURI(c)
	u, err := sipmsg.ParseURI(s)
	if err != nil {
		c.Log.Error("siputils: ruri parsing failed", "uri", s)
		return s, u, false
	}
	return s, u, true
}

// uri_param(name[, value]): the R-URI has the parameter (with that value;
// without a value argument, the parameter must have no value). Names and
// values are compared case-sensitively.
func (m *Module) fixURIParam(fc *script.FixupCtx) (script.Handler, error) {
	nf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	var vf *script.Format
	if fc.NArgs() == 2 {
		if vf, err = fc.Arg(1).Format(); err != nil {
			return nil, err
		}
	}
	return func(c *script.Ctx) int {
		_, u, ok := m.ruri(c)
		if !ok {
			return -1
		}
		name := nf.String(c)
		ret := -1
		okp := sipmsg.ParseParams(u.Params, func(p sipmsg.Param) bool {
			if p.Name != name {
				return true
			}
			if vf != nil {
				if p.Value == vf.String(c) {
					ret = 1
				}
			} else if p.Value == "" {
				ret = 1
			}
			return false
		})
		if !okp {
			c.Log.Error("siputils: ruri parameter parsing failed")
			return -1
		}
		return ret
	}, nil
}

// sipOrParams returns the URI's own parameters (sip_params) or, when
// empty, the tel parameters.
func sipOrParams(u sipmsg.URI) string {
	if u.SIPParams != "" {
		return u.SIPParams
	}
	return u.Params
}

// uri_param_any(name): the R-URI has the parameter (any value; name
// case-insensitive).
func (m *Module) fixURIParamAny(fc *script.FixupCtx) (script.Handler, error) {
	nf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		_, u, ok := m.ruri(c)
		if !ok {
			return -1
		}
		ps := sipOrParams(u)
		if ps == "" {
			return -1
		}
		name := nf.String(c)
		ret := -1
		if !sipmsg.ParseParams(ps, func(p sipmsg.Param) bool {
			if strings.EqualFold(p.Name, name) {
				ret = 1
				return false
			}
			return true
		}) {
			return -1
		}
		return ret
	}, nil
}

// uri_param_rm(name): remove the parameter from the R-URI (1 also when it
// is not there).
func (m *Module) fixURIParamRm(fc *script.FixupCtx) (script.Handler, error) {
	nf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		s, u, ok := m.ruri(c)
		if !ok {
			return -1
		}
		if len(s) >= sipmsg.MaxURISize {
			return -1
		}
		ps, off := u.SIPParams, u.SIPParamsOff
		if ps == "" {
			ps, off = u.Params, u.ParamsOff
		}
		if ps == "" {
			return 1
		}
		name := nf.String(c)
		var cut []int
		okp := sipmsg.ParseParams(ps, func(p sipmsg.Param) bool {
			if strings.EqualFold(p.Name, name) {
				// from the ';' before the name to the end of the value
				from := off + p.Start
				for from > 0 && s[from] != ';' {
					from--
				}
				end := off + p.End
				if p.Value == "" {
					end = off + p.Start + len(p.Name)
				}
				cut = []int{from, end}
				return false
			}
			return true
		})
		if !okp {
			return -1
		}
		if cut == nil {
			return 1
		}
		nu := s[:cut[0]] + s[cut[1]:]
		if err := m.msgs.Dest().SetRequestURI(c, nu); err != nil {
			return -1
		}
		return 1
	}, nil
}

// add_uri_param(param): append ";param" to the R-URI (before its
// headers).
func (m *Module) fixAddURIParam(fc *script.FixupCtx) (script.Handler, error) {
	param, err := fc.Arg(0).String()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		if param == "" {
			return 1
		}
		s, u, ok := m.ruri(c)
		if !ok {
			return -1
		}
		var nu string
		if !u.HasHeaders {
			nu = s + ";" + param
		} else {
			q := strings.LastIndexByte(s, '?')
			nu = s[:q] + ";" + param + s[q:]
		}
		if len(nu) > sipmsg.MaxURISize {
			c.Log.Error("siputils: new ruri too long")
			return -1
		}
		if err := m.msgs.Dest().SetRequestURI(c, nu); err != nil {
			c.Log.Error("siputils: add_uri_param", "err", err)
			return -1
		}
		return 1
	}, nil
}

// get_uri_param(name, $pv): store the value of an R-URI parameter.
func (m *Module) fixGetURIParam(fc *script.FixupCtx) (script.Handler, error) {
	name, err := fc.Arg(0).String()
	if err != nil {
		return nil, err
	}
	dst, err := fc.Arg(1).PV(true)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		_, u, ok := m.ruri(c)
		if !ok {
			return -1
		}
		ret := -1
		sipmsg.ParseParams(u.Params, func(p sipmsg.Param) bool {
			if p.Name == name {
				if err := dst.Set(c, script.Str(strings.Clone(p.Value))); err == nil {
					ret = 1
				}
				return false
			}
			return true
		})
		return ret
	}, nil
}

// tel2sip(uri, hostpart, $res): "tel:+1-234;p=x" -> "sip:+1234;p=x@host;user=phone";
// 2 when the URI is not a tel: URI.
func fixTel2SIP(fc *script.FixupCtx) (script.Handler, error) {
	uf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	hf, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	dst, err := fc.Arg(2).PV(true)
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		uri, host := uf.String(c), hf.String(c)
		if len(uri) < 4 || !strings.EqualFold(uri[:4], "tel:") {
			return 2
		}
		var b strings.Builder
		b.WriteString("sip:")
		inParams := false
		for i := 4; i < len(uri); i++ {
			ch := uri[i]
			if !inParams && ch == ';' {
				inParams = true
			}
			if !inParams && (ch == '-' || ch == '.' || ch == '(' || ch == ')') {
				continue
			}
			if ch >= 'A' && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			b.WriteByte(ch)
		}
		b.WriteByte('@')
		b.WriteString(host)
		b.WriteString(";user=phone")
		if err := dst.Set(c, script.Str(b.String())); err != nil {
			c.Log.Error("siputils: tel2sip: failed to set the result", "err", err)
			return -1
		}
		return 1
	}, nil
}

func fixIsURI(fc *script.FixupCtx) (script.Handler, error) {
	f, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		if _, err := sipmsg.ParseURI(f.String(c)); err != nil {
			return -1
		}
		return 1
	}, nil
}

// e164 is Kamailio's e164_check: '+' and 2 to 15 digits.
func e164(s string) bool {
	if len(s) <= 2 || len(s) >= 17 || s[0] != '+' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// is_e164($pv) / is_uri_user_e164($pv): the PV (the user part of the URI
// in it) is an E.164 number. The argument must be a pseudo-variable.
func fixIsE164(uriUser bool) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		pv, err := fc.Arg(0).PV(false)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			v := pv.Get(c)
			if v.IsNull() {
				c.Log.Error("siputils: pseudo variable value is not string")
				return -1
			}
			s := v.AsString()
			if s == "" {
				return -1
			}
			if uriUser {
				i := strings.IndexByte(s, ':')
				if i < 0 {
					c.Log.Error("siputils: parsing URI failed")
					return -1
				}
				s = s[i+1:]
				j := strings.IndexByte(s, '@')
				if j < 0 {
					return -1
				}
				s = s[:j]
			}
			if e164(s) {
				return 1
			}
			return -1
		}, nil
	}
}

// cmpURI compares two URIs as RFC 3261 §19.1.4 says (Kamailio's cmp_uri):
// scheme, user, password and port exactly, host case-insensitively, and
// the parameters both have (case-insensitively); user, ttl, method and
// maddr must be on both sides or neither.
func cmpURI(a, b string) int {
	u1, err1 := sipmsg.ParseURI(a)
	u2, err2 := sipmsg.ParseURI(b)
	if err1 != nil || err2 != nil {
		return -2
	}
	if u1.Type != u2.Type || u1.User != u2.User || u1.Port != u2.Port || u1.Password != u2.Password ||
		!strings.EqualFold(u1.Host, u2.Host) {
		return -1
	}
	if u1.Params == "" && u2.Params == "" {
		return 1
	}
	special := func(u sipmsg.URI) bool {
		return u.UserParam.Set || u.TTL.Set || u.Method.Set || u.MAddr.Set
	}
	if u1.Params == "" && special(u2) || u2.Params == "" && special(u1) {
		return -1
	}
	var p1, p2 []sipmsg.Param
	if !sipmsg.ParseParams(u1.Params, func(p sipmsg.Param) bool { p1 = append(p1, p); return true }) ||
		!sipmsg.ParseParams(u2.Params, func(p sipmsg.Param) bool { p2 = append(p2, p); return true }) {
		return -2
	}
	for _, x := range p1 {
		for _, y := range p2 {
			if strings.EqualFold(x.Name, y.Name) && !strings.EqualFold(x.Value, y.Value) {
				return -1
			}
		}
	}
	return 1
}

// cmpAOR compares user, host and port (a missing port equals 5060).
func cmpAOR(a, b string) int {
	u1, err1 := sipmsg.ParseURI(a)
	u2, err2 := sipmsg.ParseURI(b)
	if err1 != nil || err2 != nil {
		return -2
	}
	if u1.User != u2.User || len(u1.Host) != len(u2.Host) {
		return -1
	}
	if u1.Port != u2.Port {
		if u1.Port == "" && u2.PortNo != 5060 || u2.Port == "" && u1.PortNo != 5060 {
			return -1
		}
	}
	if !strings.EqualFold(u1.Host, u2.Host) {
		return -1
	}
	return 1
}

func cmpHdrName(a, b string) int {
	a = strings.TrimRight(a, " \t\r\n")
	b = strings.TrimRight(b, " \t\r\n")
	ta, tb := sipmsg.TypeOf(a), sipmsg.TypeOf(b)
	if ta != sipmsg.HdrOther || tb != sipmsg.HdrOther {
		if ta == tb {
			return 1
		}
		return -1
	}
	return script.CmpCode(script.CompareStr(a, b, true))
}

// is_gruu([uri]): 1 when the URI (the R-URI) has a "gr" parameter with a
// value, 2 without a value, -1 without one.
func (m *Module) fixIsGRUU(fc *script.FixupCtx) (script.Handler, error) {
	var f *script.Format
	if fc.NArgs() == 1 {
		var err error
		if f, err = fc.Arg(0).Format(); err != nil {
			return nil, err
		}
	}
	return func(c *script.Ctx) int {
		var u sipmsg.URI
		if f != nil {
			var err error
			if u, err = sipmsg.ParseURI(f.String(c)); err != nil {
				return -1
			}
		} else {
			var ok bool
			if _, u, ok = m.ruri(c); !ok {
				return -1
			}
		}
		if !u.GR.Set {
			return -1
		}
		if u.GR.Value != "" {
			return 1
		}
		return 2
	}, nil
}

// is_first_hop(): a request with a single Via; a reply whose top
// Record-Route is this server and that did not come from this server.
// (Kamailio 5.6 ignores the optional mode argument.)
func (m *Module) fixIsFirstHop(fc *script.FixupCtx) (script.Handler, error) {
	return func(c *script.Ctx) int {
		p, _ := m.msgs.Parsed(c)
		if p == nil || c.Msg == nil {
			return -1
		}
		if c.Msg.Req != nil {
			n := 0
			for i := range p.Headers {
				if p.Headers[i].Type == sipmsg.HdrVia {
					n += len(sipmsg.SplitComma(p.Headers[i].Value))
					if n > 1 {
						return -1
					}
				}
			}
			return 1
		}
		rr := p.FindType(sipmsg.HdrRecordRoute)
		if rr == nil {
			return 1
		}
		na, err := sipmsg.ParseNameAddr(sipmsg.SplitComma(rr.Value)[0])
		if err != nil {
			return -1
		}
		u, err := sipmsg.ParseURI(na.URI)
		if err != nil {
			return -1
		}
		host := strings.Trim(u.Host, "[]")
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return -1
		}
		self := m.msgs.Myself()
		if self == nil {
			return -1
		}
		var tp sipio.Transport
		if u.Transport.Set {
			tp = sipio.ParseTransport(u.Transport.Value)
		}
		port := 0
		if u.HasPort {
			port = u.PortNo
		}
		if !self(u.Host, port, tp) {
			return -1
		}
		src := c.Msg.Source
		if src.Addr().Unmap() == ip.Unmap() &&
			(int(src.Port()) == u.PortNo || u.Port == "" && src.Port() == 5060) &&
			(tp == c.Msg.Transport || tp == 0 && c.Msg.Transport == sipio.UDP) {
			return -1
		}
		return 1
	}, nil
}

// isTelNumber: digits with an optional leading '+' followed by 1-9.
func isTelNumber(s string) int {
	if s == "" {
		return -2
	}
	i := 0
	if s[0] == '+' {
		if len(s) < 2 || s[1] < '1' || s[1] > '9' {
			return -2
		}
		i = 2
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -2
		}
	}
	return 1
}

func isNumeric(s string) int {
	if s == "" {
		return -2
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -2
		}
	}
	return 1
}

func isAlnumByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

func isAlphanum(s string) int {
	if s == "" {
		return -2
	}
	for i := 0; i < len(s); i++ {
		if !isAlnumByte(s[i]) {
			return -3
		}
	}
	return 1
}

func fixIsAlphanumEx(fc *script.FixupCtx) (script.Handler, error) {
	tf, err := fc.Arg(0).Format()
	if err != nil {
		return nil, err
	}
	ef, err := fc.Arg(1).Format()
	if err != nil {
		return nil, err
	}
	return func(c *script.Ctx) int {
		s, extra := tf.String(c), ef.String(c)
		if s == "" {
			return -2
		}
		for i := 0; i < len(s); i++ {
			if !isAlnumByte(s[i]) && strings.IndexByte(extra, s[i]) < 0 {
				return -3
			}
		}
		return 1
	}, nil
}

// set_uri_user($uri, user) / set_uri_host($uri, host): rewrite a part of
// the URI stored in a pseudo-variable.
func fixSetURIPart(fn func(uri, v string) (string, bool)) func(fc *script.FixupCtx) (script.Handler, error) {
	return func(fc *script.FixupCtx) (script.Handler, error) {
		dst, err := fc.Arg(0).PV(true)
		if err != nil {
			return nil, err
		}
		val, err := fc.Arg(1).PV(false)
		if err != nil {
			return nil, err
		}
		return func(c *script.Ctx) int {
			uv, vv := dst.Get(c), val.Get(c)
			if uv.IsNull() || vv.IsNull() || uv.AsString() == "" {
				c.Log.Error("siputils: missing uri or value")
				return -1
			}
			res, ok := fn(uv.AsString(), vv.AsString())
			if !ok {
				return -1
			}
			if err := dst.Set(c, script.Str(res)); err != nil {
				return -1
			}
			return 1
		}, nil
	}
}

func setURIUser(uri, user string) (string, bool) {
	colon := strings.IndexByte(uri, ':')
	if colon < 0 || len(uri)+len(user) > sipmsg.MaxURISize {
		return "", false
	}
	at := strings.IndexByte(uri, '@')
	switch {
	case at < 0 && user == "":
		return uri, true
	case at < 0:
		return uri[:colon+1] + user + "@" + uri[colon+1:], true
	case user == "":
		return uri[:colon+1] + uri[at+1:], true
	}
	return uri[:colon+1] + user + uri[at:], true
}

func setURIHost(uri, host string) (string, bool) {
	if host == "" || len(uri)+len(host) > sipmsg.MaxURISize {
		return "", false
	}
	colon := strings.IndexByte(uri, ':')
	if colon < 0 {
		return "", false
	}
	next := colon + 1
	if at := strings.IndexByte(uri[colon+1:], '@'); at >= 0 {
		next = colon + 1 + at + 1
	}
	n := strings.IndexAny(uri[next:], ":;?")
	if n < 0 {
		n = len(uri) - next
	}
	return uri[:next] + host + uri[next+n:], true
}
