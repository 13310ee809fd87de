package binrpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sipht/sipht/internal/rpc"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	// Timeout bounds connecting and each wait for reply bytes (0: none).
	Timeout time.Duration
	// ReplySocket is the path a unix datagram client binds to receive its
	// reply (kamcmd -R); default a random name in ReplyDir.
	ReplySocket string
	// ReplyDir is the directory of the random reply socket (kamcmd -D,
	// default /tmp).
	ReplyDir string
	// MaxValue bounds one string value of a streamed reply (default 64 MiB).
	MaxValue int
	// MaxDatagram is the receive buffer for datagram replies (default 256 KiB).
	MaxDatagram int
}

// Client is a BINRPC client. On stream transports it keeps one connection
// and can make several calls in sequence (reading each reply completely
// before the next call). It is not safe for concurrent use.
type Client struct {
	opts      ClientOptions
	addr      Address
	conn      net.Conn
	br        *bufio.Reader
	localPath string // unix datagram reply socket to remove
	buf       []byte
	reply     *Reply
	// callDeadline is the deadline of the current call's context
	callDeadline time.Time
}

// Dial connects to a kamcmd-style address (see ParseClientSpec; unix
// stream by default).
func Dial(ctx context.Context, spec string, opts ClientOptions) (*Client, error) {
	a, err := ParseClientSpec(spec, ProtoUnixStream)
	if err != nil {
		return nil, err
	}
	return DialAddress(ctx, a, opts)
}

// DialAddress connects to a parsed address.
func DialAddress(ctx context.Context, a Address, opts ClientOptions) (*Client, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	c := &Client{opts: opts, addr: a}
	d := net.Dialer{Timeout: opts.Timeout}
	var err error
	switch a.Proto {
	case ProtoUnixStream:
		c.conn, err = d.DialContext(ctx, "unix", a.Path)
	case ProtoTCP:
		host := a.Host
		if host == "" {
			host = "127.0.0.1"
		}
		c.conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(host, fmt.Sprint(a.port())))
	case ProtoUDP:
		host := a.Host
		if host == "" {
			host = "127.0.0.1"
		}
		c.conn, err = d.DialContext(ctx, "udp", net.JoinHostPort(host, fmt.Sprint(a.port())))
	case ProtoUnixDgram:
		err = c.dialUnixgram()
	default:
		err = errors.New("unknown transport")
	}
	if err != nil {
		return nil, fmt.Errorf("binrpc: connect %s: %w", a, err)
	}
	c.br = bufio.NewReaderSize(deadlineReader{c}, 32<<10)
	return c, nil
}

// deadlineReader refreshes the read deadline before each read from the
// connection (not each record), so Timeout bounds how long the server may
// stay silent.
type deadlineReader struct{ c *Client }

func (r deadlineReader) Read(p []byte) (int, error) {
	var d time.Time
	if r.c.opts.Timeout > 0 {
		d = time.Now().Add(r.c.opts.Timeout)
	}
	if dl := r.c.callDeadline; !dl.IsZero() && (d.IsZero() || dl.Before(d)) {
		d = dl
	}
	r.c.conn.SetReadDeadline(d)
	return r.c.conn.Read(p)
}

func (c *Client) dialUnixgram() error {
	local := c.opts.ReplySocket
	var conn *net.UnixConn
	var err error
	for try := 0; try < 10; try++ {
		if c.opts.ReplySocket == "" {
			dir := c.opts.ReplyDir
			if dir == "" {
				dir = "/tmp"
			}
			local = filepath.Join(dir, fmt.Sprintf("sipht_ctl_%d", rand.Int32()))
		}
		conn, err = net.DialUnix("unixgram",
			&net.UnixAddr{Name: local, Net: "unixgram"},
			&net.UnixAddr{Name: c.addr.Path, Net: "unixgram"})
		if err == nil || c.opts.ReplySocket != "" {
			break
		}
		os.Remove(local)
	}
	if err != nil {
		return err
	}
	c.conn = conn
	c.localPath = local
	return nil
}

// Close closes the connection (and removes a datagram reply socket).
func (c *Client) Close() error {
	err := c.conn.Close()
	if c.localPath != "" {
		os.Remove(c.localPath)
	}
	return err
}

// Address returns the server address.
func (c *Client) Address() Address { return c.addr }

// AppendRequest appends a request packet for method and args (INT, STR,
// DOUBLE, BYTES values; others are sent as STR text).
func AppendRequest(dst []byte, cookie uint32, method string, args []rpc.Value) []byte {
	var body []byte
	body = AppendStr(body, method)
	for _, a := range args {
		switch a.Kind {
		case rpc.KindInt:
			body = AppendInt(body, int32(a.I))
		case rpc.KindDouble:
			body = AppendDouble(body, a.F)
		case rpc.KindBytes:
			body = AppendBytes(body, a.S)
		default:
			body = AppendStr(body, a.Text())
		}
	}
	dst = AppendHeader(dst, TypeRequest, uint32(len(body)), cookie)
	return append(dst, body...)
}

// Reply is a reply being read. Records are decoded from the connection as
// they are requested, so a reply of any size is read in bounded memory.
type Reply struct {
	Header
	c   *Client
	dec *Decoder
}

// IsFault reports whether the server answered with a fault.
func (r *Reply) IsFault() bool { return r.Type == TypeFault }

// Decoder returns the record decoder of the reply body (struct/array depth
// counters included).
func (r *Reply) Decoder() *Decoder { return r.dec }

// Next returns the next record of the body, io.EOF at its end.
func (r *Reply) Next() (Record, error) { return r.dec.Next() }

// Fault decodes a fault reply's code and message.
func (r *Reply) Fault() (*rpc.Fault, error) {
	if !r.IsFault() {
		return nil, errors.New("binrpc: not a fault")
	}
	f := &rpc.Fault{}
	rec, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("binrpc: fault code: %w", err)
	}
	f.Code = int(rec.Int)
	if rec, err = r.Next(); err != nil && err != io.EOF {
		return nil, fmt.Errorf("binrpc: fault message: %w", err)
	}
	f.Message = string(rec.Str)
	return f, nil
}

// Discard skips the unread rest of the reply.
func (r *Reply) Discard() error { return r.dec.Discard() }

// Call sends a request and reads the reply header. The previous reply is
// discarded first if it was not read completely. A fault is returned as a
// Reply with IsFault true, not as an error; errors are transport and
// protocol failures (including a cookie mismatch).
func (c *Client) Call(ctx context.Context, method string, args ...rpc.Value) (*Reply, error) {
	if c.reply != nil {
		if err := c.reply.Discard(); err != nil {
			return nil, err
		}
		c.reply = nil
	}
	cookie := rand.Uint32() & 0x7fffffff
	c.buf = AppendRequest(c.buf[:0], cookie, method, args)
	c.callDeadline = time.Time{}
	if dl, ok := ctx.Deadline(); ok {
		c.callDeadline = dl
		c.conn.SetDeadline(dl)
	} else if c.opts.Timeout > 0 {
		c.conn.SetDeadline(time.Now().Add(c.opts.Timeout))
	} else {
		c.conn.SetDeadline(time.Time{})
	}
	if _, err := c.conn.Write(c.buf); err != nil {
		return nil, fmt.Errorf("binrpc: send packet failed: %w", err)
	}
	var br *bufio.Reader
	if c.addr.IsStream() {
		br = c.br
	} else {
		size := c.opts.MaxDatagram
		if size <= 0 {
			size = 256 << 10
		}
		buf := make([]byte, size)
		n, err := c.conn.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("binrpc: read reply failed: %w", err)
		}
		br = bufio.NewReaderSize(&oneShot{b: buf[:n]}, 16)
	}
	h, err := ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("binrpc: while parsing the reply: %w", err)
	}
	if h.Cookie != cookie {
		return nil, fmt.Errorf("binrpc: bad reply, cookie doesn't match: sent %02x and received %02x", cookie, h.Cookie)
	}
	if h.Type != TypeReply && h.Type != TypeFault {
		return nil, errors.New("binrpc: not a reply")
	}
	dec := NewStreamDecoder(br, int64(h.Len), true)
	dec.MaxValue = c.opts.MaxValue
	c.reply = &Reply{Header: h, c: c, dec: dec}
	return c.reply, nil
}

// oneShot reads a datagram already received.
type oneShot struct{ b []byte }

func (o *oneShot) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, o.b)
	o.b = o.b[n:]
	return n, nil
}
