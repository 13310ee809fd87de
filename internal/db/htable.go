package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// HTableRow is one row of an htable table (Kamailio's layout).
type HTableRow struct {
	KeyName string
	// KeyType is 0 for a plain item, 1 for an array element (load only;
	// see ArrayFlattener). Other values load as plain items.
	KeyType int
	// ValueType is 0 for a string, non-zero for an integer (Kamailio
	// treats any non-zero value_type as integer); sipht writes 0 or 1.
	ValueType int
	// KeyValue is the value as text (integers in decimal).
	KeyValue string
	// Int is the parsed integer when ValueType != 0.
	Int int64
	// Expires is the absolute expiry time in UNIX seconds, 0 for none.
	// Only read when LoadOptions.Expires is set, only written when
	// SaveOptions.Expires is set.
	Expires int64
}

// IsInt reports whether the row holds an integer value.
func (r *HTableRow) IsInt() bool { return r.ValueType != 0 }

// RowError is a row that cannot be loaded: it names the table, the row's
// key (or its position when the key itself is bad) and the column.
type RowError struct {
	Table  string
	Row    int64  // 1-based position in the result
	Key    string // key_name, when it could be read
	Column string
	Reason string
}

func (e *RowError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("table %s, row %d (key %q), column %s: %s", e.Table, e.Row, e.Key, e.Column, e.Reason)
	}
	return fmt.Sprintf("table %s, row %d, column %s: %s", e.Table, e.Row, e.Column, e.Reason)
}

// LoadOptions configure LoadHTable.
type LoadOptions struct {
	Table   string
	Columns HTableColumns // zero value: Kamailio's names
	// Expires selects the expires column too. Kamailio does so only when
	// db_expires=1 and the htable has autoexpire > 0.
	Expires bool
	// FetchRows is Kamailio's fetch_rows (default 100). All three drivers
	// stream rows from the server as they are read, so memory stays
	// bounded whatever its value; sipht checks ctx every FetchRows rows.
	FetchRows int
	// OnBadRow, when set, is called for a row that cannot be converted
	// (NULL key_name, non-numeric integer value, ...). Returning nil skips
	// the row and goes on; returning an error stops the load with it.
	// When nil, the first bad row stops the load.
	OnBadRow func(*RowError) error
}

// LoadStats counts what a load read.
type LoadStats struct {
	Rows    int64 // rows read from the database
	BadRows int64 // rows skipped through OnBadRow
}

// LoadHTable streams the rows of an htable table in the order Kamailio
// reads them (SELECT key_name,key_type,value_type,key_value[,expires]
// FROM t ORDER BY key_name), calling fn for each. Memory use does not grow
// with the table. fn's error stops the load and is returned. A missing
// table gives a *SchemaError.
//
// The caller applies Kamailio's db_expires rule (skip rows with
// 0 < expires < now) and the array rule (ArrayFlattener) -- or uses
// LoadItems, which does both.
func (d *DB) LoadHTable(ctx context.Context, o LoadOptions, fn func(*HTableRow) error) (LoadStats, error) {
	var st LoadStats
	o.Columns.fill()
	if err := CheckIdent(o.Table); err != nil {
		return st, err
	}
	if err := o.Columns.check(); err != nil {
		return st, err
	}
	if o.FetchRows <= 0 {
		o.FetchRows = 100
	}
	q := d.dialect.Quote
	c := o.Columns
	cols := []string{c.KeyName, c.KeyType, c.ValueType, c.KeyValue}
	if o.Expires {
		cols = append(cols, c.Expires)
	}
	qcols := make([]string, len(cols))
	for i, n := range cols {
		qcols[i] = q(n)
	}
	query := "SELECT " + strings.Join(qcols, ",") + " FROM " + q(o.Table) + " ORDER BY " + q(c.KeyName)
	rows, err := d.sql.QueryContext(ctx, query)
	if err != nil {
		return st, fmt.Errorf("load table %s: %w", o.Table, d.missingTable(o.Table, err))
	}
	defer rows.Close()

	var (
		key, ktype, vtype, val, exp sql.NullString
		row                         HTableRow
	)
	dest := []any{&key, &ktype, &vtype, &val}
	if o.Expires {
		dest = append(dest, &exp)
	}
	bad := func(e *RowError) error {
		if o.OnBadRow == nil {
			return e
		}
		st.BadRows++
		return o.OnBadRow(e)
	}
	for rows.Next() {
		st.Rows++
		if st.Rows%int64(o.FetchRows) == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return st, fmt.Errorf("load table %s, row %d: %w", o.Table, st.Rows, err)
		}
		if !key.Valid {
			if err := bad(&RowError{Table: o.Table, Row: st.Rows, Column: c.KeyName, Reason: "NULL key name"}); err != nil {
				return st, err
			}
			continue
		}
		row = HTableRow{KeyName: key.String}
		if e := parseIntCol(&row.KeyType, ktype, o.Table, st.Rows, key.String, c.KeyType); e != nil {
			if err := bad(e); err != nil {
				return st, err
			}
			continue
		}
		if e := parseIntCol(&row.ValueType, vtype, o.Table, st.Rows, key.String, c.ValueType); e != nil {
			if err := bad(e); err != nil {
				return st, err
			}
			continue
		}
		if !val.Valid {
			if err := bad(&RowError{Table: o.Table, Row: st.Rows, Key: key.String, Column: c.KeyValue, Reason: "NULL value"}); err != nil {
				return st, err
			}
			continue
		}
		row.KeyValue = val.String
		if row.ValueType != 0 {
			n, err := ParseInt(val.String)
			if err != nil {
				if err := bad(&RowError{Table: o.Table, Row: st.Rows, Key: key.String, Column: c.KeyValue,
					Reason: fmt.Sprintf("value_type is %d (integer) but the value %q is %v", row.ValueType, clip(val.String), err)}); err != nil {
					return st, err
				}
				continue
			}
			row.Int = n
		}
		if o.Expires && exp.Valid {
			n, err := strconv.ParseInt(strings.TrimSpace(exp.String), 10, 64)
			if err != nil {
				if err := bad(&RowError{Table: o.Table, Row: st.Rows, Key: key.String, Column: c.Expires,
					Reason: fmt.Sprintf("not an integer: %q", clip(exp.String))}); err != nil {
					return st, err
				}
				continue
			}
			row.Expires = n
		}
		if err := fn(&row); err != nil {
			return st, err
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("load table %s after %d rows: %w", o.Table, st.Rows, err)
	}
	return st, nil
}

// parseIntCol reads key_type/value_type: NULL counts as 0 (as in Kamailio).
func parseIntCol(dst *int, v sql.NullString, table string, row int64, key, col string) *RowError {
	if !v.Valid {
		*dst = 0
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v.String), 10, 32)
	if err != nil {
		return &RowError{Table: table, Row: row, Key: key, Column: col, Reason: fmt.Sprintf("not an integer: %q", clip(v.String))}
	}
	*dst = int(n)
	return nil
}

// ErrNotInteger is wrapped by ParseInt errors.
var ErrNotInteger = errors.New("not an integer")

// ParseInt parses an integer value as stored in key_value: optional sign,
// decimal digits. The empty string is 0 (as in Kamailio). Anything else,
// including spaces and values outside int64, is an error (Kamailio would
// keep the digits before the first bad byte, or clamp, without a word).
func ParseInt(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if s[0] == '+' {
		if len(s) == 1 || s[1] == '-' || s[1] == '+' {
			return 0, ErrNotInteger
		}
		s = s[1:]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("%w (out of 64-bit range)", ErrNotInteger)
		}
		return 0, ErrNotInteger
	}
	return n, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// DefaultArraySizeSuffix is Kamailio's array_size_suffix.
const DefaultArraySizeSuffix = "::size"

// Item is an htable item as loaded: rows with key_type=1 already turned
// into name[i] items plus a name<suffix> size item.
type Item struct {
	Name  string
	IsInt bool
	Str   string // string value (IsInt false)
	Int   int64  // integer value (IsInt true)
	// Expires is the absolute expiry (UNIX seconds) read from the row; 0
	// when none was read or stored: the caller applies autoexpire then.
	Expires int64
	// Size is true for the name<suffix> item an array adds.
	Size bool
}

// ArrayFlattener turns the rows of a load, in database order, into items
// the way Kamailio's htable does: consecutive rows with key_type=1 and the
// same key_name become name[0], name[1], ... and, when the name changes
// (or at Finish), an integer item name+Suffix holding the count. After
// loading these are ordinary independent items.
//
// Rows skipped for being expired must not be pushed (Kamailio skips them
// before the array logic). The zero value uses DefaultArraySizeSuffix.
type ArrayFlattener struct {
	Suffix string

	prevName string
	prevType int
	n        int
}

// Push handles one row: it calls emit for the size item of the previous
// array when this row ends it, then for the row's own item.
func (a *ArrayFlattener) Push(r *HTableRow, emit func(Item) error) error {
	if a.prevType == 1 && a.prevName != "" && a.prevName != r.KeyName {
		if err := a.emitSize(emit); err != nil {
			return err
		}
	}
	a.prevType = r.KeyType
	a.prevName = r.KeyName
	it := Item{Name: r.KeyName, IsInt: r.ValueType != 0, Int: r.Int, Expires: r.Expires}
	if !it.IsInt {
		it.Str = r.KeyValue
	}
	if r.KeyType == 1 {
		it.Name = r.KeyName + "[" + strconv.Itoa(a.n) + "]"
		a.n++
	}
	return emit(it)
}

// Finish emits the size item of a trailing array.
func (a *ArrayFlattener) Finish(emit func(Item) error) error {
	if a.prevType == 1 {
		return a.emitSize(emit)
	}
	return nil
}

func (a *ArrayFlattener) emitSize(emit func(Item) error) error {
	suffix := a.Suffix
	if suffix == "" {
		suffix = DefaultArraySizeSuffix
	}
	it := Item{Name: a.prevName + suffix, IsInt: true, Int: int64(a.n), Size: true}
	a.prevName = ""
	a.n = 0
	return emit(it)
}

// LoadItems loads an htable table as Kamailio does at start-up and on
// htable.reload: rows whose expires is set and before now are skipped
// (only when o.Expires), array rows are flattened (suffix "" means
// "::size"), and fn gets each item in order. The returned count is the
// number of rows used (Kamailio's "loaded N values").
func (d *DB) LoadItems(ctx context.Context, o LoadOptions, suffix string, now int64, fn func(Item) error) (int64, error) {
	af := ArrayFlattener{Suffix: suffix}
	var used int64
	_, err := d.LoadHTable(ctx, o, func(r *HTableRow) error {
		if o.Expires && r.Expires > 0 && r.Expires < now {
			return nil
		}
		used++
		return af.Push(r, fn)
	})
	if err != nil {
		return used, err
	}
	return used, af.Finish(fn)
}

// ColsOptions configure LoadCols, the cols='k,c1,c2' form of an htable.
type ColsOptions struct {
	Table string
	// Columns: the first is the key, the others are packed into the value
	// (2 to 8 columns, as in Kamailio).
	Columns []string
	// Delim is put between packed columns (coldelim, default ',').
	Delim string
	// Null stands for a NULL column (colnull, default "*"; set NullEmpty
	// for colnull='' which writes nothing).
	Null      string
	NullEmpty bool
	FetchRows int
	OnBadRow  func(*RowError) error
}

// MaxPackedValue is the largest packed cols= value, as Kamailio's 4 KiB
// buffer allows (its estimate counts each integer column as 12 bytes).
const MaxPackedValue = 4096

// LoadCols streams a cols= table: SELECT c0,c1,... FROM t ORDER BY c0; for
// each row fn gets the key (c0, integers as text) and the other columns
// joined with Delim, NULL written as Null, integers as decimal text.
// Values are always strings.
func (d *DB) LoadCols(ctx context.Context, o ColsOptions, fn func(key, value string) error) (LoadStats, error) {
	var st LoadStats
	if err := CheckIdent(o.Table); err != nil {
		return st, err
	}
	if len(o.Columns) < 2 || len(o.Columns) > 8 {
		return st, fmt.Errorf("table %s: cols needs 2 to 8 columns, got %d", o.Table, len(o.Columns))
	}
	for _, c := range o.Columns {
		if err := CheckIdent(c); err != nil {
			return st, fmt.Errorf("table %s cols: %w", o.Table, err)
		}
	}
	if o.Delim == "" {
		o.Delim = ","
	}
	if o.Null == "" && !o.NullEmpty {
		o.Null = "*"
	}
	if o.FetchRows <= 0 {
		o.FetchRows = 100
	}
	q := d.dialect.Quote
	qcols := make([]string, len(o.Columns))
	for i, c := range o.Columns {
		qcols[i] = q(c)
	}
	rows, err := d.sql.QueryContext(ctx, "SELECT "+strings.Join(qcols, ",")+" FROM "+q(o.Table)+" ORDER BY "+qcols[0])
	if err != nil {
		return st, fmt.Errorf("load table %s: %w", o.Table, d.missingTable(o.Table, err))
	}
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return st, fmt.Errorf("load table %s: %w", o.Table, err)
	}
	isInt := make([]bool, len(types))
	for i, t := range types {
		isInt[i] = strings.Contains(strings.ToUpper(t.DatabaseTypeName()), "INT")
	}
	vals := make([]sql.NullString, len(o.Columns))
	dest := make([]any, len(vals))
	for i := range vals {
		dest[i] = &vals[i]
	}
	var b strings.Builder
	for rows.Next() {
		st.Rows++
		if st.Rows%int64(o.FetchRows) == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return st, fmt.Errorf("load table %s, row %d: %w", o.Table, st.Rows, err)
		}
		if !vals[0].Valid {
			e := &RowError{Table: o.Table, Row: st.Rows, Column: o.Columns[0], Reason: "NULL key"}
			if o.OnBadRow == nil {
				return st, e
			}
			st.BadRows++
			if err := o.OnBadRow(e); err != nil {
				return st, err
			}
			continue
		}
		// Kamailio's size estimate: NULL 1 byte, integer 12, text its
		// length, plus one per column.
		est := len(o.Columns)
		for i := 1; i < len(vals); i++ {
			switch {
			case !vals[i].Valid:
				est++
			case isInt[i]:
				est += 12
			default:
				est += len(vals[i].String)
			}
		}
		if est >= MaxPackedValue {
			e := &RowError{Table: o.Table, Row: st.Rows, Key: vals[0].String, Column: strings.Join(o.Columns[1:], ","),
				Reason: fmt.Sprintf("packed value too large (need %d bytes, at most %d)", est, MaxPackedValue)}
			if o.OnBadRow == nil {
				return st, e
			}
			st.BadRows++
			if err := o.OnBadRow(e); err != nil {
				return st, err
			}
			continue
		}
		b.Reset()
		for i := 1; i < len(vals); i++ {
			if i > 1 {
				b.WriteString(o.Delim)
			}
			if vals[i].Valid {
				b.WriteString(vals[i].String)
			} else {
				b.WriteString(o.Null)
			}
		}
		if err := fn(vals[0].String, b.String()); err != nil {
			return st, err
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("load table %s after %d rows: %w", o.Table, st.Rows, err)
	}
	return st, nil
}
