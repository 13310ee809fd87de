package jsonrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sipht/sipht/internal/rpc"
)

// HandlerOptions configure the HTTP handler.
type HandlerOptions struct {
	// Registry serves the calls (required).
	Registry *rpc.Registry
	// Compact selects jsonrpcs pretty_format=0 (default: pretty).
	Compact bool
	// MaxRequestSize bounds a request body (default 1 MiB); larger bodies
	// get "413 Request Entity Too Large".
	MaxRequestSize int64
	// StreamThreshold is how many reply bytes are held before the reply is
	// committed (200 OK sent and the rest streamed chunked). A reply that
	// fails before that gets a proper fault reply; one that fails after it
	// is cut off (connection closed without the final chunk). Default
	// 64 KiB.
	StreamThreshold int
	// MaxReplySize bounds the part of a reply that must be held (the
	// value of a non-RET_ARRAY method) (default 1 GiB).
	MaxReplySize int64
	// SpoolMemory / SpoolDir: see Dispatcher.
	SpoolMemory int
	SpoolDir    string
	// WriteTimeout bounds each write of a reply without progress (default 30s).
	WriteTimeout time.Duration
	// PlainStatus disables writing the fault text as the HTTP reason
	// phrase (Kamailio's "HTTP/1.1 500 No such htable"), which needs to
	// take over the connection and close it after the reply.
	PlainStatus bool
	// CloseOnParseError mimics Kamailio exactly for a body that is not
	// JSON: the connection is closed without a reply. By default a
	// JSON-RPC "Parse Error" (-32700) reply is sent.
	CloseOnParseError bool
	// Logger (default slog.Default).
	Logger *slog.Logger
}

// Handler serves JSON-RPC over HTTP as Kamailio's jsonrpc_dispatch() does
// for "POST /RPC": the status line carries the fault code (codes <= 100
// become 500) and text, the body is the JSON-RPC reply.
type Handler struct {
	opts HandlerOptions
	d    Dispatcher
}

// NewHandler returns an HTTP handler. Mount it where Kamailio configs
// route "^/RPC".
func NewHandler(opts HandlerOptions) *Handler {
	if opts.MaxRequestSize <= 0 {
		opts.MaxRequestSize = 1 << 20
	}
	if opts.StreamThreshold <= 0 {
		opts.StreamThreshold = 64 << 10
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Handler{opts: opts, d: Dispatcher{
		Registry: opts.Registry, Pretty: !opts.Compact, MaxReplySize: opts.MaxReplySize,
		SpoolMemory: opts.SpoolMemory, SpoolDir: opts.SpoolDir,
	}}
}

// commitWriter holds the reply until StreamThreshold bytes, then sends the
// 200 status and streams the rest.
type commitWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	timeout   time.Duration
	buf       []byte
	threshold int
	committed bool
}

func (c *commitWriter) Write(p []byte) (int, error) {
	if c.committed {
		return c.send(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) > c.threshold {
		c.committed = true
		c.w.Header().Set("Content-Type", "application/json")
		c.w.WriteHeader(http.StatusOK)
		b := c.buf
		c.buf = nil
		if _, err := c.send(b); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *commitWriter) send(p []byte) (int, error) {
	c.rc.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.w.Write(p)
}

func (c *commitWriter) Discard() bool {
	if c.committed {
		return false
	}
	c.buf = c.buf[:0]
	return true
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "JSON-RPC requests must be POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxRequestSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, fmt.Sprintf("request body larger than %d bytes", h.opts.MaxRequestSize), http.StatusRequestEntityTooLarge)
		}
		return
	}
	req, err := ParseRequest(body, Limits{})
	if err != nil {
		if h.opts.CloseOnParseError {
			panic(http.ErrAbortHandler)
		}
		b := AppendFaultReply(nil, h.d.Pretty, ID{Kind: IDNull}, -32700, "")
		h.writeComplete(w, Status{500, "Parse Error"}, b)
		return
	}
	cw := &commitWriter{w: w, rc: http.NewResponseController(w), timeout: h.opts.WriteTimeout, threshold: h.opts.StreamThreshold}
	st, err := h.d.dispatch(r.Context(), req, "jsonrpc-http", cw)
	if err != nil {
		if r.Context().Err() == nil {
			h.opts.Logger.Warn("jsonrpc: reply cut off", "method", req.Method, "err", err)
		}
		panic(http.ErrAbortHandler)
	}
	if cw.committed {
		cw.rc.Flush()
		return
	}
	h.writeComplete(w, st, cw.buf)
}

// writeComplete sends a whole reply with Content-Length, writing the fault
// text as reason phrase when it is not the standard one.
func (h *Handler) writeComplete(w http.ResponseWriter, st Status, body []byte) {
	reason := sanitizeReason(st.Reason)
	if st.Code != http.StatusOK && !h.opts.PlainStatus && reason != http.StatusText(st.Code) {
		if hj, ok := w.(http.Hijacker); ok {
			conn, rw, err := hj.Hijack()
			if err == nil {
				defer conn.Close()
				conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
				fmt.Fprintf(rw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
					st.Code, reason, len(body))
				rw.Write(body)
				rw.Flush()
				return
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(st.Code)
	w.Write(body)
}

func sanitizeReason(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		s = strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
	}
	if s == "" {
		s = "Error"
	}
	return s
}

// HTTPOptions configure ListenHTTP.
type HTTPOptions struct {
	HandlerOptions
	// MaxConns bounds concurrent connections (default 128).
	MaxConns int
	// ReadTimeout bounds reading one request, headers and body (default 10s).
	ReadTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections (default 120s).
	IdleTimeout time.Duration
}

// HTTPServer is a JSON-RPC HTTP listener.
type HTTPServer struct {
	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// ListenHTTP serves JSON-RPC on addr ("host:port"; an empty host means
// 127.0.0.1, loopback only) for every path starting with "/RPC", until ctx
// is cancelled or Close is called.
func ListenHTTP(ctx context.Context, addr string, opts HTTPOptions) (*HTTPServer, error) {
	if opts.Registry == nil {
		return nil, errors.New("jsonrpc: ListenHTTP: no registry")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("jsonrpc: bad listen address %q: %w", addr, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 128
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 10 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 120 * time.Second
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("jsonrpc: listen %s: %w", addr, err)
	}
	ln = &limitListener{Listener: ln, sem: make(chan struct{}, opts.MaxConns)}
	h := NewHandler(opts.HandlerOptions)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/RPC") {
			h.ServeHTTP(w, r)
			return
		}
		http.NotFound(w, r)
	})
	s := &HTTPServer{ln: ln, srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: opts.ReadTimeout,
		ReadTimeout:       opts.ReadTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.Serve(ln)
	}()
	if ctx != nil && ctx.Done() != nil {
		go func() {
			<-ctx.Done()
			s.Close()
		}()
	}
	return s, nil
}

// Addr returns the listening address.
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// URL returns "http://host:port/RPC".
func (s *HTTPServer) URL() string { return "http://" + s.ln.Addr().String() + "/RPC" }

// Close stops the server at once (running replies are cut).
func (s *HTTPServer) Close() error {
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

// limitListener bounds concurrent connections; connections beyond the
// limit are accepted and closed at once.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			c.Close()
		}
	}
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
