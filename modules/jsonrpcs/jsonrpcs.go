// Package jsonrpcs is Kamailio's jsonrpcs module: JSON-RPC 2.0 access to
// the server's RPC methods over HTTP (jsonrpc_dispatch() in
// event_route[xhttp:request], module xhttp), a FIFO (kamctl's RPCFIFO
// engine) and a datagram socket (kamcli), plus jsonrpc_exec() and
// $jsonrpl(...) to call methods from the script. The protocol work is
// internal/rpc/jsonrpc; this package wires it to the config.
//
// Parameters are Kamailio 5.6's: transport (0 = every transport that is
// configured, or a sum of 1 HTTP, 2 FIFO, 4 datagram; default 6), pretty_format
// (1), fifo_name (kamailio_rpc.fifo, relative to rundir), fifo_mode (0660),
// fifo_user, fifo_group, fifo_reply_dir (/tmp/), dgram_socket
// (kamailio_rpc.sock relative to rundir, or udp:IP:port), dgram_mode (0660),
// dgram_user, dgram_group, dgram_timeout (2000 ms) and dgram_workers (1;
// accepted, one reader serves the socket). tcp_socket (jsonrpcs 5.8+) is
// accepted with a warning and not served.
//
// As in Kamailio, jsonrpc_dispatch() needs the HTTP transport: with
// transport 1 a missing xhttp module is a start-up error; with the default
// 6 the function logs "jsonrpc over http not initialized - check transport
// param" and returns -1 (sipht also warns when it compiles such a call).
// Kamailio's quirks and the differences are listed in docs/rpc.md.
package jsonrpcs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/jsonrpc"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/modules/xhttp"
)

func init() {
	module.Register(module.Info{
		Name:    "jsonrpcs",
		Summary: "JSON-RPC over HTTP (xhttp), FIFO and datagram sockets; jsonrpc_exec()",
		New:     func() module.Module { return New() },
	})
}

// Transport bits of the transport parameter.
const (
	TransportHTTP  = 1
	TransportFIFO  = 2
	TransportDgram = 4
	TransportTCP   = 8 // jsonrpcs 5.8+, not supported
)

// Module is a loaded jsonrpcs module.
type Module struct {
	transport    int64
	pretty       bool
	fifoName     string
	fifoMode     os.FileMode
	fifoUser     string
	fifoGroup    string
	fifoReplyDir string
	dgramSocket  string
	dgramMode    os.FileMode
	dgramUser    string
	dgramGroup   string
	dgramTimeout time.Duration
	tcpSocket    string

	host    *module.Host
	http    *jsonrpc.Handler // nil when the HTTP transport is off
	exec    jsonrpc.Dispatcher
	replies script.Slot[plainReply]
	fifo    *jsonrpc.FIFOServer
	dgram   *jsonrpc.DatagramServer
}

// plainReply is what jsonrpc_exec() leaves for $jsonrpl(code|text|body).
type plainReply struct {
	set        bool
	code       int
	text, body string
}

// New returns a module with Kamailio's defaults.
func New() *Module {
	return &Module{
		transport:    TransportFIFO | TransportDgram,
		pretty:       true,
		fifoName:     "kamailio_rpc.fifo",
		fifoMode:     0o660,
		fifoReplyDir: "/tmp/",
		dgramSocket:  "kamailio_rpc.sock",
		dgramMode:    0o660,
		dgramTimeout: 2000 * time.Millisecond,
	}
}

func modeParam(name string, dst *os.FileMode) module.Param {
	return module.Param{Name: name, Kind: module.ParamInt, Doc: "file permissions (octal, e.g. 0660)",
		Set: func(v module.Value) error {
			if v.Int <= 0 || v.Int > 0o7777 {
				return fmt.Errorf("bad file mode %#o", v.Int)
			}
			*dst = os.FileMode(v.Int)
			return nil
		}}
}

// idParam is a user or group parameter: a name or a number, as Kamailio
// accepts both.
func idParam(name string, dst *string) module.Param {
	return module.Param{Name: name, Kind: module.ParamAny, Doc: "owner (name or number)",
		Set: func(v module.Value) error { *dst = v.String(); return nil }}
}

// Params implements module.Module.
func (m *Module) Params() []module.Param {
	return []module.Param{
		{Name: "transport", Kind: module.ParamInt, Doc: "0 = all configured, else a sum of 1 HTTP, 2 FIFO, 4 datagram (default 6)",
			Set: func(v module.Value) error {
				if v.Int < 0 || v.Int > 15 {
					return fmt.Errorf("transport %d: expected 0 or a sum of 1 (HTTP), 2 (FIFO), 4 (datagram)", v.Int)
				}
				m.transport = v.Int
				return nil
			}},
		{Name: "pretty_format", Kind: module.ParamInt, Doc: "1 = indented replies (default), 0 = compact",
			Set: func(v module.Value) error { m.pretty = v.Int != 0; return nil }},
		module.StrParam("fifo_name", &m.fifoName, "FIFO file (relative to rundir); empty = no FIFO"),
		modeParam("fifo_mode", &m.fifoMode),
		idParam("fifo_user", &m.fifoUser),
		idParam("fifo_group", &m.fifoGroup),
		module.StrParam("fifo_reply_dir", &m.fifoReplyDir, "directory of the clients' reply FIFOs (default /tmp/)"),
		module.StrParam("dgram_socket", &m.dgramSocket, "datagram socket: a unix path (relative to rundir) or udp:IP:port; empty = none"),
		{Name: "dgram_workers", Kind: module.ParamInt, Doc: "accepted; one reader serves the socket",
			Set: func(v module.Value) error {
				if v.Int < 1 {
					return fmt.Errorf("dgram_workers %d: must be at least 1", v.Int)
				}
				return nil
			}},
		modeParam("dgram_mode", &m.dgramMode),
		idParam("dgram_user", &m.dgramUser),
		idParam("dgram_group", &m.dgramGroup),
		{Name: "dgram_timeout", Kind: module.ParamInt, Doc: "milliseconds to send a reply (default 2000)",
			Set: func(v module.Value) error {
				if v.Int <= 0 {
					return fmt.Errorf("dgram_timeout %d: must be positive", v.Int)
				}
				m.dgramTimeout = time.Duration(v.Int) * time.Millisecond
				return nil
			}},
		module.StrParam("tcp_socket", &m.tcpSocket, "jsonrpcs 5.8+ TCP transport (not supported by sipht)"),
	}
}

func (m *Module) wants(bit int64) bool { return m.transport == 0 || m.transport&bit != 0 }

// Init implements module.Initializer.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	if m.tcpSocket != "" || m.transport&TransportTCP != 0 {
		h.Log.Warn("the TCP transport (tcp_socket, transport 8) of jsonrpcs 5.8+ is not supported by sipht; use HTTP, the FIFO or the datagram socket")
	}
	m.exec = jsonrpc.Dispatcher{Registry: h.RPC, Pretty: m.pretty}
	m.replies = script.NewSlot[plainReply](h.Script, nil, nil)

	var dispatch script.Func
	if m.wants(TransportHTTP) {
		x, err := xhttp.Find(h)
		switch {
		case err != nil && m.transport&TransportHTTP != 0:
			return fmt.Errorf("transport %d includes HTTP (1): %w", m.transport, err)
		case err == nil:
			m.http = jsonrpc.NewHandler(jsonrpc.HandlerOptions{Registry: h.RPC, Compact: !m.pretty, Logger: h.Log})
			dispatch = x.DispatchFunc("jsonrpc_dispatch", "jsonrpcs", m.http)
		}
	}
	if m.http == nil {
		dispatch = script.Func{Name: "jsonrpc_dispatch", Module: "jsonrpcs", Routes: xhttp.Routes,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				fc.Log.Warn(fc.Pos.String() + ": jsonrpc_dispatch() will fail: the jsonrpcs HTTP transport is off (modparam(\"jsonrpcs\", \"transport\", 1) and loadmodule \"xhttp.so\" turn it on)")
				return func(c *script.Ctx) int {
					c.Log.Error("jsonrpc_dispatch(): jsonrpc over http not initialized - check transport param")
					return -1
				}, nil
			}}
	}
	if err := h.Script.AddFunc(dispatch); err != nil {
		return err
	}
	if err := m.declareExec(h.Script); err != nil {
		return err
	}
	return h.RPC.Register(rpc.Method{
		Name: "jsonrpc.echo", Help: "Sample echo command", Flags: rpc.RetArray,
		Handler: func(c *rpc.Call) {
			var s string
			if n, err := c.Scan("*.S", &s); n < 1 || err != nil {
				return
			}
			c.AddStr(s)
			var i int
			if n, err := c.Scan("*.d", &i); n == 1 && err == nil {
				c.AddInt(i)
			}
		},
	})
}

// HTTPHandler returns the JSON-RPC HTTP handler jsonrpc_dispatch() serves,
// or nil when the HTTP transport is off.
func (m *Module) HTTPHandler() *jsonrpc.Handler { return m.http }

// inRundir resolves a socket or FIFO name as jsonrpcs does: a relative
// name is in the runtime directory (created if missing).
func (m *Module) inRundir(name string) (string, error) {
	if filepath.IsAbs(name) {
		return name, nil
	}
	dir, err := m.host.Rundir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, name), nil
}

// Start implements module.Starter: it opens the FIFO and the datagram
// socket when the transport parameter asks for them.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	if m.wants(TransportFIFO) && m.fifoName != "" {
		err := m.startFIFO(ctx, h)
		if err != nil && m.transport&TransportFIFO != 0 {
			m.Stop(ctx)
			return fmt.Errorf("cannot initialize fifo transport: %w", err)
		}
		if err != nil {
			h.Log.Warn("FIFO transport not started", "err", err)
		}
	}
	if m.wants(TransportDgram) && m.dgramSocket != "" {
		err := m.startDgram(ctx, h)
		if err != nil && m.transport&TransportDgram != 0 {
			m.Stop(ctx)
			return fmt.Errorf("cannot initialize datagram transport: %w", err)
		}
		if err != nil {
			h.Log.Warn("datagram transport not started", "err", err)
		}
	}
	return nil
}

func (m *Module) startFIFO(ctx context.Context, h *module.Host) error {
	path, err := m.inRundir(m.fifoName)
	if err != nil {
		return err
	}
	m.fifo, err = jsonrpc.ListenFIFO(ctx, path, jsonrpc.FIFOOptions{
		Registry: h.RPC, Compact: !m.pretty, Mode: m.fifoMode, User: m.fifoUser, Group: m.fifoGroup,
		ReplyDir: h.Path(m.fifoReplyDir), Logger: h.Log,
	})
	if err == nil {
		h.Log.Info("FIFO", "path", path)
	}
	return err
}

func (m *Module) startDgram(ctx context.Context, h *module.Host) error {
	spec := m.dgramSocket
	if !strings.HasPrefix(spec, "udp:") {
		var err error
		if spec, err = m.inRundir(spec); err != nil {
			return err
		}
	}
	var err error
	m.dgram, err = jsonrpc.ListenDatagram(ctx, spec, jsonrpc.DatagramOptions{
		Registry: h.RPC, Compact: !m.pretty, Mode: m.dgramMode, User: m.dgramUser, Group: m.dgramGroup,
		WriteTimeout: m.dgramTimeout, Logger: h.Log,
	})
	if err == nil {
		h.Log.Info("datagram socket", "addr", m.dgram.Addr().String())
	}
	return err
}

// Stop implements module.Stopper: the FIFO and socket files are removed.
func (m *Module) Stop(ctx context.Context) error {
	var errs []error
	if m.fifo != nil {
		errs = append(errs, m.fifo.Close())
		m.fifo = nil
	}
	if m.dgram != nil {
		errs = append(errs, m.dgram.Close())
		m.dgram = nil
	}
	return errors.Join(errs...)
}

// DatagramServer returns the datagram server (nil when not running).
func (m *Module) DatagramServer() *jsonrpc.DatagramServer { return m.dgram }

// declareExec declares jsonrpc_exec(cmd) and $jsonrpl(code|text|body).
func (m *Module) declareExec(r *script.Registry) error {
	if err := r.AddFunc(script.Func{Name: "jsonrpc_exec", MinArgs: 1, MaxArgs: 1, Module: "jsonrpcs",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			f, err := fc.Arg(0).Format()
			if err != nil {
				return nil, err
			}
			return func(c *script.Ctx) int {
				doc := f.String(c)
				if doc == "" {
					c.Log.Error("jsonrpc_exec(): cannot get the rpc command parameter")
					return -1
				}
				if _, err := jsonrpc.ParseRequest([]byte(doc), jsonrpc.Limits{}); err != nil {
					c.Log.Error("jsonrpc_exec(): invalid json doc", "doc", doc, "err", err)
					return -1
				}
				st, body, err := m.exec.Exec(context.Background(), []byte(doc), "jsonrpc-exec")
				if err != nil {
					c.Log.Error("jsonrpc_exec(): failed", "err", err)
					return -1
				}
				*m.replies.Get(c) = plainReply{set: true, code: st.Code, text: st.Reason, body: string(body)}
				return 1
			}, nil
		}}); err != nil {
		return err
	}
	return r.AddPV(script.PVClass{Name: "jsonrpl", Inner: script.InnerRequired, Module: "jsonrpcs",
		Fixup: func(pc *script.PVFixupCtx) (*script.PV, error) {
			var get func(p *plainReply) script.Value
			switch pc.Inner {
			case "code":
				get = func(p *plainReply) script.Value { return script.Int(int64(p.code)) }
			case "text":
				get = func(p *plainReply) script.Value {
					if !p.set {
						return script.Null
					}
					return script.Str(p.text)
				}
			case "body":
				get = func(p *plainReply) script.Value {
					if !p.set {
						return script.Null
					}
					return script.Str(p.body)
				}
			default:
				return nil, pc.Errorf("unknown inner name %q (code, text or body)", pc.Inner)
			}
			return &script.PV{Get: func(c *script.Ctx) script.Value { return get(m.replies.Get(c)) }}, nil
		}})
}
