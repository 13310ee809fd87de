package htable

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/script"
)

func init() {
	module.Register(module.Info{
		Name:    "htable",
		Summary: "named in-memory hash tables with expiry ($sht), DB persistence and RPC (Kamailio's htable)",
		New:     func() module.Module { return New() },
	})
}

// Module is one instance of the htable module. Other modules reach it with
// h.Loaded("htable") and a type assertion to *Module; see api.go for what
// they may call.
type Module struct {
	p params

	regOnce sync.Once
	reg     *ht.Registry
	regErr  error

	host *module.Host
	log  *slog.Logger

	// per table state, by name; fixed after Init
	states map[string]*tableState

	iterSlot   script.Slot[iterators]
	recordSlot script.Slot[expiredRecord]

	dbMu sync.Mutex // guards db (opened at Start or by reload/store)
	db   *db.DB

	metrics *collector

	syncMu   sync.RWMutex
	dmqSync  func(ctx context.Context, table string) error
	started  chan struct{}
	stopOnce sync.Once
}

// tableState is what the module keeps for one table besides the engine
// table itself.
type tableState struct {
	t      *ht.Table
	loaded atomic.Bool                 // loaded from the database (Kamailio's dbload)
	wb     atomic.Pointer[writeBehind] // dbmode=2
	dbm    *dbMetrics
}

// New returns an unconfigured module (the registry's constructor).
func New() *Module {
	return &Module{p: defaultParams(), states: map[string]*tableState{}, started: make(chan struct{})}
}

// Registry returns the module's table registry, creating it from the
// htable definitions on first use. It is safe to call from other modules'
// Init (modparams are all set by then).
func (m *Module) Registry() *ht.Registry {
	m.regOnce.Do(func() {
		m.reg = ht.NewRegistry(ht.WithTimerInterval(m.p.timerInterval()))
		for _, d := range m.p.defs {
			t, err := m.reg.Add(d)
			if err != nil {
				m.regErr = errors.Join(m.regErr, err)
				continue
			}
			m.states[d.Name] = &tableState{t: t}
		}
	})
	return m.reg
}

// Init checks the parameters, builds the tables and declares the script
// functions, pseudo-variables, RPC methods and metrics.
func (m *Module) Init(h *module.Host) error {
	m.host = h
	m.log = h.Log
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.Registry()
	if m.regErr != nil {
		return m.regErr
	}
	if err := m.p.check(); err != nil {
		return err
	}
	if m.p.enableDMQ != 0 && h.Loaded != nil {
		if _, ok := h.Loaded("dmq"); !ok && !hasDMQExtension() {
			return errors.New(`enable_dmq=1 needs the dmq module (loadmodule "dmq.so" and configure it), which is not loaded`)
		}
	}
	for _, d := range m.p.defs {
		if d.DBMode == 2 && d.Cols != nil {
			return fmt.Errorf("table %s: dbmode=2 (write-behind) cannot be used with cols= (such tables are read-only)", d.Name)
		}
		if d.DBTable != "" {
			if err := db.CheckIdent(d.DBTable); err != nil {
				return fmt.Errorf("table %s: dbtable: %w", d.Name, err)
			}
			if m.p.dbURL == "" {
				m.log.Warn("table has dbtable but the module has no db_url: it is neither loaded nor saved", "table", d.Name, "dbtable", d.DBTable)
			}
		}
		if d.DMQReplicate != 0 && m.p.enableDMQ == 0 {
			m.log.Warn("table has dmqreplicate=1 but enable_dmq is 0: nothing is replicated", "table", d.Name)
		}
	}
	if m.p.dbURL != "" {
		if _, err := db.ParseURL(m.p.dbURL, h.Core.Workdir); err != nil {
			return fmt.Errorf("db_url: %w", err)
		}
	}
	if h.Script != nil {
		if err := m.registerScript(h.Script); err != nil {
			return err
		}
	}
	if h.RPC != nil {
		if err := h.RPC.Register(m.rpcMethods()...); err != nil {
			return err
		}
	}
	for _, st := range m.states {
		st.dbm = &dbMetrics{}
	}
	m.metrics = newCollector(m)
	if h.Metrics != nil {
		if err := h.Metrics.Register(m.metrics); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	for _, f := range extensions.init {
		if err := f(m, h); err != nil {
			return err
		}
	}
	return nil
}

// Start loads the tables that have a dbtable, starts write-behind for
// dbmode=2 tables and the expiry sweeper, and runs
// event_route[htable:mod-init] (a drop there aborts start-up).
func (m *Module) Start(ctx context.Context, h *module.Host) error {
	m.host = h
	if err := m.startDB(ctx); err != nil {
		m.stopWriters(context.Background())
		m.closeDB()
		return err
	}
	if h.Program != nil {
		m.armExpiredRoutes(h.Program)
	}
	if h.Go != nil {
		h.Go(func(ctx context.Context) { m.reg.Run(ctx) })
	}
	for _, f := range extensions.start {
		if err := f(ctx, m, h); err != nil {
			m.stopWriters(context.Background())
			m.closeDB()
			return err
		}
	}
	if h.Program != nil {
		if err := m.runModInit(h.Program); err != nil {
			m.stopWriters(context.Background())
			m.closeDB()
			return err
		}
	}
	close(m.started)
	return nil
}

// Started is closed once Start has loaded the tables and run
// event_route[htable:mod-init] (DMQ waits for it before its initial sync).
func (m *Module) Started() <-chan struct{} { return m.started }

// Stop flushes write-behind queues, saves dbmode=1 tables that were loaded
// from the database (as Kamailio does on shutdown) and closes the database.
func (m *Module) Stop(ctx context.Context) error {
	var errs []error
	m.stopOnce.Do(func() {
		for _, f := range extensions.stop {
			if err := f(ctx, m); err != nil {
				errs = append(errs, err)
			}
		}
		if err := m.stopWriters(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := m.saveOnStop(ctx); err != nil {
			errs = append(errs, err)
		}
		m.closeDB()
	})
	return errors.Join(errs...)
}

// extensions lets optional parts of this package (the DMQ replication in
// dmq*.go) join the module's life cycle from their init() functions
// without changing this file. Only init() functions append to it.
var extensions struct {
	init  []func(m *Module, h *module.Host) error
	start []func(ctx context.Context, m *Module, h *module.Host) error
	stop  []func(ctx context.Context, m *Module) error
	// dmq is set when a DMQ extension is compiled in: enable_dmq=1 is then
	// accepted without a loaded "dmq" module (the extension checks).
	dmq bool
}

func hasDMQExtension() bool { return extensions.dmq }

// state returns the module state of table name (nil when unknown).
func (m *Module) state(name string) *tableState { return m.states[name] }

// table returns the engine table name, or nil.
func (m *Module) table(name string) *ht.Table {
	if m.reg == nil {
		return nil
	}
	return m.reg.Table(name)
}

// tableNames returns the defined table names, comma separated (for
// messages).
func (m *Module) tableNames() string {
	var n []string
	for _, d := range m.p.defs {
		n = append(n, d.Name)
	}
	if len(n) == 0 {
		return "none defined"
	}
	return strings.Join(n, ", ")
}

// since returns the seconds elapsed since t (metrics).
func since(t time.Time) float64 { return time.Since(t).Seconds() }

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
