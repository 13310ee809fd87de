package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Writer is the write-behind engine of dbmode=2 (a sipht extension): it
// mirrors the changes of one in-memory table into its database table
// within a bounded delay, so a crash loses at most that window.
//
// The hot path calls Set, Delete, DeleteMatching and Truncate. They never
// wait for the database: they record the latest state of the key in a
// bounded in-memory queue (a flood of updates to one key costs one row
// write) and return. A background goroutine writes the queue every
// Interval in one transaction: for each changed key "DELETE ... WHERE
// key_name IN (...)" then a multi-row INSERT of the keys that exist. When
// the database is slow or down, writes are retried with backoff while the
// queue keeps absorbing changes. When the queue is full, further changes
// are counted, logged and dropped, and the Writer marks that a full save
// is needed: with WriterOptions.Source it then rewrites the whole table
// from that snapshot itself (SaveHTable), which catches up everything
// dropped; without a Source the owner calls SaveAll.
//
// The Writer is independent of the htable engine: the htable module feeds
// it from the engine's change events and gives it a Source that iterates
// the table.
type Writer struct {
	db *DB
	o  WriterOptions

	mu        sync.Mutex // guards the fields below
	pending   []*epoch
	count     int // keys queued over all epochs
	needFull  bool
	closed    bool
	stats     WriterStats
	lastErr   error
	overLogAt time.Time

	ioMu     sync.Mutex // held while writing to the database; guards fits and notified
	fits     func(*HTableRow) string
	notified bool
	kick     chan struct{}
	reqs     chan flushReq
	stop     chan struct{}
	done     chan struct{}
	stopped  sync.Once
}

// WriterOptions configure NewWriter.
type WriterOptions struct {
	Table   string
	Columns HTableColumns // zero value: Kamailio's names
	// Expires writes the expires column (needed to restore expiry times
	// after a restart).
	Expires bool
	// Interval is the longest a change waits before it is written
	// (default 1 s) while the database is up.
	Interval time.Duration
	// MaxPending bounds the queue in distinct keys (default 100000). A
	// change to a key already queued always fits.
	MaxPending int
	// MaxBackoff caps the wait between retries while the database fails
	// (default 30 s; the first retry waits Interval).
	MaxBackoff time.Duration
	// BatchRows is the rows per INSERT statement (default 500).
	BatchRows int
	// Source, when set, iterates the current content of the table (the
	// rows a dbmode=1 save would write). The Writer uses it for the full
	// save that follows an overflow or RequestFullSave. It must not hold
	// locks the SIP path needs while it yields.
	Source iter.Seq[*HTableRow]
	// OnNeedFullSave is called (from the Writer's goroutine) when the
	// queue overflowed and a full save became necessary.
	OnNeedFullSave func()
	// OnSkip is told about rows the database cannot store (see SaveOptions).
	OnSkip func(row *HTableRow, reason string)
	// Logger gets overflow and failure messages (default: discard).
	Logger *slog.Logger
}

// WriterStats are counters of a Writer.
type WriterStats struct {
	Pending       int    // keys queued now
	Changes       uint64 // changes accepted
	Coalesced     uint64 // changes that replaced a queued change of the same key
	Dropped       uint64 // changes not queued: queue full, a full save pending (it covers them), or after Close
	Overflows     uint64 // times the queue overflowed
	Flushes       uint64 // successful write transactions
	RowsWritten   uint64 // rows inserted by flushes
	KeysDeleted   uint64 // keys deleted by flushes (including the delete of an upsert)
	Skipped       uint64 // rows the database could not store
	Failures      uint64 // failed write attempts
	FullSaves     uint64 // successful full saves
	NeedsFullSave bool
	LastError     string
}

// pendingKey is the latest state of a key.
type pendingKey struct {
	del     bool
	isInt   bool
	str     string
	n       int64
	expires int64
}

// barrier is a whole-table operation ordered against key changes.
type barrier struct {
	truncate bool
	desc     string
	match    func(name, value string, isInt bool) bool
}

// epoch is the key changes that follow a barrier (or the start).
type epoch struct {
	bar  *barrier
	keys map[string]pendingKey
}

// maxEpochs bounds the queued whole-table operations (delete-matching)
// before the Writer falls back to a full save.
const maxEpochs = 64

type flushReq struct {
	ctx  context.Context
	full bool
	done chan error
}

// NewWriter starts a Writer for one table. Stop it with Close.
func NewWriter(d *DB, o WriterOptions) (*Writer, error) {
	o.Columns.fill()
	if err := CheckIdent(o.Table); err != nil {
		return nil, err
	}
	if err := o.Columns.check(); err != nil {
		return nil, err
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 100000
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.MaxBackoff < o.Interval {
		o.MaxBackoff = o.Interval
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 500
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	w := &Writer{
		db:   d,
		o:    o,
		kick: make(chan struct{}, 1),
		reqs: make(chan flushReq),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go w.run()
	return w, nil
}

// Set records that key now holds a string (isInt false) or integer value
// with the given absolute expiry (0: none). It never blocks on the database.
func (w *Writer) Set(key string, isInt bool, str string, n int64, expires int64) {
	if isInt {
		str = ""
	}
	w.put(key, pendingKey{isInt: isInt, str: str, n: n, expires: expires})
}

// SetString records a string value.
func (w *Writer) SetString(key, value string, expires int64) { w.Set(key, false, value, 0, expires) }

// SetInt records an integer value.
func (w *Writer) SetInt(key string, value int64, expires int64) { w.Set(key, true, "", value, expires) }

// Delete records that key no longer exists (also for expired items).
func (w *Writer) Delete(key string) { w.put(key, pendingKey{del: true}) }

func (w *Writer) put(key string, pk pendingKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.stats.Dropped++
		return
	}
	w.stats.Changes++
	if w.needFull {
		// A full save is pending: it will write this change anyway.
		w.stats.Dropped++
		return
	}
	if len(w.pending) == 0 {
		w.pending = append(w.pending, &epoch{keys: make(map[string]pendingKey)})
	}
	last := w.pending[len(w.pending)-1]
	if _, ok := last.keys[key]; ok {
		last.keys[key] = pk
		w.stats.Coalesced++
		return
	}
	// Only the latest state of a key matters: forget it in older epochs.
	for _, e := range w.pending[:len(w.pending)-1] {
		if _, ok := e.keys[key]; ok {
			delete(e.keys, key)
			w.count--
			w.stats.Coalesced++
		}
	}
	if w.count >= w.o.MaxPending {
		w.overflowLocked("queue full")
		return
	}
	last.keys[key] = pk
	w.count++
}

// DeleteMatching records the removal of every item whose name (or value)
// matches: match gets each row's name, value text and type. desc names
// the operation in logs ("name re ^foo"). It is applied to the database
// in order with the other changes.
func (w *Writer) DeleteMatching(desc string, match func(name, value string, isInt bool) bool) {
	w.barrier(&barrier{desc: desc, match: match})
}

// Truncate records that the table was emptied (sht_reset, htable.flush).
func (w *Writer) Truncate() { w.barrier(&barrier{truncate: true, desc: "truncate"}) }

func (w *Writer) barrier(b *barrier) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.stats.Dropped++
		return
	}
	w.stats.Changes++
	if w.needFull {
		w.stats.Dropped++
		return
	}
	if b.truncate {
		// Nothing before a truncate matters.
		w.pending = w.pending[:0]
		w.count = 0
	} else if len(w.pending) >= maxEpochs {
		w.overflowLocked("too many pattern deletes queued")
		return
	}
	w.pending = append(w.pending, &epoch{bar: b, keys: make(map[string]pendingKey)})
}

// overflowLocked drops the queue and asks for a full save.
func (w *Writer) overflowLocked(why string) {
	w.stats.Dropped++
	w.stats.Overflows++
	w.needFull = true
	n := w.count
	w.pending = nil
	w.count = 0
	if now := time.Now(); now.Sub(w.overLogAt) > 10*time.Second {
		w.overLogAt = now
		w.o.Logger.Warn("htable write-behind queue overflow; a full save will catch up",
			"table", w.o.Table, "reason", why, "queued_keys_dropped", n, "max_pending", w.o.MaxPending,
			"overflows", w.stats.Overflows)
	}
	// The next flush (within Interval) runs the full save.
}

// RequestFullSave asks for a full rewrite of the table from Source at the
// next flush (e.g. after loading a table that holds array rows or expired
// rows, so that the database mirrors memory exactly).
func (w *Writer) RequestFullSave() {
	w.mu.Lock()
	w.needFull = true
	w.pending = nil
	w.count = 0
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Discard drops every queued change and any pending full save, and
// returns how many keys were queued. Use it before htable.reload, when the
// database content is about to replace memory and must win.
func (w *Writer) Discard() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := w.count
	w.pending = nil
	w.count = 0
	w.needFull = false
	return n
}

// NeedsFullSave reports whether changes were dropped since the last full
// save.
func (w *Writer) NeedsFullSave() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.needFull
}

// Stats returns a snapshot of the counters.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.stats
	s.Pending = w.count
	s.NeedsFullSave = w.needFull
	if w.lastErr != nil {
		s.LastError = redactErr(w.lastErr.Error(), w.db.url.Password)
	}
	return s
}

// Flush writes everything queued now and waits for it (a clean stop calls
// Close instead). With a full save pending and a Source, it does the full
// save. It returns the database error, if any; the changes then stay
// queued.
func (w *Writer) Flush(ctx context.Context) error {
	return w.request(ctx, false)
}

func (w *Writer) request(ctx context.Context, full bool) error {
	r := flushReq{ctx: ctx, full: full, done: make(chan error, 1)}
	select {
	case w.reqs <- r:
	case <-w.done:
		return errWriterClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errWriterClosed = errors.New("write-behind writer is closed")

// SaveAll rewrites the whole table from rows (SaveHTable) with the queue
// paused, then clears the full-save mark. Changes made while it runs are
// queued and written after it. Use it when there is no Source.
func (w *Writer) SaveAll(ctx context.Context, rows iter.Seq[*HTableRow]) (SaveStats, error) {
	w.ioMu.Lock()
	defer w.ioMu.Unlock()
	return w.fullSaveLocked(ctx, rows)
}

// fullSaveLocked runs a full save; w.ioMu is held.
func (w *Writer) fullSaveLocked(ctx context.Context, rows iter.Seq[*HTableRow]) (SaveStats, error) {
	// From here on, changes are queued again; the snapshot below includes
	// (at least) everything before this point.
	w.mu.Lock()
	w.needFull = false
	w.pending = nil
	w.count = 0
	w.mu.Unlock()
	st, err := w.db.SaveHTable(ctx, SaveOptions{Table: w.o.Table, Columns: w.o.Columns, Expires: w.o.Expires,
		BatchRows: w.o.BatchRows, OnSkip: w.o.OnSkip}, rows)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stats.Skipped += uint64(st.Skipped)
	if err != nil {
		w.stats.Failures++
		w.lastErr = err
		// The queue restarted at the snapshot: keep it, and ask again.
		w.needFull = true
		w.pending = nil
		w.count = 0
		return st, err
	}
	w.notified = false
	w.stats.FullSaves++
	w.lastErr = nil
	return st, nil
}

// Close writes what is queued (retrying until ctx ends) and stops the
// Writer. Changes after Close are dropped and counted. It returns an
// error when queued changes could not be written.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	var err error
	backoff := w.o.Interval / 4
	for {
		err = w.request(ctx, false)
		if errors.Is(err, errWriterClosed) {
			err = nil
			break
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		if backoff < w.o.MaxBackoff {
			backoff *= 2
		}
	}
	w.stopped.Do(func() { close(w.stop) })
	<-w.done
	if err == nil && w.NeedsFullSave() {
		err = errors.New("changes were dropped after a queue overflow and no Source was given for the full save")
	}
	if err != nil {
		st := w.Stats()
		return fmt.Errorf("write-behind for table %s: %d queued keys not written (full save needed: %v): %w",
			w.o.Table, st.Pending, st.NeedsFullSave, err)
	}
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	t := time.NewTimer(w.o.Interval)
	defer t.Stop()
	backoff := time.Duration(0)
	failing := false
	for {
		var req *flushReq
		select {
		case <-w.stop:
			return
		case r := <-w.reqs:
			req = &r
		case <-t.C:
		case <-w.kick:
			if failing {
				continue // wait for the backoff timer
			}
		}
		ctx := context.Background()
		var cancel context.CancelFunc = func() {}
		if req != nil {
			ctx = req.ctx
		} else {
			// A write that takes longer than this is treated as failed.
			ctx, cancel = context.WithTimeout(ctx, 2*w.o.MaxBackoff+time.Minute)
		}
		err := w.flushOnce(ctx)
		cancel()
		if req != nil {
			req.done <- err
		}
		if err != nil {
			if !failing {
				w.o.Logger.Error("htable write-behind: database write failed; changes stay queued and will be retried",
					"table", w.o.Table, "db", w.db.url.String(), "error", redactErr(err.Error(), w.db.url.Password))
			}
			failing = true
			if backoff == 0 {
				backoff = w.o.Interval
			} else if backoff *= 2; backoff > w.o.MaxBackoff {
				backoff = w.o.MaxBackoff
			}
		} else {
			if failing {
				w.o.Logger.Info("htable write-behind: database writes work again", "table", w.o.Table)
			}
			failing = false
			backoff = 0
		}
		next := w.o.Interval
		if failing {
			next = backoff
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// flushOnce writes the queue (or the pending full save) once.
func (w *Writer) flushOnce(ctx context.Context) error {
	w.ioMu.Lock()
	defer w.ioMu.Unlock()

	w.mu.Lock()
	needFull := w.needFull
	w.mu.Unlock()
	if needFull {
		if w.o.OnNeedFullSave != nil && !w.notified {
			w.notified = true
			w.o.OnNeedFullSave()
		}
		if w.o.Source == nil {
			return nil // the owner calls SaveAll
		}
		_, err := w.fullSaveLocked(ctx, w.o.Source)
		if err != nil {
			return fmt.Errorf("full save: %w", err)
		}
		// Fall through: write what was queued during the save.
	}

	w.mu.Lock()
	batch := w.pending
	n := w.count
	w.pending = nil
	w.count = 0
	w.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	written, deleted, skipped, err := w.write(ctx, batch)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stats.Skipped += skipped
	if err != nil {
		w.stats.Failures++
		w.lastErr = err
		w.requeueLocked(batch, n)
		return err
	}
	w.stats.Flushes++
	w.stats.RowsWritten += written
	w.stats.KeysDeleted += deleted
	w.lastErr = nil
	return nil
}

// requeueLocked puts a failed batch back in front of what was queued
// since, keeping only the latest state of each key.
func (w *Writer) requeueLocked(batch []*epoch, n int) {
	if w.needFull {
		return // the full save supersedes the batch
	}
	all := append(batch, w.pending...)
	// A truncate makes everything before it irrelevant.
	for i := len(all) - 1; i > 0; i-- {
		if all[i].bar != nil && all[i].bar.truncate {
			all = all[i:]
			break
		}
	}
	// Merge epochs that have no barrier into the one before.
	merged := all[:1]
	for _, e := range all[1:] {
		if e.bar == nil {
			last := merged[len(merged)-1]
			for k, v := range e.keys {
				last.keys[k] = v
			}
			continue
		}
		merged = append(merged, e)
	}
	// Keep each key only in the latest epoch that has it.
	seen := make(map[string]struct{})
	count := 0
	for i := len(merged) - 1; i >= 0; i-- {
		for k := range merged[i].keys {
			if _, ok := seen[k]; ok {
				delete(merged[i].keys, k)
				continue
			}
			seen[k] = struct{}{}
			count++
		}
	}
	w.pending = merged
	w.count = count
	if count > w.o.MaxPending || len(merged) > maxEpochs {
		w.overflowLocked("queue full while the database fails")
	}
}

// write applies a batch in one transaction.
func (w *Writer) write(ctx context.Context, batch []*epoch) (written, deleted, skipped uint64, err error) {
	d := w.db
	if w.fits == nil {
		f, err := d.rowChecker(ctx, SaveOptions{Table: w.o.Table, Columns: w.o.Columns, Expires: w.o.Expires})
		if err != nil {
			return 0, 0, 0, err
		}
		w.fits = f
	}
	fits := w.fits
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	q := d.dialect.Quote
	table := q(w.o.Table)
	keyCol := q(w.o.Columns.KeyName)
	so := SaveOptions{Table: w.o.Table, Columns: w.o.Columns, Expires: w.o.Expires, BatchRows: w.o.BatchRows}
	if err := d.prepareSave(ctx, &so); err != nil {
		return 0, 0, 0, err
	}
	const inChunk = 500
	names := make([]any, 0, inChunk)
	delNames := func() error {
		if len(names) == 0 {
			return nil
		}
		var b strings.Builder
		b.WriteString("DELETE FROM " + table + " WHERE " + keyCol + " IN (")
		d.dialect.appendPlaceholders(&b, 1, len(names))
		b.WriteByte(')')
		if _, err := tx.ExecContext(ctx, b.String(), names...); err != nil {
			return fmt.Errorf("delete %d keys: %w", len(names), d.missingTable(w.o.Table, err))
		}
		deleted += uint64(len(names))
		clear(names)
		names = names[:0]
		return nil
	}
	var row HTableRow
	for _, e := range batch {
		if e.bar != nil {
			if e.bar.truncate {
				if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
					return 0, 0, skipped, fmt.Errorf("truncate: %w", d.missingTable(w.o.Table, err))
				}
			} else {
				matched, err := w.matching(ctx, tx, e.bar)
				if err != nil {
					return 0, 0, skipped, err
				}
				for _, k := range matched {
					names = append(names, k)
					if len(names) == inChunk {
						if err := delNames(); err != nil {
							return 0, 0, skipped, err
						}
					}
				}
				if err := delNames(); err != nil {
					return 0, 0, skipped, err
				}
			}
		}
		for k := range e.keys {
			names = append(names, k)
			if len(names) == inChunk {
				if err := delNames(); err != nil {
					return 0, 0, skipped, err
				}
			}
		}
		if err := delNames(); err != nil {
			return 0, 0, skipped, err
		}
		ins := newInserter(d.dialect, tx, so)
		for k, v := range e.keys {
			if v.del {
				continue
			}
			row = HTableRow{KeyName: k, KeyValue: v.str, Int: v.n, Expires: v.expires}
			if v.isInt {
				row.ValueType = 1
			}
			if reason := fits(&row); reason != "" {
				skipped++
				if w.o.OnSkip != nil {
					r := row
					w.o.OnSkip(&r, reason)
				}
				continue
			}
			if err := ins.add(ctx, &row); err != nil {
				return 0, 0, skipped, err
			}
		}
		if err := ins.flush(ctx); err != nil {
			return 0, 0, skipped, err
		}
		written += uint64(ins.written)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, skipped, fmt.Errorf("commit: %w", err)
	}
	return written, deleted, skipped, nil
}

// matching lists the key names of rows a DeleteMatching selects (read
// in full first: MySQL cannot run a statement while a result is open).
func (w *Writer) matching(ctx context.Context, tx *sql.Tx, b *barrier) ([]string, error) {
	q := w.db.dialect.Quote
	c := w.o.Columns
	rows, err := tx.QueryContext(ctx, "SELECT "+q(c.KeyName)+","+q(c.KeyValue)+","+q(c.ValueType)+" FROM "+q(w.o.Table))
	if err != nil {
		return nil, fmt.Errorf("delete matching %s: %w", b.desc, w.db.missingTable(w.o.Table, err))
	}
	defer rows.Close()
	var out []string
	seen := make(map[string]struct{})
	var name, val sql.NullString
	var vt sql.NullInt64
	for rows.Next() {
		if err := rows.Scan(&name, &val, &vt); err != nil {
			return nil, fmt.Errorf("delete matching %s: %w", b.desc, err)
		}
		if !name.Valid {
			continue
		}
		if _, dup := seen[name.String]; dup {
			continue
		}
		if b.match(name.String, val.String, vt.Valid && vt.Int64 != 0) {
			seen[name.String] = struct{}{}
			out = append(out, name.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delete matching %s: %w", b.desc, err)
	}
	return out, nil
}
