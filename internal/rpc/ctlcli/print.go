package ctlcli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"

	"github.com/sipht/sipht/internal/rpc/binrpc"
)

// cstr cuts at the first NUL, as printf("%.*s") stops there.
func cstr(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// appendRecord renders one record as kamcmd's print_binrpc_val.
func appendRecord(b []byte, r binrpc.Record, indent int) []byte {
	if r.Type == binrpc.RecStruct && !r.End {
		indent-- // struct starts are printed one level less
	}
	for ; indent > 0; indent-- {
		b = append(b, '\t')
	}
	if r.Named {
		b = append(b, cstr(r.Name)...)
		b = append(b, ':', ' ')
	}
	switch r.Type {
	case binrpc.RecInt:
		b = strconv.AppendInt(b, int64(r.Int), 10)
	case binrpc.RecStr, binrpc.RecBytes:
		b = append(b, cstr(r.Str)...)
	case binrpc.RecArray:
		if r.End {
			b = append(b, ']')
		} else {
			b = append(b, '[')
		}
	case binrpc.RecStruct:
		if r.End {
			b = append(b, '}')
		} else {
			b = append(b, '{')
		}
	case binrpc.RecDouble:
		if f := r.Double; f == float64(int64(f)) {
			b = strconv.AppendInt(b, int64(f), 10)
		} else {
			b = strconv.AppendFloat(b, f, 'f', 6, 64)
		}
	}
	return b
}

// parseFmt is kamcmd's parse_fmt: from position f, it returns the literal
// text to print before the next "%v" (or up to and including one '%' of
// "%%"), the position after it, and whether a value is wanted.
func parseFmt(fmt string, f int) (lit string, next int, value bool) {
	s := f
	for i := f; i < len(fmt); i++ {
		if fmt[i] != '%' || i+1 >= len(fmt) {
			continue
		}
		switch fmt[i+1] {
		case 'v':
			return fmt[s:i], i + 2, true
		case '%':
			return fmt[s : i+1], i + 2, false
		}
		// kamcmd loops forever on any other "%x"; sipht prints it as is
	}
	return fmt[s:], len(fmt), false
}

// recordSource yields reply records (a *binrpc.Reply).
type recordSource interface {
	Next() (binrpc.Record, error)
	Decoder() *binrpc.Decoder
}

// printBody prints a reply body as kamcmd's print_body: one record per
// line indented by the struct/array depth, or through a -f format.
// Errors are returned after what was printed so far was written.
func printBody(w *bufio.Writer, src recordSource, format string, hasFormat bool) error {
	var buf []byte
	f := 0
	hasValues := false
	rec := 0
	for {
		if src.Decoder().Remaining() <= 0 {
			break
		}
		if hasFormat {
			for {
				if f >= len(format) {
					f = 0
				}
				lit, next, value := parseFmt(format, f)
				f = next
				w.WriteString(lit)
				if value {
					hasValues = true
					break
				}
				if !(f < len(format) || hasValues) {
					break
				}
			}
		}
		r, err := src.Next()
		if err != nil {
			if err == io.EOF {
				break
			}
			if hasFormat {
				w.WriteByte('\n')
			}
			return fmt.Errorf("while parsing the record %d: %w", rec, err)
		}
		rec++
		if hasFormat {
			buf = appendRecord(buf[:0], r, 0)
		} else {
			d := src.Decoder()
			buf = appendRecord(buf[:0], r, d.InStruct+d.InArray)
			buf = append(buf, '\n')
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	if hasFormat {
		for f < len(format) {
			lit, next, _ := parseFmt(format, f)
			f = next
			w.WriteString(lit)
		}
	}
	return nil
}
