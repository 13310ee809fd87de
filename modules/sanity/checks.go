package sanity

import (
	"strconv"
	"strings"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipmsg"
)

// check results (Kamailio's SANITY_CHECK_*)
const (
	checkPassed = 1
	checkFailed = 0
)

// pending is the reply a failed check prepared when noreply is set.
type pending struct {
	code   int
	reason string
}

// reply answers the request (or, with noreply, remembers the answer for
// sanity_reply). Replies are never sent for a reply or an ACK.
func (m *Module) reply(c *script.Ctx, code int, reason string) {
	if c.Msg.Req == nil || strings.EqualFold(string(c.Msg.Req.Method), "ACK") {
		return
	}
	if m.noreply != 0 {
		*m.pending.Get(c) = pending{code: code, reason: reason}
		return
	}
	m.msgs.SendReply(c, m.host.SIP, code, reason, nil)
}

// check runs the selected checks in Kamailio's order and stops at the
// first failure.
func (m *Module) check(c *script.Ctx, checks, uriChecks int) int {
	if c.Msg == nil {
		return checkFailed
	}
	if m.noreply != 0 {
		*m.pending.Get(c) = pending{}
	}
	p, ok := m.msgs.Parsed(c)
	if p == nil {
		m.msgs.SetNoReply(c)
		return checkFailed
	}
	req := c.Msg.Req != nil
	type step struct {
		bit int
		fn  func() int
	}
	steps := []step{
		{CheckRURISIPVersion, func() int { return m.checkVersion(c, p, req) }},
		{CheckRURIScheme, func() int { return m.checkRURI(c, req, "Bad Request URI") }},
		{CheckRequiredHeaders, func() int { return m.checkRequired(c, p, ok) }},
		{CheckVia1Header, func() int { return m.checkVia1(c, p) }},
		{CheckCSeqMethod, func() int { return m.checkCSeqMethod(c, p, req) }},
		{CheckCSeqValue, func() int { return m.checkCSeqValue(c, p) }},
		{CheckContentLength, func() int { return m.checkCL(c, p) }},
		{CheckExpiresValue, func() int { return m.checkExpires(c, p) }},
		{CheckProxyRequire, func() int { return m.checkProxyRequire(c, p) }},
		{CheckParseURIs, func() int { return m.checkURIs(c, p, req, uriChecks) }},
		{CheckDigest, func() int { return m.checkDigest(c, p, true) }},
		{CheckAuthorization, func() int { return m.checkDigest(c, p, false) }},
		{CheckDupTags, func() int { return m.checkDupTags(c, p) }},
	}
	for _, s := range steps {
		if checks&s.bit == 0 {
			continue
		}
		if r := s.fn(); r != checkPassed {
			return r
		}
	}
	return checkPassed
}

// checkVersion: the request line's version must be "<proto>/2.0".
func (m *Module) checkVersion(c *script.Ctx, p *sipmsg.Parsed, req bool) int {
	if !req {
		return checkPassed
	}
	_, _, version, ok := sipmsg.RequestLine(p.FirstLine)
	if !ok || version == "" {
		return checkPassed
	}
	i := strings.IndexByte(version, '/')
	if i < 0 {
		return checkFailed
	}
	if version[i+1:] != "2.0" {
		m.reply(c, 505, "Version Not Supported (R-URI)")
		return checkFailed
	}
	return checkPassed
}

// checkRURI: the R-URI must parse.
func (m *Module) checkRURI(c *script.Ctx, req bool, reason string) int {
	if !req {
		return checkPassed
	}
	uri := m.msgs.Dest().RequestURI(c)
	if _, err := sipmsg.ParseURI(uri); err != nil {
		c.Log.Warn("sanity: failed to parse request uri", "uri", uri)
		m.reply(c, 400, reason)
		return checkFailed
	}
	return checkPassed
}

// checkRequired: From, To, Call-ID and CSeq present (else no reply at
// all), each at most once (else failure without a reply).
func (m *Module) checkRequired(c *script.Ctx, p *sipmsg.Parsed, parsedOK bool) int {
	var n [4]int
	for i := range p.Headers {
		switch p.Headers[i].Type {
		case sipmsg.HdrFrom:
			n[0]++
		case sipmsg.HdrTo:
			n[1]++
		case sipmsg.HdrCallID:
			n[2]++
		case sipmsg.HdrCSeq:
			n[3]++
		}
	}
	for _, k := range n {
		if k == 0 {
			m.msgs.SetNoReply(c)
			return checkFailed
		}
	}
	if !parsedOK {
		m.reply(c, 400, "Bad Headers")
		return checkFailed
	}
	for _, k := range n {
		if k > 1 {
			return checkFailed
		}
	}
	return checkPassed
}

// checkVia1: a top Via with a host.
func (m *Module) checkVia1(c *script.Ctx, p *sipmsg.Parsed) int {
	h := p.FindType(sipmsg.HdrVia)
	if h == nil {
		m.msgs.SetNoReply(c)
		return checkFailed
	}
	hop := sipmsg.SplitComma(h.Value)[0]
	// "SIP/2.0/UDP host[:port][;params]"
	f := strings.Fields(hop)
	if len(f) < 2 || strings.Count(f[0], "/") != 2 {
		m.msgs.SetNoReply(c)
		return checkFailed
	}
	host := f[1]
	if i := strings.IndexAny(host, ";"); i >= 0 {
		host = host[:i]
	}
	if host == "" || host[0] == ':' {
		m.msgs.SetNoReply(c)
		return checkFailed
	}
	return checkPassed
}

// cseq splits the first CSeq header; ok=false (and no reply) when it is
// missing or has no number and method parts.
func (m *Module) cseq(c *script.Ctx, p *sipmsg.Parsed) (num, method string, ok bool) {
	h := p.FindType(sipmsg.HdrCSeq)
	if h == nil {
		m.msgs.SetNoReply(c)
		return "", "", false
	}
	f := strings.Fields(h.Value)
	if len(f) != 2 {
		m.msgs.SetNoReply(c)
		return "", "", false
	}
	return f[0], f[1], true
}

func (m *Module) checkCSeqMethod(c *script.Ctx, p *sipmsg.Parsed, req bool) int {
	_, method, ok := m.cseq(c, p)
	if !ok {
		return checkFailed
	}
	if !req {
		return checkPassed
	}
	if method == "" {
		m.reply(c, 400, "Missing method in CSeq header")
		return checkFailed
	}
	if rm, _, _, okr := sipmsg.RequestLine(p.FirstLine); !okr || rm != method {
		m.reply(c, 400, "CSeq method does not match request method")
		return checkFailed
	}
	return checkPassed
}

// validUint is Kamailio's str2valid_uint: at most 10 digits and not above
// "4294967296" compared digit by digit.
func validUint(s string) bool {
	if len(s) > 10 {
		return false
	}
	const mui = "4294967296"
	equal := len(s) == 10
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
		if equal {
			if s[i] < mui[i] {
				equal = false
			} else if s[i] > mui[i] {
				return false
			}
		}
	}
	return true
}

func (m *Module) checkCSeqValue(c *script.Ctx, p *sipmsg.Parsed) int {
	num, _, ok := m.cseq(c, p)
	if !ok {
		return checkFailed
	}
	if num == "" {
		m.reply(c, 400, "Missing number in CSeq header")
		return checkFailed
	}
	if !validUint(num) {
		m.reply(c, 400, "CSeq number is illegal")
		return checkFailed
	}
	return checkPassed
}

// checkCL: a Content-Length header must equal the body's length.
func (m *Module) checkCL(c *script.Ctx, p *sipmsg.Parsed) int {
	h := p.FindType(sipmsg.HdrContentLength)
	if h == nil {
		return checkPassed
	}
	n, err := strconv.Atoi(h.Value)
	if err != nil || n < 0 {
		m.reply(c, 400, "Content-Length Failure")
		return checkFailed
	}
	if p.Body < 0 {
		m.reply(c, 400, "Content-Length Body Failure")
		return checkFailed
	}
	if len(c.Msg.Raw)-p.Body != n {
		m.reply(c, 400, "Content-Length mis-match")
		return checkFailed
	}
	return checkPassed
}

// checkExpires: an Expires header must hold a 32-bit unsigned number.
func (m *Module) checkExpires(c *script.Ctx, p *sipmsg.Parsed) int {
	h := p.FindType(sipmsg.HdrExpires)
	if h == nil {
		return checkPassed
	}
	v := strings.TrimSpace(h.Value)
	if v == "" {
		m.reply(c, 400, "Bad Expires Header")
		return checkFailed
	}
	text := v
	if len(v) <= 10 {
		if i := strings.IndexAny(v, " \t\r\n"); i >= 0 {
			text = v[:i]
		}
	}
	if text == "" {
		m.reply(c, 400, "Missing number in Expires header")
		return checkFailed
	}
	if !validUint(text) {
		m.reply(c, 400, "Expires value is illegal")
		return checkFailed
	}
	return checkPassed
}

// checkProxyRequire: every extension in the first Proxy-Require header
// must be in the proxy_require list; the first that is not is reported in
// an Unsupported header of a 420 reply.
func (m *Module) checkProxyRequire(c *script.Ctx, p *sipmsg.Parsed) int {
	h := p.FindType(sipmsg.HdrProxyRequire)
	if h == nil {
		return checkPassed
	}
	list := parseStrList(h.Value)
	if list == nil {
		m.reply(c, 400, "Bad Proxy Require Header")
		return checkFailed
	}
	for _, ext := range list {
		found := false
		for _, ok := range m.proxyRequire {
			if ok == ext {
				found = true
				break
			}
		}
		if !found {
			if err := m.msgs.AddReplyHeaders(c, "Unsupported: "+ext+"\r\n"); err != nil {
				c.Log.Error("sanity: cannot add the Unsupported header", "err", err)
			}
			m.reply(c, 420, "Bad Proxy Require Extension")
			return checkFailed
		}
	}
	return checkPassed
}

// checkURIs parses the R-URI, From, To and Contact URIs as selected.
func (m *Module) checkURIs(c *script.Ctx, p *sipmsg.Parsed, req bool, checks int) int {
	if checks&URICheckRURI != 0 {
		if r := m.checkRURI(c, req, "Bad Request URI"); r != checkPassed {
			return r
		}
	}
	nameAddr := func(t sipmsg.HeaderType, reason string) int {
		h := p.FindType(t)
		if h == nil || h.Value == "" {
			m.msgs.SetNoReply(c)
			return checkFailed
		}
		na, err := sipmsg.ParseNameAddr(h.Value)
		if err == nil {
			_, err = sipmsg.ParseURI(na.URI)
		}
		if err != nil {
			m.reply(c, 400, reason)
			return checkFailed
		}
		return checkPassed
	}
	if checks&URICheckFrom != 0 {
		if r := nameAddr(sipmsg.HdrFrom, "Invalid From Header"); r != checkPassed {
			return r
		}
	}
	if checks&URICheckTo != 0 {
		// sic: Kamailio 5.6 spells it "Ivalid"
		if r := nameAddr(sipmsg.HdrTo, "Ivalid To Header"); r != checkPassed {
			return r
		}
	}
	if checks&URICheckContact != 0 {
		h := p.FindType(sipmsg.HdrContact)
		if h != nil {
			v := strings.TrimSpace(h.Value)
			if v == "" {
				m.reply(c, 400, "Bad Contact Header")
				return checkFailed
			}
			if v != "*" {
				na, err := sipmsg.ParseNameAddr(sipmsg.SplitComma(v)[0])
				if err != nil {
					m.reply(c, 400, "Bad Contact Header")
					return checkFailed
				}
				if _, err := sipmsg.ParseURI(na.URI); err != nil {
					m.reply(c, 400, "Bad Contact URI")
					return checkFailed
				}
			}
		}
	}
	return checkPassed
}

// checkDupTags: at most one tag parameter in From and To.
func (m *Module) checkDupTags(c *script.Ctx, p *sipmsg.Parsed) int {
	for _, t := range []struct {
		typ    sipmsg.HeaderType
		reason string
	}{{sipmsg.HdrFrom, "Many From Tag Params"}, {sipmsg.HdrTo, "Many To Tag Params"}} {
		h := p.FindType(t.typ)
		if h == nil {
			m.msgs.SetNoReply(c)
			return checkFailed
		}
		na, err := sipmsg.ParseNameAddr(h.Value)
		if err != nil {
			m.msgs.SetNoReply(c)
			return checkFailed
		}
		if _, n := na.Tag(); n > 1 {
			m.reply(c, 400, t.reason)
			return checkFailed
		}
	}
	return checkPassed
}
