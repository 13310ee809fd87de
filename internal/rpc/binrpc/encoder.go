package binrpc

import (
	"bufio"
	"io"

	"github.com/sipht/sipht/internal/rpc"
)

// NullString is what Kamailio sends for a NULL string value.
const NullString = "<null string>"

// AppendValue appends the record of a scalar reply value, encoded as
// Kamailio's binrpc_run.c encodes rpc->add: "d", "u", "b" and "t" as INT,
// "l"/"L" and "f" as DOUBLE, NULL strings as "<null string>".
func AppendValue(dst []byte, v rpc.Value) []byte {
	switch v.Kind {
	case rpc.KindInt, rpc.KindBool, rpc.KindTime:
		return AppendInt(dst, int32(v.I))
	case rpc.KindLong:
		return appendLLong(dst, DoubleBits(float64(v.I)), RecDouble)
	case rpc.KindDouble:
		return AppendDouble(dst, v.F)
	case rpc.KindBytes:
		return AppendBytes(dst, v.S)
	case rpc.KindNull:
		return AppendStr(dst, NullString)
	default:
		return AppendStr(dst, v.S)
	}
}

// Encoder writes a reply body as BINRPC records. It implements
// rpc.Encoder. Arrays are written as structs with unnamed members (as
// Kamailio does, and as kamcmd requires).
type Encoder struct {
	w   *bufio.Writer
	tmp []byte
}

// NewEncoder returns an Encoder writing to w through a buffer; call Flush
// when the reply is complete.
func NewEncoder(w io.Writer) *Encoder {
	return &Encoder{w: bufio.NewWriterSize(w, 32<<10), tmp: make([]byte, 0, 64)}
}

// Reset makes e write to w, dropping anything buffered.
func (e *Encoder) Reset(w io.Writer) { e.w.Reset(w) }

// Flush writes buffered records.
func (e *Encoder) Flush() error { return e.w.Flush() }

// Begin implements rpc.Encoder.
func (e *Encoder) Begin(rpc.Flags) error { return nil }

// writeStrLike writes a string-like record without copying long strings.
func (e *Encoder) writeStrLike(typ byte, s string, nul bool) error {
	l := len(s)
	if nul {
		l++
	}
	e.tmp = appendStrMark(e.tmp[:0], typ, l)
	if _, err := e.w.Write(e.tmp); err != nil {
		return err
	}
	if _, err := e.w.WriteString(s); err != nil {
		return err
	}
	if nul {
		return e.w.WriteByte(0)
	}
	return nil
}

// Value implements rpc.Encoder.
func (e *Encoder) Value(named bool, name string, v rpc.Value) error {
	if named {
		if err := e.writeStrLike(RecAVP, name, true); err != nil {
			return err
		}
	}
	switch v.Kind {
	case rpc.KindStr:
		return e.writeStrLike(RecStr, v.S, true)
	case rpc.KindBytes:
		return e.writeStrLike(RecBytes, v.S, false)
	}
	e.tmp = AppendValue(e.tmp[:0], v)
	_, err := e.w.Write(e.tmp)
	return err
}

// Open implements rpc.Encoder: a struct start (arrays included).
func (e *Encoder) Open(named bool, name string, array bool) error {
	if named {
		if err := e.writeStrLike(RecAVP, name, true); err != nil {
			return err
		}
	}
	return e.w.WriteByte(TagStructStart)
}

// Close implements rpc.Encoder.
func (e *Encoder) Close() error { return e.w.WriteByte(TagStructEnd) }

// AppendFault appends a complete fault packet: INT code and STR message,
// the message cut to 255 bytes as Kamailio's 256-byte buffer does.
func AppendFault(dst []byte, cookie uint32, code int, msg string) []byte {
	if len(msg) > 255 {
		msg = msg[:255]
	}
	var body [16]byte
	b := AppendInt(body[:0], int32(code))
	b = appendStrMark(b, RecStr, len(msg)+1)
	dst = AppendHeader(dst, TypeFault, uint32(len(b)+len(msg)+1), cookie)
	dst = append(dst, b...)
	dst = append(dst, msg...)
	return append(dst, 0)
}
