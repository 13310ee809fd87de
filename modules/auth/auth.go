// Package auth is Kamailio's auth module: digest challenges
// (www_challenge, proxy_challenge, auth_challenge), signed and
// time-limited nonces, credential checks against a password or HA1
// (pv_www_authenticate, pv_proxy_authenticate, pv_auth_check),
// consume_credentials and has_credentials. auth_db (and any other
// credential store) binds to it through Module.Authenticate.
//
// Return codes are Kamailio's (see Code*): 1 authenticated, -1 error or
// credentials that are malformed or carry a nonce that is not ours, -2 bad
// password, -3 unknown user, -4 stale nonce, -5 no credentials for the
// realm, -6 nonce reused, -8 user mismatch (auth_check).
package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/modules/internal/kamarg"
)

func init() {
	module.Register(module.Info{
		Name:    "auth",
		Summary: "digest authentication: challenges, nonces, credential checks",
		New:     func() module.Module { return New() },
	})
}

// Kamailio's return codes of the authentication functions.
const (
	CodeOK              = 1
	CodeError           = -1
	CodeInvalidPassword = -2
	CodeUserUnknown     = -3
	CodeStaleNonce      = -4
	CodeNoCredentials   = -5
	CodeNonceReused     = -6
	CodeUsernameExpired = -7
	CodeUserMismatch    = -8
)

// HeaderKind selects WWW (Authorization / WWW-Authenticate, 401) or proxy
// (Proxy-Authorization / Proxy-Authenticate, 407) authentication.
type HeaderKind uint8

// Header kinds.
const (
	WWW HeaderKind = iota
	Proxy
)

// Module is the auth module.
type Module struct {
	// modparams
	secret          string
	secretSet       bool
	nonceExpire     int64
	maxDrift        int64
	qop             string
	algorithmName   string
	checksRegister  int64
	checksNoDlg     int64
	checksInDlg     int64
	nonceCount      int64
	ncArraySize     int64
	ncArrayOrder    int64
	oneTimeNonce    int64
	otnInFlight     int64
	otnInFlightOrd  int64
	nidPoolNo       int64
	forceStateless  int64
	realmPrefix     string
	useDomain       int64
	addAuthInfo     int64
	protectContacts int64
	challengeAttr   string
	proxyHeader     string
	wwwHeader       string

	// Algorithm is the digest algorithm (the "algorithm" modparam).
	Algorithm Algorithm
	// Nonces creates and checks nonces (set by Init).
	Nonces *Nonces

	host   *module.Host
	stats  counters
	slot   script.Slot[msgState]
	chalPV *script.PV // $digest_challenge (challenge_attr), resolved on first use
	pvErr  error
	pvDone bool
}

// msgState is what the auth functions remember about the message being
// processed.
type msgState struct {
	// authorized is the credentials header the last successful or tried
	// authentication used (consume_credentials removes it).
	authorized     sipHeader
	haveAuthorized bool
	stale          bool
	cred           Credentials
	authInfo       string
}

// New returns an unconfigured auth module with Kamailio's defaults.
func New() *Module {
	return &Module{
		nonceExpire:   300,
		maxDrift:      3,
		qop:           "auth",
		ncArraySize:   1 << 20,
		otnInFlight:   1 << 20,
		nidPoolNo:     1,
		challengeAttr: "$digest_challenge",
		proxyHeader:   "Proxy-Authenticate",
		wwwHeader:     "WWW-Authenticate",
	}
}

// Params lists Kamailio's auth modparams.
func (m *Module) Params() []module.Param {
	return []module.Param{
		{Name: "secret", Kind: module.ParamStr, Doc: "nonce signing secret (random per start when unset)",
			Set: func(v module.Value) error { m.secret, m.secretSet = v.Str, true; return nil }},
		module.IntParam("nonce_expire", &m.nonceExpire, "nonce lifetime in seconds (300)"),
		module.IntParam("nonce_auth_max_drift", &m.maxDrift, "seconds a nonce may come from the future (3)"),
		module.IntParam("protect_contacts", &m.protectContacts, "accepted; not used (as in Kamailio 5.6)"),
		module.StrParam("challenge_attr", &m.challengeAttr, "AVP receiving challenges built by pv_*_authenticate and auth_get_www_authenticate"),
		module.StrParam("proxy_challenge_header", &m.proxyHeader, "name of the 407 challenge header"),
		module.StrParam("www_challenge_header", &m.wwwHeader, "name of the 401 challenge header"),
		module.StrParam("qop", &m.qop, "qop for the API's challenges (auth)"),
		module.IntParam("auth_checks_register", &m.checksRegister, "message data REGISTER nonces are bound to (1 R-URI, 2 Call-ID, 4 From tag, 8 source IP)"),
		module.IntParam("auth_checks_no_dlg", &m.checksNoDlg, "same for requests outside dialogs"),
		module.IntParam("auth_checks_in_dlg", &m.checksInDlg, "same for requests inside dialogs"),
		module.IntParam("nonce_count", &m.nonceCount, "nc replay protection (needs qop)"),
		module.IntParam("nc_array_size", &m.ncArraySize, "nonces tracked for nonce_count (1048576)"),
		module.IntParam("nc_array_order", &m.ncArrayOrder, "log2 of nc_array_size"),
		module.IntParam("one_time_nonce", &m.oneTimeNonce, "each nonce valid once"),
		module.IntParam("otn_in_flight_no", &m.otnInFlight, "nonces tracked for one_time_nonce (1048576)"),
		module.IntParam("otn_in_flight_order", &m.otnInFlightOrd, "log2 of otn_in_flight_no"),
		module.IntParam("nid_pool_no", &m.nidPoolNo, "accepted; sipht uses one lock-free pool"),
		module.IntParam("force_stateless_reply", &m.forceStateless, "accepted; sipht replies statelessly anyway"),
		module.StrParam("realm_prefix", &m.realmPrefix, "prefix stripped from realms"),
		module.IntParam("use_domain", &m.useDomain, "pv_auth_check: also compare From/To domains"),
		module.StrParam("algorithm", &m.algorithmName, "MD5 (default) or SHA-256"),
		module.IntParam("add_authinfo_hdr", &m.addAuthInfo, "add Authentication-Info to replies sent by sipht modules after a successful authentication"),
	}
}

// Init validates the parameters, creates the nonce generator and declares
// the script functions.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	alg, err := ParseAlgorithm(m.algorithmName)
	if err != nil {
		return err
	}
	m.Algorithm = alg
	switch parseQOP(m.qop) {
	case QOPOther:
		return fmt.Errorf("unsupported qop parameter value %q (use \"auth\" or \"auth-int\")", m.qop)
	case QOPNone:
		if m.nonceCount != 0 {
			h.Log.Warn("nonce-count support enabled, but qop not set: nonce_count disabled")
			m.nonceCount = 0
		}
	}
	if m.nonceExpire <= 0 {
		return fmt.Errorf("nonce_expire must be positive, got %d", m.nonceExpire)
	}
	if m.maxDrift < 0 {
		return fmt.Errorf("nonce_auth_max_drift must not be negative, got %d", m.maxDrift)
	}
	if m.challengeAttr == "" || m.challengeAttr[0] != '$' {
		return fmt.Errorf("invalid value of challenge_attr %q (it names an AVP such as $digest_challenge)", m.challengeAttr)
	}
	if m.secretSet && m.secret == "" {
		return errors.New("secret must not be empty (leave it unset for a random secret)")
	}
	ncSize := m.ncArraySize
	if m.ncArrayOrder > 0 {
		ncSize = 1 << min(m.ncArrayOrder, 30)
	}
	otnSize := m.otnInFlight
	if m.otnInFlightOrd > 0 {
		otnSize = 1 << min(m.otnInFlightOrd, 30)
	}
	var secret []byte
	if m.secretSet {
		secret = []byte(m.secret)
	}
	m.Nonces, err = NewNonces(NonceOptions{
		Secret:      secret,
		Expire:      time.Duration(m.nonceExpire) * time.Second,
		MaxDrift:    time.Duration(m.maxDrift) * time.Second,
		NonceCount:  m.nonceCount != 0,
		NCArraySize: int(ncSize),
		OneTime:     m.oneTimeNonce != 0,
		OTNInFlight: int(otnSize),
	})
	if err != nil {
		return err
	}
	m.slot = script.NewSlot[msgState](h.Script, nil, func(s *msgState) { *s = msgState{} })
	if err := m.registerMetrics(h.Metrics); err != nil {
		return err
	}
	return m.declare(h.Script)
}

// Start is a no-op: the nonce secret was fixed at Init, so a `sipht -c`
// and a run agree, and nonces are accepted from the first message on.
func (m *Module) Start(ctx context.Context, h *module.Host) error { return nil }

func (m *Module) declare(r *script.Registry) error {
	challenge := func(name string, kind int) script.Func {
		return script.Func{Name: name, MinArgs: 2, MaxArgs: 2, Module: "auth",
			Routes: script.RequestRoute | script.FailureRoute | script.OnReplyRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				realm, err := kamarg.CompileStr(fc.Arg(0))
				if err != nil {
					return nil, err
				}
				flags, err := kamarg.CompileInt(fc.Arg(1))
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int { return m.challengeFunc(c, realm, flags, kind) }, nil
			}}
	}
	funcs := []script.Func{
		challenge("www_challenge", kindWWW),
		challenge("proxy_challenge", kindProxy),
		challenge("auth_challenge", kindAuto),
		{Name: "consume_credentials", Module: "auth", Routes: script.RequestRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) { return m.ConsumeCredentials, nil }},
		{Name: "has_credentials", MinArgs: 1, MaxArgs: 1, Module: "auth", Routes: script.RequestRoute,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				realm, err := kamarg.CompileStr(fc.Arg(0))
				if err != nil {
					return nil, err
				}
				return func(c *script.Ctx) int { return m.hasCredentials(c, realm.Get(c)) }, nil
			}},
		m.pvAuthFunc("pv_www_authenticate", WWW, 3, 4),
		m.pvAuthFunc("pv_www_authorize", WWW, 3, 3),
		m.pvAuthFunc("pv_proxy_authenticate", Proxy, 3, 3),
		m.pvAuthFunc("pv_proxy_authorize", Proxy, 3, 3),
		m.pvAuthCheckFunc(),
		m.getWWWAuthenticateFunc(),
	}
	for _, f := range funcs {
		if err := r.AddFunc(f); err != nil {
			return err
		}
	}
	return nil
}

const (
	kindWWW = iota
	kindProxy
	kindAuto
)

// StripRealm removes the realm_prefix modparam from the start of realm.
func (m *Module) StripRealm(realm string) string {
	if m.realmPrefix != "" && len(m.realmPrefix) <= len(realm) && strings.HasPrefix(realm, m.realmPrefix) {
		return realm[len(m.realmPrefix):]
	}
	return realm
}

// checksFor returns the auth_checks_* flags for the message.
func (m *Module) checksFor(msg *sipio.Msg) int {
	if msg == nil || msg.Req == nil {
		return 0
	}
	if msg.Req.Method == "REGISTER" {
		return int(m.checksRegister)
	}
	if hasToTag(msg) {
		return int(m.checksInDlg)
	}
	return int(m.checksNoDlg)
}

// checkData fills d with the message data the nonce is bound to.
func (m *Module) checkData(msg *sipio.Msg, d *CheckData) *CheckData {
	d.Flags = m.checksFor(msg)
	if d.Flags == 0 {
		return d
	}
	if d.Flags&CheckRURI != 0 {
		d.RURI = requestURI(msg)
	}
	if d.Flags&CheckCallID != 0 {
		if h := msg.Req.CallID(); h != nil {
			d.CallID = h.Value()
		}
	}
	if d.Flags&CheckFromTag != 0 {
		if f := msg.Req.From(); f != nil {
			d.FromTag, _ = f.Params.Get("tag")
		}
	}
	if d.Flags&CheckSrcIP != 0 {
		d.SrcIP = msg.Source.Addr()
	}
	return d
}

// ChallengeHeader appends a challenge header line (name, ": Digest
// realm=...", CRLF not included) to dst, as Kamailio's get_challenge_hf
// shapes it: realm, nonce, then qop="auth" or qop="auth-int" (qop
// QOPAuth/QOPAuthInt), then stale=true, then algorithm=<alg> when the
// algorithm modparam is set. The realm prefix is stripped.
func (m *Module) ChallengeHeader(dst []byte, msg *sipio.Msg, kind HeaderKind, realm string, qop QOP, stale bool) []byte {
	if kind == Proxy {
		dst = append(dst, m.proxyHeader...)
	} else {
		dst = append(dst, m.wwwHeader...)
	}
	dst = append(dst, ": "...)
	return m.appendChallengeValue(dst, msg, realm, qop, stale)
}

func (m *Module) appendChallengeValue(dst []byte, msg *sipio.Msg, realm string, qop QOP, stale bool) []byte {
	realm = m.StripRealm(realm)
	dst = append(dst, `Digest realm="`...)
	dst = append(dst, realm...)
	dst = append(dst, `", nonce="`...)
	var d CheckData
	dst = m.Nonces.Append(dst, m.checkData(msg, &d))
	dst = append(dst, '"')
	switch qop {
	case QOPAuth:
		dst = append(dst, `, qop="auth"`...)
	case QOPAuthInt:
		dst = append(dst, `, qop="auth-int"`...)
	}
	if stale {
		dst = append(dst, ", stale=true"...)
	}
	if m.algorithmName != "" {
		dst = append(dst, ", algorithm="...)
		dst = append(dst, m.algorithmName...)
	}
	return dst
}

func flagsQOP(flags int64) QOP {
	switch {
	case flags&2 != 0:
		return QOPAuthInt
	case flags&1 != 0:
		return QOPAuth
	}
	return QOPNone
}

// challengeFunc implements www_challenge, proxy_challenge and
// auth_challenge.
func (m *Module) challengeFunc(c *script.Ctx, realmArg kamarg.Str, flagsArg kamarg.Int, kind int) int {
	msg := c.Msg
	if msg == nil || msg.Req == nil {
		c.Log.Error("auth: challenge functions need a SIP request")
		return -1
	}
	if kind == kindAuto && isMethod(msg, "ACK", "CANCEL") {
		return 1
	}
	realm := realmArg.Get(c)
	flags, ok := flagsArg.Get(c)
	if realm == "" || !ok {
		if realm == "" {
			c.Log.Error("auth: invalid realm value - empty content")
		} else {
			c.Log.Error("auth: invalid flags value (not an integer)")
		}
		if !ok {
			flags = 0
		}
		if flags&4 == 0 {
			if err := m.respond(msg, 500, "Internal Server Error", nil); err != nil {
				return -4
			}
		}
		return -1
	}
	hk := WWW
	switch kind {
	case kindProxy:
		hk = Proxy
	case kindAuto:
		if msg.Req.Method != "REGISTER" {
			hk = Proxy
		}
	}
	return m.SendChallenge(c, hk, realm, flagsQOP(flags), flags&16 != 0)
}

// SendChallenge replies 401 (WWW) or 407 (Proxy) with a fresh challenge
// and returns 1, or -3 when the reply could not be sent (Kamailio's codes).
func (m *Module) SendChallenge(c *script.Ctx, kind HeaderKind, realm string, qop QOP, stale bool) int {
	b := c.GetBuf()
	b = m.appendChallengeValue(b, c.Msg, realm, qop, stale)
	name, code, reason := m.wwwHeader, 401, "Unauthorized"
	if kind == Proxy {
		name, code, reason = m.proxyHeader, 407, "Proxy Authentication Required"
	}
	err := m.respond(c.Msg, code, reason, []sipio.Field{{Name: name, Value: unsafeString(b)}})
	c.PutBuf(b)
	if err != nil {
		c.Log.Error("auth: cannot send challenge", "code", code, "err", err)
		return -3
	}
	m.stats.challenges[code/407].Add(1)
	return 1
}

func (m *Module) respond(msg *sipio.Msg, code int, reason string, hdrs []sipio.Field) error {
	if m.host == nil || m.host.SIP == nil {
		return errors.New("no SIP transport")
	}
	return m.host.SIP.Respond(msg, code, reason, &sipio.ReplyOptions{Headers: hdrs})
}

// hasCredentials implements has_credentials(realm): Proxy-Authorization
// first, then Authorization.
func (m *Module) hasCredentials(c *script.Ctx, realm string) int {
	if c.Msg == nil || c.Msg.Req == nil {
		return -1
	}
	var cr Credentials
	for _, kind := range []HeaderKind{Proxy, WWW} {
		if _, res := findCredentials(c.Msg, kind, realm, &cr); res == findOK {
			return 1
		}
	}
	return -1
}

// ConsumeCredentials implements consume_credentials(): it removes the
// credentials header that the last authentication of this message used,
// so it is not forwarded. -1 for ACK, CANCEL and PRACK and when no
// authentication was done.
func (m *Module) ConsumeCredentials(c *script.Ctx) int {
	msg := c.Msg
	if msg == nil || msg.Req == nil || isMethod(msg, "ACK", "CANCEL", "PRACK") {
		return -1
	}
	st := m.slot.Get(c)
	if !st.haveAuthorized {
		c.Log.Error("auth: no authorized credentials found (error in scripts)")
		return -1
	}
	if !removeHeader(msg, st.authorized) {
		c.Log.Error("auth: cannot remove credentials")
		return -1
	}
	st.haveAuthorized = false
	return 1
}
