package siputils

import (
	"github.com/sipht/sipht/internal/script"
)

// options_reply(): answer an OPTIONS request for the server itself (an
// R-URI without a user part) with 200 OK and the Accept, Accept-Encoding,
// Accept-Language and Supported headers of the module parameters. -1
// when the R-URI has a user part or does not parse.
func (m *Module) fixOptionsReply(fc *script.FixupCtx) (script.Handler, error) {
	hdrs := "Accept: " + m.accept + "\r\nAccept-Encoding: " + m.acceptEnc +
		"\r\nAccept-Language: " + m.acceptLang + "\r\nSupported: " + m.supported + "\r\n"
	return func(c *script.Ctx) int {
		_, u, ok := m.ruri(c)
		if !ok {
			return -1
		}
		if u.User != "" {
			c.Log.Error("siputils: options_reply: ruri contains username")
			return -1
		}
		if err := m.msgs.AddReplyHeaders(c, hdrs); err != nil {
			c.Log.Error("siputils: options_reply", "err", err)
			if m.msgs.SendReply(c, m.host.SIP, 500, "Server internal error", nil) < 0 {
				return -1
			}
			return 1
		}
		if m.msgs.SendReply(c, m.host.SIP, 200, "OK", nil) < 0 {
			c.Log.Error("siputils: failed to send 200 via send_reply")
			return -1
		}
		return 1
	}, nil
}
