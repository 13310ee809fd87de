package binrpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/sockfile"
	"github.com/sipht/sipht/internal/rpc/spool"
)

// Options configure a Server. The zero value of each field means its
// default.
type Options struct {
	// Registry serves the calls (required).
	Registry *rpc.Registry
	// Mode is the permission of unix socket files (default 0600, as the
	// ctl "mode" modparam).
	Mode os.FileMode
	// User and Group own unix socket files (names or numeric ids, as the
	// ctl "user"/"group" modparams); empty leaves them unchanged. Either
	// one may be set alone.
	User, Group string
	// AutoConvert makes every parameter auto-convert (ctl "autoconversion").
	AutoConvert bool
	// MaxRequestSize bounds a request packet body (default 64 KiB, the
	// ctl module's stream buffer). Larger requests get a 400 fault and the
	// connection is closed.
	MaxRequestSize int
	// MaxReplySize bounds a reply body (default 1 GiB; at most 4 GiB-1,
	// the BINRPC length field). Larger replies become a 500 fault
	// "reply too big".
	MaxReplySize int64
	// MaxDatagram bounds a datagram reply (default 65535, Kamailio's
	// buffer); larger replies become a 500 fault suggesting a stream socket.
	MaxDatagram int
	// MaxConns bounds concurrent stream connections (default 128, as
	// Kamailio); further connections are accepted and closed at once.
	MaxConns int
	// IdleTimeout closes a connection idle between packets (default 120s,
	// as Kamailio).
	IdleTimeout time.Duration
	// ReadTimeout bounds the time to receive one packet once its first
	// byte arrived (default 10s): a client that never finishes a packet is
	// disconnected.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of a reply (default 30s without any
	// progress): a client that stops reading is disconnected.
	WriteTimeout time.Duration
	// SpoolMemory is how much of a reply is kept in memory before it
	// spills to a temporary file (default 4 MiB).
	SpoolMemory int
	// SpoolDir is the directory of reply spill files (default os.TempDir).
	SpoolDir string
	// Logger logs connection-level problems (default slog.Default).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	if o.MaxRequestSize <= 0 {
		o.MaxRequestSize = 64 << 10
	}
	if o.MaxReplySize <= 0 {
		o.MaxReplySize = 1 << 30
	}
	if o.MaxReplySize > 1<<32-1 {
		o.MaxReplySize = 1<<32 - 1
	}
	if o.MaxDatagram <= 0 {
		o.MaxDatagram = 65535
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 128
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 120 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.SpoolMemory <= 0 {
		o.SpoolMemory = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// maxParams bounds the parameters decoded from one request (kamcmd sends
// at most 256).
const maxParams = 4096

// Server serves one ctl listen spec.
type Server struct {
	opts Options
	addr Address
	ln   net.Listener
	pc   net.PacketConn
	// unix socket file created by us, removed on Close if unchanged
	file *sockfile.File

	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup

	mu        sync.Mutex
	conns     map[net.Conn]uint64 // open stream connections -> accept sequence
	seq       uint64
	closed    bool
	closeOnce sync.Once
}

// Listen opens the ctl listen spec (see ParseListenSpec) and serves it in
// background goroutines until ctx is cancelled or Close is called. A stale
// unix socket file is replaced; a live one (a server answers on it) or a
// file that is not a socket is an error.
func Listen(ctx context.Context, spec string, opts Options) (*Server, error) {
	if opts.Registry == nil {
		return nil, errors.New("binrpc: Listen: no registry")
	}
	a, err := ParseListenSpec(spec)
	if err != nil {
		return nil, err
	}
	opts.defaults()
	s := &Server{opts: opts, addr: a, conns: make(map[net.Conn]uint64), sem: make(chan struct{}, opts.MaxConns)}
	switch a.Proto {
	case ProtoUnixStream, ProtoUnixDgram:
		if err := s.listenUnix(); err != nil {
			return nil, err
		}
	case ProtoTCP:
		ln, err := net.Listen("tcp", hostOrAny(a))
		if err != nil {
			return nil, fmt.Errorf("binrpc: listen %s: %w", a, err)
		}
		s.ln = ln
	case ProtoUDP:
		pc, err := net.ListenPacket("udp", hostOrAny(a))
		if err != nil {
			return nil, fmt.Errorf("binrpc: listen %s: %w", a, err)
		}
		s.pc = pc
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	if s.ln != nil {
		go s.acceptLoop()
	} else {
		go s.dgramLoop()
	}
	if ctx != nil && ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				s.Close()
			case <-s.ctx.Done():
			}
		}()
	}
	return s, nil
}

func hostOrAny(a Address) string {
	if a.Host == "" {
		return net.JoinHostPort("0.0.0.0", strconv.Itoa(a.port()))
	}
	return a.HostPort()
}

func (s *Server) listenUnix() error {
	path := s.addr.Path
	if err := sockfile.RemoveStale(path, false); err != nil {
		return fmt.Errorf("binrpc: %w", err)
	}
	var err error
	if s.addr.Proto == ProtoUnixStream {
		var l *net.UnixListener
		l, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err == nil {
			l.SetUnlinkOnClose(false)
			s.ln = l
		}
	} else {
		s.pc, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	}
	if err != nil {
		return fmt.Errorf("binrpc: listen %s: %w", s.addr, err)
	}
	s.file, err = sockfile.Setup(path, s.opts.Mode, s.opts.User, s.opts.Group)
	if err != nil {
		s.closeListener()
		s.file.Remove()
		return fmt.Errorf("binrpc: %w", err)
	}
	return nil
}

// Addr returns the listening address (for tcp:*:0 specs, the chosen port).
func (s *Server) Addr() net.Addr {
	if s.ln != nil {
		return s.ln.Addr()
	}
	return s.pc.LocalAddr()
}

// Conns returns the remote addresses of the open stream connections, in
// the order they were accepted (ctl.who, ctl.connections).
func (s *Server) Conns() []net.Addr {
	s.mu.Lock()
	type ent struct {
		seq uint64
		a   net.Addr
	}
	es := make([]ent, 0, len(s.conns))
	for c, seq := range s.conns {
		es = append(es, ent{seq, c.RemoteAddr()})
	}
	s.mu.Unlock()
	sort.Slice(es, func(i, j int) bool { return es[i].seq < es[j].seq })
	out := make([]net.Addr, len(es))
	for i, e := range es {
		out[i] = e.a
	}
	return out
}

// Address returns the parsed listen spec.
func (s *Server) Address() Address { return s.addr }

// Spec returns the address in ctl syntax with the real port, suitable for
// kamcmd -s.
func (s *Server) Spec() string {
	a := s.addr
	if a.Proto == ProtoTCP || a.Proto == ProtoUDP {
		if host, port, err := net.SplitHostPort(s.Addr().String()); err == nil {
			a.Port, _ = strconv.Atoi(port)
			if a.Host == "" {
				a.Host = host
			}
		}
	}
	return a.String()
}

func (s *Server) closeListener() {
	if s.ln != nil {
		s.ln.Close()
	}
	if s.pc != nil {
		s.pc.Close()
	}
}

// Close stops serving: the listener and every connection are closed,
// running calls see their context cancelled, and the unix socket file is
// removed. It waits for the serving goroutines to end.
// Concurrent calls (Close and the Listen context ending) all return once
// the socket file is gone.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.cancel()
		s.closeListener()
		s.wg.Wait()
		s.file.Remove()
	})
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// e.g. EMFILE: back off instead of spinning
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			s.opts.Logger.Warn("binrpc: accept", "addr", s.addr.String(), "err", err)
			select {
			case <-time.After(delay):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		select {
		case s.sem <- struct{}{}:
		default:
			s.opts.Logger.Warn("binrpc: maximum number of connections reached, closing new connection",
				"addr", s.addr.String(), "max", s.opts.MaxConns)
			c.Close()
			continue
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			<-s.sem
			return
		}
		s.seq++
		s.conns[c] = s.seq
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveConn(c)
	}
}

func (s *Server) serveConn(c net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
		<-s.sem
		s.wg.Done()
	}()
	br := bufio.NewReaderSize(c, 4096)
	out := spool.DeadlineWriter{W: c, Timeout: s.opts.WriteTimeout}
	var body []byte
	for {
		c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		if _, err := br.Peek(1); err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(s.opts.ReadTimeout))
		var hb [MaxHeaderSize]byte
		if _, err := io.ReadFull(br, hb[:2]); err != nil {
			return
		}
		if hb[0] != magicVersion {
			s.sendFault(out, 0, 400, "bad request: "+ErrBadPkt.Error())
			return
		}
		n := HeaderLen(hb[1])
		if _, err := io.ReadFull(br, hb[2:n]); err != nil {
			return
		}
		h, _, err := ParseHeader(hb[:n])
		if err != nil || h.Type != TypeRequest {
			s.sendFault(out, h.Cookie, 400, "bad request: "+ErrBadPkt.Error())
			return
		}
		if int64(h.Len) > int64(s.opts.MaxRequestSize) {
			s.sendFault(out, h.Cookie, 400, fmt.Sprintf("bad request: packet too big (%d bytes, limit %d)", h.Len, s.opts.MaxRequestSize))
			return
		}
		if cap(body) < int(h.Len) {
			body = make([]byte, h.Len)
		}
		body = body[:h.Len]
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		c.SetReadDeadline(time.Time{})
		if !s.process(h.Cookie, body, s.opts.MaxReplySize, func(pkt []byte, sp *spool.Buffer) error {
			bw, _ := writerPool.Get().(*bufio.Writer)
			if bw == nil {
				bw = bufio.NewWriterSize(out, 16<<10)
			} else {
				bw.Reset(out)
			}
			defer func() {
				bw.Reset(nil)
				writerPool.Put(bw)
			}()
			if _, err := bw.Write(pkt); err != nil {
				return err
			}
			if sp != nil {
				if _, err := sp.WriteTo(bw); err != nil {
					return err
				}
			}
			return bw.Flush()
		}) {
			return
		}
		if cap(body) > 1<<20 {
			body = nil
		}
	}
}

func (s *Server) sendFault(w io.Writer, cookie uint32, code int, msg string) {
	w.Write(AppendFault(nil, cookie, code, msg))
}

func (s *Server) dgramLoop() {
	defer s.wg.Done()
	buf := make([]byte, 65535)
	var reply bytes.Buffer
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.opts.Logger.Warn("binrpc: read", "addr", s.addr.String(), "err", err)
			select {
			case <-time.After(10 * time.Millisecond):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		if ua, ok := from.(*net.UnixAddr); ok && ua.Name == "" {
			continue // an unbound client cannot get a reply
		}
		send := func(pkt []byte) {
			s.pc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
			if _, err := s.pc.WriteTo(pkt, from); err != nil {
				s.opts.Logger.Debug("binrpc: datagram reply", "to", from.String(), "err", err)
			}
		}
		h, hl, err := ParseHeader(buf[:n])
		if err == ErrMoreData {
			continue // an incomplete datagram will never complete
		}
		if err != nil || h.Type != TypeRequest {
			send(AppendFault(nil, h.Cookie, 400, "bad request: "+ErrBadPkt.Error()))
			continue
		}
		if int64(h.Len) > int64(n-hl) {
			continue // truncated datagram
		}
		body := buf[hl : hl+int(h.Len)]
		maxReply := int64(s.opts.MaxDatagram - MaxHeaderSize)
		s.process(h.Cookie, body, maxReply, func(pkt []byte, sp *spool.Buffer) error {
			reply.Reset()
			reply.Write(pkt)
			if sp != nil {
				sp.WriteTo(&reply)
			}
			send(reply.Bytes())
			return nil
		})
	}
}

// Reply buffers and connection writers are pooled: a call allocates
// almost nothing but its own values.
var (
	replyPool  sync.Pool // *replyBuf
	writerPool sync.Pool // *bufio.Writer
)

type replyBuf struct {
	sp  *spool.Buffer
	enc *Encoder
}

// process runs one request and sends its reply or fault through send
// (pkt is a complete packet, or a header followed by the body in sp).
// It returns false when the connection must be closed.
func (s *Server) process(cookie uint32, body []byte, maxReply int64, send func(pkt []byte, sp *spool.Buffer) error) bool {
	fault := func(code int, msg string) bool {
		return send(AppendFault(nil, cookie, code, msg), nil) == nil
	}
	req, err := DecodeRequest(body)
	if err != nil {
		fault(400, "bad request method: "+err.Error())
		return false
	}
	req.AutoConvert = s.opts.AutoConvert
	req.Transport = "binrpc"

	rb, _ := replyPool.Get().(*replyBuf)
	if rb == nil {
		sp := spool.New(s.opts.SpoolMemory, s.opts.SpoolDir, maxReply)
		rb = &replyBuf{sp: sp, enc: NewEncoder(sp)}
	} else {
		rb.sp.Reset()
		rb.sp.SetLimits(s.opts.SpoolMemory, s.opts.SpoolDir, maxReply)
		rb.enc.Reset(rb.sp)
	}
	sp, enc := rb.sp, rb.enc
	defer func() {
		if sp.Spilled() || sp.Cap() > 256<<10 {
			sp.Close()
		} else {
			sp.Reset()
			enc.Reset(nil)
			replyPool.Put(rb)
		}
	}()
	res := s.opts.Registry.Serve(s.ctx, req, enc)
	if res.NotFound {
		return fault(500, "command "+req.Method+" not found")
	}
	if res.Fault != nil {
		return fault(res.Fault.Code, res.Fault.Message)
	}
	if res.Err == nil {
		res.Err = enc.Flush()
	}
	if res.Err != nil {
		if errors.Is(res.Err, spool.ErrTooBig) || errors.Is(res.Err, rpc.ErrReplyTooBig) {
			if maxReply < s.opts.MaxReplySize {
				return fault(500, fmt.Sprintf("reply too big for a datagram (limit %d bytes); use a stream socket", s.opts.MaxDatagram))
			}
			return fault(500, fmt.Sprintf("reply too big (limit %d bytes)", s.opts.MaxReplySize))
		}
		if s.ctx.Err() != nil {
			return false
		}
		s.opts.Logger.Error("binrpc: reply failed", "method", req.Method, "err", res.Err)
		return fault(500, "internal server error")
	}
	hdr := AppendHeader(make([]byte, 0, MaxHeaderSize), TypeReply, uint32(sp.Len()), cookie)
	return send(hdr, sp) == nil
}

// DecodeRequest decodes a request body: the method name (a STR record,
// cut at its first NUL as Kamailio reads it) and the parameters. A
// malformed parameter stops decoding and is reported in Request.ParamErr
// (the call still runs, as in Kamailio, and fails when it scans that
// parameter). err is set when there is no method name.
func DecodeRequest(body []byte) (*rpc.Request, error) {
	d := NewDecoder(body, false)
	rec, err := d.Next()
	if err == io.EOF {
		return nil, ErrEOP
	}
	if err != nil {
		return nil, err
	}
	if rec.Type != RecStr {
		return nil, ErrType
	}
	m := rec.Str
	if i := bytes.IndexByte(m, 0); i >= 0 {
		m = m[:i]
	}
	req := &rpc.Request{Method: string(m), Dialect: rpc.DialectBINRPC}
	for {
		rec, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			req.ParamErr = err
			break
		}
		if len(req.Params) >= maxParams {
			req.ParamErr = errors.New("too many parameters")
			break
		}
		var v rpc.Value
		switch rec.Type {
		case RecInt:
			v = rpc.Int(int64(rec.Int))
		case RecStr:
			v = rpc.Str(string(rec.Str))
		case RecBytes:
			v = rpc.Value{Kind: rpc.KindBytes, S: string(rec.Str)}
		case RecDouble:
			v = rpc.Double(rec.Double)
		case RecStruct:
			v = rpc.Value{Kind: rpc.KindStruct}
		case RecArray:
			v = rpc.Value{Kind: rpc.KindArray}
		}
		req.Params = append(req.Params, v)
	}
	return req, nil
}
