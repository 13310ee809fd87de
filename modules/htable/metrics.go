package htable

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector exports the tables' statistics, read from the engine at
// scrape time (the SIP path pays nothing for them).
type collector struct {
	m *Module

	items, mem, ops, expired, evicted *prometheus.Desc

	dbOps, dbErrs, dbSeconds, dbRows *prometheus.Desc

	wbPending, wbChanges, wbFlushes, wbRows, wbOverflows, wbFailures, wbDropped, wbFullSaves *prometheus.Desc
}

func newCollector(m *Module) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("sipht_htable_"+name, help, labels, nil)
	}
	return &collector{
		m:       m,
		items:   d("items", "Live items in the table.", "table"),
		mem:     d("memory_bytes", "Approximate memory the table holds.", "table"),
		ops:     d("ops_total", "Table operations by kind (get, set, inc, delete).", "table", "op"),
		expired: d("expired_total", "Items removed by the expiry sweeper.", "table"),
		evicted: d("evicted_total", "Items evicted to respect maxitems.", "table"),

		dbOps:     d("db_operations_total", "Database loads and saves (start-up, htable.reload, shutdown, htable.store).", "table", "op"),
		dbErrs:    d("db_errors_total", "Failed database loads and saves.", "table", "op"),
		dbSeconds: d("db_seconds_total", "Time spent in database loads and saves.", "table", "op"),
		dbRows:    d("db_last_rows", "Rows read by the last load or written by the last save.", "table", "op"),

		wbPending:   d("writebehind_pending", "dbmode=2: keys waiting to be written.", "table"),
		wbChanges:   d("writebehind_changes_total", "dbmode=2: changes queued.", "table"),
		wbFlushes:   d("writebehind_flushes_total", "dbmode=2: successful write transactions.", "table"),
		wbRows:      d("writebehind_rows_written_total", "dbmode=2: rows written by flushes.", "table"),
		wbOverflows: d("writebehind_overflows_total", "dbmode=2: queue overflows (each followed by a full save).", "table"),
		wbFailures:  d("writebehind_failures_total", "dbmode=2: failed write attempts (retried).", "table"),
		wbDropped:   d("writebehind_dropped_total", "dbmode=2: changes not queued because a full save covers them.", "table"),
		wbFullSaves: d("writebehind_full_saves_total", "dbmode=2: full rewrites of the table.", "table"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.items, c.mem, c.ops, c.expired, c.evicted, c.dbOps, c.dbErrs, c.dbSeconds, c.dbRows,
		c.wbPending, c.wbChanges, c.wbFlushes, c.wbRows, c.wbOverflows, c.wbFailures, c.wbDropped, c.wbFullSaves} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.m.reg == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	for _, t := range c.m.reg.Tables() {
		name := t.Name()
		s := t.Stats()
		gauge(c.items, float64(s.Items), name)
		gauge(c.mem, float64(s.MemBytes), name)
		counter(c.ops, float64(s.Gets), name, "get")
		counter(c.ops, float64(s.Sets), name, "set")
		counter(c.ops, float64(s.Incs), name, "inc")
		counter(c.ops, float64(s.Deletes), name, "delete")
		counter(c.expired, float64(s.Expired), name)
		counter(c.evicted, float64(s.Evicted), name)

		st := c.m.state(name)
		if st == nil || t.Def().DBTable == "" || c.m.p.dbURL == "" {
			continue
		}
		if dm := st.dbm; dm != nil {
			dm.mu.Lock()
			counter(c.dbOps, float64(dm.loads), name, "load")
			counter(c.dbOps, float64(dm.saves), name, "save")
			counter(c.dbErrs, float64(dm.loadErrs), name, "load")
			counter(c.dbErrs, float64(dm.saveErrs), name, "save")
			counter(c.dbSeconds, dm.loadSeconds, name, "load")
			counter(c.dbSeconds, dm.saveSecond, name, "save")
			gauge(c.dbRows, float64(dm.lastLoadRows), name, "load")
			gauge(c.dbRows, float64(dm.lastSaveRows), name, "save")
			dm.mu.Unlock()
		}
		if wb := st.wb.Load(); wb != nil {
			ws := wb.w.Stats()
			gauge(c.wbPending, float64(ws.Pending), name)
			counter(c.wbChanges, float64(ws.Changes), name)
			counter(c.wbFlushes, float64(ws.Flushes), name)
			counter(c.wbRows, float64(ws.RowsWritten), name)
			counter(c.wbOverflows, float64(ws.Overflows), name)
			counter(c.wbFailures, float64(ws.Failures), name)
			counter(c.wbDropped, float64(ws.Dropped), name)
			counter(c.wbFullSaves, float64(ws.FullSaves), name)
		}
	}
}
