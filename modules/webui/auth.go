package webui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Cookie names (Path /ui/, HttpOnly, SameSite=Strict).
const (
	cookieAuth    = "sipht_ui_auth"    // HMAC of the token: proves a token login
	cookieSession = "sipht_ui_session" // random; the CSRF token is derived from it
	cookieFlash   = "sipht_ui_flash"   // the result of the last action, shown once
)

// secrets holds the per-process random key that signs the auth cookie and
// derives CSRF tokens: a restart logs every browser out.
type secrets struct{ key [32]byte }

func newSecrets() *secrets {
	s := &secrets{}
	if _, err := rand.Read(s.key[:]); err != nil {
		panic("webui: no randomness: " + err.Error()) // crypto/rand never fails on Linux
	}
	return s
}

func (s *secrets) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.key[:])
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// equal compares two secrets in constant time, whatever their lengths
// (both are hashed first, so the time does not tell the length either).
func equal(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// authResult is what authorize decided.
type authResult uint8

const (
	authOK        authResult = iota
	authRedirect             // a ?token= login: cookie set, redirected without it
	authChallenge            // credentials needed: 401
	authRefused              // no credentials configured, client not local: 403
)

// authorize applies the access rules:
//
//   - with a token or user/password configured, every request (loopback
//     ones too) must carry them: Authorization: Bearer <token>, Basic
//     user:password, the auth cookie a token login set, or ?token=<token>
//     (which sets the cookie and redirects to the same URL without it);
//   - without credentials, only loopback clients are served, unless
//     allow_remote is set: anyone else gets 403 and the reason is logged.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request) authResult {
	c := &h.cfg
	if c.Token == "" && c.User == "" {
		if c.AllowRemote || isLoopback(r.RemoteAddr) {
			return authOK
		}
		h.refusals.log(h.log, "webui refused a client that is not on this machine: set modparam(\"webui\", \"token\", ...) or user/password, or allow_remote=1 to allow it", "client", r.RemoteAddr)
		return authRefused
	}
	if c.User != "" {
		if u, p, ok := r.BasicAuth(); ok && equal(u, c.User) && equal(p, c.Password) {
			return authOK
		}
	}
	if c.Token != "" {
		if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") && equal(strings.TrimSpace(a[7:]), c.Token) {
			return authOK
		}
		if ck, err := r.Cookie(cookieAuth); err == nil && equal(ck.Value, h.authCookieValue()) {
			return authOK
		}
		if q := r.URL.Query(); q.Has("token") {
			if equal(q.Get("token"), c.Token) && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
				h.setAuthCookie(w)
				q.Del("token")
				u := *r.URL
				u.RawQuery = q.Encode()
				u.Scheme, u.Host = "", ""
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return authRedirect
			}
		}
	}
	if r.Header.Get("Authorization") != "" || r.URL.Query().Has("token") {
		h.failures.log(h.log, "webui: wrong credentials", "client", r.RemoteAddr)
	}
	return authChallenge
}

func (h *Handler) authCookieValue() string { return h.sec.mac("auth", h.cfg.Token) }

func (h *Handler) setAuthCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieAuth, Value: h.authCookieValue(), Path: "/ui/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

// login checks the token typed in the login form.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Token == "" || r.Method != http.MethodPost {
		h.challenge(w, r, "")
		return
	}
	if err := r.ParseForm(); err != nil || !equal(r.PostForm.Get("token"), h.cfg.Token) {
		h.failures.log(h.log, "webui: wrong token in the login form", "client", r.RemoteAddr)
		h.challenge(w, r, "Wrong token.")
		return
	}
	h.setAuthCookie(w)
	http.Redirect(w, r, safeBack(r.PostForm.Get("back")), http.StatusSeeOther)
}

// challenge answers 401: a Basic challenge when user/password is set, and
// the token login form when a token is set.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, msg string) {
	if h.cfg.User != "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="sipht web UI", charset="UTF-8"`)
	}
	back := r.URL.RequestURI()
	if r.URL.Path == "/ui/login" {
		back = "/ui/"
	}
	h.render(w, r, http.StatusUnauthorized, "login", &loginPage{TokenLogin: h.cfg.Token != "", Back: back, Error: msg})
}

// isLoopback tells whether a RemoteAddr ("ip:port") is a loopback address.
func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// session returns the browser's session id, creating the cookie when the
// browser has none yet.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(cookieSession); err == nil && len(ck.Value) == 32 && isHex(ck.Value) {
		return ck.Value
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: id, Path: "/ui/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return id
}

// csrfToken is the token a form of this session must send back.
func (h *Handler) csrfToken(session string) string { return h.sec.mac("csrf", session)[:32] }

// checkCSRF verifies a state-changing request: same origin (Go's
// CrossOriginProtection: Sec-Fetch-Site, or Origin against Host) and the
// form's csrf field derived from the session cookie.
func (h *Handler) checkCSRF(r *http.Request) bool {
	if err := h.cop.Check(r); err != nil {
		return false
	}
	ck, err := r.Cookie(cookieSession)
	if err != nil || ck.Value == "" {
		return false
	}
	return equal(r.PostForm.Get("csrf"), h.csrfToken(ck.Value))
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// safeBack returns u when it is a path inside the web UI (so a redirect
// after an action cannot be turned into an open redirect), else "/ui/".
func safeBack(u string) string {
	if !strings.HasPrefix(u, "/ui/") || strings.ContainsAny(u, "\\\x00\r\n\t") {
		return "/ui/"
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "" || p.Host != "" || p.User != nil || !strings.HasPrefix(p.Path, "/ui/") ||
		strings.Contains(p.Path, "/../") || strings.HasSuffix(p.Path, "/..") {
		return "/ui/"
	}
	return u
}

// rateLog logs one message at most once per period and counts the rest,
// so a client hammering the UI cannot flood the log.
type rateLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

const rateLogPeriod = 10 * time.Second

func (l *rateLog) log(lg *slog.Logger, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() && now.Sub(l.last) < rateLogPeriod {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	lg.Warn(msg, args...)
}
