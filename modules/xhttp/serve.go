package xhttp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
)

// server is the net/http server fed with the connections the SIP
// transport hands over.
type server struct {
	m   *Module
	hs  *http.Server
	ln  *connListener
	sem chan struct{}
	wg  sync.WaitGroup
}

func newServer(m *Module, idle time.Duration) *server {
	s := &server{m: m, ln: newConnListener(), sem: make(chan struct{}, MaxConns)}
	s.hs = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: ReadTimeout,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       idle,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          log.New(slogWriter{m.host.Log}, "", 0),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if hc, ok := c.(*httpConn); ok {
				return context.WithValue(ctx, connKey{}, hc)
			}
			return ctx
		},
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.hs.Serve(s.ln)
	}()
	return s
}

// accept is the sipio.HTTPHandler: it must not block.
func (s *server) accept(c net.Conn, local, remote netip.AddrPort) {
	select {
	case s.sem <- struct{}{}:
	default:
		s.m.host.Log.Warn("too many HTTP connections, closing a new one", "remote", remote.String(), "max", MaxConns)
		c.Close()
		return
	}
	hc := &httpConn{Conn: c, local: local, remote: remote, release: func() { <-s.sem }}
	select {
	case s.ln.ch <- hc:
	case <-s.ln.closed:
		hc.Close()
	}
}

func (s *server) shutdown(ctx context.Context) error {
	err := s.hs.Shutdown(ctx)
	if err != nil {
		s.hs.Close()
	}
	s.wg.Wait()
	// connections handed over but never accepted by Serve
	for {
		select {
		case c := <-s.ln.ch:
			c.Close()
		default:
			if errors.Is(err, context.DeadlineExceeded) {
				return nil // replies in progress were cut, as documented
			}
			return err
		}
	}
}

type connKey struct{}

// httpConn is a handed-over connection with its SIP-side addresses.
type httpConn struct {
	net.Conn
	local, remote netip.AddrPort
	once          sync.Once
	release       func()
}

func (c *httpConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// connListener is a net.Listener whose connections come from the SIP
// transport.
type connListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener() *connListener {
	return &connListener{ch: make(chan net.Conn, 64), closed: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

// slogWriter sends net/http's log lines to the module's logger.
type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Debug("http: " + string(bytes.TrimSpace(p)))
	return len(p), nil
}

// state is the per-message slot: the HTTP exchange being routed.
type state struct{ ex *exchange }

// exchange is one HTTP request being routed and what the route decided.
type exchange struct {
	r    *http.Request
	uri  string
	body []byte

	// written by the route (on a SIP worker), read after it
	handler  http.Handler
	reply    *reply
	answerBy string
}

type reply struct {
	code                int
	reason, ctype, body string
}

func (ex *exchange) answered() bool { return ex.handler != nil || ex.reply != nil }

// ServeHTTP runs the event route for one request and writes its answer.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := s.m
	if sh := m.host.Core.ServerHeaderValue(); sh != "" {
		w.Header().Set("Server", sh)
	}
	uri := r.RequestURI
	if (m.reSkip != nil && m.reSkip.MatchString(uri)) || (m.reMatch != nil && !m.reMatch.MatchString(uri)) {
		writeReply(w, r, http.StatusNotFound, "Not Found", "text/plain", "Not Found\n")
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	hc, _ := r.Context().Value(connKey{}).(*httpConn)
	msg := newMsg(r, body, hc)
	ex := &exchange{r: r, uri: uri, body: body}
	// The route waits for a SIP worker; when they are all busy for
	// RouteTimeout the client gets 503 instead of waiting forever.
	ctx, cancel := context.WithTimeout(r.Context(), RouteTimeout)
	defer cancel()
	err := m.host.Exec(ctx, msg, func(c *script.Ctx) {
		if ctx.Err() != nil {
			return // the client is gone, or it waited too long
		}
		st := m.slot.Get(c)
		st.ex = ex
		defer func() { st.ex = nil }()
		m.route.Run(c)
	})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		m.host.Log.Debug("cannot run the event route", "err", err)
		writeReply(w, r, http.StatusServiceUnavailable, "Service Unavailable", "text/plain", "Service Unavailable\n")
		return
	}
	switch {
	case ex.handler != nil:
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		ex.handler.ServeHTTP(w, r)
	case ex.reply != nil:
		rp := ex.reply
		writeReply(w, r, rp.code, rp.reason, rp.ctype, rp.body)
	default:
		m.host.Log.Debug("event_route[xhttp:request] did not answer", "url", uri)
		writeReply(w, r, http.StatusNotFound, "Not Found", "text/plain", "Not Found\n")
	}
}

// readBody reads the whole request body (bounded by MaxBodySize).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > MaxBodySize {
		writeReply(w, r, http.StatusRequestEntityTooLarge, "Request Entity Too Large", "text/plain",
			fmt.Sprintf("request body larger than %d bytes\n", MaxBodySize))
		return nil, false
	}
	if r.ContentLength == 0 {
		return nil, true
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeReply(w, r, http.StatusRequestEntityTooLarge, "Request Entity Too Large", "text/plain",
				fmt.Sprintf("request body larger than %d bytes\n", MaxBodySize))
		}
		return nil, false
	}
	return b, true
}

// newMsg presents the HTTP request as a message for the script, as
// Kamailio's xhttp parses it with the SIP parser: the request line and
// the headers (Host first, then the others sorted by name, as net/http
// does not keep their order) and the body. There is no Via: a SIP reply
// function used on it fails instead of sending anything.
func newMsg(r *http.Request, body []byte, hc *httpConn) *sipio.Msg {
	req := sip.NewRequest(sip.RequestMethod(r.Method), sip.Uri{})
	req.SipVersion = r.Proto
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "%s %s %s\r\n", r.Method, r.RequestURI, r.Proto)
	add := func(name, value string) {
		req.AppendHeader(sip.NewHeader(name, value))
		raw.WriteString(name)
		raw.WriteString(": ")
		raw.WriteString(value)
		raw.WriteString("\r\n")
	}
	if r.Host != "" {
		add("Host", r.Host)
	}
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		if k != "Content-Length" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			add(k, v)
		}
	}
	if len(body) > 0 || r.Header.Get("Content-Length") != "" {
		req.SetBody(body)
		fmt.Fprintf(&raw, "Content-Length: %d\r\n", len(body))
	}
	raw.WriteString("\r\n")
	raw.Write(body)
	m := &sipio.Msg{Req: req, Transport: sipio.TCP, Raw: raw.Bytes(), Received: time.Now()}
	if hc != nil {
		m.Source, m.Local = hc.remote, hc.local
	}
	return m
}

// writeReply sends a complete reply. A reason phrase that is not the
// standard one for the code (or a 1xx code) is written as given, on a
// hijacked connection that is closed afterwards: net/http always writes
// the standard phrase.
func writeReply(w http.ResponseWriter, r *http.Request, code int, reason, ctype, body string) {
	h := w.Header()
	if ctype != "" {
		h.Set("Content-Type", ctype)
	} else {
		h["Content-Type"] = nil // no sniffing
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	noBody := r.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if code >= 200 && (reason == http.StatusText(code) || reason == "") {
		w.WriteHeader(code)
		if !noBody {
			io.WriteString(w, body)
		}
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(code)
		io.WriteString(w, body)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(ReadTimeout))
	proto := "HTTP/1.1"
	if !r.ProtoAtLeast(1, 1) {
		proto = "HTTP/1.0"
	}
	bw := brw.Writer
	fmt.Fprintf(bw, "%s %d %s\r\n", proto, code, sanitize(reason))
	writeHeaders(bw, h)
	bw.WriteString("Connection: close\r\n\r\n")
	if !noBody {
		bw.WriteString(body)
	}
	bw.Flush()
}

func writeHeaders(bw *bufio.Writer, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(sanitize(v))
			bw.WriteString("\r\n")
		}
	}
}

// sanitize keeps a header value or reason phrase on one line.
func sanitize(s string) string {
	if !bytes.ContainsAny([]byte(s), "\r\n\x00") {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if c == '\r' || c == '\n' || c == 0 {
			b[i] = ' '
		}
	}
	return string(b)
}
