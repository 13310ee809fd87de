package pike

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/modules/pike/detector"
)

func init() {
	module.Register(module.Info{
		Name:    "pike",
		Summary: "flood detection per source IP (pike_check_req), with allow list, pike.rm and early drop",
		New:     func() module.Module { return New() },
	})
}

// BanTableProvider is implemented by the module that owns the tables
// early_drop_table names: the htable module (*htable.Module). The pike
// module asks it once, in Init, for a membership test of one table.
type BanTableProvider interface {
	// BanChecker returns a function that reports whether ip, written as
	// $si prints it (IPv4 dotted, IPv6 without brackets), is a key of the
	// table called table that has not expired. It is called on the socket
	// read goroutine for every datagram: it must be safe for concurrent
	// use, fast, must not allocate and must never block for longer than a
	// table write holds its lock. An undefined table is an error.
	BanChecker(table string) (func(ip netip.Addr) bool, error)
}

// TableModule is the module early_drop_table looks tables up in.
const TableModule = "htable"

// Module is one pike instance.
type Module struct {
	cfg            detector.Config
	allowSpecs     []string
	logLevel       int64
	earlyDrop      bool
	earlyDropTable string

	det   *detector.Detector
	log   *slog.Logger
	level slog.Level
	ban   atomic.Pointer[func(netip.Addr) bool]
	drops struct{ ban atomic.Uint64 }
}

// New returns a pike module with Kamailio's defaults.
func New() *Module {
	return &Module{cfg: detector.DefaultConfig()}
}

// Detector returns the flood detector (nil before Init).
func (m *Module) Detector() *detector.Detector { return m.det }

// Params lists Kamailio's four parameters and sipht's extensions.
func (m *Module) Params() []module.Param {
	intParam := func(name, doc string, dst *int) module.Param {
		return module.Param{Name: name, Kind: module.ParamInt, Doc: doc, Set: func(v module.Value) error {
			if v.Int < -1<<31 || v.Int > 1<<31-1 {
				return fmt.Errorf("%d is out of range", v.Int)
			}
			*dst = int(v.Int)
			return nil
		}}
	}
	return []module.Param{
		intParam("sampling_time_unit", "length of a sampling window in seconds (default 2)", &m.cfg.SamplingUnit),
		intParam("reqs_density_per_unit", "requests per window that block a source (default 30)", &m.cfg.MaxHits),
		intParam("remove_latency", "seconds a source is remembered after its last request (default 120)", &m.cfg.RemoveLatency),
		{Name: "pike_log_level", Kind: module.ParamInt, Doc: "Kamailio log level of the BLOCKing/UNBLOCKing lines (default 0, L_WARN)",
			Set: func(v module.Value) error { m.logLevel = v.Int; return nil }},
		// sipht extensions
		intParam("max_nodes", "sipht: bound on the address tree's nodes (default 262144)", &m.cfg.MaxNodes),
		{Name: "allow", Kind: module.ParamStr, Multi: true, Doc: "sipht: IP or CIDR never counted nor blocked (repeatable)",
			Set: func(v module.Value) error {
				p, err := parsePrefix(v.Str)
				if err != nil {
					return err
				}
				m.cfg.Allow = append(m.cfg.Allow, p)
				m.allowSpecs = append(m.allowSpecs, v.Str)
				return nil
			}},
		{Name: "early_drop", Kind: module.ParamInt, Doc: "sipht: 1 drops requests from blocked sources before parsing (default 0)",
			Set: func(v module.Value) error {
				if v.Int != 0 && v.Int != 1 {
					return fmt.Errorf("want 0 or 1, got %d", v.Int)
				}
				m.earlyDrop = v.Int == 1
				return nil
			}},
		{Name: "early_drop_table", Kind: module.ParamStr, Doc: "sipht: htable whose keys are source IPs dropped before parsing",
			Set: func(v module.Value) error {
				name := strings.TrimSpace(v.Str)
				if name == "" {
					return errors.New("empty table name")
				}
				m.earlyDropTable = name
				return nil
			}},
	}
}

// parsePrefix reads an allow entry: an address ("192.0.2.10", "::1") or a
// CIDR prefix ("10.0.0.0/8", "2001:db8::/32").
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("allow %q: not an IP address or CIDR prefix", s)
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("allow %q: host bits set (did you mean %s?)", s, p.Masked())
		}
		return p, nil
	}
	a, err := parseIP(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("allow %q: not an IP address or CIDR prefix", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parseIP reads an address as pike_check_ip and pike.rm take it: IPv4
// dotted, IPv6 with or without brackets.
func parseIP(s string) (netip.Addr, error) {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() {
			return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
		}
		return a, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	return a, nil
}

// Init checks the parameters, builds the detector and declares the script
// functions, RPC methods, metrics and (with early drop) the pre-parse
// filter.
func (m *Module) Init(h *module.Host) error {
	m.log = h.Log
	m.level = logging.FromKamailio(int(m.logLevel))
	cfg := m.cfg
	cfg.OnUnblock = func(ip netip.Addr) {
		m.log.Log(context.Background(), m.level, "PIKE - UNBLOCKing ip "+ip.String()+", node="+nodeName(ip))
	}
	det, err := detector.New(cfg)
	if err != nil {
		return fmt.Errorf("pike: %w", err)
	}
	m.det = det
	if err := m.declare(h); err != nil {
		return err
	}
	if m.earlyDrop || m.earlyDropTable != "" {
		if h.AddFilter == nil {
			return errors.New("pike: early_drop needs a server that runs pre-parse filters")
		}
		if err := h.AddFilter(m.filter); err != nil {
			return fmt.Errorf("pike: %w", err)
		}
	}
	if m.earlyDropTable != "" {
		mod, ok := h.Loaded(TableModule)
		if !ok {
			return fmt.Errorf("pike: early_drop_table %q needs the %s module (loadmodule \"%s.so\")", m.earlyDropTable, TableModule, TableModule)
		}
		p, ok := mod.(BanTableProvider)
		if !ok {
			return fmt.Errorf("pike: early_drop_table %q: this build's %s module cannot look tables up by source address", m.earlyDropTable, TableModule)
		}
		fn, err := p.BanChecker(m.earlyDropTable)
		if err != nil {
			return fmt.Errorf("pike: early_drop_table %q: %w", m.earlyDropTable, err)
		}
		if fn == nil {
			return fmt.Errorf("pike: early_drop_table %q: no lookup function", m.earlyDropTable)
		}
		m.ban.Store(&fn)
	}
	return nil
}

func (m *Module) declare(h *module.Host) error {
	routes := script.RequestRoute | script.ReplyRoute | script.OnReplyRoute
	err := h.Script.AddFunc(script.Func{Name: "pike_check_req", Routes: routes, Module: "pike",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			return func(c *script.Ctx) int {
				if c.Msg == nil {
					return 1
				}
				return m.check(c.Msg.Source.Addr())
			}, nil
		}})
	if err != nil {
		return err
	}
	err = h.Script.AddFunc(script.Func{Name: "pike_check_ip", MinArgs: 1, MaxArgs: 1, Routes: routes, Module: "pike",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			f, err := fc.Arg(0).Format()
			if err != nil {
				return nil, err
			}
			if f.IsConst() {
				if f.Const() == "" {
					return nil, fc.Arg(0).Errorf("empty IP address")
				}
				a, err := parseIP(f.Const())
				if err != nil {
					return nil, fc.Arg(0).Errorf("%v", err)
				}
				return func(*script.Ctx) int { return m.check(a) }, nil
			}
			return func(c *script.Ctx) int {
				s := f.String(c)
				if s == "" {
					return -1
				}
				a, err := parseIP(s)
				if err != nil {
					m.log.Error("failed to parse ip address: " + s)
					return -1
				}
				return m.check(a)
			}, nil
		}})
	if err != nil {
		return err
	}
	if err := h.RPC.Register(m.rpcMethods()...); err != nil {
		return fmt.Errorf("pike: %w", err)
	}
	if err := h.Metrics.Register(newCollector(m)); err != nil {
		return fmt.Errorf("pike: metrics: %w", err)
	}
	return nil
}

// check is pike_check_req / pike_check_ip on an address.
func (m *Module) check(ip netip.Addr) int {
	r := m.det.Check(ip)
	if r == detector.NewlyBlocked {
		ip = ip.Unmap()
		m.log.Log(context.Background(), m.level, "PIKE - BLOCKing ip "+ip.String()+", node="+nodeName(ip))
	}
	return int(r)
}

// nodeName stands in for Kamailio's node pointer in the log lines: the
// leaf's address as a host prefix (stable, unlike a pointer).
func nodeName(ip netip.Addr) string {
	return netip.PrefixFrom(ip, ip.BitLen()).String()
}

// filter is the pre-parse filter: sources in the early-drop table first
// (as Kamailio's WITH_ANTIFLOOD checks ipban before pike_check_req), then
// sources pike blocks now, counted as hits.
func (m *Module) filter(src netip.AddrPort, _ sipio.Transport) bool {
	ip := src.Addr()
	if p := m.ban.Load(); p != nil && (*p)(ip) {
		if m.det.Allowed(ip) {
			return true
		}
		m.drops.ban.Add(1)
		return false
	}
	if m.earlyDrop && m.det.DropHot(ip) {
		return false
	}
	return true
}

// Start runs the detector's timer.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	h.Go(func(ctx context.Context) {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.det.Tick()
			}
		}
	})
	return nil
}
