package htable

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/db"
)

// errStopIter stops an Export feeding a database iterator.
var errStopIter = errors.New("stop")

// dbMetrics are a table's load/save counters (read at scrape time).
type dbMetrics struct {
	mu                      sync.Mutex
	loads, loadErrs         uint64
	saves, saveErrs         uint64
	loadSeconds, saveSecond float64
	lastLoadRows            int64
	lastSaveRows            int64
}

func (d *dbMetrics) load(rows int64, dur time.Duration, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loads++
	d.loadSeconds += dur.Seconds()
	if err != nil {
		d.loadErrs++
		return
	}
	d.lastLoadRows = rows
}

func (d *dbMetrics) save(rows int64, dur time.Duration, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.saves++
	d.saveSecond += dur.Seconds()
	if err != nil {
		d.saveErrs++
		return
	}
	d.lastSaveRows = rows
}

// hasDBTables reports whether some table has a dbtable.
func (m *Module) hasDBTables() bool {
	for _, d := range m.p.defs {
		if d.DBTable != "" {
			return true
		}
	}
	return false
}

// openDB opens db_url once (Start, or htable.reload/store later).
func (m *Module) openDB(ctx context.Context) (*db.DB, error) {
	m.dbMu.Lock()
	defer m.dbMu.Unlock()
	if m.db != nil {
		return m.db, nil
	}
	wd := ""
	if m.host != nil && m.host.Core != nil {
		wd = m.host.Core.Workdir
	}
	d, err := db.Open(ctx, m.p.dbURL, db.Options{WorkDir: wd, CreateDir: true, Logger: m.log})
	if err != nil {
		return nil, err
	}
	m.db = d
	return d, nil
}

func (m *Module) closeDB() {
	m.dbMu.Lock()
	defer m.dbMu.Unlock()
	if m.db != nil {
		m.db.Close()
		m.db = nil
	}
}

// loadExpires tells whether loads and saves of d use the expires column:
// Kamailio's rule (db_expires=1 on an autoexpire table), and always for
// write-behind tables with autoexpire (their expiry must survive a
// restart).
func (m *Module) loadExpires(d ht.Def) bool {
	return d.AutoExpire > 0 && (m.p.dbExpires != 0 || d.DBMode == 2)
}

// startDB opens the database when db_url is set (a failure aborts
// start-up, as in Kamailio), creates missing htable tables with
// Kamailio's schema, loads every table that has a dbtable and starts
// write-behind for dbmode=2 tables.
func (m *Module) startDB(ctx context.Context) error {
	if m.p.dbURL == "" {
		return nil
	}
	d, err := m.openDB(ctx)
	if err != nil {
		return fmt.Errorf("db_url: %w", err)
	}
	for _, def := range m.p.defs {
		if def.DBTable == "" {
			continue
		}
		st := m.states[def.Name]
		if def.Cols == nil {
			if _, err := d.Init(ctx, db.Table{Kind: db.KindHTable, Name: def.DBTable, Columns: m.p.cols}); err != nil {
				return fmt.Errorf("table %s: database table %s: %w", def.Name, def.DBTable, err)
			}
		}
		needFull, err := m.loadTable(ctx, d, st, st.t.As(ht.OriginLoad))
		if err != nil {
			return fmt.Errorf("table %s: %w", def.Name, err)
		}
		st.loaded.Store(true)
		if def.DBMode == 2 {
			wb, err := m.newWriteBehind(d, st)
			if err != nil {
				return fmt.Errorf("table %s: write-behind: %w", def.Name, err)
			}
			st.wb.Store(wb)
			if needFull {
				wb.w.RequestFullSave()
			}
		}
	}
	return nil
}

// loadTable loads the database rows of st's table through dst (the live
// table at start-up, a fresh one for htable.reload) with Kamailio's rules:
// expired rows skipped, arrays flattened, cols= packed. needFull is true
// when memory and database rows differ (arrays, skipped rows), so that
// write-behind rewrites the table once.
func (m *Module) loadTable(ctx context.Context, d *db.DB, st *tableState, dst ht.Writer) (needFull bool, err error) {
	def := st.t.Def()
	start := time.Now()
	var rows int64
	defer func() { st.dbm.load(rows, time.Since(start), err) }()
	bad := 0
	onBad := func(e *db.RowError) error {
		bad++
		if bad <= 10 {
			m.log.Warn("htable row skipped", "table", def.Name, "error", e.Error())
		}
		return nil
	}
	if def.Cols != nil {
		o := db.ColsOptions{Table: def.DBTable, Columns: def.Cols, Delim: string([]byte{def.ColDelim}),
			Null: def.ColNull, NullEmpty: def.ColNull == "", FetchRows: int(m.p.fetchRows), OnBadRow: onBad}
		_, err = d.LoadCols(ctx, o, func(key, value string) error {
			rows++
			_, err := dst.Import(key, ht.Str(value), 0)
			return err
		})
		if err != nil {
			return false, fmt.Errorf("load %s: %w", def.DBTable, err)
		}
		m.log.Info("htable loaded", "table", def.Name, "dbtable", def.DBTable, "values", rows)
		return false, nil
	}
	expires := m.loadExpires(def)
	now := st.t.Now()
	var af db.ArrayFlattener
	af.Suffix = m.p.arraySfx
	skipped, arrays := 0, 0
	emit := func(it db.Item) error {
		if it.Size {
			arrays++
		}
		v := ht.Str(it.Str)
		if it.IsInt {
			v = ht.Int(it.Int)
		}
		if _, err := dst.Import(it.Name, v, it.Expires); err != nil {
			return fmt.Errorf("item %q: %w", it.Name, err)
		}
		return nil
	}
	lo := db.LoadOptions{Table: def.DBTable, Columns: m.p.cols, Expires: expires, FetchRows: int(m.p.fetchRows), OnBadRow: onBad}
	_, err = d.LoadHTable(ctx, lo, func(r *db.HTableRow) error {
		if expires && r.Expires > 0 && r.Expires < now {
			skipped++
			return nil
		}
		rows++
		return af.Push(r, emit)
	})
	if err == nil {
		err = af.Finish(emit)
	}
	if err != nil {
		return false, fmt.Errorf("load %s: %w", def.DBTable, err)
	}
	if bad > 10 {
		m.log.Warn("htable rows skipped", "table", def.Name, "count", bad)
	}
	m.log.Info("htable loaded", "table", def.Name, "dbtable", def.DBTable, "values", rows, "expired_rows_skipped", skipped)
	return arrays > 0 || skipped > 0 || bad > 0, nil
}

// rows returns the content of t as database rows, slot by slot (no lock
// is held while the database consumes them).
func (m *Module) rows(t *ht.Table) iter.Seq[*db.HTableRow] {
	def := t.Def()
	expires := m.loadExpires(def)
	return func(yield func(*db.HTableRow) bool) {
		var row db.HTableRow
		t.Dump(func(sv ht.SlotView) error {
			for i := range sv.Items {
				it := &sv.Items[i]
				row = db.HTableRow{KeyName: string(it.Key)}
				if it.Kind == ht.KindInt {
					row.ValueType, row.Int = 1, it.Int
				} else {
					row.KeyValue = string(it.Str)
				}
				if expires {
					row.Expires = it.Expire
				}
				if !yield(&row) {
					return errStopIter
				}
			}
			return nil
		})
	}
}

// saveTable writes the whole table (dbmode=1 at stop, htable.store).
func (m *Module) saveTable(ctx context.Context, d *db.DB, st *tableState) (err error) {
	def := st.t.Def()
	start := time.Now()
	var written int64
	defer func() { st.dbm.save(written, time.Since(start), err) }()
	skips := 0
	o := db.SaveOptions{Table: def.DBTable, Columns: m.p.cols, Expires: m.loadExpires(def),
		OnSkip: func(r *db.HTableRow, reason string) {
			skips++
			if skips <= 10 {
				m.log.Warn("htable item not stored", "table", def.Name, "key", r.KeyName, "reason", reason)
			}
		}}
	s, err := d.SaveHTable(ctx, o, m.rows(st.t))
	if err != nil {
		return err
	}
	written = s.Written
	m.log.Info("htable stored", "table", def.Name, "dbtable", def.DBTable, "rows", s.Written, "skipped", s.Skipped)
	return nil
}

// saveOnStop saves the dbmode=1 tables that were loaded, as Kamailio's
// shutdown does (tables with cols= are never written back).
func (m *Module) saveOnStop(ctx context.Context) error {
	m.dbMu.Lock()
	d := m.db
	m.dbMu.Unlock()
	if d == nil {
		return nil
	}
	var errs []error
	for _, def := range m.p.defs {
		st := m.states[def.Name]
		if def.DBTable == "" || def.DBMode == 0 || def.DBMode == 2 || def.Cols != nil || !st.loaded.Load() {
			continue
		}
		if err := m.saveTable(ctx, d, st); err != nil {
			errs = append(errs, fmt.Errorf("table %s: save to %s: %w", def.Name, def.DBTable, err))
		}
	}
	return errors.Join(errs...)
}

// reloadTable replaces the content of st's table with the database rows
// (htable.reload); write-behind drops its queue first: the database wins.
func (m *Module) reloadTable(ctx context.Context, d *db.DB, st *tableState) error {
	wb := st.wb.Load()
	if wb != nil {
		wb.w.Discard()
	}
	needFull := false
	_, err := st.t.As(ht.OriginLoad).Replace(func(dst ht.Writer) error {
		var err error
		needFull, err = m.loadTable(ctx, d, st, dst)
		return err
	})
	if err != nil {
		return err
	}
	st.loaded.Store(true)
	if wb != nil && needFull {
		wb.w.RequestFullSave()
	}
	return nil
}

// ---------------------------------------------------------------------
// Write-behind (dbmode=2)

// writeBehind feeds a db.Writer from a table's change events. The change
// subscriber only records keys under a mutex (the SIP path never waits
// for the database); expiry changes, which carry no value, are resolved
// by a small goroutine.
type writeBehind struct {
	t       *ht.Table
	w       *db.Writer
	expires bool
	cancel  func()

	mu      sync.Mutex
	refresh map[string]struct{} // keys whose expiry changed
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	max     int
	overRef atomic.Uint64

	closeOnce sync.Once
}

func (m *Module) newWriteBehind(d *db.DB, st *tableState) (*writeBehind, error) {
	def := st.t.Def()
	wb := &writeBehind{
		t:       st.t,
		expires: m.loadExpires(def),
		refresh: map[string]struct{}{},
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		max:     int(m.p.wbMaxPending),
	}
	w, err := db.NewWriter(d, db.WriterOptions{
		Table:      def.DBTable,
		Columns:    m.p.cols,
		Expires:    wb.expires,
		Interval:   m.p.wbInterval,
		MaxPending: int(m.p.wbMaxPending),
		Source:     m.rows(st.t),
		OnSkip: func(r *db.HTableRow, reason string) {
			m.log.Warn("htable item not stored", "table", def.Name, "key", r.KeyName, "reason", reason)
		},
		OnNeedFullSave: func() {
			m.log.Warn("htable write-behind fell behind; rewriting the whole table", "table", def.Name)
		},
		Logger: m.log,
	})
	if err != nil {
		return nil, err
	}
	wb.w = w
	wb.cancel = st.t.Subscribe(wb.onChange)
	go wb.refresher(m.p.wbInterval / 2)
	return wb, nil
}

// onChange runs under the changed key's slot lock: it must not block or
// touch the table.
func (wb *writeBehind) onChange(c *ht.Change) {
	if c.Origin == ht.OriginLoad {
		return
	}
	exp := int64(0)
	if wb.expires {
		exp = c.Expire
	}
	switch c.Op {
	case ht.OpSet, ht.OpAdd, ht.OpImport:
		if c.Value.IsInt() {
			wb.w.SetInt(c.Key, c.Value.Int(), exp)
		} else {
			wb.w.SetString(c.Key, c.Value.Str(), exp)
		}
	case ht.OpDelete, ht.OpRemoved, ht.OpExpired, ht.OpEvicted:
		wb.w.Delete(c.Key)
	case ht.OpSetExpire:
		if !c.Applied || !wb.expires {
			return
		}
		wb.mu.Lock()
		if len(wb.refresh) < wb.max {
			wb.refresh[c.Key] = struct{}{}
		} else {
			wb.overRef.Add(1)
		}
		wb.mu.Unlock()
		select {
		case wb.kick <- struct{}{}:
		default:
		}
	case ht.OpReset:
		wb.w.Truncate()
	case ht.OpReplace:
		if c.Origin != ht.OriginLoad {
			wb.w.RequestFullSave()
		}
	}
}

// refresher re-reads the items whose expiry changed and queues them.
func (wb *writeBehind) refresher(every time.Duration) {
	defer close(wb.done)
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-wb.stop:
			wb.drainRefresh()
			return
		case <-wb.kick:
		case <-tk.C:
		}
		wb.drainRefresh()
	}
}

func (wb *writeBehind) drainRefresh() {
	if wb.overRef.Swap(0) > 0 {
		wb.w.RequestFullSave()
	}
	wb.mu.Lock()
	keys := wb.refresh
	if len(keys) == 0 {
		wb.mu.Unlock()
		return
	}
	wb.refresh = map[string]struct{}{}
	wb.mu.Unlock()
	for k := range keys {
		it, ok := wb.t.Lookup(k)
		if !ok {
			continue // deleted meanwhile: its delete is queued
		}
		if it.Value.IsInt() {
			wb.w.SetInt(k, it.Value.Int(), it.Expire)
		} else {
			wb.w.SetString(k, it.Value.Str(), it.Expire)
		}
	}
}

// close flushes and stops the writer (once).
func (wb *writeBehind) close(ctx context.Context) error {
	var err error
	wb.closeOnce.Do(func() {
		wb.cancel()
		close(wb.stop)
		<-wb.done
		err = wb.w.Close(ctx)
	})
	return err
}

// stopWriters flushes every write-behind queue.
func (m *Module) stopWriters(ctx context.Context) error {
	var errs []error
	for _, def := range m.p.defs {
		st := m.states[def.Name]
		if st == nil || st.wb.Load() == nil {
			continue
		}
		if err := st.wb.Load().close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("table %s: %w", def.Name, err))
		}
	}
	return errors.Join(errs...)
}
