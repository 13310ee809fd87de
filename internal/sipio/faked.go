package sipio

import (
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"
)

// fakedRequest is the request routes without a SIP message run on, as
// Kamailio's faked message: event_route[htable:mod-init],
// event_route[htable:expired:...], timers. Functions that read the message
// see a harmless local OPTIONS instead of nothing.
const fakedRequest = "OPTIONS sip:you@kamailio.org SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1\r\n" +
	"From: <sip:you@kamailio.org>;tag=123\r\n" +
	"To: <sip:you@kamailio.org>\r\n" +
	"Call-ID: 123\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Content-Length: 0\r\n\r\n"

// FakedMsg returns a fresh copy of the faked local request (from
// 127.0.0.1:5060 over UDP) for a route that runs without a received
// message. Each call parses a new copy, so functions may change it.
func FakedMsg() *Msg {
	raw := []byte(fakedRequest)
	m, err := newParser(len(raw)).ParseSIP(raw)
	if err != nil {
		panic("sipio: the faked request does not parse: " + err.Error())
	}
	lo := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), DefaultPort)
	return &Msg{Req: m.(*sip.Request), Source: lo, Local: lo, Transport: UDP, Raw: raw, Received: time.Now()}
}
