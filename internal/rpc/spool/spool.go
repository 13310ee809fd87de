// Package spool is a write buffer that keeps its first bytes in memory and
// the rest in an unlinked temporary file, so that a reply of any size can be
// produced in bounded memory before its total length is known (BINRPC puts
// the body length in the packet header) or before its fate is known (a
// JSON-RPC reply is replaced by a fault if the method fails at the end).
package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// ErrTooBig is returned by Write when the buffer would exceed its maximum.
var ErrTooBig = errors.New("spool: data exceeds the size limit")

// Buffer is an io.Writer that keeps up to MemLimit bytes in memory and
// spills the rest into a temporary file. It is not safe for concurrent use.
// The zero value is not usable; call New.
type Buffer struct {
	mem      []byte
	memLimit int
	max      int64
	dir      string
	f        *os.File
	fileLen  int64
	err      error
}

// New returns a Buffer keeping at most memLimit bytes in memory, writing
// the excess to a temporary file in dir (os.TempDir when empty), and
// refusing to hold more than max bytes in total (no limit when max <= 0).
func New(memLimit int, dir string, max int64) *Buffer {
	if memLimit < 0 {
		memLimit = 0
	}
	return &Buffer{memLimit: memLimit, dir: dir, max: max}
}

// SetLimits changes the memory limit, spill directory and maximum size
// (for a pooled Buffer; call it after Reset).
func (b *Buffer) SetLimits(memLimit int, dir string, max int64) {
	b.memLimit, b.dir, b.max = memLimit, dir, max
}

// Cap returns the capacity of the in-memory part.
func (b *Buffer) Cap() int { return cap(b.mem) }

// Len returns the number of bytes written since the last Reset.
func (b *Buffer) Len() int64 { return int64(len(b.mem)) + b.fileLen }

// Spilled reports whether part of the data lives in the temporary file.
func (b *Buffer) Spilled() bool { return b.fileLen > 0 }

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.max > 0 && b.Len()+int64(len(p)) > b.max {
		b.err = fmt.Errorf("%w (%d bytes)", ErrTooBig, b.max)
		return 0, b.err
	}
	n := 0
	if b.fileLen == 0 {
		room := b.memLimit - len(b.mem)
		if room > 0 {
			k := min(room, len(p))
			b.mem = append(b.mem, p[:k]...)
			n = k
			p = p[k:]
		}
		if len(p) == 0 {
			return n, nil
		}
	}
	if b.f == nil {
		f, err := os.CreateTemp(b.dir, "sipht-rpc-spool-*")
		if err != nil {
			b.err = fmt.Errorf("spool: %w", err)
			return n, b.err
		}
		// Unlinked at once: the space is freed when the file is closed,
		// even if the process dies.
		_ = os.Remove(f.Name())
		b.f = f
	}
	m, err := b.f.Write(p)
	b.fileLen += int64(m)
	if err != nil {
		b.err = fmt.Errorf("spool: %w", err)
		return n + m, b.err
	}
	return n + m, nil
}

// WriteTo copies everything written so far to w. It may be called once per
// Reset cycle (the file position is rewound each time).
func (b *Buffer) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(b.mem)
	total := int64(n)
	if err != nil {
		return total, err
	}
	if b.fileLen > 0 {
		if _, err := b.f.Seek(0, io.SeekStart); err != nil {
			return total, fmt.Errorf("spool: %w", err)
		}
		m, err := io.Copy(w, io.LimitReader(b.f, b.fileLen))
		total += m
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// Bytes returns the in-memory content when nothing was spilled (ok false
// otherwise). The slice is valid until the next Write or Reset.
func (b *Buffer) Bytes() ([]byte, bool) {
	if b.fileLen > 0 {
		return nil, false
	}
	return b.mem, true
}

// Reset empties the buffer, keeping its memory and file for reuse.
func (b *Buffer) Reset() {
	b.mem = b.mem[:0]
	if b.f != nil && b.fileLen > 0 {
		if err := b.f.Truncate(0); err == nil {
			_, err = b.f.Seek(0, io.SeekStart)
			if err != nil {
				b.err = fmt.Errorf("spool: %w", err)
			}
		} else {
			b.err = fmt.Errorf("spool: %w", err)
		}
	}
	b.fileLen = 0
	if b.err != nil && errors.Is(b.err, ErrTooBig) {
		b.err = nil
	}
}

// Close releases the temporary file.
func (b *Buffer) Close() error {
	b.mem = nil
	if b.f != nil {
		err := b.f.Close()
		b.f = nil
		return err
	}
	return nil
}

// DeadlineWriter writes to W in chunks of at most 64 KiB and moves W's
// write deadline Timeout ahead before each chunk, so that a reader that
// keeps reading keeps a long reply going and one that stops times out.
// It is what Buffer.WriteTo writes to when the reader is a connection or
// a FIFO.
type DeadlineWriter struct {
	W interface {
		io.Writer
		SetWriteDeadline(time.Time) error
	}
	Timeout time.Duration
}

// Write writes p chunk by chunk, each with a fresh deadline.
func (w DeadlineWriter) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		n := min(len(p), 64<<10)
		w.W.SetWriteDeadline(time.Now().Add(w.Timeout))
		m, err := w.W.Write(p[:n])
		total += m
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}
