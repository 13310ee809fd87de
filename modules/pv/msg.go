package pv

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/sipmsg"
	"github.com/sipht/sipht/modules/core"
)

// Values that Kamailio prints from constants; returning them does not
// allocate.
var (
	str5060 = script.StrInt("5060", 5060)
	str5061 = script.StrInt("5061", 5061)
	strUDP  = script.StrInt("UDP", 1) // Kamailio's default transport text
)

// methodIDs are Kamailio's METHOD_* values ($rm in integer context).
var methodIDs = map[string]int64{
	"INVITE": 1, "CANCEL": 2, "ACK": 4, "BYE": 8, "INFO": 16, "REGISTER": 32,
	"SUBSCRIBE": 64, "NOTIFY": 128, "MESSAGE": 256, "OPTIONS": 512, "PRACK": 1024,
	"UPDATE": 2048, "REFER": 4096, "PUBLISH": 8192, "KDMQ": 16384, "GET": 32768,
	"POST": 65536, "PUT": 131072, "DELETE": 262144,
}

// MethodID returns Kamailio's number for a method name (METHOD_OTHER for
// unknown ones).
func MethodID(m string) int64 {
	if id, ok := methodIDs[m]; ok {
		return id
	}
	if id, ok := methodIDs[strings.ToUpper(m)]; ok {
		return id
	}
	return 524288
}

// msgInfo is per-message data computed once ($mi), and a per-worker cache
// of the source address text ($si): consecutive messages from the same IP
// reuse one string, so reading $si does not allocate.
type msgInfo struct {
	id uint64

	srcAddr netip.Addr
	srcText string
}

func (mi *msgInfo) reset() { mi.id = 0 }

// sourceIP returns $si for the message c is processing.
func (m *Module) sourceIP(c *script.Ctx) string {
	mi := m.msgInfo.Get(c)
	a := c.Msg.Source.Addr().Unmap()
	if a != mi.srcAddr || mi.srcText == "" {
		mi.srcAddr, mi.srcText = a, a.String()
	}
	return mi.srcText
}

var msgIDs atomic.Uint64

// startTime is $Tb: when the process started.
var startTime = time.Now()

var pidValue = script.Int(int64(os.Getpid()))

func strOrNull(s string) script.Value {
	if s == "" {
		return script.Null
	}
	return script.Str(s)
}

// simple declares a PV class without inner name.
func simple(name string, get func(c *script.Ctx) script.Value, set func(c *script.Ctx, v script.Value) error) script.PVClass {
	pv := &script.PV{Get: get, Set: set}
	return script.PVClass{Name: name, Fixup: func(*script.PVFixupCtx) (*script.PV, error) { return pv, nil }}
}

// reqOnly wraps a getter that needs a request (null for replies and event
// routes).
func reqOnly(f func(c *script.Ctx) script.Value) func(c *script.Ctx) script.Value {
	return func(c *script.Ctx) script.Value {
		if c.Msg == nil || c.Msg.Req == nil {
			return script.Null
		}
		return f(c)
	}
}

func hasMsg(f func(c *script.Ctx, m *sipio.Msg) script.Value) func(c *script.Ctx) script.Value {
	return func(c *script.Ctx) script.Value {
		if c.Msg == nil {
			return script.Null
		}
		return f(c, c.Msg)
	}
}

// uriPart returns Kamailio's pv_get_xuri_attr for a parsed URI: 1 user, 2
// host, 3 port, 4 transport, 5 scheme, 6 user length.
func uriPart(u *sipmsg.URI, part int) script.Value {
	switch part {
	case 1:
		return strOrNull(u.User)
	case 2:
		return strOrNull(u.Host)
	case 3:
		if !u.HasPort {
			if core.URIProto(u) == core.ProtoTLS {
				return str5061
			}
			return str5060
		}
		return script.StrInt(u.Port, int64(u.PortNo))
	case 4:
		if !u.Transport.Set {
			return strUDP
		}
		return script.StrInt(u.Transport.Value, int64(max(core.URIProto(u), 0)))
	case 5:
		return script.StrInt(u.Type.String(), int64(u.Type))
	case 6:
		return script.Int(int64(len(u.User)))
	}
	return script.Null
}

// nameAddrPart is pv_get_xto_attr: 1 uri, 2 user, 3 host, 4 tag, 5 display,
// 6 user length.
func nameAddrPart(m *sipio.Msg, hdr string, part int) script.Value {
	na, ok := core.NameAddrHeader(m, hdr)
	if !ok {
		return script.Null
	}
	switch part {
	case 1:
		return script.Str(na.URI)
	case 4:
		tag, _ := na.Tag()
		return strOrNull(tag)
	case 5:
		return strOrNull(na.Display)
	}
	u, err := sipmsg.ParseURI(na.URI)
	if err != nil {
		return script.Null
	}
	switch part {
	case 2:
		return strOrNull(u.User)
	case 3:
		return strOrNull(u.Host)
	case 6:
		return script.Int(int64(len(u.User)))
	}
	return script.Null
}

var errNeedStr = errors.New("a string value is required")

func (m *Module) messagePVs() []script.PVClass {
	rt := m.routing
	ruriPart := func(part int) func(c *script.Ctx) script.Value {
		return reqOnly(func(c *script.Ctx) script.Value {
			u, ok := rt.Get(c).ParsedURI()
			if !ok {
				return script.Null
			}
			return uriPart(u, part)
		})
	}
	ouriPart := func(part int) func(c *script.Ctx) script.Value {
		return reqOnly(func(c *script.Ctx) script.Value {
			u, ok := rt.Get(c).ParsedOrigURI()
			if !ok {
				return script.Null
			}
			return uriPart(u, part)
		})
	}
	rewrite := func(op core.RewriteOp, nullOK bool) func(c *script.Ctx, v script.Value) error {
		return func(c *script.Ctx, v script.Value) error {
			if c.Msg == nil || c.Msg.Req == nil {
				return errors.New("no request to change")
			}
			var s string
			switch {
			case v.IsNull() && nullOK:
			case v.IsNull():
				return errors.New("bad parameters")
			case v.IsStr():
				s = v.AsString()
			case op == core.SetPort:
				s = v.AsString()
			default:
				return errNeedStr
			}
			return rt.Get(c).Rewrite(op, s, 0)
		}
	}
	ruri := reqOnly(func(c *script.Ctx) script.Value {
		r := rt.Get(c)
		if _, ok := r.ParsedURI(); !ok {
			return script.Null
		}
		return script.Str(r.URI())
	})
	setRuri := func(c *script.Ctx, v script.Value) error {
		if c.Msg == nil || c.Msg.Req == nil {
			return errors.New("no request to change")
		}
		if !v.IsStr() {
			if v.IsNull() {
				return errors.New("bad parameters")
			}
			return errNeedStr
		}
		rt.Get(c).SetURI(v.AsString())
		return nil
	}
	ouri := reqOnly(func(c *script.Ctx) script.Value {
		r := rt.Get(c)
		if _, ok := r.ParsedOrigURI(); !ok {
			return script.Null
		}
		return script.Str(r.OrigURI())
	})
	du := hasMsg(func(c *script.Ctx, _ *sipio.Msg) script.Value { return strOrNull(rt.Get(c).DstURI()) })
	setDu := func(c *script.Ctx, v script.Value) error {
		if c.Msg == nil {
			return errors.New("no message")
		}
		if v.IsNull() {
			rt.Get(c).SetDstURI("")
			return nil
		}
		if !v.IsStr() {
			return errNeedStr
		}
		rt.Get(c).SetDstURI(v.AsString())
		return nil
	}
	duPart := func(part int) func(c *script.Ctx) script.Value {
		return hasMsg(func(c *script.Ctx, _ *sipio.Msg) script.Value {
			d := rt.Get(c).DstURI()
			if d == "" {
				return script.Null
			}
			u, err := sipmsg.ParseURI(d)
			if err != nil {
				return script.Null
			}
			switch part {
			case 1:
				return strOrNull(u.Host)
			case 2:
				return uriPart(&u, 3)
			}
			return uriPart(&u, 4)
		})
	}
	from := func(part int) func(c *script.Ctx) script.Value {
		return hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value { return nameAddrPart(msg, "From", part) })
	}
	to := func(part int) func(c *script.Ctx) script.Value {
		return hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value { return nameAddrPart(msg, "To", part) })
	}
	header := func(name string) func(c *script.Ctx) script.Value {
		return hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			v, ok := core.Header(msg, name)
			if !ok || v == "" {
				return script.Null
			}
			return script.Str(v)
		})
	}
	cseq := func(whole bool) func(c *script.Ctx) script.Value {
		return hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			v, ok := core.Header(msg, "CSeq")
			if !ok {
				return script.Null
			}
			if whole {
				return script.Str(v)
			}
			n, _, _ := strings.Cut(v, " ")
			return script.Str(n)
		})
	}
	srcIP := hasMsg(func(c *script.Ctx, _ *sipio.Msg) script.Value { return script.Str(m.sourceIP(c)) })
	auth := func(field int) func(c *script.Ctx) script.Value {
		return reqOnly(func(c *script.Ctx) script.Value { return authAttr(c.Msg, field) })
	}
	// headerURI reads the URI of a name-addr header ($ai, $di, $re, $rt).
	headerURI := func(name string) func(c *script.Ctx) script.Value {
		return hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			na, ok := core.NameAddrHeader(msg, name)
			if !ok {
				return script.Null
			}
			return script.Str(na.URI)
		})
	}
	body := func(msg *sipio.Msg) []byte {
		if msg.Req != nil {
			return msg.Req.Body()
		}
		if msg.Res != nil {
			return msg.Res.Body()
		}
		return nil
	}
	ts := hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
		t := msg.Received
		if t.IsZero() {
			t = time.Now()
		}
		return script.Int(t.Unix())
	})
	proto := hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
		return script.StrInt(msg.Transport.String(), script.ProtoNumber(msg.Transport.String()))
	})
	classes := []script.PVClass{
		simple("si", srcIP, nil),
		simple("src_ip", srcIP, nil),
		simple("sp", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value { return script.Int(int64(msg.Source.Port())) }), nil),
		simple("Ri", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			if !msg.Local.IsValid() {
				return script.Null
			}
			return script.Str(msg.Local.Addr().Unmap().String())
		}), nil),
		simple("Rp", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value { return script.Int(int64(msg.Local.Port())) }), nil),
		simple("pr", proto, nil),
		simple("proto", proto, nil),
		simple("prid", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			return script.Int(script.ProtoNumber(msg.Transport.String()))
		}), nil),
		simple("af", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			if msg.Local.Addr().Unmap().Is4() {
				return script.Int(2)
			}
			return script.Int(10)
		}), nil),
		simple("rm", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			mt := core.Method(msg)
			if mt == "" {
				return script.Null
			}
			return script.StrInt(mt, MethodID(mt))
		}), nil),
		simple("rv", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			if msg.Req != nil {
				return script.Str(msg.Req.SipVersion)
			}
			return script.Str(msg.Res.SipVersion)
		}), nil),
		simple("ru", ruri, setRuri),
		simple("ruri", ruri, setRuri),
		simple("rU", ruriPart(1), rewrite(core.SetUser, true)),
		simple("ruri.user", ruriPart(1), rewrite(core.SetUser, true)),
		simple("rd", ruriPart(2), rewrite(core.SetHost, false)),
		simple("ruri.domain", ruriPart(2), rewrite(core.SetHost, false)),
		simple("rp", ruriPart(3), rewrite(core.SetPort, true)),
		simple("rP", ruriPart(4), nil),
		simple("rz", ruriPart(5), nil),
		simple("rUl", ruriPart(6), nil),
		simple("ou", ouri, nil),
		simple("ouri", ouri, nil),
		simple("oU", ouriPart(1), nil),
		simple("od", ouriPart(2), nil),
		simple("op", ouriPart(3), nil),
		simple("oP", ouriPart(4), nil),
		simple("oUl", ouriPart(6), nil),
		simple("du", du, setDu),
		simple("duri", du, setDu),
		simple("dd", duPart(1), nil),
		simple("dp", duPart(2), nil),
		simple("dP", duPart(3), nil),
		simple("fu", from(1), nil),
		simple("from", from(1), nil),
		simple("fU", from(2), nil),
		simple("from.user", from(2), nil),
		simple("fd", from(3), nil),
		simple("from.domain", from(3), nil),
		simple("ft", from(4), nil),
		simple("fn", from(5), nil),
		simple("fUl", from(6), nil),
		simple("tu", to(1), nil),
		simple("to", to(1), nil),
		simple("tU", to(2), nil),
		simple("to.user", to(2), nil),
		simple("td", to(3), nil),
		simple("to.domain", to(3), nil),
		simple("tt", to(4), nil),
		simple("tn", to(5), nil),
		simple("tUl", to(6), nil),
		simple("ci", header("Call-ID"), nil),
		simple("cs", cseq(false), nil),
		simple("csb", cseq(true), nil),
		simple("ua", header("User-Agent"), nil),
		simple("ct", header("Contact"), nil),
		simple("cT", header("Content-Type"), nil),
		simple("cl", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			v, ok := core.Header(msg, "Content-Length")
			if !ok {
				return script.Null
			}
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return script.Int(int64(n))
		}), nil),
		simple("rb", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value { return script.Str(string(body(msg))) }), nil),
		simple("bs", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value { return script.Int(int64(len(body(msg)))) }), nil),
		simple("mb", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value { return script.Str(string(msg.Raw)) }), nil),
		simple("ml", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value { return script.Int(int64(len(msg.Raw))) }), nil),
		simple("mt", func(c *script.Ctx) script.Value {
			switch {
			case c.Msg == nil:
				return script.Int(0)
			case c.Msg.Req != nil:
				return script.Int(1)
			}
			return script.Int(2)
		}, nil),
		simple("mts", func(c *script.Ctx) script.Value {
			switch {
			case c.Msg == nil:
				return script.Str("xx")
			case c.Msg.Req != nil:
				return script.Str("rq")
			}
			return script.Str("rp")
		}, nil),
		simple("mi", func(c *script.Ctx) script.Value {
			mi := m.msgInfo.Get(c)
			if mi.id == 0 {
				mi.id = msgIDs.Add(1)
			}
			return script.Int(int64(mi.id))
		}, nil),
		simple("mf", func(c *script.Ctx) script.Value { return script.Int(int64(uint32(c.Flags()))) },
			func(c *script.Ctx, v script.Value) error {
				if v.IsNull() {
					c.SetFlags(0)
					return nil
				}
				if !v.IsInt() {
					return errors.New("assigning non-int value to msg flags")
				}
				c.SetFlags(uint64(uint32(v.AsInt())))
				return nil
			}),
		simple("mF", func(c *script.Ctx) script.Value {
			f := uint32(c.Flags())
			return script.StrInt(fmt.Sprintf("%08x", f), int64(int32(f)))
		}, nil),
		simple("bf", func(*script.Ctx) script.Value { return script.Int(0) }, nil),
		simple("status", hasMsg(statusPV), nil),
		simple("rs", hasMsg(statusPV), nil),
		simple("rr", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			if msg.Res == nil {
				return script.Null
			}
			return script.Str(msg.Res.Reason)
		}), nil),
		simple("au", auth(1), nil),
		simple("ar", auth(2), nil),
		simple("adu", auth(3), nil),
		simple("ad", auth(4), nil),
		simple("aU", auth(0), nil),
		simple("aa", auth(6), nil),
		simple("adn", auth(7), nil),
		simple("adc", auth(8), nil),
		simple("adr", auth(9), nil),
		simple("ado", auth(10), nil),
		simple("ai", headerURI("P-Asserted-Identity"), nil),
		simple("di", headerURI("Diversion"), nil),
		simple("re", headerURI("Remote-Party-ID"), nil),
		simple("rt", headerURI("Refer-To"), nil),
		simple("Ts", ts, nil),
		simple("Tf", hasMsg(func(_ *script.Ctx, msg *sipio.Msg) script.Value {
			t := msg.Received
			if t.IsZero() {
				t = time.Now()
			}
			return script.StrInt(t.Format("Mon Jan _2 15:04:05 2006"), t.Unix())
		}), nil),
		simple("TS", func(*script.Ctx) script.Value { return script.Int(time.Now().Unix()) }, nil),
		simple("TF", func(*script.Ctx) script.Value {
			t := time.Now()
			return script.StrInt(t.Format("Mon Jan _2 15:04:05 2006"), t.Unix())
		}, nil),
		simple("Tb", func(*script.Ctx) script.Value { return script.Int(startTime.Unix()) }, nil),
		simple("pp", func(*script.Ctx) script.Value { return pidValue }, nil),
		simple("true", func(*script.Ctx) script.Value { return script.Int(1) }, nil),
	}
	return classes
}

func statusPV(_ *script.Ctx, msg *sipio.Msg) script.Value {
	if msg.Res == nil {
		return script.Null
	}
	return script.Int(int64(msg.Res.StatusCode))
}

// authAttr reads the Digest credentials of the Proxy-Authorization header
// (or, when there is none, Authorization), as Kamailio's $au/$ar/...:
// 0 whole username, 1 user, 2 realm, 3 uri, 4 domain, 6 algorithm, 7
// nonce, 8 cnonce, 9 response, 10 opaque. Null for ACK and CANCEL, without
// credentials or when they do not parse.
func authAttr(msg *sipio.Msg, field int) script.Value {
	switch msg.Req.Method {
	case "ACK", "CANCEL":
		return script.Null
	}
	v, ok := core.Header(msg, "Proxy-Authorization")
	if !ok {
		if v, ok = core.Header(msg, "Authorization"); !ok {
			return script.Null
		}
	}
	cr, err := sipmsg.ParseCredentials(v)
	if err != nil {
		return script.Null
	}
	switch field {
	case 0:
		return script.Str(cr.Username)
	case 1:
		return script.Str(cr.User)
	case 2:
		return script.Str(cr.Realm)
	case 3:
		if cr.URI == "" {
			return script.Null
		}
		return script.Str(cr.URI)
	case 4:
		return script.Str(cr.Domain)
	case 6:
		return script.Str(cr.Algorithm)
	case 7:
		return script.Str(cr.Nonce)
	case 8:
		return script.Str(cr.CNonce)
	case 9:
		return script.Str(cr.Response)
	case 10:
		return script.Str(cr.Opaque)
	}
	return script.Null
}
