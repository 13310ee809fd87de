package rpc

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"
)

// Encoder receives one reply as a stream of events, in the order the
// handler writes them. Transports implement it: BINRPC records, JSON text.
// An Encoder method returning an error stops the call: every later write is
// dropped and the error ends up in Result.Err.
type Encoder interface {
	// Begin is called once, before the handler runs, with the method's
	// flags (JSON-RPC needs RetArray to shape the result).
	Begin(flags Flags) error
	// Value writes a scalar. named tells whether name is a member name
	// (a struct member, or a named value inside an array).
	Value(named bool, name string, v Value) error
	// Open starts a container: a struct (array == false) or an array.
	Open(named bool, name string, array bool) error
	// Close ends the innermost open container.
	Close() error
}

// ErrReplyTooBig is returned (wrapped) by encoders whose reply exceeds the
// transport's limit.
var ErrReplyTooBig = errors.New("reply too big")

// ErrOutOfOrder is the error of a handler that wrote to a struct or array
// that was already closed (see the package documentation).
var ErrOutOfOrder = errors.New("rpc: reply written to a closed struct or array")

// internalFault is sent when a handler panics or misuses the reply API,
// with Kamailio's text for "no reply could be produced".
var internalFault = Fault{Code: 500, Message: "internal server error"}

// Call is the context of one RPC call: its parameters and its reply.
// A Call is used by one goroutine (the handler's) and is only valid until
// the handler returns.
type Call struct {
	ctx context.Context
	reg *Registry
	m   *Method
	req *Request
	enc Encoder

	cursor   int     // next parameter for Scan
	args     []Value // values scanned with Method.Params
	argBuf   [4]Value
	prepared *Fault // scan fault, sent if the handler replies nothing
	fault    *Fault
	err      error
	stack    []uint64 // open containers, innermost last
	stackBuf [8]uint64
	nextID   uint64
	top      int // top-level values written
	writes   uint
}

func newCall(ctx context.Context, r *Registry, m *Method, req *Request, enc Encoder) *Call {
	c := &Call{ctx: ctx, reg: r, m: m, req: req, enc: enc}
	c.stack = c.stackBuf[:0]
	c.args = c.argBuf[:0]
	return c
}

func (c *Call) run() {
	defer func() {
		if p := recover(); p != nil {
			c.err = fmt.Errorf("rpc: method %s panicked: %v", c.m.Name, p)
			c.reg.log().Error("rpc handler panic", "method", c.m.Name, "panic", p, "stack", string(debug.Stack()))
			if c.fault == nil {
				f := internalFault
				c.fault = &f
			}
		}
	}()
	if err := c.enc.Begin(c.m.Flags); err != nil {
		c.err = err
		return
	}
	if c.m.Params != "" && !c.prescan() {
		return
	}
	c.m.Handler(c)
}

// prescan applies Method.Params; false when it failed (fault set).
func (c *Call) prescan() bool {
	n, mandatory, err := c.scanArgs(c.m.Params)
	if err == nil && n >= mandatory {
		return true
	}
	switch {
	case c.m.ParamFault != nil:
		f := *c.m.ParamFault
		c.fault = &f
	case c.prepared != nil:
		c.fault = c.prepared
	default:
		c.fault = &Fault{Code: 400, Message: "missing parameters"}
	}
	return false
}

func (c *Call) result() Result {
	if c.fault == nil && c.err == nil {
		for len(c.stack) > 0 {
			c.stack = c.stack[:len(c.stack)-1]
			if err := c.enc.Close(); err != nil {
				c.err = err
				break
			}
		}
	}
	if c.fault == nil && c.err == nil && c.top == 0 && c.prepared != nil {
		// Kamailio sends the scan fault when the method replied nothing.
		c.fault = c.prepared
	}
	if errors.Is(c.err, ErrOutOfOrder) && c.fault == nil {
		c.reg.log().Error("rpc handler wrote out of order", "method", c.m.Name)
		f := internalFault
		c.fault = &f
	}
	return Result{Fault: c.fault, Err: c.err, Values: c.top}
}

// Context returns the call's context (cancelled when the server shuts
// down or the transport gives up on the client).
func (c *Call) Context() context.Context { return c.ctx }

// Method returns the called method.
func (c *Call) Method() *Method { return c.m }

// Transport names the transport serving the call ("binrpc", ...).
func (c *Call) Transport() string { return c.req.Transport }

// Dialect returns the parameter dialect of the call's transport.
func (c *Call) Dialect() Dialect { return c.req.Dialect }

// NumParams returns the number of raw request parameters.
func (c *Call) NumParams() int { return len(c.req.Params) }

// Param returns raw request parameter i (the zero Value when out of range).
func (c *Call) Param(i int) Value {
	if i < 0 || i >= len(c.req.Params) {
		return Value{}
	}
	return c.req.Params[i]
}

// NArgs returns how many values Method.Params scanned (optional values
// after '*' may be missing).
func (c *Call) NArgs() int { return len(c.args) }

// Arg returns the value scanned for conversion i of Method.Params.
func (c *Call) Arg(i int) Value {
	if i < 0 || i >= len(c.args) {
		return Value{}
	}
	return c.args[i]
}

// ArgStr returns scanned value i as a string ("" when missing).
func (c *Call) ArgStr(i int) string { return c.Arg(i).S }

// ArgInt returns scanned value i as an integer (0 when missing). Values
// scanned with d/u/b/t are 32-bit; with l/L/j/J they are 64-bit.
func (c *Call) ArgInt(i int) int64 { return c.Arg(i).I }

// ArgFloat returns scanned value i as a float (0 when missing).
func (c *Call) ArgFloat(i int) float64 { return c.Arg(i).F }

// Fault makes the call answer with a fault instead of its reply. The first
// fault wins; everything written before or after it is discarded. With no
// args, format is used verbatim.
func (c *Call) Fault(code int, format string, args ...any) {
	if c.fault != nil {
		return
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	c.fault = &Fault{Code: code, Message: msg}
}

// Faulted reports whether Fault was called (or a parameter scan by
// Method.Params failed).
func (c *Call) Faulted() bool { return c.fault != nil }

// Err reports why the reply can no longer be useful: a fault was set, the
// encoder failed (client gone, reply too big), the handler misused the
// reply API, or the context was cancelled. Long handlers (dumps) should
// check it now and then and stop early when it is not nil.
func (c *Call) Err() error {
	if c.fault != nil {
		return c.fault
	}
	if c.err != nil {
		return c.err
	}
	return c.ctx.Err()
}

// enter prepares a write into container id (0 = top level): it closes
// every container opened after id. It returns false when the write must be
// dropped.
func (c *Call) enter(id uint64) bool {
	if c.fault != nil || c.err != nil {
		return false
	}
	c.writes++
	if c.writes&1023 == 0 && c.ctx.Err() != nil {
		c.err = c.ctx.Err()
		return false
	}
	i := -1 // top level: close everything
	if id != 0 {
		i = len(c.stack) - 1
		for i >= 0 && c.stack[i] != id {
			i--
		}
		if i < 0 {
			c.err = ErrOutOfOrder
			return false
		}
	}
	for j := len(c.stack) - 1; j > i; j-- {
		c.stack = c.stack[:j]
		if err := c.enc.Close(); err != nil {
			c.err = err
			return false
		}
	}
	if id == 0 {
		c.top++
	}
	return true
}

func (c *Call) value(id uint64, named bool, name string, v Value) {
	if !c.enter(id) {
		return
	}
	if err := c.enc.Value(named, name, v); err != nil {
		c.err = err
	}
}

func (c *Call) open(id uint64, named bool, name string, array bool) uint64 {
	if !c.enter(id) {
		return 0
	}
	if err := c.enc.Open(named, name, array); err != nil {
		c.err = err
		return 0
	}
	c.nextID++
	c.stack = append(c.stack, c.nextID)
	return c.nextID
}

// AddInt adds a top-level integer (rpc->add "d": a 32-bit BINRPC INT;
// values outside 32 bits are truncated as C does).
func (c *Call) AddInt(v int) { c.value(0, false, "", Int(int64(v))) }

// AddUint adds a top-level unsigned 32-bit integer (rpc->add "u").
func (c *Call) AddUint(v uint32) { c.value(0, false, "", Int(int64(v))) }

// AddLong adds a top-level 64-bit integer (rpc->add "l": travels as a
// BINRPC DOUBLE, kamcmd prints it as an integer).
func (c *Call) AddLong(v int64) { c.value(0, false, "", Long(v)) }

// AddDouble adds a top-level double (rpc->add "f").
func (c *Call) AddDouble(v float64) { c.value(0, false, "", Double(v)) }

// AddBool adds a top-level boolean (rpc->add "b").
func (c *Call) AddBool(v bool) { c.value(0, false, "", Bool(v)) }

// AddTime adds a top-level time (rpc->add "t").
func (c *Call) AddTime(t time.Time) { c.value(0, false, "", Time(t)) }

// AddStr adds a top-level string (rpc->add "s"/"S").
func (c *Call) AddStr(s string) { c.value(0, false, "", Str(s)) }

// AddNull adds a NULL string (rpc->add "s" with NULL: BINRPC
// "<null string>", JSON null).
func (c *Call) AddNull() { c.value(0, false, "", Null()) }

// AddValue adds a top-level value of any scalar kind.
func (c *Call) AddValue(v Value) { c.value(0, false, "", v) }

// Printf adds a top-level formatted string (rpc->rpl_printf).
func (c *Call) Printf(format string, args ...any) {
	c.value(0, false, "", Str(fmt.Sprintf(format, args...)))
}

// AddStruct adds a top-level struct (rpc->add "{").
func (c *Call) AddStruct() Struct { return Struct{c, c.open(0, false, "", false)} }

// AddArray adds a top-level array (rpc->add "["; a struct on BINRPC).
func (c *Call) AddArray() Array { return Array{c, c.open(0, false, "", true)} }

// Struct is a handle on an open reply struct (the void* of
// rpc->struct_add). Its methods add named members and return the handle
// for chaining. A zero Struct, or one whose call has faulted, ignores
// writes.
type Struct struct {
	c  *Call
	id uint64
}

func (s Struct) put(name string, v Value) Struct {
	if s.c != nil && s.id != 0 {
		s.c.value(s.id, true, name, v)
	}
	return s
}

// Int adds an integer member ("d").
func (s Struct) Int(name string, v int) Struct { return s.put(name, Int(int64(v))) }

// Uint adds an unsigned 32-bit member ("u").
func (s Struct) Uint(name string, v uint32) Struct { return s.put(name, Int(int64(v))) }

// Long adds a 64-bit integer member ("l": BINRPC DOUBLE).
func (s Struct) Long(name string, v int64) Struct { return s.put(name, Long(v)) }

// Double adds a double member ("f").
func (s Struct) Double(name string, v float64) Struct { return s.put(name, Double(v)) }

// Bool adds a boolean member ("b").
func (s Struct) Bool(name string, v bool) Struct { return s.put(name, Bool(v)) }

// Time adds a time member ("t").
func (s Struct) Time(name string, t time.Time) Struct { return s.put(name, Time(t)) }

// Str adds a string member ("s"/"S").
func (s Struct) Str(name, v string) Struct { return s.put(name, Str(v)) }

// Null adds a NULL string member.
func (s Struct) Null(name string) Struct { return s.put(name, Null()) }

// Value adds a member of any scalar kind.
func (s Struct) Value(name string, v Value) Struct { return s.put(name, v) }

// Printf adds a formatted string member (rpc->struct_printf).
func (s Struct) Printf(name, format string, args ...any) Struct {
	return s.put(name, Str(fmt.Sprintf(format, args...)))
}

// Struct adds a struct member and returns its handle.
func (s Struct) Struct(name string) Struct {
	if s.c == nil || s.id == 0 {
		return Struct{}
	}
	return Struct{s.c, s.c.open(s.id, true, name, false)}
}

// Array adds an array member and returns its handle.
func (s Struct) Array(name string) Array {
	if s.c == nil || s.id == 0 {
		return Array{}
	}
	return Array{s.c, s.c.open(s.id, true, name, true)}
}

// Elements returns a view of the struct that adds anonymous values
// (rpc->array_add on a struct handle: BINRPC writes them as unnamed
// members, JSON as members named "").
func (s Struct) Elements() Array { return Array(s) }

// Array is a handle on an open reply array (rpc->array_add). On BINRPC an
// array is encoded as a struct with unnamed members, as Kamailio does.
type Array struct {
	c  *Call
	id uint64
}

func (a Array) put(v Value) Array {
	if a.c != nil && a.id != 0 {
		a.c.value(a.id, false, "", v)
	}
	return a
}

// Int adds an integer element.
func (a Array) Int(v int) Array { return a.put(Int(int64(v))) }

// Uint adds an unsigned 32-bit element.
func (a Array) Uint(v uint32) Array { return a.put(Int(int64(v))) }

// Long adds a 64-bit integer element (BINRPC DOUBLE).
func (a Array) Long(v int64) Array { return a.put(Long(v)) }

// Double adds a double element.
func (a Array) Double(v float64) Array { return a.put(Double(v)) }

// Bool adds a boolean element.
func (a Array) Bool(v bool) Array { return a.put(Bool(v)) }

// Time adds a time element.
func (a Array) Time(t time.Time) Array { return a.put(Time(t)) }

// Str adds a string element.
func (a Array) Str(v string) Array { return a.put(Str(v)) }

// Null adds a NULL string element.
func (a Array) Null() Array { return a.put(Null()) }

// Value adds an element of any scalar kind.
func (a Array) Value(v Value) Array { return a.put(v) }

// Printf adds a formatted string element.
func (a Array) Printf(format string, args ...any) Array {
	return a.put(Str(fmt.Sprintf(format, args...)))
}

// Struct adds a struct element and returns its handle.
func (a Array) Struct() Struct {
	if a.c == nil || a.id == 0 {
		return Struct{}
	}
	return Struct{a.c, a.c.open(a.id, false, "", false)}
}

// Array adds an array element and returns its handle.
func (a Array) Array() Array {
	if a.c == nil || a.id == 0 {
		return Array{}
	}
	return Array{a.c, a.c.open(a.id, false, "", true)}
}

// Members returns a view of the array that adds named values
// (rpc->struct_add on an array handle): BINRPC writes a named member
// inside the struct-encoded array, JSON wraps each one in its own
// one-member object, exactly as Kamailio's jsonrpcs does.
func (a Array) Members() Struct { return Struct(a) }
