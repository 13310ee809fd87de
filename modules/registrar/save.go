package registrar

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/modules/usrloc"
)

// regErr is Kamailio's rerrno: why save() failed, which decides the reply.
type regErr int

const (
	rFine regErr = iota
	rULDelR
	rULGetR
	rULNewR
	rInvCSeq
	rULInsC
	rULInsR
	rULDelC
	rULUpdC
	rToUser
	rAORLen
	rAORParse
	rInvExp
	rInvQ
	rParse
	rToMiss
	rCIDMiss
	rCSMiss
	rParseExp
	rParseCont
	rStarExp
	rStarCont
	rOOO
	rRetrans
	rUnescape
	rTooMany
	rContactLen
	rCallIDLen
	rParsePath
	rPathUnsup
	rOBUnsup
	rOBReqd
	rOBUnsupEdge
	rInvRegID
	rLowExp
)

var errInfo = [...]string{
	"No problem", "usrloc_record_delete failed", "usrloc_record_get failed", "usrloc_record_new failed",
	"Invalid CSeq number", "usrloc_contact_insert failed", "usrloc_record_insert failed",
	"usrloc_contact_delete failed", "usrloc_contact_update failed", "No username in To URI",
	"Address Of Record too long", "Error while parsing AOR", "Invalid expires param in contact",
	"Invalid q param in contact", "Message parse error", "To header not found", "Call-ID header not found",
	"CSeq header not found", "Expires parse error", "Contact parse error",
	"* used in contact and expires is not zero", "* used in contact and more than 1 contact",
	"Out of order request", "Retransmission", "Error while unescaping username",
	"Too many registered contacts", "Contact/received too long", "Callid too long", "Path parse error",
	"No support for found Path indicated", "No support for Outbound indicated",
	"No support for Outbound on server", "No support for Outbound on edge proxy", "Invalid Reg-Id number",
	"Interval too brief",
}

var errCode = [...]int{
	200, 500, 500, 500, 400, 500, 500, 500, 500, 400, 500, 400, 400, 400, 400, 400, 400, 400, 400, 400,
	400, 400, 200, 200, 400, 503, 400, 400, 400, 420, 421, 420, 439, 400, 423,
}

func reasonOf(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 420:
		return "Bad Extension"
	case 421:
		return "Extension Required"
	case 423:
		return "Interval Too Brief"
	case 439:
		return "First Hop Lacks Outbound Support"
	case 500:
		return "Server Internal Error"
	case 503:
		return "Service Unavailable"
	}
	return "OK"
}

// Limits of stored values (Kamailio's registrar.h and usrloc).
const (
	usernameMaxSize = 64
	domainMaxSize   = 128
	maxAORLen       = 256
	callIDMaxSize   = 255
	receivedMaxSize = 255
	maxUASize       = 255
)

// saveReq is the state of one save() call.
type saveReq struct {
	m        *Module
	c        *script.Ctx
	msg      *sipio.Msg
	now      int64
	rerr     regErr
	flags    int
	contacts []Contact
	star     bool
	// reply Contact header value (without the name), built from the
	// record after the change; hasContact tells whether one is sent
	contactHdr []byte
	hasContact bool
	// common contact info (pack_ci with a message)
	callID    string
	cseq      int
	socket    string
	tcpConnID int
	userAgent string
	instance  string
	regID     int
	allow     uint32
	allowDone bool
	received  string
	rcvDone   bool
}

// Save is save(table[, flags[, uri]]): it applies the REGISTER's Contact
// headers to the AoR of the To URI (or uri) and answers the request
// unless flags has SaveNoReply. It returns 1 (contacts added or
// refreshed), 2 (updated), 3 (removed; all with "*"), 4 (query without
// Contact), -1 on error, -2 when there would be too many contacts.
func (m *Module) Save(c *script.Ctx, d *usrloc.Domain, flags int, uri string) int {
	msg := c.Msg
	if msg == nil || msg.Req == nil {
		c.Log.Error("registrar: save() needs a SIP request")
		return -1
	}
	r := m.slot.Get(c)
	*r = saveReq{m: m, c: c, msg: msg, now: m.ul.Now(), flags: flags, contacts: r.contacts[:0], contactHdr: r.contactHdr[:0]}
	ret := r.run(d, uri)
	if ret > 0 {
		m.accepted.Add(1)
		if flags&SaveNoReply == 0 && c.RouteType()&(script.RequestRoute|script.FailureRoute) != 0 {
			if err := r.reply(); err != nil {
				c.Log.Error("registrar: failed to send the reply", "err", err)
				return -1
			}
		}
		return ret
	}
	m.rejected.Add(1)
	if c.RouteType()&script.RequestRoute != 0 && flags&SaveNoReply == 0 {
		if err := r.reply(); err != nil {
			c.Log.Error("registrar: failed to send the reply", "err", err)
		}
	}
	if r.rerr == rTooMany {
		return -2
	}
	return -1
}

func (r *saveReq) fail(e regErr) int {
	r.rerr = e
	return -1
}

func (r *saveReq) run(d *usrloc.Domain, uri string) int {
	req := r.msg.Req
	to := req.To()
	if to == nil {
		return r.fail(rToMiss)
	}
	if req.CallID() == nil {
		return r.fail(rCIDMiss)
	}
	cs := req.CSeq()
	if cs == nil {
		return r.fail(rCSMiss)
	}
	// parse every Contact header
	nhdr := 0
	for _, h := range req.Headers() {
		if !isContactHeader(h.Name()) {
			continue
		}
		var star bool
		var err error
		n := len(r.contacts)
		r.contacts, star, err = ParseContacts(h.Value(), r.contacts)
		if err != nil {
			return r.fail(rParseCont)
		}
		// Kamailio's contact parser builds each header's list backwards:
		// the contacts of one header are processed last to first.
		slices.Reverse(r.contacts[n:])
		nhdr++
		if star {
			if nhdr > 1 || len(r.contacts) > 0 {
				return r.fail(rStarCont)
			}
			r.star = true
		} else if r.star && len(r.contacts) > n {
			return r.fail(rStarCont)
		}
	}
	// check_contacts
	if r.star {
		if e, ok := r.expiresHeader(); !ok || e != 0 {
			return r.fail(rStarExp)
		}
	} else {
		for i := range r.contacts {
			ct := &r.contacts[i]
			if len(ct.URI) > int(r.m.contactMaxSize) {
				return r.fail(rContactLen)
			}
			if p, ok := ct.Param(r.m.receivedParam); ok && len(p.Value) > receivedMaxSize {
				return r.fail(rContactLen)
			}
		}
	}
	if requireHas(req, "outbound") {
		return r.fail(rOBReqd)
	}
	var aor string
	var e regErr
	if uri != "" {
		aor, e = r.m.aorFromString(uri)
	} else {
		aor, e = r.m.aorOf(to.Address.User, to.Address.Host)
	}
	if e != rFine {
		return r.fail(e)
	}
	switch {
	case len(r.contacts) == 0 && r.star:
		d.With(aor, func(t *usrloc.Txn) { t.DeleteRecord() })
		return 3
	case len(r.contacts) == 0:
		d.View(aor, func(rec *usrloc.Record) {
			if rec != nil {
				r.buildContact(rec.Contacts)
			}
		})
		return 4
	}
	ret := 0
	d.With(aor, func(t *usrloc.Txn) {
		if t.Record() != nil {
			ret = r.updateContacts(t, r.flags&SaveReplace != 0)
			r.buildContact(t.Record().Contacts)
			return
		}
		ret = r.insertContacts(t)
	})
	if ret < 0 {
		return -1
	}
	if ret == 0 {
		ret = 1
	}
	return ret
}

func isContactHeader(name string) bool {
	return strings.EqualFold(name, "Contact") || name == "m" || name == "M"
}

// requireHas reports whether a Require header lists tag.
func requireHas(req *sip.Request, tag string) bool {
	for _, h := range req.Headers() {
		if !strings.EqualFold(h.Name(), "Require") {
			continue
		}
		for _, t := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(t), tag) {
				return true
			}
		}
	}
	return false
}

// expiresHeader returns the Expires header value; ok is false when there
// is none or it is not a number (Kamailio then ignores it).
func (r *saveReq) expiresHeader() (int, bool) {
	for _, h := range r.msg.Req.Headers() {
		if strings.EqualFold(h.Name(), "Expires") {
			v := trimLWS(h.Value())
			n, ok := parseUint(v)
			return n, ok
		}
	}
	return 0, false
}

// parseUint reads a decimal number as Kamailio's str2int (digits only, at
// most 2^32-1), capped at 2^31-1.
func parseUint(s string) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + uint64(s[i]-'0')
	}
	if v > 1<<32-1 {
		return 0, false
	}
	if v > 1<<31-1 {
		v = 1<<31 - 1
	}
	return int(v), true
}

// contactExpires is calc_contact_expires: the absolute expiry of a contact
// (0 means remove), or rLowExp with min_expires_mode.
func (r *saveReq) contactExpires(ct *Contact, novariation bool) (int64, regErr) {
	m := r.m
	var e int
	rng := 0
	p, ok := ct.Param("expires")
	if !ok || p.Value == "" {
		var hok bool
		e, hok = r.expiresHeader()
		if !hok {
			e, rng = int(m.defaultExpires), int(m.defaultExpiresRange)
		} else {
			rng = int(m.expiresRange)
		}
	} else if v, vok := parseUint(p.Value); vok {
		e, rng = v, int(m.expiresRange)
	} else {
		e, rng = int(m.defaultExpires), int(m.defaultExpiresRange)
	}
	if e == 0 {
		return 0, rFine
	}
	if int64(e) < m.minExpires {
		if m.minExpiresMode != 0 {
			return 0, rLowExp
		}
		e = int(m.minExpires)
	}
	if !novariation && rng > 0 {
		min := int(float32(e) - float32(rng)/100*float32(e))
		e = min + int(float32(rand.IntN(100))/100*float32(e-min))
		if int64(e) < m.minExpires {
			e = int(m.minExpires)
		}
	}
	if m.maxExpires > 0 && int64(e) > m.maxExpires {
		e = int(m.maxExpires)
	}
	return r.now + int64(e), rFine
}

// packCommon is the message part of Kamailio's pack_ci.
func (r *saveReq) packCommon() regErr {
	req := r.msg.Req
	r.callID = strings.TrimRight(req.CallID().Value(), " \t\r\n")
	if len(r.callID) > callIDMaxSize {
		return rCallIDLen
	}
	r.cseq = int(req.CSeq().SeqNo)
	r.socket = r.m.socketName(r.msg.Transport, r.msg.Local)
	r.tcpConnID = -1
	if r.msg.Transport != sipio.UDP {
		r.tcpConnID = 0
	}
	r.userAgent = "n/a"
	for _, h := range req.Headers() {
		if strings.EqualFold(h.Name(), "User-Agent") {
			if v := h.Value(); len(v) > 0 && len(v) < maxUASize {
				r.userAgent = v
			}
			break
		}
	}
	if len(r.contacts) > 0 {
		first := &r.contacts[0]
		if p, ok := first.Param("+sip.instance"); ok && p.Value != "" {
			r.instance = p.Value
			if rp, ok := first.Param("reg-id"); ok && rp.Value != "" {
				v, ok := parseUint(rp.Value)
				if !ok || v == 0 {
					return rInvRegID
				}
				r.regID = v
			}
		}
	}
	return rFine
}

// packContact is the per-contact part of pack_ci: a new usrloc contact.
func (r *saveReq) packContact(ct *Contact, expires int64, uc *usrloc.Contact) regErr {
	m := r.m
	*uc = usrloc.Contact{
		URI: ct.URI, Expires: expires, CallID: r.callID, CSeq: r.cseq, UserAgent: r.userAgent,
		Socket: r.socket, RegID: r.regID, TCPConnID: r.tcpConnID,
		LastModified: r.now, LastKeepalive: r.now,
	}
	if r.flags&SaveMemOnly != 0 {
		uc.Flags = 1 // FL_MEM
	}
	uc.Q = int(m.defaultQ)
	if p, ok := ct.Param("q"); ok && p.Value != "" {
		q, ok := ParseQ(p.Value)
		if !ok {
			return rInvQ
		}
		uc.Q = q
	}
	if p, ok := ct.Param("methods"); ok {
		mask, ok := ParseMethods(p.Value)
		if !ok {
			return rParse
		}
		uc.Methods = mask
	} else {
		uc.Methods = r.allowMethods()
	}
	if p, ok := ct.Param(m.receivedParam); ok {
		uc.Received = p.Value
	} else {
		if !r.rcvDone {
			r.rcvDone = true
			if m.rcvAVP != nil {
				if v := m.rcvAVP.Get(r.c); !v.IsNull() {
					r.received = v.AsString()
				}
			}
		}
		if len(r.received) > receivedMaxSize {
			return rContactLen
		}
		uc.Received = r.received
	}
	if p, ok := ct.Param("+sip.instance"); ok && p.Value != "" {
		uc.Instance = p.Value
		if rp, ok := ct.Param("reg-id"); ok && rp.Value != "" {
			v, ok := parseUint(rp.Value)
			if !ok || v == 0 {
				return rInvRegID
			}
			uc.RegID = v
		}
	}
	return rFine
}

// allowMethods returns the methods of the Allow headers, all methods when
// there are none or one cannot be parsed.
func (r *saveReq) allowMethods() uint32 {
	if r.allowDone {
		return r.allow
	}
	r.allowDone = true
	r.allow = usrloc.AllMethods
	var mask uint32
	found := false
	for _, h := range r.msg.Req.Headers() {
		if !strings.EqualFold(h.Name(), "Allow") {
			continue
		}
		v, ok := ParseMethods(h.Value())
		if !ok {
			return r.allow
		}
		mask |= v
		found = true
	}
	if found {
		r.allow = mask
	}
	return r.allow
}

func (r *saveReq) maxContacts() int {
	if r.m.maxContacts > 0 {
		return int(r.m.maxContacts)
	}
	return HardMaxContacts
}

// insertContacts handles a REGISTER for an AoR without a record.
func (r *saveReq) insertContacts(t *usrloc.Txn) int {
	maxc := r.maxContacts()
	num := 0
	packed := false
	for i := range r.contacts {
		ct := &r.contacts[i]
		exp, e := r.contactExpires(ct, r.flags&SaveNoVariation != 0)
		if e != rFine {
			t.DeleteRecord()
			return r.fail(e)
		}
		if exp == 0 {
			continue
		}
		if num >= maxc {
			r.m.log.Info("too many contacts", "aor", t.AOR(), "n", num, "max", maxc)
			t.DeleteRecord()
			return r.fail(rTooMany)
		}
		num++
		if !packed {
			packed = true
			if e := r.packCommon(); e != rFine {
				t.DeleteRecord()
				return r.fail(e)
			}
		}
		var uc usrloc.Contact
		if e := r.packContact(ct, exp, &uc); e != rFine {
			t.DeleteRecord()
			return r.fail(e)
		}
		// a client repeating one contact in a REGISTER updates it
		if old, st := r.m.ul.FindByInstance(t, ct.URI, r.callID, "", r.cseq+1, uc.Instance, uc.RegID); t.Record() == nil || st != usrloc.Found {
			t.Insert(r.m.ul.NewContact(&uc))
		} else {
			usrloc.Update(t, old, &uc)
		}
	}
	if rec := t.Record(); rec != nil {
		r.buildContact(rec.Contacts)
	}
	return 0
}

// testMaxContacts is Kamailio's test_max_contacts.
func (r *saveReq) testMaxContacts(t *usrloc.Txn, maxc int) regErr {
	num := 0
	for _, c := range t.Record().Contacts {
		if c.Valid(r.now) {
			num++
		}
	}
	for i := range r.contacts {
		ct := &r.contacts[i]
		e, _ := r.contactExpires(ct, false)
		inst, regID := r.contactInstance(ct)
		_, st := r.m.ul.FindByInstance(t, ct.URI, r.callID, "", r.cseq, inst, regID)
		switch st {
		case usrloc.InvalidCSeq:
			return rInvCSeq
		case usrloc.Retransmission:
			continue
		case usrloc.NotFound:
			if e != 0 {
				num++
			}
		default:
			if e == 0 {
				num--
			}
		}
	}
	if num > maxc {
		r.m.log.Info("too many contacts", "aor", t.AOR(), "n", num, "max", maxc)
		return rTooMany
	}
	return rFine
}

// contactInstance returns the instance and reg-id a contact is matched by:
// the message's first contact's (Kamailio matches with the common info in
// test_max_contacts).
func (r *saveReq) contactInstance(ct *Contact) (string, int) {
	return r.instance, r.regID
}

// updateContacts handles a REGISTER for an AoR with a record; mode is
// SaveReplace (one contact per AoR).
func (r *saveReq) updateContacts(t *usrloc.Txn, mode bool) int {
	if e := r.packCommon(); e != rFine {
		return r.fail(e)
	}
	if !mode {
		if e := r.testMaxContacts(t, r.maxContacts()); e != rFine {
			return r.fail(e)
		}
	}
	rc := 0
	for i := range r.contacts {
		ct := &r.contacts[i]
		exp, e := r.contactExpires(ct, r.flags&SaveNoVariation != 0)
		if e != rFine {
			return r.fail(e)
		}
		var uc usrloc.Contact
		if e := r.packContact(ct, exp, &uc); e != rFine {
			return r.fail(e)
		}
		c, st := r.m.ul.FindByInstance(t, ct.URI, r.callID, "", r.cseq, uc.Instance, uc.RegID)
		switch st {
		case usrloc.InvalidCSeq:
			r.m.log.Error("invalid cseq", "aor", t.AOR())
			return r.fail(rInvCSeq)
		case usrloc.Retransmission:
			if exp != 0 && mode {
				return rc
			}
			continue
		}
		updated := false
		if st == usrloc.NotFound {
			if exp == 0 {
				continue
			}
			nc := r.m.ul.NewContact(&uc)
			t.Insert(nc)
			rc = 1
			if mode {
				deleteOthers(t, nc, nil)
				updated = true
			}
		} else if exp == 0 {
			t.Delete(c)
			rc = 3
		} else {
			if mode {
				deleteOthers(t, c, nil)
				updated = true
			}
			if uc.Instance != "" && uc.CallID != c.CallID {
				deleteOthers(t, c, func(o *usrloc.Contact) bool { return o.Instance == c.Instance })
				updated = true
			}
			usrloc.Update(t, c, &uc)
			rc = 2
		}
		if updated {
			break
		}
	}
	return rc
}

// deleteOthers removes every contact of the record except keep (those
// matching only, when only is set).
func deleteOthers(t *usrloc.Txn, keep *usrloc.Contact, only func(*usrloc.Contact) bool) {
	for _, o := range append([]*usrloc.Contact(nil), t.Record().Contacts...) {
		if o != keep && (only == nil || only(o)) {
			t.Delete(o)
		}
	}
}

// buildContact is Kamailio's build_contact: the Contact header value of the
// reply listing every valid contact: <uri>[;q=Q];expires=N
// [;received="R"][;+sip.instance=I][;reg-id=N], joined by ", ".
func (r *saveReq) buildContact(contacts []*usrloc.Contact) {
	b := r.contactHdr[:0]
	first := true
	for _, c := range contacts {
		if !c.Valid(r.now) {
			continue
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(b, '<')
		b = append(b, c.URI...)
		b = append(b, '>')
		if c.Q != usrloc.QUnspecified {
			b = append(b, ";q="...)
			b = FormatQ(b, c.Q)
		}
		b = append(b, ";expires="...)
		b = strconv.AppendInt(b, int64(int32(c.Expires-r.now)), 10)
		if r.m.receivedParam != "" && c.Received != "" {
			b = append(b, ';')
			b = append(b, r.m.receivedParam...)
			b = append(b, `="`...)
			b = append(b, c.Received...)
			b = append(b, '"')
		}
		if c.Instance != "" {
			b = append(b, `;+sip.instance="`...)
			b = append(b, c.Instance...)
			b = append(b, '"')
		}
		if c.RegID > 0 {
			b = append(b, ";reg-id="...)
			b = strconv.AppendInt(b, int64(c.RegID), 10)
		}
	}
	r.contactHdr = b
	r.hasContact = !first
}

// reply sends the registrar's reply for the outcome (reg_send_reply).
func (r *saveReq) reply() error {
	code := errCode[r.rerr]
	var hdrs [6]sipio.Field
	h := hdrs[:0]
	if r.m.auth != nil {
		h = append(h, r.m.auth.ReplyHeaders(r.c)...)
	}
	if r.hasContact {
		// Respond copies the value before returning
		h = append(h, sipio.Field{Name: "Contact", Value: unsafe.String(unsafe.SliceData(r.contactHdr), len(r.contactHdr))})
	}
	switch r.rerr {
	case rOBReqd:
		h = append(h, sipio.Field{Name: "Unsupported", Value: "outbound"})
	case rLowExp:
		h = append(h, sipio.Field{Name: "Min-Expires", Value: strconv.FormatInt(r.m.minExpires, 10)})
	}
	if code != 200 {
		h = append(h, sipio.Field{Name: "P-Registrar-Error", Value: errInfo[r.rerr]})
		if code >= 500 && r.m.retryAfter > 0 {
			h = append(h, sipio.Field{Name: "Retry-After", Value: strconv.FormatInt(r.m.retryAfter, 10)})
		}
	}
	if r.m.host == nil || r.m.host.SIP == nil {
		return errNoSIP
	}
	return r.m.host.SIP.Respond(r.msg, code, reasonOf(code), &sipio.ReplyOptions{Headers: h})
}

// socketNames caches the printed form of the local sockets ("udp:IP:port",
// as Kamailio's sock_str): one entry per listener.
type socketNames struct {
	mu sync.Mutex
	m  map[socketKey]string
}

type socketKey struct {
	tp   sipio.Transport
	addr netip.AddrPort
}

func (m *Module) socketName(tp sipio.Transport, local netip.AddrPort) string {
	k := socketKey{tp, local}
	m.sockets.mu.Lock()
	defer m.sockets.mu.Unlock()
	if s, ok := m.sockets.m[k]; ok {
		return s
	}
	a := local.Addr()
	host := a.String()
	if a.Is6() && !a.Is4In6() {
		host = "[" + host + "]"
	}
	s := tp.String() + ":" + host + ":" + strconv.Itoa(int(local.Port()))
	if m.sockets.m == nil {
		m.sockets.m = map[socketKey]string{}
	}
	if len(m.sockets.m) < 64 {
		m.sockets.m[k] = s
	}
	return s
}
