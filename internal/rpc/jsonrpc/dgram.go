package jsonrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/sockfile"
	"github.com/sipht/sipht/internal/rpc/spool"
)

// DatagramOptions configure a datagram server.
type DatagramOptions struct {
	// Registry serves the calls (required).
	Registry *rpc.Registry
	// Compact selects pretty_format=0.
	Compact bool
	// Mode, User, Group of a unix socket file (jsonrpcs dgram_mode,
	// default 0660, dgram_user, dgram_group).
	Mode        os.FileMode
	User, Group string
	// MaxDatagram bounds requests and replies (default 65456, jsonrpcs'
	// buffer). A larger reply is replaced by an error reply saying so.
	MaxDatagram int
	// NoReplyOnParseError mimics Kamailio for a datagram that is not
	// JSON: no reply. By default a "Parse Error" reply is sent.
	NoReplyOnParseError bool
	// WriteTimeout bounds sending a reply (default 2s, jsonrpcs dgram_timeout).
	WriteTimeout time.Duration
	SpoolDir     string
	Logger       *slog.Logger
}

// DatagramServer serves JSON-RPC over a unix or UDP datagram socket: one
// request per datagram, the reply sent to the datagram's source (a unix
// client must bind its socket).
type DatagramServer struct {
	opts DatagramOptions
	d    Dispatcher
	pc   net.PacketConn
	file *sockfile.File
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once
}

// ListenDatagram opens spec, jsonrpcs "dgram_socket" syntax: "udp:IP:port"
// or a unix socket path (a relative one is the caller's to resolve against
// the runtime directory).
func ListenDatagram(ctx context.Context, spec string, opts DatagramOptions) (*DatagramServer, error) {
	if opts.Registry == nil {
		return nil, errors.New("jsonrpc: ListenDatagram: no registry")
	}
	if opts.Mode == 0 {
		opts.Mode = 0o660
	}
	if opts.MaxDatagram <= 0 {
		opts.MaxDatagram = 65456
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &DatagramServer{opts: opts, d: Dispatcher{
		Registry: opts.Registry, Pretty: !opts.Compact, MaxReplySize: int64(opts.MaxDatagram),
		SpoolMemory: opts.MaxDatagram + 1, SpoolDir: opts.SpoolDir,
	}}
	var err error
	if hp, ok := strings.CutPrefix(spec, "udp:"); ok {
		s.pc, err = net.ListenPacket("udp", hp)
		if err != nil {
			return nil, fmt.Errorf("jsonrpc: listen %s: %w", spec, err)
		}
	} else {
		if err := sockfile.RemoveStale(spec, false); err != nil {
			return nil, fmt.Errorf("jsonrpc: %w", err)
		}
		s.pc, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: spec, Net: "unixgram"})
		if err != nil {
			return nil, fmt.Errorf("jsonrpc: listen %s: %w", spec, err)
		}
		if s.file, err = sockfile.Setup(spec, opts.Mode, opts.User, opts.Group); err != nil {
			s.pc.Close()
			s.file.Remove()
			return nil, fmt.Errorf("jsonrpc: %w", err)
		}
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.loop()
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

// Addr returns the local address.
func (s *DatagramServer) Addr() net.Addr { return s.pc.LocalAddr() }

// Close stops the server and removes its socket file.
func (s *DatagramServer) Close() error {
	s.once.Do(func() {
		s.stop()
		s.pc.Close()
		s.wg.Wait()
		s.file.Remove()
	})
	return nil
}

func (s *DatagramServer) loop() {
	defer s.wg.Done()
	buf := make([]byte, s.opts.MaxDatagram)
	sp := spool.New(s.opts.MaxDatagram+1, s.opts.SpoolDir, int64(s.opts.MaxDatagram))
	defer sp.Close()
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.opts.Logger.Warn("jsonrpc: datagram read", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if ua, ok := from.(*net.UnixAddr); ok && ua.Name == "" {
			continue
		}
		sp.Reset()
		doc := bytes.TrimSpace(buf[:n])
		req, err := ParseRequest(doc, Limits{})
		if err != nil {
			if s.opts.NoReplyOnParseError {
				continue
			}
			sp.Write(AppendFaultReply(nil, s.d.Pretty, ID{Kind: IDNull}, -32700, ""))
		} else if _, err := s.d.dispatch(s.ctx, req, "jsonrpc-dgram", spoolSink{sp}); err != nil {
			continue
		}
		b, _ := sp.Bytes()
		s.pc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		if _, err := s.pc.WriteTo(b, from); err != nil {
			s.opts.Logger.Debug("jsonrpc: datagram reply", "to", from.String(), "err", err)
		}
	}
}
