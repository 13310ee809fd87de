// Package rpc is sipht's RPC method registry and reply API, modelled on
// Kamailio's RPC interface (src/core/rpc.h) so that Kamailio's management
// commands (htable.dump, core.version, ...) can be written in Go with the
// same parameter scanning rules, the same reply shapes and the same faults,
// and served unchanged by every transport: BINRPC for kamcmd
// (package binrpc) and JSON-RPC 2.0 over HTTP, datagram sockets and FIFOs
// (package jsonrpc).
//
// A module registers Methods. A Method's Handler receives a *Call: it reads
// its parameters (pre-scanned with Method.Params or scanned by hand with
// Call.Scan, both following Kamailio's rpc->scan rules) and writes its
// reply through Call, Struct and Array, the Go equivalents of rpc->add,
// rpc->struct_add, rpc->array_add, rpc->rpl_printf and rpc->fault.
//
// Replies are streamed: every value is handed to the transport's Encoder
// as soon as it is written, so a handler can emit a dump of millions of
// items without the reply ever being held in memory as a tree. The price is
// a stack discipline: writing to a struct or array closes every container
// opened inside it after it, and writing to a closed container is a
// programming error that turns the reply into a 500 fault. Every Kamailio
// RPC method builds its reply in that order already.
package rpc

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Flags are method flags, as Kamailio's rpc_export_t.flags.
type Flags uint

// RetArray marks a method whose JSON-RPC result is an array of every
// top-level value it writes (Kamailio RET_ARRAY). Without it the JSON-RPC
// result is the last top-level value written ("last value wins"), or {} when
// nothing was written. BINRPC always sends every top-level value in order.
const RetArray Flags = 1 << 0

// Handler implements an RPC method. Handlers of the same or different
// methods run concurrently (one call per client connection at a time), so
// they must be safe for concurrent use.
type Handler func(c *Call)

// Fault is an RPC error reply: a code and a message.
type Fault struct {
	Code    int
	Message string
}

// Error implements error.
func (f *Fault) Error() string { return fmt.Sprintf("%d - %s", f.Code, f.Message) }

// Method describes an RPC method.
type Method struct {
	// Name is the full, case-sensitive method name, e.g. "htable.dump".
	Name string
	// Help is the documentation string returned by system.methodHelp
	// ("undocumented" when empty).
	Help string
	// Params, when not empty, is a Kamailio rpc->scan format that the
	// registry applies before calling Handler; the handler then reads the
	// converted values with Call.Arg, Call.ArgStr, Call.ArgInt,
	// Call.ArgFloat and Call.NArgs. See Call.Scan for the format.
	Params string
	// ParamFault is the fault sent when scanning Params fails (a missing
	// mandatory parameter or a type mismatch), as Kamailio modules send
	// their own fault when rpc->scan returns too few values, e.g.
	// {500, "Not enough parameters (htable name and key name)"}.
	// When nil, the scan error itself is sent as a 400 fault
	// ("error at parameter N: expected T type but ...").
	ParamFault *Fault
	// Flags are the method flags (RetArray).
	Flags Flags
	// Handler produces the reply.
	Handler Handler
}

// Outcome is how a call ended, as reported to an Observer.
type Outcome uint8

// Call outcomes.
const (
	OutcomeOK       Outcome = iota // a reply was sent
	OutcomeFault                   // a fault was sent (CallInfo.FaultCode)
	OutcomeNotFound                // no such method
	OutcomeError                   // the reply could not be produced or sent (encoder error, panic, client gone)
)

// String returns "ok", "fault", "not_found" or "error" (metric label values).
func (o Outcome) String() string {
	switch o {
	case OutcomeOK:
		return "ok"
	case OutcomeFault:
		return "fault"
	case OutcomeNotFound:
		return "not_found"
	}
	return "error"
}

// CallInfo describes one finished call, for an Observer.
type CallInfo struct {
	Method    string // as requested (unknown names included)
	Transport string // "binrpc", "jsonrpc-http", ...
	Outcome   Outcome
	FaultCode int // when Outcome is OutcomeFault
	Duration  time.Duration
}

// Observer is told about every finished call (e.g. to count calls by
// method and outcome). It runs on the serving goroutine and must be fast
// and safe for concurrent use.
type Observer func(CallInfo)

// Registry holds the RPC methods. It is safe for concurrent use; methods
// are normally registered at start-up.
type Registry struct {
	mu       sync.RWMutex
	methods  map[string]*Method
	sorted   []string // cached sorted names, nil when stale
	observer Observer
	logger   *slog.Logger
}

// NewRegistry returns an empty registry. Call RegisterCore to add the
// system.* and core.* methods.
func NewRegistry() *Registry {
	return &Registry{methods: make(map[string]*Method)}
}

// SetObserver installs fn as the call observer (nil removes it).
func (r *Registry) SetObserver(fn Observer) {
	r.mu.Lock()
	r.observer = fn
	r.mu.Unlock()
}

// SetLogger sets the logger used for handler panics and misuse
// (slog.Default when nil).
func (r *Registry) SetLogger(l *slog.Logger) {
	r.mu.Lock()
	r.logger = l
	r.mu.Unlock()
}

func (r *Registry) log() *slog.Logger {
	r.mu.RLock()
	l := r.logger
	r.mu.RUnlock()
	if l == nil {
		return slog.Default()
	}
	return l
}

// Register adds methods. A duplicate name, an empty name, a nil handler or
// an invalid Params format is an error and nothing from this call is
// registered.
func (r *Registry) Register(ms ...Method) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := make(map[string]bool, len(ms))
	for i := range ms {
		m := &ms[i]
		if m.Name == "" {
			return fmt.Errorf("rpc: register: method #%d has no name", i)
		}
		if m.Handler == nil {
			return fmt.Errorf("rpc: register %q: nil handler", m.Name)
		}
		if _, dup := r.methods[m.Name]; dup || seen[m.Name] {
			return fmt.Errorf("rpc: register %q: duplicate method", m.Name)
		}
		if m.Params != "" {
			if err := checkFormat(m.Params); err != nil {
				return fmt.Errorf("rpc: register %q: params %q: %w", m.Name, m.Params, err)
			}
		}
		seen[m.Name] = true
	}
	for i := range ms {
		m := ms[i]
		r.methods[m.Name] = &m
	}
	r.sorted = nil
	return nil
}

// MustRegister is Register that panics on error, for init-time tables of
// methods whose validity is a programming matter.
func (r *Registry) MustRegister(ms ...Method) {
	if err := r.Register(ms...); err != nil {
		panic(err)
	}
}

// Lookup returns the method with the exact name.
func (r *Registry) Lookup(name string) (*Method, bool) {
	r.mu.RLock()
	m, ok := r.methods[name]
	r.mu.RUnlock()
	return m, ok
}

// Names returns every method name sorted by byte order (as
// system.listMethods lists them). The slice is shared: do not modify it.
func (r *Registry) Names() []string {
	r.mu.RLock()
	s := r.sorted
	r.mu.RUnlock()
	if s != nil {
		return s
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sorted == nil {
		s = make([]string, 0, len(r.methods))
		for n := range r.methods {
			s = append(s, n)
		}
		sort.Strings(s)
		r.sorted = s
	}
	return r.sorted
}

// Dialect selects the parameter scanning rules of a transport.
type Dialect uint8

// Dialects.
const (
	// DialectBINRPC follows ctl/binrpc_run.c: typed records, strict types
	// unless auto-conversion is on for the parameter.
	DialectBINRPC Dialect = iota
	// DialectJSON follows jsonrpcs: every number is a double, integers are
	// truncated, strings only from strings (or numbers when auto-converting).
	DialectJSON
)

// Request is one decoded call, built by a transport.
type Request struct {
	Method string
	Params []Value
	// ParamErr, when not nil, is the decoding error of the parameter at
	// index len(Params): scanning that parameter fails with this error
	// text (BINRPC decodes parameters lazily, as Kamailio does).
	ParamErr error
	Dialect  Dialect
	// AutoConvert turns on auto-conversion for every parameter (ctl
	// modparam "autoconversion").
	AutoConvert bool
	// Transport names the transport for the Observer.
	Transport string
}

// Result is how a call ended, for the transport.
type Result struct {
	// NotFound is set when no method has the requested name; the
	// transport sends its own fault (BINRPC "command X not found",
	// JSON-RPC "Method Not Found").
	NotFound bool
	// Fault is the fault to send instead of the reply, when not nil.
	// Whatever was encoded must then be discarded.
	Fault *Fault
	// Err is an encoder error (write failed, reply too big, client gone)
	// or a handler panic. When Fault is nil and Err is not, the reply is
	// broken: a transport that has not sent anything yet sends a 500
	// fault, one that has must abort the connection.
	Err error
	// Values is the number of top-level values written.
	Values int
}

// Serve looks up and runs the requested method, streaming its reply into
// enc. It never panics because of the handler: a handler panic becomes
// Result.Err and a 500 fault.
func (r *Registry) Serve(ctx context.Context, req *Request, enc Encoder) Result {
	start := time.Now()
	m, ok := r.Lookup(req.Method)
	if !ok {
		r.observe(req, OutcomeNotFound, 0, start)
		return Result{NotFound: true}
	}
	c := newCall(ctx, r, m, req, enc)
	c.run()
	res := c.result()
	switch {
	case res.Fault != nil:
		r.observe(req, OutcomeFault, res.Fault.Code, start)
	case res.Err != nil:
		r.observe(req, OutcomeError, 0, start)
	default:
		r.observe(req, OutcomeOK, 0, start)
	}
	return res
}

func (r *Registry) observe(req *Request, o Outcome, code int, start time.Time) {
	r.mu.RLock()
	fn := r.observer
	r.mu.RUnlock()
	if fn == nil {
		return
	}
	fn(CallInfo{Method: req.Method, Transport: req.Transport, Outcome: o, FaultCode: code, Duration: time.Since(start)})
}
