package auth

import (
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// sipHeader is one header of a request (its identity is used to remove
// exactly the credentials that were used).
type sipHeader = sip.Header

// HA1Func returns the HA1 (lower-case hex, as the subscriber table's ha1
// column holds it) of the user named by the credentials, for realm (already
// stripped of realm_prefix). code is 0 when ha1 is valid, else the code to
// return: CodeUserUnknown, CodeError.
type HA1Func func(cr *Credentials, realm string) (ha1 string, code int)

// Authenticate checks the request's credentials for realm as Kamailio's
// auth API (pre_auth, check_response, post_auth) does for auth_db's
// www_authenticate, proxy_authenticate and auth_check:
//
//   - ACK, CANCEL and PRACK are authenticated without credentials (1);
//   - the Authorization (WWW) or Proxy-Authorization (Proxy) header whose
//     realm matches (case-insensitively) is used; none: CodeNoCredentials;
//     one that cannot be parsed: CodeError;
//   - missing username, realm, nonce, uri or response (or cnonce/nc with
//     qop auth/auth-int): CodeError;
//   - a nonce that is not ours: CodeError; stale: CodeStaleNonce; used
//     twice with one_time_nonce: CodeNonceReused;
//   - then ha1 is asked for the HA1 and the response compared in constant
//     time: CodeInvalidPassword on mismatch, CodeError when the response has
//     the wrong length.
//
// method is the method hashed in HA2 (the request's own method unless a
// script gives another). The returned credentials (nil when none were
// looked at) stay valid while the message is processed.
func (m *Module) Authenticate(c *script.Ctx, realm string, kind HeaderKind, method string, ha1 HA1Func) (int, *Credentials) {
	code, cr := m.authenticate(c, realm, kind, method, ha1)
	m.stats.result(code)
	return code, cr
}

func (m *Module) authenticate(c *script.Ctx, realm string, kind HeaderKind, method string, ha1 HA1Func) (int, *Credentials) {
	msg := c.Msg
	if msg == nil || msg.Req == nil {
		return CodeError, nil
	}
	if isMethod(msg, "ACK", "CANCEL", "PRACK") {
		return CodeOK, nil
	}
	realm = m.StripRealm(realm)
	st := m.slot.Get(c)
	cr := &st.cred
	h, res := findCredentials(msg, kind, realm, cr)
	switch res {
	case findError:
		c.Log.Error("auth: error while looking for credentials")
		return CodeError, nil
	case findNone:
		return CodeNoCredentials, nil
	}
	st.authorized, st.haveAuthorized = h, true
	st.stale = false
	if !cr.Present(HasUsername|HasRealm|HasNonce|HasURI|HasResponse) ||
		((cr.QOP == QOPAuth || cr.QOP == QOPAuthInt) && !cr.Present(HasCNonce|HasNC)) {
		c.Log.Error("auth: credentials are not filled properly")
		return CodeError, cr
	}
	var d CheckData
	switch m.Nonces.Check(cr.Nonce, m.checkData(msg, &d), ncOf(cr)) {
	case NonceOK:
	case NonceStale:
		st.stale = true
		return CodeStaleNonce, cr
	case NonceReused:
		return CodeNonceReused, cr
	default:
		return CodeError, cr
	}
	h1, code := ha1(cr, realm)
	if code != 0 {
		return code, cr
	}
	ok, malformed := m.Algorithm.CheckResponse(h1, cr, method, msg.Req.Body())
	switch {
	case malformed:
		return CodeError, cr
	case !ok:
		return CodeInvalidPassword, cr
	}
	if m.addAuthInfo != 0 {
		st.authInfo = m.authInfo(msg, h1, cr)
	}
	return CodeOK, cr
}

// authInfo builds the Authentication-Info value Kamailio's post_auth adds
// with add_authinfo_hdr: the next nonce (a new one with one_time_nonce,
// else the same), qop, rspauth (the response digest with an empty method),
// cnonce and nc.
func (m *Module) authInfo(msg *sipio.Msg, ha1 string, cr *Credentials) string {
	var rsp [64]byte
	rspauth := m.Algorithm.Response(rsp[:], ha1, cr, "", nil)
	next := cr.Nonce
	if m.oneTimeNonce != 0 {
		var d CheckData
		next = m.Nonces.New(m.checkData(msg, &d))
	}
	var b strings.Builder
	b.WriteString(`nextnonce="`)
	b.WriteString(next)
	b.WriteString(`", qop=`)
	b.WriteString(cr.QOPText)
	b.WriteString(`, rspauth="`)
	b.Write(rspauth)
	b.WriteString(`", cnonce="`)
	b.WriteString(cr.CNonce)
	b.WriteString(`", nc=`)
	b.WriteString(cr.NC)
	return b.String()
}

// ReplyHeaders returns the headers the auth module adds to replies sent by
// sipht's modules for this message (Authentication-Info after a successful
// authentication with add_authinfo_hdr).
func (m *Module) ReplyHeaders(c *script.Ctx) []sipio.Field {
	st := m.slot.Get(c)
	if st.authInfo == "" {
		return nil
	}
	return []sipio.Field{{Name: "Authentication-Info", Value: st.authInfo}}
}

// ncOf returns the nc parameter when the credentials use qop.
func ncOf(cr *Credentials) string {
	if cr.Has&HasNC == 0 {
		return ""
	}
	return cr.NC
}

// Stale reports whether the last authentication of this message found a
// stale nonce.
func (m *Module) Stale(c *script.Ctx) bool { return m.slot.Get(c).stale }

const (
	findOK = iota
	findNone
	findError
)

// findCredentials finds the first credentials header of the kind whose
// realm equals realm (case-insensitively). Other schemes are skipped;
// malformed digest credentials are an error.
func findCredentials(msg *sipio.Msg, kind HeaderKind, realm string, cr *Credentials) (sip.Header, int) {
	name := "Authorization"
	if kind == Proxy {
		name = "Proxy-Authorization"
	}
	for _, h := range msg.Req.Headers() {
		if !strings.EqualFold(h.Name(), name) {
			continue
		}
		switch ParseCredentials(h.Value(), cr) {
		case ParseMalformed:
			return nil, findError
		case ParseOK:
			if cr.Has&HasRealm != 0 && strings.EqualFold(cr.Realm, realm) {
				return h, findOK
			}
		}
	}
	*cr = Credentials{}
	return nil, findNone
}

// removeHeader removes h from the request. Other headers with the same
// name keep their relative order (they move behind the others).
func removeHeader(msg *sipio.Msg, h sip.Header) bool {
	name := h.Name()
	same := msg.Req.GetHeaders(name)
	found := false
	var keep []sip.Header
	for _, o := range same {
		if o == h {
			found = true
			continue
		}
		if o.Name() == name {
			keep = append(keep, o)
		}
	}
	if !found {
		return false
	}
	for msg.Req.RemoveHeader(name) {
	}
	for _, o := range keep {
		msg.Req.AppendHeader(o)
	}
	return true
}

func isMethod(msg *sipio.Msg, names ...string) bool {
	mth := string(msg.Req.Method)
	for _, n := range names {
		if strings.EqualFold(mth, n) {
			return true
		}
	}
	return false
}

func hasToTag(msg *sipio.Msg) bool {
	to := msg.Req.To()
	if to == nil {
		return false
	}
	tag, ok := to.Params.Get("tag")
	return ok && tag != ""
}

func requestURI(msg *sipio.Msg) string {
	return msg.Req.Recipient.String()
}

// CheckIdentity implements the identity checks of auth_check (flags 1 and
// 2) and pv_auth_check (checks 1): the authentication username must equal
// the To user for REGISTER and PUBLISH, else the From user (skipped for
// INVITE, BYE, PRACK, UPDATE and MESSAGE when skipFwd); for REGISTER and
// PUBLISH the From user must equal the To user (and the hosts too when
// useDomain); for PUBLISH the From user (and host) must equal the R-URI's.
// It returns CodeOK, CodeUserMismatch or CodeError (a From or To that
// cannot be parsed).
func CheckIdentity(msg *sipio.Msg, cr *Credentials, useDomain, skipFwd bool) int {
	from := msg.Req.From()
	if from == nil {
		return CodeError
	}
	fu := &from.Address
	reg := isMethod(msg, "REGISTER", "PUBLISH")
	var tu *sip.Uri
	if reg {
		to := msg.Req.To()
		if to == nil {
			return CodeError
		}
		tu = &to.Address
	}
	uri := fu
	if reg {
		uri = tu
	}
	if !(skipFwd && isMethod(msg, "INVITE", "BYE", "PRACK", "UPDATE", "MESSAGE")) {
		if cr.User != uri.User {
			return CodeUserMismatch
		}
	}
	if reg {
		if fu.User != tu.User {
			return CodeUserMismatch
		}
		if useDomain && fu.Host != tu.Host {
			return CodeUserMismatch
		}
		if isMethod(msg, "PUBLISH") {
			ru := &msg.Req.Recipient
			if fu.User != ru.User {
				return CodeUserMismatch
			}
			if useDomain && fu.Host != ru.Host {
				return CodeUserMismatch
			}
		}
	}
	return CodeOK
}
