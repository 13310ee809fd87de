package registrar

import (
	"errors"
	"github.com/sipht/sipht/internal/sipmsg"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/modules/usrloc"
)

var errNoSIP = errors.New("no SIP transport")

// AOR returns the address of record of a URI as the registrar keys the
// location table: the user part, unescaped, with "@domain" when usrloc's
// use_domain is set (realm_prefix stripped from the domain), lower-cased
// (only the domain when case_sensitive). ok is false for a URI that cannot
// be parsed or is too long.
func (m *Module) AOR(uri string) (string, bool) {
	aor, e := m.aorFromString(uri)
	return aor, e == rFine
}

func (m *Module) aorFromString(uri string) (string, regErr) {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return "", rAORParse
	}
	return m.aorOf(u.User, u.Host)
}

func (m *Module) aorOf(user, host string) (string, regErr) {
	if len(user)+len(host)+1 > maxAORLen || len(user) > usernameMaxSize || len(host) > domainMaxSize {
		return "", rAORLen
	}
	u, ok := unescape(user)
	if !ok {
		return "", rUnescape
	}
	if !m.ul.UseDomain() {
		return usrloc.ASCIILower(u), rFine
	}
	if p := m.realmPrefix; p != "" && len(p) < len(host) && strings.HasPrefix(host, p) {
		host = host[len(p):]
	}
	if m.caseSensitive != 0 && u != "" {
		return u + "@" + usrloc.ASCIILower(host), rFine
	}
	if u == "" {
		return usrloc.ASCIILower(host), rFine
	}
	return usrloc.ASCIILower(u + "@" + host), rFine
}

// unescape decodes %XX escapes (Kamailio's un_escape).
func unescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b = append(b, s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return string(b), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// target is a contact lookup() routes to, copied out of the locked record.
type target struct {
	uri, received string
	q             int
}

// Lookup is lookup(table[, uri]): the first valid contact of the AoR of the
// Request-URI (or uri) becomes the Request-URI, its received address the
// destination URI; with append_branches the others are added as branches
// when the routing state supports branches. Returns 1 found, -1 not found
// (no record or no valid contact), -2 found but no contact accepts the
// method (method_filtering), -3 error.
func (m *Module) Lookup(c *script.Ctx, d *usrloc.Domain, uri string) int {
	msg := c.Msg
	if msg == nil || msg.Req == nil {
		return -3
	}
	st := m.msgs.Dest()
	if uri == "" {
		uri = st.RequestURI(c)
	}
	aor, e := m.aorFromString(uri)
	if e != rFine {
		c.Log.Error("registrar: failed to extract address of record", "uri", uri)
		return -3
	}
	var targets []target
	var buf [4]target
	ret := -1
	now := m.ul.Now()
	method := MethodBit(string(msg.Req.Method))
	toTag := hasToTag(msg.Req)
	d.View(aor, func(r *usrloc.Record) {
		if r == nil {
			return
		}
		targets = buf[:0]
		for _, ct := range r.Contacts {
			if !(ct.Valid(now) || m.useExpired != 0) {
				continue
			}
			if m.methodFiltering != 0 && ct.Methods&method == 0 && !toTag {
				if len(targets) == 0 {
					ret = -2
				}
				continue
			}
			targets = append(targets, target{uri: ct.URI, received: ct.Received, q: ct.Q})
			if m.appendBranches == 0 {
				break
			}
		}
	})
	if len(targets) == 0 {
		return ret
	}
	t := &targets[0]
	if err := st.SetRequestURI(c, t.uri); err != nil {
		c.Log.Error("registrar: unable to rewrite Request-URI", "err", err)
		return -3
	}
	if err := st.SetDstURI(c, t.received); err != nil {
		c.Log.Error("registrar: unable to set the destination URI", "err", err)
		return -3
	}
	for _, b := range targets[min(1, len(targets)):] {
		if err := st.AppendBranch(c, sipmsg.Branch{URI: b.uri, DstURI: b.received, Q: b.q}); err != nil {
			c.Log.Error("registrar: cannot append branch", "uri", b.uri, "err", err)
		}
	}
	return 1
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	tag, ok := to.Params.Get("tag")
	return ok && tag != ""
}

// Registered is registered(table[, uri]): 1 when the AoR of the
// Request-URI (the To URI for a reply, or uri) has a valid contact, else -1.
func (m *Module) Registered(c *script.Ctx, d *usrloc.Domain, uri string) int {
	if uri == "" {
		msg := c.Msg
		switch {
		case msg == nil:
			return -1
		case msg.Res != nil:
			to := msg.Res.To()
			if to == nil {
				return -1
			}
			uri = to.Address.String()
		case msg.Req != nil:
			uri = m.msgs.Dest().RequestURI(c)
		}
	}
	aor, e := m.aorFromString(uri)
	if e != rFine {
		c.Log.Error("registrar: failed to extract address of record", "uri", uri)
		return -1
	}
	now := m.ul.Now()
	found := false
	d.View(aor, func(r *usrloc.Record) {
		if r == nil {
			return
		}
		for _, ct := range r.Contacts {
			if ct.Valid(now) || m.useExpired != 0 {
				found = true
				return
			}
		}
	})
	if found {
		return 1
	}
	return -1
}

// Unregister is unregister(table, uri[, ruid]): without ruid every contact
// of the AoR is removed (1); with ruid the one contact, of the AoR when uri
// is not empty, else of any AoR (1, or -3 when not found). -1: bad uri.
func (m *Module) Unregister(c *script.Ctx, d *usrloc.Domain, uri, ruid string) int {
	if ruid == "" || uri != "" {
		aor, e := m.aorFromString(uri)
		if e != rFine {
			c.Log.Error("registrar: failed to extract address of record", "uri", uri)
			return -1
		}
		if ruid == "" {
			d.With(aor, func(t *usrloc.Txn) { t.DeleteRecord() })
			return 1
		}
		found := false
		d.With(aor, func(t *usrloc.Txn) {
			if r := t.Record(); r != nil {
				for _, ct := range r.Contacts {
					if ct.RUID == ruid {
						t.Delete(ct)
						found = true
						return
					}
				}
			}
		})
		if !found {
			c.Log.Warn("registrar: AOR/Contact not found", "aor", aor, "ruid", ruid)
			return -3
		}
		return 1
	}
	if !d.DeleteByRUID(ruid) {
		c.Log.Warn("registrar: contact not found", "ruid", ruid)
		return -3
	}
	return 1
}
