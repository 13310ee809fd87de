// Package ctl is Kamailio's ctl module: the BINRPC management sockets that
// kamcmd (and `sipht ctl`) talk to. It serves the server's RPC registry
// (core.*, system.* and every module's methods) with internal/rpc/binrpc.
//
//	loadmodule "ctl.so"
//	modparam("ctl", "binrpc", "unixs:/run/sipht/ctl")   # repeatable
//	modparam("ctl", "binrpc", "tcp:127.0.0.1:2049")
//
// Parameters are Kamailio's: binrpc (unixs:/path, unix:/path, unixd:/path,
// tcp:host:port, tcp:port, udp:host:port, a bare /path = unix stream, a
// bare host:port = UDP; port 2049 by default), mode (0600), user, group,
// autoconversion, and binrpc_max_body_size, binrpc_struct_max_body_size,
// binrpc_buffer_size (accepted and without effect: sipht streams replies of
// any size, see docs/rpc.md). fifo (Kamailio's legacy text FIFO protocol)
// is accepted with a warning and not served; kamctl uses jsonrpcs' FIFO.
//
// Without a binrpc parameter the socket is Kamailio's default,
// unixs:<rundir>/kamailio_ctl (rundir defaults to /var/run/kamailio, where
// kamcmd and `sipht ctl` look without -s). As Kamailio does at start-up,
// the runtime directory is created (mode 0700, one level) if missing. A
// relative socket path is relative to the working directory (workdir).
//
// RPC methods: ctl.who (the open stream connections), ctl.connections
// (their number), ctl.listen (the ctl sockets), as Kamailio's ctl. Kamailio
// answers the first two only over BINRPC (fault 606 elsewhere); sipht
// answers them over every transport.
package ctl

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/binrpc"
)

func init() {
	module.Register(module.Info{
		Name:    "ctl",
		Summary: "BINRPC management sockets for kamcmd and sipht ctl",
		New:     func() module.Module { return New() },
	})
}

// Module is a loaded ctl module.
type Module struct {
	specs       []string
	fifos       []string
	mode        os.FileMode
	user, group string
	autoconv    bool

	host    *module.Host
	addrs   []binrpc.Address // parsed specs, in config order
	servers []*binrpc.Server
}

// New returns a module with Kamailio's defaults.
func New() *Module { return &Module{mode: 0o600} }

// Params implements module.Module.
func (m *Module) Params() []module.Param {
	ignored := func(name string) module.Param {
		return module.Param{Name: name, Kind: module.ParamInt,
			Doc: "accepted for compatibility; sipht streams replies of any size",
			Set: func(v module.Value) error {
				if v.Int < 0 {
					return fmt.Errorf("must not be negative")
				}
				return nil
			}}
	}
	return []module.Param{
		{Name: "binrpc", Kind: module.ParamStr, Multi: true, Doc: "listen socket (repeatable): unixs:/path, unixd:/path, tcp:host:port, udp:host:port",
			Set: func(v module.Value) error {
				if _, err := binrpc.ParseListenSpec(v.Str); err != nil {
					return err
				}
				m.specs = append(m.specs, v.Str)
				return nil
			}},
		{Name: "fifo", Kind: module.ParamStr, Multi: true, Doc: "legacy FIFO protocol (not supported, ignored)",
			Set: func(v module.Value) error { m.fifos = append(m.fifos, v.Str); return nil }},
		{Name: "mode", Kind: module.ParamInt, Doc: "permissions of unix socket files (default 0600)",
			Set: func(v module.Value) error {
				if v.Int <= 0 || v.Int > 0o7777 {
					return fmt.Errorf("bad file mode %#o", v.Int)
				}
				m.mode = os.FileMode(v.Int)
				return nil
			}},
		{Name: "user", Kind: module.ParamStr, Doc: "owner of unix socket files (name or uid)",
			Set: func(v module.Value) error { m.user = v.Str; return nil }},
		{Name: "group", Kind: module.ParamStr, Doc: "group of unix socket files (name or gid)",
			Set: func(v module.Value) error { m.group = v.Str; return nil }},
		{Name: "autoconversion", Kind: module.ParamInt, Doc: "convert every parameter to the type the method asks for (default 0)",
			Set: func(v module.Value) error { m.autoconv = v.Int != 0; return nil }},
		ignored("binrpc_max_body_size"),
		ignored("binrpc_struct_max_body_size"),
		ignored("binrpc_buffer_size"),
	}
}

// Init implements module.Initializer: it checks the sockets and declares
// the ctl.* RPC methods.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	for _, f := range m.fifos {
		h.Log.Warn("the legacy FIFO protocol is not supported by sipht; the fifo is not created (kamctl uses jsonrpcs' FIFO)", "fifo", f)
	}
	specs := m.specs
	if len(specs) == 0 {
		specs = []string{m.DefaultSpec()}
	}
	m.addrs = m.addrs[:0]
	for _, sp := range specs {
		a, err := binrpc.ParseListenSpec(sp)
		if err != nil {
			return fmt.Errorf("binrpc %q: %w", sp, err)
		}
		if a.Path != "" {
			a.Path = h.Path(a.Path)
		}
		m.addrs = append(m.addrs, a)
	}
	return h.RPC.Register(
		rpc.Method{Name: "ctl.who", Help: "list open connections", Handler: m.rpcWho},
		rpc.Method{Name: "ctl.connections", Help: "returns number of open connections", Handler: m.rpcConnections},
		rpc.Method{Name: "ctl.listen", Help: "list ctl listen sockets", Handler: m.rpcListen},
	)
}

// DefaultSpec returns the socket used when the config gives no binrpc
// parameter: "unixs:<rundir>/kamailio_ctl", the rundir resolved against
// the working directory. With Kamailio's default rundir it is where
// kamcmd and `sipht ctl` look by default.
func (m *Module) DefaultSpec() string {
	dir := binrpc.DefaultRunDir
	if m.host != nil && m.host.Core.Rundir != "" {
		dir = m.host.Path(m.host.Core.Rundir)
	}
	return binrpc.DefaultSpec(dir)
}

// Start implements module.Starter: it opens every socket.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	if len(m.specs) == 0 {
		if _, err := h.Rundir(); err != nil {
			return err
		}
	}
	for _, a := range m.addrs {
		if a.Path != "" {
			if dir := filepath.Dir(a.Path); dir != "" {
				if _, err := os.Stat(dir); err != nil {
					m.closeAll()
					return fmt.Errorf("binrpc %s: the directory of the socket does not exist: %w", a, err)
				}
			}
		}
		srv, err := binrpc.Listen(ctx, a.String(), binrpc.Options{
			Registry:    h.RPC,
			Mode:        m.mode,
			User:        m.user,
			Group:       m.group,
			AutoConvert: m.autoconv,
			Logger:      h.Log,
		})
		if err != nil {
			m.closeAll()
			return err
		}
		h.Log.Info("listening", "socket", srv.Spec())
		m.servers = append(m.servers, srv)
	}
	return nil
}

// Stop implements module.Stopper: the sockets are closed and their files
// removed.
func (m *Module) Stop(ctx context.Context) error {
	m.closeAll()
	return nil
}

func (m *Module) closeAll() {
	for _, s := range m.servers {
		s.Close()
	}
	m.servers = nil
}

// Servers returns the open BINRPC servers (for tests and ctl.listen).
func (m *Module) Servers() []*binrpc.Server { return append([]*binrpc.Server(nil), m.servers...) }

func protoName(p binrpc.Proto) string {
	switch p {
	case binrpc.ProtoUnixStream:
		return "unix_stream"
	case binrpc.ProtoUnixDgram:
		return "unix_dgram"
	}
	return p.String() // tcp, udp
}

// listOrder returns the servers in the order Kamailio lists them: the
// config's order.
func (m *Module) listOrder() []*binrpc.Server { return m.Servers() }

// rpcListen answers ctl.listen: per socket "binrpc", the transport, the
// path or host, and the port ("" for unix sockets).
func (m *Module) rpcListen(c *rpc.Call) {
	for _, s := range m.listOrder() {
		a := s.Address()
		name, port := a.Path, ""
		if a.Path == "" {
			name = a.Host
			if host, p, err := net.SplitHostPort(s.Addr().String()); err == nil {
				port = p
				if name == "" {
					name = host
				}
			}
		}
		c.AddStr("binrpc")
		c.AddStr(protoName(a.Proto))
		c.AddStr(name)
		c.AddStr(port)
	}
}

// rpcWho answers ctl.who: per open stream connection "binrpc", the
// transport, the peer (address and port, or "<anonymous unix socket>" and
// "") and the local socket (address and port, or the path and "").
func (m *Module) rpcWho(c *rpc.Call) {
	n := 0
	for _, s := range m.listOrder() {
		a := s.Address()
		for _, ra := range s.Conns() {
			n++
			vals := []string{"binrpc", protoName(a.Proto), "<anonymous unix socket>", "", a.Path, ""}
			if a.Path == "" {
				rh, rp := splitAddr(ra)
				lh, lp := splitAddr(s.Addr())
				vals = append(vals[:2], rh, rp, lh, lp)
			}
			for _, v := range vals {
				c.AddStr(v)
			}
		}
	}
	if n == 0 {
		c.Fault(400, "no open stream connection")
	}
}

func splitAddr(a net.Addr) (string, string) {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String(), strconv.Itoa(ta.Port)
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), ""
	}
	return h, p
}

// rpcConnections answers ctl.connections: the number of open stream
// connections on every ctl socket.
func (m *Module) rpcConnections(c *rpc.Call) {
	n := 0
	for _, s := range m.servers {
		n += len(s.Conns())
	}
	c.AddInt(n)
}
