package sipio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// tcpConn is one TCP connection, accepted or dialled.
type tcpConn struct {
	srv           *Server
	c             *net.TCPConn
	local, remote netip.AddrPort
	queue         int  // the worker that handles all of this connection's messages (keeps their order)
	accepted      bool // accepted by one of our listeners (not dialled): may be sniffed for HTTP
	wmu           sync.Mutex
	closed        closedFlag
}

// tcpTable is the bounded set of open connections.
type tcpTable struct {
	mu       sync.Mutex
	conns    map[*tcpConn]struct{}
	byRemote map[netip.AddrPort]*tcpConn
	dialing  map[netip.AddrPort]*dialWait
	nextQ    int
}

type dialWait struct {
	done chan struct{}
	c    *tcpConn
	err  error
}

func (t *tcpTable) init() {
	t.conns = make(map[*tcpConn]struct{})
	t.byRemote = make(map[netip.AddrPort]*tcpConn)
	t.dialing = make(map[netip.AddrPort]*dialWait)
}

// add registers a connection and starts its reader, unless the table is full
// or the server is stopping.
func (s *Server) addConn(c *net.TCPConn, local, remote netip.AddrPort, accepted bool) (*tcpConn, error) {
	t := &s.tcp
	t.mu.Lock()
	if len(t.conns) >= s.cfg.TCP.MaxConns {
		t.mu.Unlock()
		return nil, fmt.Errorf("sipio: %d TCP connections open (the maximum)", s.cfg.TCP.MaxConns)
	}
	tc := &tcpConn{srv: s, c: c, local: local, remote: remote, queue: t.nextQ % len(s.queues), accepted: accepted}
	t.nextQ++
	t.conns[tc] = struct{}{}
	t.byRemote[remote] = tc
	t.mu.Unlock()
	s.ctr.tcpOpen.Add(1)

	s.mu.Lock()
	if s.state != 1 {
		s.mu.Unlock()
		s.removeConn(tc)
		return nil, ErrServerClosed
	}
	s.readers.Add(1)
	s.mu.Unlock()
	go s.readTCP(tc)
	return tc, nil
}

// removeConn closes a connection and forgets it.
func (s *Server) removeConn(tc *tcpConn) {
	if tc.closed.Swap(true) {
		return
	}
	tc.c.Close()
	s.forgetConn(tc)
}

// detachConn forgets a connection without closing it (it was handed over
// to the HTTP handler); SIP writes to it fail from now on.
func (s *Server) detachConn(tc *tcpConn) bool {
	if tc.closed.Swap(true) {
		return false
	}
	s.forgetConn(tc)
	return true
}

func (s *Server) forgetConn(tc *tcpConn) {
	t := &s.tcp
	t.mu.Lock()
	delete(t.conns, tc)
	if t.byRemote[tc.remote] == tc {
		delete(t.byRemote, tc.remote)
	}
	t.mu.Unlock()
	s.ctr.tcpOpen.Add(-1)
}

func (t *tcpTable) stopReading(when time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		c.c.SetReadDeadline(when)
	}
}

func (t *tcpTable) closeAll(s *Server) {
	t.mu.Lock()
	all := make([]*tcpConn, 0, len(t.conns))
	for c := range t.conns {
		all = append(all, c)
	}
	t.mu.Unlock()
	for _, c := range all {
		s.removeConn(c)
	}
}

func (s *Server) acceptTCP(l *tcpListener) {
	defer s.readers.Done()
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if s.isStopping() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.ctr.readErrors.Add(1)
			s.log.Debug("tcp accept error", "local", l.local.String(), "error", err)
			time.Sleep(5 * time.Millisecond) // e.g. EMFILE: do not spin
			continue
		}
		remote := unmapAP(c.RemoteAddr().(*net.TCPAddr).AddrPort())
		if s.cfg.Filter != nil && !s.cfg.Filter(remote, TCP) {
			s.ctr.drop(DropFiltered)
			c.Close()
			continue
		}
		if _, err := s.addConn(c, l.local, remote, true); err != nil {
			if !errors.Is(err, ErrServerClosed) {
				s.ctr.drop(DropTCPLimit)
			}
			c.Close()
			continue
		}
		s.ctr.tcpAccepted.Add(1)
	}
}

// tcpConnTo returns an open connection to remote, dialling one (from the IP
// of local, when given) if there is none. Concurrent callers share one dial.
func (s *Server) tcpConnTo(remote, local netip.AddrPort) (*tcpConn, error) {
	remote = unmapAP(remote)
	t := &s.tcp
	t.mu.Lock()
	if c := t.byRemote[remote]; c != nil && !c.closed.Load() {
		t.mu.Unlock()
		return c, nil
	}
	if w := t.dialing[remote]; w != nil {
		t.mu.Unlock()
		<-w.done
		return w.c, w.err
	}
	w := &dialWait{done: make(chan struct{})}
	t.dialing[remote] = w
	t.mu.Unlock()

	w.c, w.err = s.dialTCP(remote, local)

	t.mu.Lock()
	delete(t.dialing, remote)
	t.mu.Unlock()
	close(w.done)
	return w.c, w.err
}

func (s *Server) dialTCP(remote, local netip.AddrPort) (*tcpConn, error) {
	if s.isStopping() {
		return nil, ErrServerClosed
	}
	s.tcp.mu.Lock()
	full := len(s.tcp.conns) >= s.cfg.TCP.MaxConns
	s.tcp.mu.Unlock()
	if full {
		return nil, fmt.Errorf("sipio: connect to %s: %d TCP connections open (the maximum)", remote, s.cfg.TCP.MaxConns)
	}
	d := net.Dialer{Timeout: s.cfg.TCP.ConnectTimeout}
	if local.IsValid() && !local.Addr().IsUnspecified() && local.Addr().Is4() == remote.Addr().Is4() {
		d.LocalAddr = &net.TCPAddr{IP: local.Addr().AsSlice()}
	}
	nc, err := d.Dial("tcp", remote.String())
	if err != nil {
		return nil, fmt.Errorf("sipio: connect to tcp:%s: %w", remote, err)
	}
	c := nc.(*net.TCPConn)
	tc, err := s.addConn(c, unmapAP(c.LocalAddr().(*net.TCPAddr).AddrPort()), remote, false)
	if err != nil {
		c.Close()
		return nil, err
	}
	s.ctr.tcpDialed.Add(1)
	return tc, nil
}

// write sends one whole message; writes from several workers do not
// interleave. A failed write closes the connection.
func (c *tcpConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return fmt.Errorf("sipio: tcp connection to %s is closed", c.remote)
	}
	c.c.SetWriteDeadline(time.Now().Add(c.srv.cfg.TCP.WriteTimeout))
	if _, err := c.c.Write(b); err != nil {
		c.srv.ctr.sendErrors.Add(1)
		go c.srv.removeConn(c) // not under wmu: removeConn may be slow
		return fmt.Errorf("sipio: send to tcp:%s: %w", c.remote, err)
	}
	return nil
}

var (
	errNoContentLength = errors.New("message without Content-Length on a stream")
	errStreamTooLarge  = errors.New("message larger than the maximum size")
	errBadContentLen   = errors.New("malformed Content-Length")
)

// frameStream finds the first complete SIP message in a stream buffer. It
// returns the number of leading CR LF bytes to skip (RFC 3261 §7.5), how many
// CRLFCRLF keep-alive pings were among them (RFC 5626 §3.5.1), and the length
// of the message that follows them, or 0 when more bytes are needed. An
// error means the stream cannot be framed and the connection must be closed.
func frameStream(buf []byte, max int) (skip, pings, size int, err error) {
	for {
		r := buf[skip:]
		if bytes.HasPrefix(r, []byte("\r\n\r\n")) {
			pings++
			skip += 4
			continue
		}
		if bytes.HasPrefix(r, []byte("\r\n")) {
			skip += 2
			continue
		}
		break
	}
	r := buf[skip:]
	if len(r) == 0 || (len(r) < 4 && isKeepAlive(r)) {
		return skip, pings, 0, nil
	}
	limit := r
	if len(limit) > max {
		limit = limit[:max]
	}
	he := bytes.Index(limit, []byte("\r\n\r\n"))
	if he < 0 {
		if len(r) >= max {
			return skip, pings, 0, errStreamTooLarge
		}
		return skip, pings, 0, nil
	}
	hdr := r[:he+4]
	cl := -1
	_, next, _ := firstLine(hdr)
	scanHeaders(hdr, next, func(name, value []byte) bool {
		if kindOfBytes(name) != hdrContentLength {
			return true
		}
		n := 0
		if len(value) == 0 || len(value) > 9 {
			cl = -2
			return false
		}
		for _, c := range value {
			if c < '0' || c > '9' {
				cl = -2
				return false
			}
			n = n*10 + int(c-'0')
		}
		if cl >= 0 && cl != n {
			cl = -2 // two different Content-Length values
			return false
		}
		cl = n
		return true
	})
	switch {
	case cl == -1:
		return skip, pings, 0, errNoContentLength
	case cl < 0:
		return skip, pings, 0, errBadContentLen
	}
	total := he + 4 + cl
	if total > max {
		return skip, pings, 0, errStreamTooLarge
	}
	if len(r) < total {
		return skip, pings, 0, nil
	}
	return skip, pings, total, nil
}

var pong = []byte("\r\n")

// readTCP reads, frames and queues the messages of one connection. All of
// them go to the same worker, so their order is kept.
func (s *Server) readTCP(tc *tcpConn) {
	defer s.readers.Done()
	defer func() {
		if !s.isStopping() {
			s.removeConn(tc)
		}
	}()
	const startSize = 4096
	buf := make([]byte, 0, startSize)
	var partialSince time.Time
	max := s.cfg.MaxMessageSize
	// An accepted connection whose first line is an HTTP/1.x request line
	// goes to the HTTP handler when one is set (xhttp); everything else is
	// SIP, framed below.
	sniff := tc.accepted && s.httpHandler.Load() != nil
	for {
		framing := true
		if sniff && len(buf) > 0 {
			switch sniffHTTP(buf) {
			case sniffNeedMore:
				framing = false
			case sniffHTTPConn:
				if s.handOverHTTP(tc, buf) {
					return
				}
				sniff = false
			default:
				sniff = false
			}
		}
		// Frame everything already buffered.
		off := 0
		for framing && off < len(buf) {
			skip, pings, size, err := frameStream(buf[off:], max)
			for i := 0; i < pings; i++ {
				s.ctr.keepAlives.Add(1)
				tc.write(pong)
			}
			off += skip
			if err != nil {
				s.ctr.parseErrors.Add(1)
				s.ctr.drop(DropTooLarge)
				s.log.Debug("closing tcp connection: cannot frame stream", "remote", tc.remote.String(), "error", err)
				return
			}
			if size == 0 {
				break
			}
			s.tcpMessage(tc, buf[off:off+size])
			off += size
		}
		if off > 0 {
			n := copy(buf, buf[off:])
			buf = buf[:n]
		}
		if len(buf) == 0 {
			partialSince = time.Time{}
			if cap(buf) > 4*startSize {
				buf = make([]byte, 0, startSize) // do not pin a big buffer on an idle connection
			}
		} else if partialSince.IsZero() {
			partialSince = time.Now()
		}
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(2*cap(buf), max+4))
			copy(nb, buf)
			buf = nb
		}
		var dl time.Time
		if partialSince.IsZero() {
			dl = time.Now().Add(s.cfg.TCP.IdleTimeout)
		} else {
			dl = partialSince.Add(s.cfg.TCP.ReadTimeout)
		}
		tc.c.SetReadDeadline(dl)
		if s.isStopping() {
			return
		}
		n, err := tc.c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if n > 0 {
				continue // frame what arrived; the error comes back on the next read
			}
			if !s.isStopping() && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, io.EOF) {
					s.ctr.readErrors.Add(1)
				}
			}
			return
		}
	}
}

// tcpMessage filters and queues one framed message.
func (s *Server) tcpMessage(tc *tcpConn, data []byte) {
	if s.cfg.Filter != nil && !s.cfg.Filter(tc.remote, TCP) {
		s.ctr.drop(DropFiltered)
		return
	}
	now := time.Now()
	if s.client.active() && s.client.matchRaw(s, data) {
		return
	}
	bp := getBuf(len(data))
	b := append((*bp)[:0], data...)
	p := packet{bp: bp, data: b, src: tc.remote, conn: tc, at: now}
	q := s.queues[tc.queue]
	select {
	case q <- p:
		return
	default:
	}
	t := time.NewTimer(s.cfg.TCP.EnqueueTimeout)
	defer t.Stop()
	select {
	case q <- p:
	case <-t.C:
		putBuf(bp)
		s.ctr.drop(DropQueueFull)
	case <-s.stopping:
		putBuf(bp)
		s.ctr.drop(DropShutdown)
	}
}
