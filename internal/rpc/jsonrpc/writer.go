package jsonrpc

import (
	"bufio"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/sipht/sipht/internal/kamjson"
	"github.com/sipht/sipht/internal/rpc"
)

// AppendNumber formats a number as Kamailio's cJSON-derived srjson prints
// it: integral values within 32 bits as "%d", other integral values as
// "%.0f", tiny or huge values as "%e", the rest as "%f". NaN and
// infinities, which have no JSON form, become null.
func AppendNumber(dst []byte, d float64) []byte {
	if math.IsNaN(d) || math.IsInf(d, 0) {
		return append(dst, "null"...)
	}
	if d <= math.MaxInt32 && d >= math.MinInt32 {
		i := int32(d)
		if math.Abs(float64(i)-d) <= 2.220446049250313e-16 {
			return strconv.AppendInt(dst, int64(i), 10)
		}
	}
	if math.Abs(math.Floor(d)-d) <= 2.220446049250313e-16 {
		return strconv.AppendFloat(dst, d, 'f', 0, 64)
	}
	if math.Abs(d) < 1.0e-6 || math.Abs(d) > 1.0e9 {
		return strconv.AppendFloat(dst, d, 'e', 6, 64)
	}
	return strconv.AppendFloat(dst, d, 'f', 6, 64)
}

// AppendScalar appends the JSON form of a reply value (Kamailio's
// jsonrpc_print_value): numbers, true/false for "b", a
// "YYYYMMDDTHH:MM:SS" UTC string for "t", null for a NULL string.
func AppendScalar(dst []byte, v rpc.Value) []byte {
	switch v.Kind {
	case rpc.KindInt, rpc.KindLong:
		return strconv.AppendInt(dst, v.I, 10)
	case rpc.KindDouble:
		return AppendNumber(dst, v.F)
	case rpc.KindBool:
		if v.I != 0 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case rpc.KindTime:
		return kamjson.AppendString(dst, time.Unix(v.I, 0).UTC().Format("20060102T15:04:05"))
	case rpc.KindNull:
		return append(dst, "null"...)
	default:
		return kamjson.AppendString(dst, v.S)
	}
}

type frame struct {
	array   bool
	depth   int // the depth cJSON prints this container with
	count   int
	wrapped bool // a named container inside an array: close its wrapper object too
}

// ValueWriter writes JSON values from rpc.Encoder-style events, laid out
// exactly as Kamailio's srjson_Print (pretty: objects one member per line
// indented with tabs, "key":<TAB>value, arrays on one line with ", ") or
// srjson_PrintUnformatted (compact).
type ValueWriter struct {
	w      *bufio.Writer
	pretty bool
	stack  []frame
	tmp    []byte
}

// NewValueWriter returns a writer on w.
func NewValueWriter(w *bufio.Writer, pretty bool) *ValueWriter {
	return &ValueWriter{w: w, pretty: pretty, tmp: make([]byte, 0, 128)}
}

// Depth returns the number of open containers.
func (vw *ValueWriter) Depth() int { return len(vw.stack) }

// PushArray declares an already written "[" at the given print depth
// (the RET_ARRAY result array).
func (vw *ValueWriter) PushArray(depth int) {
	vw.stack = append(vw.stack, frame{array: true, depth: depth})
}

// Reset drops the open containers.
func (vw *ValueWriter) Reset(w *bufio.Writer) {
	vw.w = w
	vw.stack = vw.stack[:0]
}

func (vw *ValueWriter) tabs(b []byte, n int) []byte {
	for ; n > 0; n-- {
		b = append(b, '\t')
	}
	return b
}

// prefix writes what precedes a value in the current container and
// returns the depth the value must be printed with (base when at top).
func (vw *ValueWriter) prefix(b []byte, named bool, name string, base int) ([]byte, int, bool) {
	if len(vw.stack) == 0 {
		return b, base, false
	}
	f := &vw.stack[len(vw.stack)-1]
	f.count++
	d := f.depth + 1
	if !f.array {
		if vw.pretty {
			if f.count == 1 {
				b = append(b, '\n')
			} else {
				b = append(b, ',', '\n')
			}
			b = vw.tabs(b, d)
			b = kamjson.AppendString(b, name)
			b = append(b, ':', '\t')
		} else {
			if f.count > 1 {
				b = append(b, ',')
			}
			b = kamjson.AppendString(b, name)
			b = append(b, ':')
		}
		return b, d, false
	}
	if f.count > 1 {
		b = append(b, ',')
		if vw.pretty {
			b = append(b, ' ')
		}
	}
	if !named {
		return b, d, false
	}
	// rpc->struct_add on an array: every member is its own object
	b = append(b, '{')
	if vw.pretty {
		b = append(b, '\n')
		b = vw.tabs(b, d+1)
	}
	b = kamjson.AppendString(b, name)
	b = append(b, ':')
	if vw.pretty {
		b = append(b, '\t')
	}
	return b, d + 1, true
}

func (vw *ValueWriter) closeWrapper(b []byte, depth int) []byte {
	// depth is the wrapper object's own print depth
	if vw.pretty {
		b = append(b, '\n')
		b = vw.tabs(b, depth)
	}
	return append(b, '}')
}

// Value writes a scalar; base is the print depth of a top-level value.
func (vw *ValueWriter) Value(named bool, name string, v rpc.Value, base int) error {
	b, d, wrapped := vw.prefix(vw.tmp[:0], named, name, base)
	if v.Kind == rpc.KindStr && len(v.S) > 256 {
		// long strings: escape straight into the output
		if _, err := vw.w.Write(b); err != nil {
			return err
		}
		b = kamjson.AppendString(vw.tmp[:0], v.S)
		if wrapped {
			b = vw.closeWrapper(b, d-1)
		}
		_, err := vw.w.Write(b)
		if cap(b) <= 64<<10 {
			vw.tmp = b[:0]
		}
		return err
	}
	b = AppendScalar(b, v)
	if wrapped {
		b = vw.closeWrapper(b, d-1)
	}
	vw.tmp = b[:0]
	_, err := vw.w.Write(b)
	return err
}

// Open starts an object or array.
func (vw *ValueWriter) Open(named bool, name string, array bool, base int) error {
	b, d, wrapped := vw.prefix(vw.tmp[:0], named, name, base)
	if array {
		b = append(b, '[')
	} else {
		b = append(b, '{')
	}
	vw.stack = append(vw.stack, frame{array: array, depth: d, wrapped: wrapped})
	vw.tmp = b[:0]
	_, err := vw.w.Write(b)
	return err
}

// ErrUnbalanced is returned by Close without an open container.
var ErrUnbalanced = errors.New("jsonrpc: close without open container")

// Close ends the innermost container.
func (vw *ValueWriter) Close() error {
	if len(vw.stack) == 0 {
		return ErrUnbalanced
	}
	f := vw.stack[len(vw.stack)-1]
	vw.stack = vw.stack[:len(vw.stack)-1]
	b := vw.tmp[:0]
	if f.array {
		b = append(b, ']')
	} else {
		if vw.pretty {
			b = append(b, '\n')
			b = vw.tabs(b, f.depth)
		}
		b = append(b, '}')
	}
	if f.wrapped {
		b = vw.closeWrapper(b, f.depth-1)
	}
	vw.tmp = b[:0]
	_, err := vw.w.Write(b)
	return err
}
