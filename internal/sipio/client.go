package sipio

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Target says where a request is sent.
type Target struct {
	Transport Transport      // UDP or TCP
	Addr      netip.AddrPort // the peer
	// Local picks the listening socket to send from (and to put in Via),
	// like Kamailio's send socket; the zero value takes the first socket of
	// the transport and the peer's address family.
	Local netip.AddrPort
}

// pendKey matches a reply to a request we sent (RFC 3261 §17.1.3): the top
// Via branch and the CSeq method.
type pendKey struct{ branch, method string }

type pendingCall struct {
	final chan *sip.Response // the first final reply
	prov  chan struct{}      // a provisional reply arrived
}

// clientTable holds the requests waiting for replies. It is bounded by
// ClientConfig.MaxPending.
type clientTable struct {
	mu sync.Mutex
	m  map[pendKey]*pendingCall
	n  atomic.Int64
}

func (c *clientTable) init() { c.m = make(map[pendKey]*pendingCall) }

func (c *clientTable) active() bool { return c.n.Load() > 0 }

func (c *clientTable) add(k pendKey, max int) (*pendingCall, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= max {
		return nil, ErrTooManyPending
	}
	if _, dup := c.m[k]; dup {
		return nil, fmt.Errorf("sipio: a request with branch %q and method %s is already waiting", k.branch, k.method)
	}
	p := &pendingCall{final: make(chan *sip.Response, 1), prov: make(chan struct{}, 1)}
	c.m[k] = p
	c.n.Add(1)
	return p, nil
}

func (c *clientTable) remove(k pendKey) {
	c.mu.Lock()
	if _, ok := c.m[k]; ok {
		delete(c.m, k)
		c.n.Add(-1)
	}
	c.mu.Unlock()
}

func (c *clientTable) failAll() {
	c.mu.Lock()
	clear(c.m)
	c.n.Store(0)
	c.mu.Unlock()
}

func (c *clientTable) lookup(branch, method string) *pendingCall {
	c.mu.Lock()
	p := c.m[pendKey{branch, method}]
	c.mu.Unlock()
	return p
}

// deliver passes a parsed reply to the Do call waiting for it.
func (c *clientTable) deliver(s *Server, branch, method string, res *sip.Response) bool {
	p := c.lookup(branch, method)
	if p == nil {
		return false
	}
	if res.StatusCode < 200 {
		select {
		case p.prov <- struct{}{}:
		default:
		}
		return true
	}
	select {
	case p.final <- res:
	default: // a retransmitted final reply: the first one won
	}
	return true
}

// matchRaw recognises, on the read goroutine and before any queueing, a reply
// to one of our own requests, so that a Do call made from a handler is never
// stuck behind busy workers. Only such replies are parsed here.
func (c *clientTable) matchRaw(s *Server, data []byte) bool {
	line, next, ok := firstLine(data)
	if !ok || !isResponseLine(line) {
		return false
	}
	var via, cseq []byte
	scanHeaders(data, next, func(name, value []byte) bool {
		switch kindOfBytes(name) {
		case hdrVia:
			if via == nil {
				via = value
			}
		case hdrCSeq:
			if cseq == nil {
				cseq = value
			}
		}
		return via == nil || cseq == nil
	})
	if via == nil || cseq == nil {
		return false
	}
	hop, ok := parseVia(bytesString(via))
	if !ok {
		return false
	}
	_, method, ok := cseqMethod(bytesString(cseq))
	if !ok || c.lookup(hop.branch, method) == nil {
		return false
	}
	msg, err := s.parser.ParseSIP(data)
	if err != nil {
		return false
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		return false
	}
	s.ctr.repliesIn.Add(1)
	// hop.branch and method point into data, which the reader reuses; they
	// are only used for the lookup, never stored
	return c.deliver(s, hop.branch, method, res)
}

func (s *Server) running() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.state {
	case 0:
		return ErrNotStarted
	case 1:
		return nil
	}
	return ErrServerClosed
}

// outgoing is a request serialised and ready to go.
type outgoing struct {
	bp     *[]byte
	b      []byte
	branch string
	sock   *udpSocket // for UDP
	local  netip.AddrPort
}

func (o *outgoing) release() { putBuf(o.bp) }

// prepareRequest completes req for sending to `to` and serialises it. It
// adds, when missing: a top Via with our socket's address and a fresh branch,
// Max-Forwards: 70, and Content-Length. From, To, Call-ID and CSeq must be
// there. The result is checked for header injection and size.
func (s *Server) prepareRequest(req *sip.Request, to *Target) (*outgoing, error) {
	if req == nil {
		return nil, errors.New("sipio: nil request")
	}
	if !to.Addr.IsValid() || to.Addr.Port() == 0 {
		return nil, fmt.Errorf("sipio: invalid destination %s", to.Addr)
	}
	to.Addr = unmapAP(to.Addr)
	o := &outgoing{}
	switch to.Transport {
	case UDP:
		o.sock = s.udpFor(to.Local, to.Addr.Addr())
		if o.sock == nil || o.sock.local.Addr().Is4() != to.Addr.Addr().Is4() {
			return nil, fmt.Errorf("%w (udp to %s)", ErrNoSocket, to.Addr)
		}
		o.local = o.sock.local
	case TCP:
		l := s.tcpListenerFor(to.Local, to.Addr.Addr())
		if l == nil {
			return nil, fmt.Errorf("%w (tcp to %s)", ErrNoSocket, to.Addr)
		}
		o.local = l.local
	default:
		return nil, fmt.Errorf("sipio: cannot send over %s", to.Transport)
	}
	switch {
	case req.From() == nil:
		return nil, errors.New("sipio: request has no valid From header")
	case req.To() == nil:
		return nil, errors.New("sipio: request has no valid To header")
	case req.CallID() == nil:
		return nil, errors.New("sipio: request has no valid Call-ID header")
	case req.CSeq() == nil:
		return nil, errors.New("sipio: request has no valid CSeq header")
	}
	if hop, ok := topVia(req); ok {
		if hop.branch == "" {
			return nil, errors.New("sipio: request's top Via has no branch")
		}
		o.branch = hop.branch
	} else {
		if req.GetHeader("Via") != nil {
			return nil, errors.New("sipio: request's top Via is malformed")
		}
		host, err := s.sentByHost(o.local, to.Addr)
		if err != nil {
			return nil, err
		}
		o.branch = newBranch()
		v := make([]byte, 0, 80)
		v = append(v, "SIP/2.0/"...)
		v = append(v, to.Transport.upper()...)
		v = append(v, ' ')
		v = appendHost(v, host)
		v = append(v, ':')
		v = strconv.AppendUint(v, uint64(o.local.Port()), 10)
		v = append(v, ";branch="...)
		v = append(v, o.branch...)
		req.PrependHeader(sip.NewHeader("Via", string(v)))
	}
	if req.GetHeader("Max-Forwards") == nil {
		req.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	}
	if req.ContentLength() == nil {
		req.SetBody(req.Body())
	}
	buf := bufferPool.Get().(*bytes.Buffer)
	buf.Reset()
	req.StringWrite(buf)
	o.bp = getBuf(buf.Len())
	o.b = append((*o.bp)[:0], buf.Bytes()...)
	bufferPool.Put(buf)
	if err := checkWire(o.b, len(req.Body()), len(req.Headers())); err != nil {
		o.release()
		return nil, fmt.Errorf("sipio: %s request: %w", req.Method, err)
	}
	if to.Transport == UDP && len(o.b) > maxUDPPayload(to.Addr.Addr()) {
		n := len(o.b)
		o.release()
		return nil, fmt.Errorf("%w: %d bytes over UDP (max %d); use TCP", ErrTooLarge, n, maxUDPPayload(to.Addr.Addr()))
	}
	if to.Transport == TCP && len(o.b) > s.cfg.MaxMessageSize {
		n := len(o.b)
		o.release()
		return nil, fmt.Errorf("%w: %d bytes (MaxMessageSize %d)", ErrTooLarge, n, s.cfg.MaxMessageSize)
	}
	return o, nil
}

// maxUDPPayload is the largest datagram the IP layer can carry.
func maxUDPPayload(ip netip.Addr) int {
	if ip.Is4() {
		return 65535 - 20 - 8
	}
	return 65535 - 8
}

func (t Transport) upper() string {
	switch t {
	case UDP:
		return "UDP"
	case TCP:
		return "TCP"
	case TLS:
		return "TLS"
	case WS:
		return "WS"
	case WSS:
		return "WSS"
	case SCTP:
		return "SCTP"
	}
	return "UDP"
}

func appendHost(dst []byte, ip netip.Addr) []byte {
	if ip.Is6() {
		dst = append(dst, '[')
		dst = ip.WithZone("").AppendTo(dst)
		return append(dst, ']')
	}
	return ip.AppendTo(dst)
}

// sentByHost is the IP to advertise in Via: the socket's, or for a wildcard
// socket the address the kernel would use to reach the peer.
func (s *Server) sentByHost(local, peer netip.AddrPort) (netip.Addr, error) {
	if !local.Addr().IsUnspecified() {
		return local.Addr(), nil
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(peer))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("sipio: find local address towards %s: %w", peer, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

func newBranch() string {
	var b [8]byte
	x := rand.Uint64()
	for i := range b {
		b[i] = byte(x >> (8 * i))
	}
	return sip.RFC3261BranchMagicCookie + hex.EncodeToString(b[:])
}

func (s *Server) tcpListenerFor(local netip.AddrPort, peer netip.Addr) *tcpListener {
	var fam *tcpListener
	for _, l := range s.tcpLns {
		if local.IsValid() && l.local == local {
			return l
		}
		if fam == nil && l.local.Addr().Is4() == peer.Is4() {
			fam = l
		}
	}
	if local.IsValid() && local.Port() != 0 {
		return nil
	}
	return fam
}

// Do sends a non-INVITE request statelessly and waits for its final reply,
// which it returns whatever its code. No transaction is kept: a reply is
// matched by top Via branch and CSeq method, and Do gives up after
// ClientConfig.Timeout (or ctx) with ErrTimeout. Over UDP it retransmits per
// RFC 3261 Timer E (T1, doubling up to T2; every T2 once a provisional reply
// came); over TCP it sends once on a reused or new connection. Do completes
// req (see prepareRequest) and so modifies it. Replies are matched on the read
// goroutine, so Do may be called from a Handler, but it blocks that worker:
// fan-out code (DMQ) should call it from its own goroutines.
//
// Do is Begin followed by Wait.
func (s *Server) Do(ctx context.Context, req *sip.Request, to Target) (*sip.Response, error) {
	c, err := s.Begin(req, to)
	if err != nil {
		return nil, err
	}
	return c.Wait(ctx)
}

// Call is a request sent by Begin whose final reply has not been collected
// yet. Exactly one Wait must follow every successful Begin (it releases the
// call's resources, and retransmits over UDP while it waits).
type Call struct {
	s     *Server
	o     *outgoing
	to    Target
	req   *sip.Request
	key   pendKey
	p     *pendingCall
	conn  *tcpConn
	start time.Time
}

// Begin sends a non-INVITE request like Do but returns as soon as the first
// copy is on the wire: a caller that sends several requests to one peer
// keeps them in order on the wire while their replies are awaited
// concurrently (Wait). Retransmissions and the timeout run inside Wait,
// measured from Begin.
func (s *Server) Begin(req *sip.Request, to Target) (*Call, error) {
	if err := s.running(); err != nil {
		return nil, err
	}
	if req != nil && (req.Method == sip.ACK || req.Method == sip.INVITE) {
		return nil, fmt.Errorf("sipio: Do does not send %s (no INVITE transactions here); use Send", req.Method)
	}
	o, err := s.prepareRequest(req, &to)
	if err != nil {
		return nil, err
	}
	key := pendKey{o.branch, string(req.CSeq().MethodName)}
	p, err := s.client.add(key, s.cfg.Client.MaxPending)
	if err != nil {
		o.release()
		return nil, err
	}
	c := &Call{s: s, o: o, to: to, req: req, key: key, p: p, start: time.Now()}
	if err := c.send(); err != nil {
		c.release()
		return nil, err
	}
	s.ctr.requestsOut.Add(1)
	return c, nil
}

func (c *Call) release() {
	c.s.client.remove(c.key)
	c.o.release()
}

func (c *Call) send() error {
	s := c.s
	if c.to.Transport == UDP {
		return s.writeUDP(c.o.sock, c.o.b, c.to.Addr)
	}
	if c.conn == nil {
		conn, err := s.tcpConnTo(c.to.Addr, c.o.local)
		if err != nil {
			return err
		}
		c.conn = conn
	}
	return c.conn.write(c.o.b)
}

// Wait waits for the final reply of a request sent by Begin (see Do).
func (c *Call) Wait(ctx context.Context) (*sip.Response, error) {
	s := c.s
	defer c.release()
	timeout := time.NewTimer(max(s.cfg.Client.Timeout-time.Since(c.start), 0))
	defer timeout.Stop()
	var retrans <-chan time.Time
	var rt *time.Timer
	interval := s.cfg.Client.T1
	if c.to.Transport == UDP {
		rt = time.NewTimer(max(interval-time.Since(c.start), 0))
		defer rt.Stop()
		retrans = rt.C
	}
	proceeding := false
	for {
		select {
		case res := <-c.p.final:
			s.ctr.clientOK.Add(1)
			return res, nil
		case <-c.p.prov:
			if !proceeding && rt != nil {
				proceeding = true
				interval = s.cfg.Client.T2
				rt.Reset(interval)
			}
		case <-retrans:
			if err := c.send(); err != nil {
				s.log.Debug("retransmission failed", "to", c.to.Addr.String(), "error", err)
			}
			s.ctr.retransOut.Add(1)
			if !proceeding {
				interval = min(2*interval, s.cfg.Client.T2)
			}
			rt.Reset(interval)
		case <-timeout.C:
			s.ctr.clientTO.Add(1)
			return nil, fmt.Errorf("%w (%s %s to %s:%s after %s)", ErrTimeout, c.req.Method, c.o.branch, c.to.Transport, c.to.Addr, s.cfg.Client.Timeout)
		case <-ctx.Done():
			s.ctr.clientTO.Add(1)
			return nil, ctx.Err()
		case <-s.stopping:
			return nil, ErrServerClosed
		}
	}
}

// Send sends a request once, without waiting for anything (ACK, or a request
// whose replies the handler sees). It completes req like Do.
func (s *Server) Send(req *sip.Request, to Target) error {
	if err := s.running(); err != nil {
		return err
	}
	o, err := s.prepareRequest(req, &to)
	if err != nil {
		return err
	}
	defer o.release()
	if err := s.sendOut(o, to); err != nil {
		return err
	}
	s.ctr.requestsOut.Add(1)
	return nil
}

func (s *Server) sendOut(o *outgoing, to Target) error {
	if to.Transport == UDP {
		return s.writeUDP(o.sock, o.b, to.Addr)
	}
	c, err := s.tcpConnTo(to.Addr, o.local)
	if err != nil {
		return err
	}
	return c.write(o.b)
}
