// Package xhttp_prom is Kamailio's xhttp_prom module: prom_dispatch() in
// event_route[xhttp:request] answers a Prometheus scrape with every metric
// of the server (Go runtime and process metrics, sipht_sip_*, sipht_rpc_*,
// and what the modules register), plus the metrics the script defines:
//
//	modparam("xhttp_prom", "prom_counter", "name=auth_failed; label=ip")
//	...
//	prom_counter_inc("auth_failed", "1", "$si");
//	...
//	event_route[xhttp:request] {
//		if (prom_check_uri()) { prom_dispatch(); exit; }
//	}
//
// Parameters: xhttp_prom_beginning (prefix of the user metrics, default
// "kamailio_"), xhttp_prom_timeout (minutes after which an unused label
// combination of a user metric is removed, default 60, 0 = never),
// prom_counter, prom_gauge, prom_histogram (declarations, repeatable),
// and, accepted without effect, xhttp_prom_buf_size (replies are streamed)
// and xhttp_prom_stats: sipht does not have Kamailio's internal statistics;
// its own metrics (sipht_sip_replies_sent_total{code} for the sl replies,
// ...) are always served.
//
// Functions: prom_dispatch(), prom_check_uri() (the URL is exactly
// /metrics), prom_counter_reset(name[, l0[, l1[, l2]]]),
// prom_gauge_reset(...), prom_counter_inc(name, number[, labels]),
// prom_gauge_set(name, number[, labels]), prom_histogram_observe(name,
// number[, labels]). RPC: xhttp_prom.counter_reset, .counter_inc,
// .gauge_reset, .gauge_set, .histogram_observe, .metric_list_print.
//
// Differences from Kamailio: prom_dispatch() returns 1 (Kamailio returns 0,
// which silently ends the script); the reply is Prometheus' text format as
// client_golang writes it (no timestamps; HELP and TYPE lines); a user
// metric has at most MaxSeries label combinations.
package xhttp_prom

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/script"
	"github.com/sipht/sipht/modules/xhttp"
)

func init() {
	module.Register(module.Info{
		Name:    "xhttp_prom",
		Summary: "Prometheus metrics over xhttp: prom_dispatch(), user-defined counters, gauges and histograms",
		New:     func() module.Module { return New() },
	})
}

// URI is the path prom_check_uri() accepts.
const URI = "/metrics"

// Module is a loaded xhttp_prom module.
type Module struct {
	beginning string
	timeout   time.Duration
	stats     string
	defs      []*metric

	host    *module.Host
	metrics *Metrics
	handler http.Handler
}

// New returns a module with Kamailio's defaults.
func New() *Module { return &Module{beginning: "kamailio_", timeout: 60 * time.Minute} }

// Params implements module.Module.
func (m *Module) Params() []module.Param {
	decl := func(name string, kind Kind) module.Param {
		return module.Param{Name: name, Kind: module.ParamStr, Multi: true,
			Doc: "declare a " + kind.String() + ": \"name=N; label=a:b\"",
			Set: func(v module.Value) error {
				d, err := parseDecl(kind, v.Str)
				if err != nil {
					return err
				}
				m.defs = append(m.defs, d)
				return nil
			}}
	}
	return []module.Param{
		{Name: "xhttp_prom_buf_size", Kind: module.ParamInt, Doc: "accepted; replies are streamed",
			Set: func(v module.Value) error { return nil }},
		{Name: "xhttp_prom_timeout", Kind: module.ParamInt, Doc: "minutes before an unused user metric series is removed (0 = never; default 60)",
			Set: func(v module.Value) error {
				if v.Int < 0 {
					return fmt.Errorf("negative timeout %d", v.Int)
				}
				m.timeout = time.Duration(v.Int) * time.Minute
				return nil
			}},
		{Name: "xhttp_prom_stats", Kind: module.ParamStr, Doc: "Kamailio statistics to export (accepted; sipht exports its own metrics)",
			Set: func(v module.Value) error { m.stats = v.Str; return nil }},
		{Name: "xhttp_prom_beginning", Kind: module.ParamStr, Doc: "prefix of the user metric names (default kamailio_)",
			Set: func(v module.Value) error {
				if v.Str != "" && !validMetricName(v.Str) {
					return fmt.Errorf("%q cannot start a metric name", v.Str)
				}
				m.beginning = v.Str
				return nil
			}},
		{Name: "xhttp_prom_pkg_stats", Kind: module.ParamInt, Doc: "accepted (Kamailio 5.7+); Go runtime metrics are always served",
			Set: func(v module.Value) error { return nil }},
		decl("prom_counter", Counter),
		decl("prom_gauge", Gauge),
		decl("prom_histogram", Histogram),
	}
}

// Init implements module.Initializer.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	x, err := xhttp.Find(h)
	if err != nil {
		return err
	}
	if m.stats != "" {
		h.Log.Debug("xhttp_prom_stats has no effect: sipht serves its own metrics (sipht_sip_*, sipht_rpc_*) instead of Kamailio's internal statistics", "xhttp_prom_stats", m.stats)
	}
	m.metrics, err = newMetrics(m.beginning, m.timeout, m.defs)
	if err != nil {
		return err
	}
	if err := h.Metrics.Register(m.metrics); err != nil {
		return fmt.Errorf("register the user metrics: %w", err)
	}
	m.handler = promhttp.HandlerFor(h.Gatherer, promhttp.HandlerOpts{ErrorLog: promLog{h}})
	fs := []script.Func{
		x.DispatchFunc("prom_dispatch", "xhttp_prom", m.handler),
		{Name: "prom_check_uri", Module: "xhttp_prom", Routes: xhttp.Routes,
			Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
				return func(c *script.Ctx) int {
					r := x.Request(c)
					if r == nil {
						c.Log.Error("prom_check_uri(): not an HTTP request")
						return -1
					}
					if r.RequestURI == URI {
						return 1
					}
					return -1
				}, nil
			}},
	}
	fs = append(fs, m.updateFuncs("prom_counter_reset", Counter, OpReset, false)...)
	fs = append(fs, m.updateFuncs("prom_gauge_reset", Gauge, OpReset, false)...)
	fs = append(fs, m.updateFuncs("prom_counter_inc", Counter, OpInc, true)...)
	fs = append(fs, m.updateFuncs("prom_gauge_set", Gauge, OpSet, true)...)
	fs = append(fs, m.updateFuncs("prom_histogram_observe", Histogram, OpObserve, true)...)
	for _, f := range fs {
		if err := h.Script.AddFunc(f); err != nil {
			return err
		}
	}
	return m.registerRPC(h.RPC)
}

// Handler returns the /metrics handler prom_dispatch() serves.
func (m *Module) Handler() http.Handler { return m.handler }

// Metrics returns the user-defined metrics.
func (m *Module) Metrics() *Metrics { return m.metrics }

// Start implements module.Starter: unused series expire.
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	if m.timeout <= 0 || len(m.defs) == 0 {
		return nil
	}
	h.Go(func(ctx context.Context) {
		tick := time.NewTicker(min(time.Minute, m.timeout))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if n := m.metrics.Expire(now.Add(-m.timeout)); n > 0 {
					h.Log.Debug("unused metric series removed", "count", n)
				}
			}
		}
	})
	return nil
}

type promLog struct{ h *module.Host }

func (l promLog) Println(v ...any) { l.h.Log.Warn("" + fmt.Sprint(v...)) }

// updateFuncs declares name(metric[, number], l0..l2) in its four arities.
func (m *Module) updateFuncs(name string, kind Kind, op Op, withNumber bool) []script.Func {
	base := 1
	if withNumber {
		base = 2
	}
	return []script.Func{{Name: name, MinArgs: base, MaxArgs: base + MaxLabels, Module: "xhttp_prom",
		Fixup: func(fc *script.FixupCtx) (script.Handler, error) {
			fs := make([]*script.Format, fc.NArgs())
			for i := range fs {
				var err error
				if fs[i], err = fc.Arg(i).Format(); err != nil {
					return nil, err
				}
			}
			nlabels := fc.NArgs() - base
			if fs[0].IsConst() {
				d := m.metrics.byName[fs[0].Const()]
				switch {
				case d == nil:
					return nil, fc.Arg(0).Errorf("no %s %q is declared (modparam(\"xhttp_prom\", \"prom_%s\", \"name=%s\"))", kind, fs[0].Const(), kind, fs[0].Const())
				case d.kind != kind:
					return nil, fc.Arg(0).Errorf("%q is a %s, not a %s", d.name, d.kind, kind)
				case len(d.labels) != nlabels:
					return nil, fc.Errorf("%q has %d labels, %d values given", d.name, len(d.labels), nlabels)
				}
			}
			return func(c *script.Ctx) int {
				var v float64
				if withNumber {
					s := fs[1].String(c)
					var err error
					if kind == Counter {
						var n uint64
						n, err = strconv.ParseUint(strings.TrimSpace(s), 10, 64)
						v = float64(n)
					} else {
						v, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
					}
					if err != nil {
						c.Log.Error(name+"(): invalid number", "number", s)
						return -1
					}
				}
				var lv [MaxLabels]string
				for i := 0; i < nlabels; i++ {
					lv[i] = fs[base+i].String(c)
				}
				if err := m.metrics.Update(kind, fs[0].String(c), op, v, lv[:nlabels]); err != nil {
					c.Log.Error(name+"(): "+err.Error(), "metric", fs[0].String(c))
					return -1
				}
				return 1
			}, nil
		}}}
}

// registerRPC declares the xhttp_prom.* commands.
func (m *Module) registerRPC(r *rpc.Registry) error {
	update := func(kind Kind, op Op, withNumber bool, what string) rpc.Handler {
		return func(c *rpc.Call) {
			var name string
			if n, _ := c.Scan("S", &name); n < 1 {
				c.Fault(400, "required %s identifier", what)
				return
			}
			var v float64
			if withNumber {
				var err error
				if kind == Counter {
					var i int
					if n, e := c.Scan("d", &i); n < 1 || e != nil {
						err = fmt.Errorf("bad number")
					}
					v = float64(i)
				} else if n, e := c.Scan("f", &v); n < 1 || e != nil {
					err = fmt.Errorf("bad number")
				}
				if err != nil {
					c.Fault(400, "required number argument")
					return
				}
			}
			var ls [MaxLabels]string
			n, _ := c.Scan("*SSS", &ls[0], &ls[1], &ls[2])
			if err := m.metrics.Update(kind, name, op, v, ls[:n]); err != nil {
				c.Fault(500, "%s", err.Error())
			}
		}
	}
	return r.Register(
		rpc.Method{Name: "xhttp_prom.counter_reset", Help: "Reset a counter based on its identifier", Handler: update(Counter, OpReset, false, "counter")},
		rpc.Method{Name: "xhttp_prom.counter_inc", Help: "Add a number (greater or equal to zero) to a counter based on its identifier", Handler: update(Counter, OpInc, true, "counter")},
		rpc.Method{Name: "xhttp_prom.gauge_reset", Help: "Reset a gauge based on its identifier", Handler: update(Gauge, OpReset, false, "gauge")},
		rpc.Method{Name: "xhttp_prom.gauge_set", Help: "Set a gauge to a number based on its identifier", Handler: update(Gauge, OpSet, true, "gauge")},
		rpc.Method{Name: "xhttp_prom.histogram_observe", Help: "Observe a number in a histogram based on its identifier", Handler: update(Histogram, OpObserve, true, "histogram")},
		rpc.Method{Name: "xhttp_prom.metric_list_print", Help: "Print a list showing all user defined metrics",
			Handler: func(c *rpc.Call) { c.AddStr(m.metrics.List()) }},
	)
}
