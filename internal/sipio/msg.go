package sipio

import (
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Transport names a SIP transport protocol. String returns it the way
// Kamailio's $pr prints it ("udp", "tcp", ...).
type Transport uint8

// The transports sipht knows.
const (
	UDP Transport = iota + 1
	TCP
	TLS
	WS
	WSS
	SCTP // parsed from listen= only, to refuse it clearly
)

// String returns the lower-case transport name, as $pr prints it.
func (t Transport) String() string {
	switch t {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	case TLS:
		return "tls"
	case WS:
		return "ws"
	case WSS:
		return "wss"
	case SCTP:
		return "sctp"
	}
	return "unknown"
}

// ParseTransport returns the transport a name such as a URI's
// transport= parameter gives ("udp", "TCP", "wss" ...; case does not
// matter), or 0 for a name sipht does not know.
func ParseTransport(name string) Transport {
	switch strings.ToLower(name) {
	case "udp":
		return UDP
	case "tcp":
		return TCP
	case "tls":
		return TLS
	case "ws":
		return WS
	case "wss":
		return WSS
	case "sctp":
		return SCTP
	}
	return 0
}

// Msg is one received SIP message and where it came from. Exactly one of Req
// and Res is set. A Msg and its Raw bytes are valid only while the message is
// being processed; the receiver may reuse them afterwards.
type Msg struct {
	Req *sip.Request  // the request, or nil for a reply
	Res *sip.Response // the reply, or nil for a request

	Source    netip.AddrPort // the peer the message came from ($si, $sp)
	Local     netip.AddrPort // the local socket it arrived on ($Ri, $Rp)
	Transport Transport      // the transport it arrived over ($pr)
	Raw       []byte         // the message as received
	Received  time.Time      // when it was read from the socket

	// Worker is the index (0 .. Workers-1) of the worker goroutine handling
	// the message: per-worker state such as the script's $var storage can be
	// kept in a slice indexed by it, without locks.
	Worker int
	// ForceRport makes replies and forwarded requests carry rport=<source
	// port> and go back to the source port even if the request did not ask
	// for it (Kamailio's force_rport()).
	ForceRport bool

	udp  *udpSocket // the socket a UDP message came in on
	conn *tcpConn   // the connection a TCP message came in on
}

// Clone returns a copy of m that stays valid after the handler returns
// (Raw is copied; Req and Res are shared, they are not reused anyway). A
// clone can still be replied to: over TCP, on the same connection while it
// is open.
func (m *Msg) Clone() *Msg {
	c := *m
	c.Raw = append([]byte(nil), m.Raw...)
	return &c
}

// IsRequest reports whether the message is a request.
func (m *Msg) IsRequest() bool { return m.Req != nil }
