package sipio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Handler processes one received message on a worker goroutine. The Msg and
// its Raw bytes are reused once the handler returns (use Msg.Clone to keep
// them); m.Req and m.Res are fresh sipgo objects that may be kept.
type Handler func(m *Msg)

// Filter is the cheap pre-parse check run on the read goroutine for every
// datagram and every framed TCP message (and for every accepted TCP
// connection) before anything is parsed or queued: return false to drop it
// (counted as DropFiltered). Pike and ban tables plug in here. It must be
// fast, must not block, and is called concurrently from several readers.
type Filter func(src netip.AddrPort, tp Transport) bool

// Config configures a Server. Zero values mean the defaults listed.
type Config struct {
	Listen  []ListenSpec // sockets to open (ParseListen); Port 0 picks a free port
	Handler Handler      // required
	Filter  Filter       // optional pre-parse drop hook

	Workers   int // worker goroutines (Kamailio children); default GOMAXPROCS
	QueueSize int // messages each worker may have waiting; default 1024

	// MaxMessageSize bounds a TCP message (headers + body); default and
	// minimum 65535. UDP datagrams of any size up to 65,535 bytes are read.
	MaxMessageSize int
	// UDPReadBuffer is the SO_RCVBUF asked for each UDP socket; default
	// 4 MiB (the kernel caps it at net.core.rmem_max).
	UDPReadBuffer int

	TCP    TCPConfig
	Client ClientConfig

	// ServerHeader is the value of the Server header put in stateless
	// replies ("" for none). Kamailio's default is "kamailio (5.6.3 (...))".
	ServerHeader string
	// TagSecret seeds the To-tags of stateless replies. Default: derived
	// from the listen addresses, so tags are stable across restarts, as
	// Kamailio's are.
	TagSecret []byte

	// OrderedMethods lists request methods whose UDP requests from one
	// source are handled in the order they were read: they all go to one
	// worker (chosen by the source address) instead of the next free one.
	// Other traffic is spread over the workers and may be handled out of
	// order. DMQ needs this for KDMQ: Kamailio's htable.setxs sends
	// SET_CELL then SET_CELL_EXPIRE, which do not commute.
	OrderedMethods []string

	Logger *slog.Logger // default slog.Default()
}

// TCPConfig bounds the TCP side.
type TCPConfig struct {
	MaxConns       int           // open connections, both directions; default 2048 (tcp_max_connections)
	IdleTimeout    time.Duration // close a connection idle this long; default 120s (tcp_connection_lifetime)
	ReadTimeout    time.Duration // a started message must be complete within this; default 10s
	WriteTimeout   time.Duration // one write may take this long; default 10s (tcp_send_timeout)
	ConnectTimeout time.Duration // outgoing connect; default 5s
	EnqueueTimeout time.Duration // a reader waits this long for a full worker queue before dropping; default 1s
}

// ClientConfig tunes the stateless client (Do).
type ClientConfig struct {
	Timeout    time.Duration // give up waiting for a final reply; default 5s
	T1         time.Duration // RFC 3261 T1 (first UDP retransmission); default 500ms
	T2         time.Duration // RFC 3261 T2 (retransmission cap); default 4s
	MaxPending int           // Do calls waiting for a reply at once; default 4096
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 1024
	}
	if c.MaxMessageSize < 65535 {
		c.MaxMessageSize = 65535
	}
	if c.UDPReadBuffer <= 0 {
		c.UDPReadBuffer = 4 << 20
	}
	t := &c.TCP
	if t.MaxConns <= 0 {
		t.MaxConns = 2048
	}
	if t.IdleTimeout <= 0 {
		t.IdleTimeout = 120 * time.Second
	}
	if t.ReadTimeout <= 0 {
		t.ReadTimeout = 10 * time.Second
	}
	if t.WriteTimeout <= 0 {
		t.WriteTimeout = 10 * time.Second
	}
	if t.ConnectTimeout <= 0 {
		t.ConnectTimeout = 5 * time.Second
	}
	if t.EnqueueTimeout <= 0 {
		t.EnqueueTimeout = time.Second
	}
	cl := &c.Client
	if cl.Timeout <= 0 {
		cl.Timeout = 5 * time.Second
	}
	if cl.T1 <= 0 {
		cl.T1 = 500 * time.Millisecond
	}
	if cl.T2 <= 0 {
		cl.T2 = 4 * time.Second
	}
	if cl.MaxPending <= 0 {
		cl.MaxPending = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Listener is one open socket.
type Listener struct {
	Transport Transport
	Addr      netip.AddrPort // the bound address and port
	Spec      ListenSpec     // the listen= entry it came from
	// Addrs are the local IPs this socket answers on: Addr's IP, or for a
	// wildcard (0.0.0.0, ::) the interface addresses of that family at
	// start-up. The script's `myself` check matches against these, the
	// port and Spec.Host / Spec.AdvertiseHost.
	Addrs []netip.Addr
}

// Errors returned by the server and the client.
var (
	ErrServerClosed   = errors.New("sipio: server stopped")
	ErrNotStarted     = errors.New("sipio: server not started")
	ErrTimeout        = errors.New("sipio: no final reply in time")
	ErrTooManyPending = errors.New("sipio: too many requests waiting for replies")
	ErrNoSocket       = errors.New("sipio: no listening socket for that transport and address family")
	ErrTooLarge       = errors.New("sipio: message too large for the transport")
)

// Server owns the SIP sockets, the read loops and the worker pool.
type Server struct {
	cfg       Config
	log       *slog.Logger
	parser    *sip.Parser
	tagPrefix string
	tagSeed   uint32
	ctr       counters

	mu        sync.Mutex
	state     int            // 0 new, 1 running, 2 stopping/stopped
	udp       []*udpSocket   // fixed once Start returns
	tcpLns    []*tcpListener // fixed once Start returns
	listeners []Listener     // built by Start
	published atomic.Pointer[[]Listener]

	queues   []chan packet
	stopping chan struct{}
	readers  sync.WaitGroup
	workers  sync.WaitGroup

	tcp    tcpTable
	client clientTable

	httpHandler atomic.Pointer[HTTPHandler]
	execRR      atomic.Uint32
}

type udpSocket struct {
	conn  *net.UDPConn
	local netip.AddrPort
}

type tcpListener struct {
	ln    *net.TCPListener
	local netip.AddrPort
}

// packet is one framed message on its way from a reader to a worker.
type packet struct {
	bp   *[]byte
	data []byte
	src  netip.AddrPort
	udp  *udpSocket
	conn *tcpConn
	at   time.Time
	fn   func(worker int) // set for Exec: run fn instead of parsing
}

// NewServer checks cfg and prepares a server; Start opens the sockets.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("sipio: Config.Handler is required")
	}
	if len(cfg.Listen) == 0 {
		return nil, errors.New("sipio: no listen addresses")
	}
	for _, l := range cfg.Listen {
		if l.Transport != UDP && l.Transport != TCP {
			return nil, fmt.Errorf("sipio: listen %s: transport %s is not supported (udp and tcp are)", l, l.Transport)
		}
	}
	cfg.setDefaults()
	secret := cfg.TagSecret
	if len(secret) == 0 {
		var b strings.Builder
		for _, l := range cfg.Listen {
			b.WriteString(l.String())
			b.WriteByte(' ')
		}
		secret = []byte(b.String())
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		stopping: make(chan struct{}),
	}
	s.tagPrefix, s.tagSeed = initTag(secret)
	s.parser = newParser(cfg.MaxMessageSize)
	s.tcp.init()
	s.client.init()
	return s, nil
}

// newParser returns sipgo's parser in lazy mode: every header stays a raw
// name/value pair until something asks for it, except Content-Length, which
// the parser needs to find the body of a datagram (RFC 3261 §18.3).
func newParser(max int) *sip.Parser {
	def := sip.DefaultHeadersParser()
	p := sip.NewParser(sip.WithHeadersParsers(map[string]sip.HeaderParser{
		"content-length": def["content-length"],
		"l":              def["l"],
	}))
	p.MaxMessageLength = max
	return p
}

// Start opens every listen socket and starts the readers and workers. If a
// socket cannot be opened, the ones already open are closed and the error
// names the listen entry. ctx bounds start-up only (name resolution); use
// Stop to end the server.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != 0 {
		return errors.New("sipio: Start called twice")
	}
	if err := s.openSockets(ctx); err != nil {
		for _, u := range s.udp {
			u.conn.Close()
		}
		for _, t := range s.tcpLns {
			t.ln.Close()
		}
		s.udp, s.tcpLns, s.listeners = nil, nil, nil
		return err
	}
	s.queues = make([]chan packet, s.cfg.Workers)
	for i := range s.queues {
		s.queues[i] = make(chan packet, s.cfg.QueueSize)
		s.workers.Add(1)
		go s.work(i, s.queues[i])
	}
	for _, u := range s.udp {
		s.readers.Add(1)
		go s.readUDP(u)
	}
	for _, t := range s.tcpLns {
		s.readers.Add(1)
		go s.acceptTCP(t)
	}
	ls := s.listeners
	s.published.Store(&ls)
	s.state = 1
	return nil
}

func (s *Server) openSockets(ctx context.Context) error {
	for _, spec := range s.cfg.Listen {
		ips, err := resolveListenHost(ctx, spec.Host)
		if err != nil {
			return fmt.Errorf("sipio: listen %s: %w", spec, err)
		}
		for _, ip := range ips {
			ap := netip.AddrPortFrom(ip, spec.Port)
			l := Listener{Transport: spec.Transport, Spec: spec}
			switch spec.Transport {
			case UDP:
				c, err := net.ListenUDP(udpNet(ip), net.UDPAddrFromAddrPort(ap))
				if err != nil {
					return fmt.Errorf("sipio: listen %s: %w", spec, err)
				}
				if err := c.SetReadBuffer(s.cfg.UDPReadBuffer); err != nil {
					s.log.Warn("cannot set UDP receive buffer", "listen", spec.String(), "error", err)
				}
				u := &udpSocket{conn: c, local: unmapAP(c.LocalAddr().(*net.UDPAddr).AddrPort())}
				s.udp = append(s.udp, u)
				l.Addr = u.local
			case TCP:
				ln, err := net.ListenTCP(tcpNet(ip), net.TCPAddrFromAddrPort(ap))
				if err != nil {
					return fmt.Errorf("sipio: listen %s: %w", spec, err)
				}
				t := &tcpListener{ln: ln, local: unmapAP(ln.Addr().(*net.TCPAddr).AddrPort())}
				s.tcpLns = append(s.tcpLns, t)
				l.Addr = t.local
			}
			l.Addrs = localAddrs(l.Addr.Addr())
			s.listeners = append(s.listeners, l)
		}
	}
	return nil
}

func udpNet(ip netip.Addr) string {
	if ip.Is4() {
		return "udp4"
	}
	return "udp6"
}

func tcpNet(ip netip.Addr) string {
	if ip.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

func unmapAP(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// localAddrs expands a wildcard bind address into the host's addresses of
// that family.
func localAddrs(ip netip.Addr) []netip.Addr {
	if !ip.IsUnspecified() {
		return []netip.Addr{ip}
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return []netip.Addr{ip}
	}
	var out []netip.Addr
	for _, a := range ifaddrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		x := p.Addr().Unmap()
		if x.Is4() == ip.Is4() {
			out = append(out, x)
		}
	}
	if len(out) == 0 {
		out = []netip.Addr{ip}
	}
	return out
}

// Workers returns the number of worker goroutines (Msg.Worker is below it).
func (s *Server) Workers() int { return s.cfg.Workers }

// Listeners returns the open sockets (empty before Start). The script's
// `myself` matcher is built from it.
func (s *Server) Listeners() []Listener {
	p := s.published.Load()
	if p == nil {
		return nil
	}
	return append([]Listener(nil), (*p)...)
}

// IsLocal reports whether ip:port (port 0: any port) is one of our sockets'
// addresses for transport tp (0: any transport).
func (s *Server) IsLocal(ip netip.Addr, port uint16, tp Transport) bool {
	ip = ip.Unmap()
	p := s.published.Load()
	if p == nil {
		return false
	}
	for _, l := range *p {
		if tp != 0 && l.Transport != tp || port != 0 && l.Addr.Port() != port {
			continue
		}
		for _, a := range l.Addrs {
			if a == ip {
				return true
			}
		}
	}
	return false
}

// Stop shuts the server down gracefully: the sockets stop reading, messages
// already queued are handled (their replies can still be sent), then the
// sockets and TCP connections are closed and waiting Do calls return
// ErrServerClosed. If ctx ends first, everything is closed at once and
// ctx.Err() is returned.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.state != 1 {
		st := s.state
		s.state = 2
		s.mu.Unlock()
		if st == 0 {
			return nil
		}
		return ErrServerClosed
	}
	s.state = 2
	s.mu.Unlock()

	close(s.stopping)
	past := time.Unix(1, 0)
	for _, u := range s.udp {
		u.conn.SetReadDeadline(past)
	}
	for _, t := range s.tcpLns {
		t.ln.Close()
	}
	s.tcp.stopReading(past)

	var err error
	if !waitCtx(ctx, &s.readers) {
		// Out of time: close everything so that the readers return now;
		// they must be gone before the queues they send to are closed.
		err = ctx.Err()
		s.closeSockets()
		s.readers.Wait()
	}
	for _, q := range s.queues {
		close(q)
	}
	if err == nil && !waitCtx(ctx, &s.workers) {
		err = ctx.Err() // workers finish in the background, their sends fail
	}
	s.closeSockets()
	s.client.failAll()
	return err
}

func (s *Server) closeSockets() {
	for _, u := range s.udp {
		u.conn.Close()
	}
	s.tcp.closeAll(s)
}

// waitCtx waits for wg or ctx, whichever comes first.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// udpFor finds the UDP socket bound to local, or the first one of the
// family of peer.
func (s *Server) udpFor(local netip.AddrPort, peer netip.Addr) *udpSocket {
	var fam *udpSocket
	for _, u := range s.udp {
		if u.local == local {
			return u
		}
		if fam == nil && u.local.Addr().Is4() == peer.Unmap().Is4() {
			fam = u
		}
	}
	if local.IsValid() && local.Port() != 0 {
		// a specific socket was asked for and none matched exactly: accept a
		// wildcard one on the same port
		for _, u := range s.udp {
			if u.local.Port() == local.Port() && u.local.Addr().IsUnspecified() && u.local.Addr().Is4() == local.Addr().Is4() {
				return u
			}
		}
		return nil
	}
	return fam
}

func (s *Server) writeUDP(u *udpSocket, b []byte, dst netip.AddrPort) error {
	if dst.Addr().Is4In6() {
		dst = unmapAP(dst)
	}
	if u.local.Addr().Is6() && dst.Addr().Is4() {
		return fmt.Errorf("sipio: cannot send to %s from IPv6 socket %s", dst, u.local)
	}
	if _, err := u.conn.WriteToUDPAddrPort(b, dst); err != nil {
		s.ctr.sendErrors.Add(1)
		return fmt.Errorf("sipio: send to udp:%s: %w", dst, err)
	}
	return nil
}

// readUDP is the read loop of one UDP socket. It never stops on a bad
// datagram; only closing (or Stop's deadline) ends it.
func (s *Server) readUDP(u *udpSocket) {
	defer s.readers.Done()
	buf := make([]byte, 65536)
	rr := 0
	for {
		n, src, err := u.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.isStopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.ctr.readErrors.Add(1)
			s.log.Debug("udp read error", "local", u.local.String(), "error", err)
			time.Sleep(time.Millisecond) // do not spin on a persistent error
			continue
		}
		data := buf[:n]
		if isKeepAlive(data) {
			s.ctr.keepAlives.Add(1)
			continue
		}
		src = unmapAP(src)
		if s.cfg.Filter != nil && !s.cfg.Filter(src, UDP) {
			s.ctr.drop(DropFiltered)
			continue
		}
		now := time.Now()
		if s.client.active() && s.client.matchRaw(s, data) {
			continue
		}
		bp := getBuf(n)
		b := append((*bp)[:0], data...)
		p := packet{bp: bp, data: b, src: src, udp: u, at: now}
		if s.ordered(data) {
			if !s.dispatchTo(p, SourceIndex(src, len(s.queues))) {
				putBuf(bp)
				s.ctr.drop(DropQueueFull)
			}
			continue
		}
		if !s.dispatch(p, &rr) {
			putBuf(bp)
			s.ctr.drop(DropQueueFull)
		}
	}
}

// dispatch hands a UDP packet to the first worker queue with room, starting
// round-robin; it never blocks.
func (s *Server) dispatch(p packet, rr *int) bool {
	n := len(s.queues)
	for i := 0; i < n; i++ {
		if k := (*rr + i) % n; s.dispatchTo(p, k) {
			*rr = k + 1
			return true
		}
	}
	return false
}

// ordered reports whether a datagram is a request of one of
// Config.OrderedMethods.
func (s *Server) ordered(data []byte) bool {
	for _, m := range s.cfg.OrderedMethods {
		if len(data) > len(m) && data[len(m)] == ' ' && string(data[:len(m)]) == m {
			return true
		}
	}
	return false
}

// SourceIndex maps a source address and port to one of n workers (FNV-1a
// of the address and port): the same source always gets the same one.
func SourceIndex(src netip.AddrPort, n int) int {
	if n <= 1 {
		return 0
	}
	a := src.Addr().As16()
	h := uint32(2166136261)
	for _, b := range a {
		h = (h ^ uint32(b)) * 16777619
	}
	h = (h ^ uint32(src.Port())) * 16777619
	return int(h % uint32(n))
}

// dispatchTo hands a packet to worker k's queue; it never blocks.
func (s *Server) dispatchTo(p packet, k int) bool {
	select {
	case s.queues[k] <- p:
		return true
	default:
		return false
	}
}

// worker state: the Msg is reused for every message.
type worker struct {
	idx int
	msg Msg
}

func (s *Server) work(idx int, q chan packet) {
	defer s.workers.Done()
	w := &worker{idx: idx}
	for p := range q {
		if p.fn != nil {
			p.fn(idx)
			continue
		}
		s.process(w, &p)
		putBuf(p.bp)
	}
}

// process parses one message and hands it to the handler.
func (s *Server) process(w *worker, p *packet) {
	m := &w.msg
	*m = Msg{Source: p.src, Raw: p.data, Received: p.at, Worker: w.idx, udp: p.udp, conn: p.conn}
	if p.udp != nil {
		m.Transport, m.Local = UDP, p.udp.local
	} else {
		m.Transport, m.Local = TCP, p.conn.local
	}
	msg, err := s.parser.ParseSIP(p.data)
	if err != nil {
		s.rejectGarbage(m, err)
		return
	}
	switch t := msg.(type) {
	case *sip.Request:
		if err := checkRequest(t); err != nil {
			s.rejectGarbage(m, err)
			return
		}
		s.ctr.requestsIn[methodIndex(string(t.Method))].Add(1)
		m.Req = t
	case *sip.Response:
		hop, ok := topVia(t)
		if !ok || t.CSeq() == nil {
			s.ctr.parseErrors.Add(1)
			s.ctr.drop(DropParseError)
			return
		}
		s.ctr.repliesIn.Add(1)
		if s.client.active() && s.client.deliver(s, hop.branch, string(t.CSeq().MethodName), t) {
			return
		}
		m.Res = t
	default:
		s.ctr.parseErrors.Add(1)
		s.ctr.drop(DropParseError)
		return
	}
	s.callHandler(m)
	*m = Msg{} // do not keep the parsed message alive until the next one
}

func (s *Server) callHandler(m *Msg) {
	defer func() {
		if r := recover(); r != nil {
			s.ctr.drop(DropHandlerPanic)
			s.log.Error("sip handler panicked", "panic", r, "source", m.Source.String(), "transport", m.Transport.String())
		}
	}()
	s.cfg.Handler(m)
}

// checkRequest verifies what the transport needs to answer a request: a
// parsable top Via, and From, To, Call-ID and CSeq present, with no LF or
// NUL in them (values a reply copies).
func checkRequest(r *sip.Request) error {
	var have [hdrMaxForwards + 1]bool
	for _, h := range r.Headers() {
		k := kindOf(h.Name())
		switch k {
		case hdrVia, hdrFrom, hdrTo, hdrCallID, hdrCSeq:
		default:
			continue
		}
		v := h.Value()
		if err := CheckHeaderValue(v); err != nil {
			return fmt.Errorf("%s: %w", h.Name(), err)
		}
		if k == hdrVia && !have[hdrVia] {
			if _, ok := parseVia(v); !ok {
				return fmt.Errorf("malformed Via %q", clip(v))
			}
		}
		if k == hdrCSeq && !have[hdrCSeq] {
			if _, _, ok := cseqMethod(v); !ok {
				return fmt.Errorf("malformed CSeq %q", clip(v))
			}
		}
		if v == "" {
			return fmt.Errorf("empty %s", h.Name())
		}
		have[k] = true
	}
	for _, k := range [...]hdrKind{hdrVia, hdrFrom, hdrTo, hdrCallID, hdrCSeq} {
		if !have[k] {
			return fmt.Errorf("missing %s header", kindName(k))
		}
	}
	return nil
}

func kindName(k hdrKind) string {
	switch k {
	case hdrVia:
		return "Via"
	case hdrFrom:
		return "From"
	case hdrTo:
		return "To"
	case hdrCallID:
		return "Call-ID"
	case hdrCSeq:
		return "CSeq"
	}
	return "?"
}

// closedFlag is embedded where an atomic "closed" is needed.
type closedFlag = atomic.Bool
