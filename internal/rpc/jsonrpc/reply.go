package jsonrpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/sipht/sipht/internal/kamjson"
	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/spool"
)

// Kamailio's fixed texts for the JSON-RPC error codes.
var errorTexts = map[int]string{
	-32700: "Parse Error",
	-32600: "Invalid Request",
	-32601: "Method Not Found",
	-32602: "Invalid Parameters",
	-32603: "Internal Error",
	-32000: "Execution Error",
}

// sink receives a reply body. Discard drops everything written so far and
// reports false when that is impossible (part of it was already sent).
type sink interface {
	io.Writer
	Discard() bool
}

// spoolSink is a sink that keeps the whole body (memory, then a
// temporary file): datagram and FIFO replies.
type spoolSink struct{ *spool.Buffer }

func (s spoolSink) Discard() bool { s.Reset(); return true }

func appendID(b []byte, id ID) []byte {
	switch id.Kind {
	case IDString:
		return kamjson.AppendString(b, id.S)
	case IDNull:
		return append(b, "null"...)
	default:
		return AppendNumber(b, id.F)
	}
}

// envelope texts
func resultPrefix(pretty bool) string {
	if pretty {
		return "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t"
	}
	return `{"jsonrpc":"2.0","result":`
}

func appendSuffix(b []byte, pretty bool, id ID) []byte {
	if id.Kind == IDNone {
		if pretty {
			return append(b, "\n}"...)
		}
		return append(b, '}')
	}
	if pretty {
		b = append(b, ",\n\t\"id\":\t"...)
	} else {
		b = append(b, `,"id":`...)
	}
	b = appendID(b, id)
	if pretty {
		return append(b, "\n}"...)
	}
	return append(b, '}')
}

// AppendFaultReply appends a complete error reply. The message of the
// codes -32700..-32000 is Kamailio's fixed text; code 0 becomes -32000.
func AppendFaultReply(b []byte, pretty bool, id ID, code int, msg string) []byte {
	if code == 0 {
		code = -32000
	}
	if t, ok := errorTexts[code]; ok {
		msg = t
	} else if msg == "" {
		msg = "Unexpected Error"
	}
	if pretty {
		b = append(b, "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"error\":\t{\n\t\t\"code\":\t"...)
		b = AppendNumber(b, float64(code))
		b = append(b, ",\n\t\t\"message\":\t"...)
		b = kamjson.AppendString(b, msg)
		b = append(b, "\n\t}"...)
	} else {
		b = append(b, `{"jsonrpc":"2.0","error":{"code":`...)
		b = AppendNumber(b, float64(code))
		b = append(b, `,"message":`...)
		b = kamjson.AppendString(b, msg)
		b = append(b, '}')
	}
	return appendSuffix(b, pretty, id)
}

// AppendEmptyReply appends a success reply with an empty result: [] for
// RET_ARRAY methods, {} otherwise (what Kamailio answers for requests it
// does not run, and for methods that add nothing).
func AppendEmptyReply(b []byte, pretty, array bool, id ID) []byte {
	b = append(b, resultPrefix(pretty)...)
	switch {
	case array:
		b = append(b, "[]"...)
	case pretty:
		b = append(b, "{\n\t}"...)
	default:
		b = append(b, "{}"...)
	}
	return appendSuffix(b, pretty, id)
}

// replyEncoder is the rpc.Encoder of one JSON-RPC call. RET_ARRAY methods
// stream their values into the sink as they come; other methods keep only
// their current top-level value (each new one replaces it: "last value
// wins") in a spool and write it at the end.
type replyEncoder struct {
	pretty   bool
	id       ID
	sink     sink
	out      *bufio.Writer // on sink
	retArray bool
	vw       *ValueWriter

	val    *spool.Buffer // current top-level value (non RET_ARRAY)
	valOut *bufio.Writer
	hasVal bool
}

type spoolConfig struct {
	mem int
	dir string
	max int64
}

var encoderPool sync.Pool // *replyEncoder

func newReplyEncoder(pretty bool, id ID, s sink, sc spoolConfig) *replyEncoder {
	e, _ := encoderPool.Get().(*replyEncoder)
	if e == nil {
		e = &replyEncoder{out: bufio.NewWriterSize(s, 16<<10)}
		e.vw = NewValueWriter(e.out, pretty)
		e.val = spool.New(sc.mem, sc.dir, sc.max)
		e.valOut = bufio.NewWriterSize(e.val, 16<<10)
	} else {
		e.out.Reset(s)
		e.vw.Reset(e.out)
		e.val.Reset()
		e.val.SetLimits(sc.mem, sc.dir, sc.max)
		e.valOut.Reset(e.val)
	}
	e.vw.pretty = pretty
	e.pretty, e.id, e.sink, e.retArray, e.hasVal = pretty, id, s, false, false
	return e
}

// close releases the encoder (to the pool when it stayed small).
func (e *replyEncoder) close() {
	if e.val.Spilled() || e.val.Cap() > 256<<10 {
		e.val.Close()
		return
	}
	e.out.Reset(nil)
	e.valOut.Reset(nil)
	e.sink = nil
	encoderPool.Put(e)
}

// Begin implements rpc.Encoder.
func (e *replyEncoder) Begin(flags rpc.Flags) error {
	e.retArray = flags&rpc.RetArray != 0
	if e.retArray {
		if _, err := e.out.WriteString(resultPrefix(e.pretty)); err != nil {
			return err
		}
		if err := e.out.WriteByte('['); err != nil {
			return err
		}
		e.vw.PushArray(1)
		return nil
	}
	e.vw.Reset(e.valOut)
	return nil
}

// startTop replaces the current value by a new one (non RET_ARRAY).
func (e *replyEncoder) startTop() {
	if e.retArray || e.vw.Depth() > 0 {
		return
	}
	e.valOut.Reset(e.val)
	e.val.Reset()
	e.vw.Reset(e.valOut)
	e.hasVal = true
}

// Value implements rpc.Encoder.
func (e *replyEncoder) Value(named bool, name string, v rpc.Value) error {
	e.startTop()
	return e.vw.Value(named, name, v, 1)
}

// Open implements rpc.Encoder.
func (e *replyEncoder) Open(named bool, name string, array bool) error {
	e.startTop()
	return e.vw.Open(named, name, array, 1)
}

// Close implements rpc.Encoder.
func (e *replyEncoder) Close() error { return e.vw.Close() }

// finish completes a successful reply in the sink.
func (e *replyEncoder) finish() error {
	var tail []byte
	if e.retArray {
		tail = append(tail, ']')
		tail = appendSuffix(tail, e.pretty, e.id)
		if _, err := e.out.Write(tail); err != nil {
			return err
		}
		return e.out.Flush()
	}
	if !e.hasVal {
		_, err := e.out.Write(AppendEmptyReply(nil, e.pretty, false, e.id))
		if err != nil {
			return err
		}
		return e.out.Flush()
	}
	if err := e.valOut.Flush(); err != nil {
		return err
	}
	if _, err := e.out.WriteString(resultPrefix(e.pretty)); err != nil {
		return err
	}
	if err := e.out.Flush(); err != nil {
		return err
	}
	if _, err := e.val.WriteTo(e.sink); err != nil {
		return err
	}
	_, err := e.out.Write(appendSuffix(nil, e.pretty, e.id))
	if err != nil {
		return err
	}
	return e.out.Flush()
}

// errAborted means part of a reply was sent before it failed: the
// transport must cut the connection.
var errAborted = errors.New("jsonrpc: reply failed after it started streaming")

// Dispatcher runs parsed JSON-RPC requests against a registry. It is
// shared by the HTTP, datagram and FIFO transports.
type Dispatcher struct {
	Registry *rpc.Registry
	// Pretty selects Kamailio's default pretty_format=1 layout.
	Pretty bool
	// MaxReplySize bounds a reply (0: 1 GiB).
	MaxReplySize int64
	// SpoolMemory is the part of a reply kept in memory before spilling to
	// a temporary file in SpoolDir (0: 4 MiB).
	SpoolMemory int
	SpoolDir    string
}

func (d *Dispatcher) spoolConfig() spoolConfig {
	sc := spoolConfig{mem: d.SpoolMemory, dir: d.SpoolDir, max: d.MaxReplySize}
	if sc.mem <= 0 {
		sc.mem = 4 << 20
	}
	if sc.max <= 0 {
		sc.max = 1 << 30
	}
	return sc
}

// Status is how a dispatched call ended, for the transport (HTTP status
// line: code and reason).
type Status struct {
	Code   int
	Reason string
}

func faultStatus(code int, msg string) Status {
	if code <= 100 || code > 999 {
		code = 500
	}
	return Status{code, msg}
}

// Dispatch runs req and writes the complete reply document into s.
func (d *Dispatcher) dispatch(ctx context.Context, req *Request, transport string, s sink) (Status, error) {
	ok := Status{200, "OK"}
	write := func(b []byte) (Status, error) {
		_, err := s.Write(b)
		return ok, err
	}
	if !req.Valid() {
		return write(AppendEmptyReply(nil, d.Pretty, false, req.ID))
	}
	m, found := d.Registry.Lookup(req.Method)
	if !found || req.BadParams {
		rr := &rpc.Request{Method: req.Method, Dialect: rpc.DialectJSON, Transport: transport}
		if !found {
			// let the registry count it
			d.Registry.Serve(ctx, rr, nopEncoder{})
			_, err := s.Write(AppendFaultReply(nil, d.Pretty, req.ID, 500, "Method Not Found"))
			return faultStatus(500, "Method Not Found"), err
		}
		return write(AppendEmptyReply(nil, d.Pretty, m.Flags&rpc.RetArray != 0, req.ID))
	}
	rr := &rpc.Request{Method: req.Method, Params: req.Params, Dialect: rpc.DialectJSON, Transport: transport}
	enc := newReplyEncoder(d.Pretty, req.ID, s, d.spoolConfig())
	defer enc.close()
	res := d.Registry.Serve(ctx, rr, enc)
	if res.Fault == nil && res.Err == nil {
		if err := enc.finish(); err != nil {
			res.Err = err
		} else {
			return ok, nil
		}
	}
	f := res.Fault
	if f == nil {
		if errors.Is(res.Err, spool.ErrTooBig) || errors.Is(res.Err, rpc.ErrReplyTooBig) {
			f = &rpc.Fault{Code: 500, Message: fmt.Sprintf("reply too big (limit %d bytes)", d.spoolConfig().max)}
		} else if ctx.Err() != nil {
			return Status{}, res.Err
		} else {
			f = &rpc.Fault{Code: 500, Message: "internal server error"}
		}
	}
	if !s.Discard() {
		return Status{}, errAborted
	}
	_, err := s.Write(AppendFaultReply(nil, d.Pretty, req.ID, f.Code, f.Message))
	return faultStatus(f.Code, f.Message), err
}

// Exec runs one JSON-RPC document and returns the complete reply (what
// Kamailio's jsonrpc_exec() stores for $jsonrpl). Invalid JSON gives the
// Parse Error reply.
func (d *Dispatcher) Exec(ctx context.Context, doc []byte, transport string) (Status, []byte, error) {
	sc := d.spoolConfig()
	sp := spool.New(sc.mem, sc.dir, sc.max)
	defer sp.Close()
	req, err := ParseRequest(doc, Limits{})
	if err != nil {
		return faultStatus(500, "Parse Error"), AppendFaultReply(nil, d.Pretty, ID{Kind: IDNull}, -32700, ""), nil
	}
	st, err := d.dispatch(ctx, req, transport, spoolSink{sp})
	if err != nil {
		return st, nil, err
	}
	var out bytes.Buffer
	if _, err := sp.WriteTo(&out); err != nil {
		return st, nil, err
	}
	return st, out.Bytes(), nil
}

type nopEncoder struct{}

func (nopEncoder) Begin(rpc.Flags) error               { return nil }
func (nopEncoder) Value(bool, string, rpc.Value) error { return nil }
func (nopEncoder) Open(bool, string, bool) error       { return nil }
func (nopEncoder) Close() error                        { return nil }
