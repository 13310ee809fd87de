package jsonrpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/sockfile"
	"github.com/sipht/sipht/internal/rpc/spool"
)

// FIFOOptions configure a FIFO server.
type FIFOOptions struct {
	// Registry serves the calls (required).
	Registry *rpc.Registry
	// Compact selects pretty_format=0.
	Compact bool
	// Mode, User, Group of the FIFO (jsonrpcs fifo_mode, default 0660,
	// fifo_user, fifo_group).
	Mode        os.FileMode
	User, Group string
	// ReplyDir is where clients create their reply FIFO, named by the
	// request's "reply_name" member (jsonrpcs fifo_reply_dir, default /tmp/).
	ReplyDir string
	// MaxRequestSize bounds one request document (default 64 KiB; jsonrpcs
	// reads at most 8 KiB). A larger document is skipped.
	MaxRequestSize int
	// MaxReplySize bounds a reply (default 1 GiB).
	MaxReplySize int64
	// WriteTimeout bounds writing a reply to a client that stops reading
	// (default 30s).
	WriteTimeout time.Duration
	SpoolMemory  int
	SpoolDir     string
	Logger       *slog.Logger
}

// FIFOServer serves JSON-RPC over a named pipe as jsonrpcs does (kamctl's
// RPCFIFO engine): documents are read until their braces balance, each
// reply is written to the FIFO <ReplyDir>/<reply_name> the client created.
type FIFOServer struct {
	opts FIFOOptions
	d    Dispatcher
	f    *os.File
	file *sockfile.File
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once
}

// ListenFIFO creates the FIFO at path (replacing a stale FIFO, never
// another kind of file) and serves it until ctx is cancelled or Close is
// called.
func ListenFIFO(ctx context.Context, path string, opts FIFOOptions) (*FIFOServer, error) {
	if opts.Registry == nil {
		return nil, errors.New("jsonrpc: ListenFIFO: no registry")
	}
	if opts.Mode == 0 {
		opts.Mode = 0o660
	}
	if opts.ReplyDir == "" {
		opts.ReplyDir = "/tmp/"
	}
	if opts.MaxRequestSize <= 0 {
		opts.MaxRequestSize = 64 << 10
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if st, err := os.Stat(opts.ReplyDir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("jsonrpc: fifo reply directory %q is not a directory", opts.ReplyDir)
	}
	if err := sockfile.RemoveStale(path, true); err != nil {
		return nil, fmt.Errorf("jsonrpc: %w", err)
	}
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		return nil, fmt.Errorf("jsonrpc: mkfifo %s: %w", path, err)
	}
	file, err := sockfile.Setup(path, opts.Mode, opts.User, opts.Group)
	if err != nil {
		file.Remove()
		return nil, fmt.Errorf("jsonrpc: %w", err)
	}
	// Read and write: the FIFO never reports end of file when the last
	// client closes it.
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		file.Remove()
		return nil, fmt.Errorf("jsonrpc: open %s: %w", path, err)
	}
	s := &FIFOServer{opts: opts, f: f, file: file, d: Dispatcher{
		Registry: opts.Registry, Pretty: !opts.Compact, MaxReplySize: opts.MaxReplySize,
		SpoolMemory: opts.SpoolMemory, SpoolDir: opts.SpoolDir,
	}}
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

// Close stops the server and removes the FIFO.
func (s *FIFOServer) Close() error {
	s.once.Do(func() {
		s.stop()
		s.f.Close()
		s.wg.Wait()
		s.file.Remove()
	})
	return nil
}

// ReadDocument reads one JSON document from a stream the way jsonrpcs
// does: byte by byte until the braces opened balance, ignoring braces
// inside single- or double-quoted strings. A document longer than max is
// consumed up to its end (when it has started) and reported with
// tooBig set.
func ReadDocument(br *bufio.Reader, max int, buf []byte) (doc []byte, tooBig bool, err error) {
	doc = buf[:0]
	var quote byte
	var prev byte
	depth := 0
	found := false
	for {
		c, err := br.ReadByte()
		if err != nil {
			return doc, tooBig, err
		}
		if len(doc) < max {
			doc = append(doc, c)
		} else {
			tooBig = true
			if !found {
				return doc, true, nil
			}
		}
		switch {
		case c == '"' || c == '\'':
			if quote == 0 {
				quote = c
			} else if c == quote && prev != '\\' {
				quote = 0
			}
		case c == '{' && quote == 0:
			found = true
			depth++
		case c == '}' && quote == 0:
			depth--
		}
		prev = c
		if found && depth == 0 {
			return doc, tooBig, nil
		}
	}
}

func (s *FIFOServer) loop() {
	defer s.wg.Done()
	br := bufio.NewReaderSize(s.f, 8<<10)
	var buf []byte
	sp := spool.New(s.d.spoolConfig().mem, s.opts.SpoolDir, s.d.spoolConfig().max)
	defer sp.Close()
	for {
		doc, tooBig, err := ReadDocument(br, s.opts.MaxRequestSize, buf)
		buf = doc[:0]
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return
			}
			if err != io.EOF {
				s.opts.Logger.Warn("jsonrpc: fifo read", "err", err)
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if tooBig {
			s.opts.Logger.Warn("jsonrpc: fifo request too large, skipped", "limit", s.opts.MaxRequestSize)
			continue
		}
		req, err := ParseRequest(bytes.TrimSpace(doc), Limits{})
		if err != nil {
			s.opts.Logger.Warn("jsonrpc: fifo request is not valid JSON", "err", err)
			continue
		}
		if !req.HasReplyName || !validReplyName(req.ReplyName) {
			s.opts.Logger.Warn("jsonrpc: fifo request without a usable reply_name", "reply_name", req.ReplyName)
			continue
		}
		sp.Reset()
		if _, err := s.d.dispatch(s.ctx, req, "jsonrpc-fifo", spoolSink{sp}); err != nil {
			continue
		}
		if err := s.reply(req.ReplyName, sp); err != nil {
			s.opts.Logger.Warn("jsonrpc: fifo reply", "reply_name", req.ReplyName, "err", err)
		}
		if cap(buf) > 1<<20 {
			buf = nil
		}
	}
}

// validReplyName accepts a plain file name (no '.', '/' or '\\', as jsonrpcs).
func validReplyName(n string) bool {
	return n != "" && len(n) < 128 && !strings.ContainsAny(n, "./\\")
}

// reply writes the reply to the client's FIFO after jsonrpcs' safety
// checks: it must be a FIFO, not hard-linked, not a symbolic link.
func (s *FIFOServer) reply(name string, sp *spool.Buffer) error {
	path := filepath.Join(s.opts.ReplyDir, name)
	var f *os.File
	var err error
	for try := 0; ; try++ {
		f, err = os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ENXIO) || try >= 4 {
			return err
		}
		// the client has not opened its end for reading yet
		select {
		case <-time.After(80 * time.Millisecond):
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return err
	}
	lst, err := os.Lstat(path)
	if err != nil {
		return err
	}
	fsys, ok1 := fst.Sys().(*syscall.Stat_t)
	lsys, ok2 := lst.Sys().(*syscall.Stat_t)
	switch {
	case fst.Mode()&os.ModeNamedPipe == 0:
		return fmt.Errorf("%s is not a fifo", path)
	case lst.Mode()&os.ModeSymlink != 0:
		return fmt.Errorf("%s is a soft link", path)
	case !ok1 || !ok2:
		return fmt.Errorf("%s: cannot check the file", path)
	case fsys.Nlink > 1:
		return fmt.Errorf("%s is hard-linked %d times", path, fsys.Nlink)
	case fsys.Ino != lsys.Ino || fsys.Dev != lsys.Dev:
		return fmt.Errorf("%s changed while opening it", path)
	}
	_, err = sp.WriteTo(spool.DeadlineWriter{W: f, Timeout: s.opts.WriteTimeout})
	return err
}
