package auth

import (
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/modules/internal/kamarg"
)

// challengeAVP returns the PV named by challenge_attr ("$digest_challenge"
// is $avp(digest_challenge)), resolved once at the first call site that
// needs it.
func (m *Module) challengeAVP(fc *script.FixupCtx) (*script.PV, error) {
	if m.pvDone {
		return m.chalPV, m.pvErr
	}
	m.pvDone = true
	name := m.challengeAttr
	if !strings.Contains(name, "(") {
		name = "$avp(" + name[1:] + ")"
	}
	pv, err := fc.ParsePV(name)
	if err == nil && pv.Set == nil {
		err = fc.Errorf("challenge_attr %s is not writable", m.challengeAttr)
	}
	m.chalPV, m.pvErr = pv, err
	return pv, err
}

// pvAuthenticate is Kamailio's pv_authenticate: the password (flags&1 == 0)
// or HA1 (flags&1) comes from the script. On failure with any of flags
// 2|4|8 a challenge header line is stored in the challenge_attr AVP (qop
// "auth" with 4, "auth-int" with 8) for the script to send with
// append_to_reply.
func (m *Module) pvAuthenticate(c *script.Ctx, realm, passwd string, flags int64, kind HeaderKind, method string, chal *script.PV) (int, *Credentials) {
	code, cr := m.Authenticate(c, realm, kind, method, func(cr *Credentials, realm string) (string, int) {
		if flags&1 != 0 {
			return passwd, 0
		}
		var buf [64]byte
		return string(m.Algorithm.HA1(buf[:], cr.Username, realm, passwd)), 0
	})
	if code < 0 && flags&14 != 0 && chal != nil {
		qop := QOPNone
		if flags&8 != 0 {
			qop = QOPAuthInt
		} else if flags&4 != 0 {
			qop = QOPAuth
		}
		b := m.ChallengeHeader(c.GetBuf(), c.Msg, kind, realm, qop, code == CodeStaleNonce)
		b = append(b, "\r\n"...)
		if err := chal.Set(c, script.Str(string(b))); err != nil {
			c.Log.Error("auth: cannot store the challenge", "err", err)
			code = CodeError
		}
		c.PutBuf(b)
	}
	return code, cr
}

type pvArgs struct {
	realm, passwd kamarg.Str
	flags         kamarg.Int
	method        *kamarg.Str
	checks        kamarg.Int
	chal          *script.PV
}

func (m *Module) compilePVArgs(fc *script.FixupCtx, withChecks bool) (*pvArgs, error) {
	var a pvArgs
	var err error
	if a.realm, err = kamarg.CompileStr(fc.Arg(0)); err != nil {
		return nil, err
	}
	if a.passwd, err = kamarg.CompileStr(fc.Arg(1)); err != nil {
		return nil, err
	}
	if a.flags, err = kamarg.CompileInt(fc.Arg(2)); err != nil {
		return nil, err
	}
	if fc.NArgs() == 4 {
		if withChecks {
			if a.checks, err = kamarg.CompileInt(fc.Arg(3)); err != nil {
				return nil, err
			}
		} else {
			s, err := kamarg.CompileStr(fc.Arg(3))
			if err != nil {
				return nil, err
			}
			a.method = &s
		}
	}
	if a.chal, err = m.challengeAVP(fc); err != nil {
		return nil, err
	}
	return &a, nil
}

// values reads the arguments; ok is false (and the error logged) for an
// empty realm or password or a flags value that is not an integer.
func (a *pvArgs) values(c *script.Ctx) (realm, passwd string, flags int64, ok bool) {
	realm, passwd = a.realm.Get(c), a.passwd.Get(c)
	flags, fok := a.flags.Get(c)
	switch {
	case realm == "":
		c.Log.Error("auth: invalid realm value - empty content")
	case passwd == "":
		c.Log.Error("auth: invalid password value - empty content")
	case !fok:
		c.Log.Error("auth: invalid flags value")
	default:
		return realm, passwd, flags, true
	}
	return "", "", 0, false
}

func (m *Module) pvAuthFunc(name string, kind HeaderKind, minArgs, maxArgs int) script.Func {
	return script.Func{Name: name, MinArgs: minArgs, MaxArgs: maxArgs, Module: "auth", Routes: script.RequestRoute,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			a, err := m.compilePVArgs(fc, false)
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				if c.Msg == nil || c.Msg.Req == nil {
					return CodeError
				}
				realm, passwd, flags, ok := a.values(c)
				if !ok {
					return CodeError
				}
				method := string(c.Msg.Req.Method)
				if a.method != nil {
					if method = a.method.Get(c); method == "" {
						c.Log.Error("auth: invalid method value - empty content")
						return CodeError
					}
				}
				code, _ := m.pvAuthenticate(c, realm, passwd, flags, kind, method, a.chal)
				return code
			}, nil
		}}
}

// pvAuthCheckFunc is pv_auth_check(realm, passwd, flags, checks).
func (m *Module) pvAuthCheckFunc() script.Func {
	return script.Func{Name: "pv_auth_check", MinArgs: 4, MaxArgs: 4, Module: "auth", Routes: script.RequestRoute,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			a, err := m.compilePVArgs(fc, true)
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				msg := c.Msg
				if msg == nil || msg.Req == nil {
					return CodeError
				}
				if isMethod(msg, "ACK", "CANCEL") {
					return CodeOK
				}
				realm, passwd, flags, ok := a.values(c)
				if !ok {
					return CodeError
				}
				checks, cok := a.checks.Get(c)
				if !cok {
					c.Log.Error("auth: invalid checks value")
					return CodeError
				}
				kind := Proxy
				if msg.Req.Method == "REGISTER" {
					kind = WWW
				}
				code, cr := m.pvAuthenticate(c, realm, passwd, flags, kind, string(msg.Req.Method), a.chal)
				if code == CodeOK && checks&1 != 0 {
					if cr == nil {
						// ACK, CANCEL or PRACK: nothing to compare
						if isMethod(msg, "PRACK") {
							return CodeOK
						}
						return CodeError
					}
					return CheckIdentity(msg, cr, m.useDomain != 0, false)
				}
				return code
			}, nil
		}}
}

// getWWWAuthenticateFunc is auth_get_www_authenticate(realm, flags, pv): the
// challenge header line (with CRLF) is stored in pv, no reply is sent.
func (m *Module) getWWWAuthenticateFunc() script.Func {
	return script.Func{Name: "auth_get_www_authenticate", MinArgs: 3, MaxArgs: 3, Module: "auth", Routes: script.RequestRoute,
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			realm, err := kamarg.CompileStr(fc.Arg(0))
			if err != nil {
				return nil, err
			}
			flags, err := kamarg.CompileInt(fc.Arg(1))
			if err != nil {
				return nil, err
			}
			dst, err := fc.Arg(2).PV(true)
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				r := realm.Get(c)
				f, ok := flags.Get(c)
				if r == "" || !ok {
					c.Log.Error("auth: invalid realm or flags value")
					return -1
				}
				// Kamailio builds this challenge without a message: no
				// auth_checks binding.
				b := m.ChallengeHeader(c.GetBuf(), nil, WWW, r, flagsQOP(f), f&16 != 0)
				b = append(b, "\r\n"...)
				err := dst.Set(c, script.Str(string(b)))
				c.PutBuf(b)
				if err != nil {
					c.Log.Error("auth: cannot set the result variable", "err", err)
					return -1
				}
				return 1
			}, nil
		}}
}
