package sipio

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// HTTPHandler takes over a TCP connection accepted on a SIP listener whose
// first line is an HTTP/1.x request line (Kamailio's xhttp answers such
// requests on its SIP TCP sockets). conn.Read returns the bytes the SIP
// reader already read first; the handler owns conn from then on and must
// close it. It is called on the connection's reader goroutine and must not
// block: hand the connection to a server (http.Server.Serve on a listener
// fed by the handler) and return.
type HTTPHandler func(conn net.Conn, local, remote netip.AddrPort)

// SetHTTPHandler installs (or, with nil, removes) the HTTP handler. Only
// connections accepted after it is set are looked at; SIP over TCP is not
// affected otherwise: a connection is HTTP only when its very first line
// ends with " HTTP/1.0" or " HTTP/1.1" (a SIP request line ends with
// "SIP/2.0", a reply starts with it). Connections we dial are never
// handed over.
func (s *Server) SetHTTPHandler(h HTTPHandler) {
	if h == nil {
		s.httpHandler.Store(nil)
		return
	}
	s.httpHandler.Store(&h)
}

type sniffResult uint8

const (
	sniffSIP      sniffResult = iota // not HTTP: frame as SIP
	sniffNeedMore                    // the first line is not complete yet
	sniffHTTPConn                    // an HTTP/1.x request line
)

// sniffMaxLine bounds the first line looked at; a longer one is SIP (which
// then fails or succeeds to frame as usual).
const sniffMaxLine = 8192

// sniffHTTP decides whether a connection that starts with b is HTTP.
func sniffHTTP(b []byte) sniffResult {
	if c := b[0]; c < 'A' || c > 'Z' {
		return sniffSIP // CRLF keep-alives, replies ("SIP/2.0 ..."), garbage
	}
	lim := b
	if len(lim) > sniffMaxLine {
		lim = lim[:sniffMaxLine]
	}
	i := bytes.IndexByte(lim, '\n')
	if i < 0 {
		if len(b) >= sniffMaxLine {
			return sniffSIP
		}
		return sniffNeedMore
	}
	line := bytes.TrimSuffix(b[:i], []byte{'\r'})
	if isHTTPRequestLine(line) {
		return sniffHTTPConn
	}
	return sniffSIP
}

// isHTTPRequestLine reports whether line is "METHOD SP target SP
// HTTP/1.x" with an upper-case token method.
func isHTTPRequestLine(line []byte) bool {
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return false
	}
	for _, c := range line[:sp] {
		if (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	rest := line[sp+1:]
	last := bytes.LastIndexByte(rest, ' ')
	if last <= 0 {
		return false
	}
	v := rest[last+1:]
	return bytes.Equal(v, []byte("HTTP/1.1")) || bytes.Equal(v, []byte("HTTP/1.0"))
}

// handOverHTTP gives the connection to the HTTP handler. It returns false
// when there is no handler any more (the connection stays SIP).
func (s *Server) handOverHTTP(tc *tcpConn, buf []byte) bool {
	hp := s.httpHandler.Load()
	if hp == nil || !s.detachConn(tc) {
		return false
	}
	s.ctr.httpConns.Add(1)
	tc.c.SetReadDeadline(time.Time{})
	pc := &prefixConn{TCPConn: tc.c, pending: append([]byte(nil), buf...)}
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("http handler panicked", "panic", r, "remote", tc.remote.String())
				tc.c.Close()
			}
		}()
		(*hp)(pc, tc.local, tc.remote)
	}()
	return true
}

// prefixConn is a TCP connection whose first reads return bytes already
// read from it.
type prefixConn struct {
	*net.TCPConn
	pending []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.TCPConn.Read(p)
}

// Exec runs fn on one of the worker goroutines (the first, round-robin,
// whose queue has room; otherwise it waits for one) and waits until fn has
// returned. worker is that worker's index, as Msg.Worker for SIP messages,
// so fn may use per-worker state (the script context of that worker)
// without locks. Kamailio runs non-SIP input such as xhttp requests in its
// SIP worker processes the same way.
//
// It returns ErrNotStarted or ErrServerClosed when the workers are not
// running, and ctx.Err() when ctx ends first; fn may still run later in
// that case (it is already queued), so it must check whether its caller
// still wants it. A panic in fn is recovered and returned as an error.
func (s *Server) Exec(ctx context.Context, fn func(worker int)) error {
	s.mu.Lock()
	switch s.state {
	case 0:
		s.mu.Unlock()
		return ErrNotStarted
	case 2:
		s.mu.Unlock()
		return ErrServerClosed
	}
	// Counted as a reader: Stop closes the queues only after every
	// reader is done, so the send below cannot hit a closed queue.
	s.readers.Add(1)
	s.mu.Unlock()

	done := make(chan any, 1)
	p := packet{fn: func(w int) {
		defer func() {
			if r := recover(); r != nil {
				done <- r
				return
			}
			done <- nil
		}()
		fn(w)
	}}
	sent := false
	n := len(s.queues)
	start := int(s.execRR.Add(1))
	for i := 0; i < n && !sent; i++ {
		select {
		case s.queues[(start+i)%n] <- p:
			sent = true
		default:
		}
	}
	if !sent {
		select {
		case s.queues[start%n] <- p:
			sent = true
		case <-ctx.Done():
		case <-s.stopping:
		}
	}
	s.readers.Done()
	if !sent {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return ErrServerClosed
	}
	select {
	case r := <-done:
		if r != nil {
			s.log.Error("exec function panicked", "panic", r)
			return fmt.Errorf("sipio: exec: panic: %v", r)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
