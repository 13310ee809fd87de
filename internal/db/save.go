package db

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// SaveOptions configure SaveHTable.
type SaveOptions struct {
	Table   string
	Columns HTableColumns // zero value: Kamailio's names
	// Expires writes the expires column (Kamailio: db_expires=1 and the
	// htable has autoexpire > 0); otherwise the column keeps its default 0.
	Expires bool
	// BatchRows is the number of rows per multi-row INSERT (default 500;
	// PostgreSQL uses COPY and ignores it).
	BatchRows int
	// OnSkip is told about each row that cannot be stored (a key or value
	// longer than its column, bytes the database refuses) and skipped,
	// as Kamailio logs "failed to store key" and goes on. When nil, such
	// rows are skipped silently but counted.
	OnSkip func(row *HTableRow, reason string)
}

// SaveStats counts what a save wrote.
type SaveStats struct {
	Deleted int64 // rows deleted first (-1 when the driver cannot tell)
	Written int64
	Skipped int64
}

// SaveHTable replaces the content of an htable table with rows, as
// Kamailio's dbmode=1 shutdown save and htable.store do: DELETE FROM t,
// then one INSERT per row with key_type 0 (arrays are saved flattened),
// value_type 0/1 and the value as text (integers in decimal). Unlike
// Kamailio it does both in one transaction, so a failure or a crash leaves
// the previous content, and it inserts in multi-row batches (COPY on
// PostgreSQL). rows is consumed as a stream: memory does not grow with the
// table. The caller leaves out expired items.
//
// rows must not hold locks the SIP path needs while it yields (copy a
// slot's items out, unlock, then yield them): the database may be slow.
func (d *DB) SaveHTable(ctx context.Context, o SaveOptions, rows iter.Seq[*HTableRow]) (SaveStats, error) {
	var st SaveStats
	if err := d.prepareSave(ctx, &o); err != nil {
		return st, err
	}
	fits, err := d.rowChecker(ctx, o)
	if err != nil {
		return st, err
	}
	if d.url.Driver == Postgres {
		return d.savePostgres(ctx, o, rows, fits)
	}
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("save table %s: begin: %w", o.Table, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "DELETE FROM "+d.dialect.Quote(o.Table))
	if err != nil {
		return st, fmt.Errorf("save table %s: delete: %w", o.Table, d.missingTable(o.Table, err))
	}
	st.Deleted = affected(res)
	ins := newInserter(d.dialect, tx, o)
	for r := range rows {
		if reason := fits(r); reason != "" {
			st.Skipped++
			if o.OnSkip != nil {
				o.OnSkip(r, reason)
			}
			continue
		}
		if err := ins.add(ctx, r); err != nil {
			return st, fmt.Errorf("save table %s: %w", o.Table, err)
		}
	}
	if err := ins.flush(ctx); err != nil {
		return st, fmt.Errorf("save table %s: %w", o.Table, err)
	}
	if err := tx.Commit(); err != nil {
		return st, fmt.Errorf("save table %s: commit: %w", o.Table, err)
	}
	st.Written = ins.written
	return st, nil
}

func (d *DB) prepareSave(ctx context.Context, o *SaveOptions) error {
	o.Columns.fill()
	if err := CheckIdent(o.Table); err != nil {
		return err
	}
	if err := o.Columns.check(); err != nil {
		return err
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 500
	}
	ncols := 4
	if o.Expires {
		ncols = 5
	}
	if max := d.dialect.maxParams() / ncols; o.BatchRows > max {
		o.BatchRows = max
	}
	return nil
}

func affected(res sql.Result) int64 {
	n, err := res.RowsAffected()
	if err != nil {
		return -1
	}
	return n
}

// rowChecker returns a function that says why a row cannot be stored
// ("" when it can): MySQL and PostgreSQL refuse values longer than the
// column and bytes that are not UTF-8 (PostgreSQL also NUL), where a
// refused row would abort the whole transaction.
func (d *DB) rowChecker(ctx context.Context, o SaveOptions) (func(*HTableRow) string, error) {
	if d.url.Driver == SQLite {
		return func(*HTableRow) string { return "" }, nil
	}
	w, err := d.ColumnWidths(ctx, o.Table, o.Columns)
	if err != nil {
		return nil, err
	}
	pg := d.url.Driver == Postgres
	check := func(s, col string, width int) string {
		if !utf8.ValidString(s) {
			return col + " is not valid UTF-8"
		}
		if pg && strings.IndexByte(s, 0) >= 0 {
			return col + " contains a NUL byte"
		}
		if width > 0 && len(s) > width {
			if n := utf8.RuneCountInString(s); n > width {
				return fmt.Sprintf("%s is %d characters, the column holds %d", col, n, width)
			}
		}
		return ""
	}
	return func(r *HTableRow) string {
		if o.Expires && (r.Expires > 1<<31-1 || r.Expires < -1<<31) {
			return fmt.Sprintf("%s %d does not fit the INTEGER column", o.Columns.Expires, r.Expires)
		}
		if s := check(r.KeyName, o.Columns.KeyName, w.KeyName); s != "" {
			return s
		}
		if r.ValueType == 0 {
			return check(r.KeyValue, o.Columns.KeyValue, w.KeyValue)
		}
		return ""
	}, nil
}

// valueText is the key_value text of a row: integers in decimal.
func valueText(r *HTableRow) (vtype int64, text string) {
	if r.ValueType != 0 {
		return 1, strconv.FormatInt(r.Int, 10)
	}
	return 0, r.KeyValue
}

// inserter accumulates rows into multi-row INSERT statements.
type inserter struct {
	d       Dialect
	exec    execer
	prefix  string
	ncols   int
	batch   int
	args    []any
	n       int
	stmt    string // cached statement for a full batch
	written int64
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func newInserter(d Dialect, ex execer, o SaveOptions) *inserter {
	q := d.Quote
	c := o.Columns
	cols := []string{q(c.KeyName), q(c.KeyType), q(c.ValueType), q(c.KeyValue)}
	if o.Expires {
		cols = append(cols, q(c.Expires))
	}
	return &inserter{
		d:      d,
		exec:   ex,
		prefix: "INSERT INTO " + q(o.Table) + " (" + strings.Join(cols, ",") + ") VALUES ",
		ncols:  len(cols),
		batch:  o.BatchRows,
		args:   make([]any, 0, o.BatchRows*len(cols)),
	}
}

func (in *inserter) add(ctx context.Context, r *HTableRow) error {
	vt, text := valueText(r)
	in.args = append(in.args, r.KeyName, int64(0), vt, text)
	if in.ncols == 5 {
		in.args = append(in.args, r.Expires)
	}
	in.n++
	if in.n >= in.batch {
		return in.flush(ctx)
	}
	return nil
}

func (in *inserter) sql(n int) string {
	var b strings.Builder
	b.Grow(len(in.prefix) + n*(in.ncols*4+3))
	b.WriteString(in.prefix)
	p := 1
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		in.d.appendPlaceholders(&b, p, in.ncols)
		p += in.ncols
		b.WriteByte(')')
	}
	return b.String()
}

func (in *inserter) flush(ctx context.Context) error {
	if in.n == 0 {
		return nil
	}
	var q string
	if in.n == in.batch {
		if in.stmt == "" {
			in.stmt = in.sql(in.batch)
		}
		q = in.stmt
	} else {
		q = in.sql(in.n)
	}
	if _, err := in.exec.ExecContext(ctx, q, in.args...); err != nil {
		return fmt.Errorf("insert %d rows: %w", in.n, err)
	}
	in.written += int64(in.n)
	in.n = 0
	clear(in.args)
	in.args = in.args[:0]
	return nil
}

// savePostgres does the save with COPY inside one transaction on one
// connection of the pool.
func (d *DB) savePostgres(ctx context.Context, o SaveOptions, rows iter.Seq[*HTableRow], fits func(*HTableRow) string) (SaveStats, error) {
	var st SaveStats
	conn, err := d.sql.Conn(ctx)
	if err != nil {
		return st, fmt.Errorf("save table %s: %w", o.Table, err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback(ctx)
		tag, err := tx.Exec(ctx, "DELETE FROM "+d.dialect.Quote(o.Table))
		if err != nil {
			return fmt.Errorf("delete: %w", d.missingTable(o.Table, err))
		}
		st.Deleted = tag.RowsAffected()
		src := &copySource{o: o, fits: fits, st: &st}
		src.next, src.stop = iter.Pull(rows)
		defer src.stop()
		c := o.Columns
		cols := []string{c.KeyName, c.KeyType, c.ValueType, c.KeyValue}
		if o.Expires {
			cols = append(cols, c.Expires)
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier(splitIdent(o.Table)), cols, src)
		if err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		st.Written = n
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("save table %s: %w", o.Table, err)
	}
	return st, nil
}

func splitIdent(name string) []string { return strings.Split(name, ".") }

// copySource feeds COPY from the row iterator, skipping rows that do not fit.
type copySource struct {
	o    SaveOptions
	fits func(*HTableRow) string
	st   *SaveStats
	next func() (*HTableRow, bool)
	stop func()
	vals [5]any
	cur  *HTableRow
}

func (s *copySource) Next() bool {
	for {
		r, ok := s.next()
		if !ok {
			return false
		}
		if reason := s.fits(r); reason != "" {
			s.st.Skipped++
			if s.o.OnSkip != nil {
				s.o.OnSkip(r, reason)
			}
			continue
		}
		s.cur = r
		return true
	}
}

func (s *copySource) Values() ([]any, error) {
	r := s.cur
	vt, text := valueText(r)
	s.vals[0], s.vals[1], s.vals[2], s.vals[3] = r.KeyName, int32(0), int32(vt), text
	if s.o.Expires {
		s.vals[4] = int32(r.Expires) // range checked by rowChecker
		return s.vals[:5], nil
	}
	return s.vals[:4], nil
}

func (s *copySource) Err() error { return nil }
