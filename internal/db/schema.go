package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Version numbers of the tables sipht knows, as in Kamailio 5.6 to 6.1
// (the rows kamdbctl writes into the version table).
const (
	VersionTableVersion    = 1
	HTableTableVersion     = 2
	SubscriberTableVersion = 7
)

// VersionTable is the name of Kamailio's table of table versions.
const VersionTable = "version"

// HTableColumns are the column names of an htable table: the htable module
// params key_name_column, key_type_column, value_type_column,
// key_value_column and expires_column.
type HTableColumns struct {
	KeyName, KeyType, ValueType, KeyValue, Expires string
}

// DefaultHTableColumns are Kamailio's default column names.
func DefaultHTableColumns() HTableColumns {
	return HTableColumns{KeyName: "key_name", KeyType: "key_type", ValueType: "value_type", KeyValue: "key_value", Expires: "expires"}
}

func (c *HTableColumns) fill() {
	d := DefaultHTableColumns()
	if c.KeyName == "" {
		c.KeyName = d.KeyName
	}
	if c.KeyType == "" {
		c.KeyType = d.KeyType
	}
	if c.ValueType == "" {
		c.ValueType = d.ValueType
	}
	if c.KeyValue == "" {
		c.KeyValue = d.KeyValue
	}
	if c.Expires == "" {
		c.Expires = d.Expires
	}
}

func (c HTableColumns) check() error {
	for _, n := range []string{c.KeyName, c.KeyType, c.ValueType, c.KeyValue, c.Expires} {
		if err := CheckIdent(n); err != nil {
			return err
		}
	}
	return nil
}

// Widths are the VARCHAR lengths of key_name and key_value.
type Widths struct {
	KeyName, KeyValue int
}

// Widths56 are the column widths of Kamailio 5.6 and 5.8: key_name
// VARCHAR(64), key_value VARCHAR(128). sipht's default, so a table created
// by `sipht db init` is exactly the one kamdbctl 5.6 creates.
var Widths56 = Widths{KeyName: 64, KeyValue: 128}

// Widths60 are the wider columns of Kamailio 6.0 and later: key_name
// VARCHAR(256), key_value VARCHAR(512). Kamailio 5.6 reads and writes such
// a table unchanged (it never checks widths); choose them when values
// longer than 128 characters must survive a save on MySQL or PostgreSQL.
var Widths60 = Widths{KeyName: 256, KeyValue: 512}

// TableKind says which Kamailio table layout a Table has.
type TableKind int

const (
	// KindVersion is Kamailio's "version" table.
	KindVersion TableKind = iota + 1
	// KindHTable is the layout of Kamailio's "htable" table (any name:
	// each htable with dbtable= names its own).
	KindHTable
	// KindSubscriber is auth_db's "subscriber" table.
	KindSubscriber
)

// Table describes a table Init should create when it is missing.
type Table struct {
	Kind TableKind
	Name string
	// HTable only: column names (zero value: Kamailio's) and widths
	// (zero value: Widths56).
	Columns HTableColumns
	Widths  Widths
	// HTable only: do not create the index on the key column (see
	// HTableIndexName).
	NoKeyIndex bool
}

// HTable returns the Table for an htable table with Kamailio's columns and
// 5.6 widths.
func HTable(name string) Table { return Table{Kind: KindHTable, Name: name} }

// Subscriber returns the Table for auth_db's subscriber table.
func Subscriber(name string) Table { return Table{Kind: KindSubscriber, Name: name} }

func (t *Table) normalize() error {
	if err := CheckIdent(t.Name); err != nil {
		return err
	}
	switch t.Kind {
	case KindHTable:
		t.Columns.fill()
		if err := t.Columns.check(); err != nil {
			return err
		}
		if t.Widths == (Widths{}) {
			t.Widths = Widths56
		}
		if t.Widths.KeyName <= 0 || t.Widths.KeyValue <= 0 || t.Widths.KeyName > 65535 || t.Widths.KeyValue > 65535 {
			return fmt.Errorf("table %s: bad widths %d/%d (want 1-65535)", t.Name, t.Widths.KeyName, t.Widths.KeyValue)
		}
	case KindSubscriber, KindVersion:
	default:
		return fmt.Errorf("table %s: unknown kind %d", t.Name, t.Kind)
	}
	return nil
}

// versionName is the table_name under which t's version row is kept.
func (t Table) versionRow() (string, int) {
	switch t.Kind {
	case KindHTable:
		return t.Name, HTableTableVersion
	case KindSubscriber:
		return t.Name, SubscriberTableVersion
	}
	return t.Name, VersionTableVersion
}

// HTableIndexName is the name of the (non-unique) index sipht adds on the
// key column of an htable table. Kamailio's own scripts create none; the
// index makes the per-key deletes of write-behind (dbmode=2) cheap on big
// tables and costs Kamailio nothing. It cannot be unique: Kamailio's array
// rows (key_type=1) share one key_name.
func HTableIndexName(table, keyColumn string) string {
	base := table
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[i+1:]
	}
	return base + "_" + keyColumn + "_idx"
}

// CreateSQL returns the statements that create t, in the dialect, the way
// Kamailio's creation scripts (/usr/share/kamailio/<db>/*-create.sql) do:
// same columns, types, defaults, constraints and index names. The version
// row is not included (Init writes it).
func (d Dialect) CreateSQL(t Table) ([]string, error) {
	if err := t.normalize(); err != nil {
		return nil, err
	}
	q := d.Quote
	col := func(name, typ string) string { return "    " + q(name) + " " + typ }
	strDef := func(n int) string { return fmt.Sprintf("VARCHAR(%d) DEFAULT '' NOT NULL", n) }
	intDef := d.intType() + " DEFAULT 0 NOT NULL"
	var cols []string
	var post []string
	switch t.Kind {
	case KindVersion:
		ver := intDef
		idx := "version_table_name_idx"
		if d.Driver == MySQL {
			ver = "INT UNSIGNED DEFAULT 0 NOT NULL"
			idx = "table_name_idx"
		}
		cols = []string{
			"    " + d.idColumn(),
			col("table_name", "VARCHAR(32) NOT NULL"),
			col("table_version", ver),
			"    CONSTRAINT " + idx + " UNIQUE (" + q("table_name") + ")",
		}
	case KindHTable:
		c := t.Columns
		cols = []string{
			"    " + d.idColumn(),
			col(c.KeyName, strDef(t.Widths.KeyName)),
			col(c.KeyType, intDef),
			col(c.ValueType, intDef),
			col(c.KeyValue, strDef(t.Widths.KeyValue)),
			col(c.Expires, intDef),
		}
		if !t.NoKeyIndex {
			post = append(post, d.createIndexSQL(HTableIndexName(t.Name, c.KeyName), t.Name, c.KeyName))
		}
	case KindSubscriber:
		uniq, uidx := "subscriber_account_idx", "subscriber_username_idx"
		if d.Driver == MySQL {
			uniq, uidx = "account_idx", "username_idx"
		}
		cols = []string{
			"    " + d.idColumn(),
			col("username", strDef(64)),
			col("domain", strDef(64)),
			col("password", strDef(64)),
			col("ha1", strDef(128)),
			col("ha1b", strDef(128)),
			"    CONSTRAINT " + uniq + " UNIQUE (" + q("username") + ", " + q("domain") + ")",
		}
		post = append(post, d.createIndexSQL(uidx, t.Name, "username"))
	}
	create := "CREATE TABLE " + q(t.Name) + " (\n" + strings.Join(cols, ",\n") + "\n)"
	return append([]string{create}, post...), nil
}

func (d Dialect) createIndexSQL(index, table, column string) string {
	return "CREATE INDEX " + index + " ON " + d.Quote(table) + " (" + d.Quote(column) + ")"
}

// InitReport says what Init did.
type InitReport struct {
	Created     []string // tables created
	Indexes     []string // indexes added to existing tables
	VersionRows []string // "name=version" rows inserted
	Notes       []string // things left alone, with the reason
}

// Init creates what is missing: the version table, then each table with
// its indexes and its version row (like `kamdbctl create` for these
// tables). It never drops or alters data: an existing table is left as it
// is, except that an htable table without sipht's key index gets it
// (HTableIndexName) and an htable table without a version row gets one
// (htable is version 2 in every Kamailio release). Existing tables whose
// version row is missing or different are reported in Notes.
func (d *DB) Init(ctx context.Context, tables ...Table) (*InitReport, error) {
	rep := &InitReport{}
	all := append([]Table{{Kind: KindVersion, Name: VersionTable}}, tables...)
	for _, t := range all {
		if err := t.normalize(); err != nil {
			return rep, err
		}
		exists, err := d.TableExists(ctx, t.Name)
		if err != nil {
			return rep, err
		}
		vname, vwant := t.versionRow()
		if !exists {
			stmts, err := d.dialect.CreateSQL(t)
			if err != nil {
				return rep, err
			}
			if err := d.execAll(ctx, stmts); err != nil {
				// Another process may have created it meanwhile.
				if ok, _ := d.TableExists(ctx, t.Name); !ok {
					return rep, fmt.Errorf("create table %s: %w", t.Name, err)
				}
				rep.Notes = append(rep.Notes, fmt.Sprintf("table %s was created concurrently by someone else", t.Name))
			} else {
				rep.Created = append(rep.Created, t.Name)
			}
			added, err := d.ensureVersionRow(ctx, vname, vwant)
			if err != nil {
				return rep, err
			}
			if added {
				rep.VersionRows = append(rep.VersionRows, fmt.Sprintf("%s=%d", vname, vwant))
			}
			continue
		}
		// Existing table: never touch its data.
		have, found, err := d.TableVersion(ctx, vname)
		if err != nil {
			return rep, err
		}
		switch {
		case !found && t.Kind == KindHTable:
			if _, err := d.ensureVersionRow(ctx, vname, vwant); err != nil {
				return rep, err
			}
			rep.VersionRows = append(rep.VersionRows, fmt.Sprintf("%s=%d", vname, vwant))
		case !found && t.Kind != KindVersion:
			rep.Notes = append(rep.Notes, fmt.Sprintf("table %s exists without a version row (want %d); left alone", t.Name, vwant))
		case found && have != vwant:
			rep.Notes = append(rep.Notes, fmt.Sprintf("table %s has version %d, sipht expects %d; left alone", t.Name, have, vwant))
		}
		if t.Kind == KindHTable && !t.NoKeyIndex {
			added, err := d.EnsureHTableIndex(ctx, t.Name, t.Columns.KeyName)
			if err != nil {
				return rep, err
			}
			if added {
				rep.Indexes = append(rep.Indexes, HTableIndexName(t.Name, t.Columns.KeyName))
			}
		}
	}
	return rep, nil
}

func (d *DB) execAll(ctx context.Context, stmts []string) error {
	for _, s := range stmts {
		if _, err := d.sql.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// ensureVersionRow inserts (name, version) into the version table when no
// row for name exists. It reports whether it inserted.
func (d *DB) ensureVersionRow(ctx context.Context, name string, version int) (bool, error) {
	_, found, err := d.TableVersion(ctx, name)
	if err != nil || found {
		return false, err
	}
	q := d.dialect.Quote
	_, err = d.sql.ExecContext(ctx, "INSERT INTO "+q(VersionTable)+" ("+q("table_name")+", "+q("table_version")+") VALUES ("+
		d.dialect.Placeholder(1)+", "+d.dialect.Placeholder(2)+")", name, version)
	if err != nil {
		if d.dialect.isUniqueViolation(err) {
			return false, nil
		}
		return false, fmt.Errorf("insert version row %s=%d: %w", name, version, err)
	}
	return true, nil
}

// TableExists reports whether a table exists.
func (d *DB) TableExists(ctx context.Context, table string) (bool, error) {
	if err := CheckIdent(table); err != nil {
		return false, err
	}
	rows, err := d.sql.QueryContext(ctx, "SELECT 1 FROM "+d.dialect.Quote(table)+" WHERE 1=0")
	if err != nil {
		if d.dialect.IsMissingTable(err) {
			return false, nil
		}
		return false, fmt.Errorf("check table %s: %w", table, err)
	}
	rows.Close()
	return true, nil
}

// TableVersion reads the version row of a table: found is false when the
// version table or the row is missing.
func (d *DB) TableVersion(ctx context.Context, table string) (version int, found bool, err error) {
	q := d.dialect.Quote
	err = d.sql.QueryRowContext(ctx, "SELECT "+q("table_version")+" FROM "+q(VersionTable)+" WHERE "+q("table_name")+" = "+d.dialect.Placeholder(1), table).Scan(&version)
	switch {
	case err == nil:
		return version, true, nil
	case errors.Is(err, sql.ErrNoRows), d.dialect.IsMissingTable(err):
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("read version of table %s: %w", table, err)
}

// ErrMissingTable is wrapped by errors about a table that does not exist.
var ErrMissingTable = errors.New("table does not exist")

// ErrTableVersion is wrapped by errors about a missing or wrong version row.
var ErrTableVersion = errors.New("wrong table version")

// SchemaError is a table that is missing or has the wrong version.
type SchemaError struct {
	Table string
	Want  int
	Have  int  // version found (0 with NoRow)
	NoRow bool // the version table or the table's row is missing
	// Missing is true when the table itself does not exist.
	Missing bool
	URL     string // redacted db_url
}

func (e *SchemaError) Error() string {
	switch {
	case e.Missing:
		return fmt.Sprintf("table %q does not exist in %s (create it with `sipht db init` or Kamailio's kamdbctl)", e.Table, e.URL)
	case e.NoRow:
		return fmt.Sprintf("table %q in %s has no row in the version table (want version %d; create it with `sipht db init` or kamdbctl)", e.Table, e.URL, e.Want)
	}
	return fmt.Sprintf("table %q in %s has version %d, sipht needs version %d (upgrade it as for Kamailio: kamdbctl migrate, or recreate it)", e.Table, e.URL, e.Have, e.Want)
}

// Unwrap lets errors.Is match ErrMissingTable or ErrTableVersion.
func (e *SchemaError) Unwrap() error {
	if e.Missing {
		return ErrMissingTable
	}
	return ErrTableVersion
}

// CheckVersion checks that table exists and that its row in the version
// table says want (auth_db needs subscriber=7; Kamailio's htable checks
// nothing). The error is a *SchemaError.
func (d *DB) CheckVersion(ctx context.Context, table string, want int) error {
	ok, err := d.TableExists(ctx, table)
	if err != nil {
		return err
	}
	if !ok {
		return &SchemaError{Table: table, Want: want, Missing: true, URL: d.url.String()}
	}
	have, found, err := d.TableVersion(ctx, table)
	if err != nil {
		return err
	}
	if !found {
		return &SchemaError{Table: table, Want: want, NoRow: true, URL: d.url.String()}
	}
	if have != want {
		return &SchemaError{Table: table, Want: want, Have: have, URL: d.url.String()}
	}
	return nil
}

// missingTable turns a "no such table" error into a *SchemaError.
func (d *DB) missingTable(table string, err error) error {
	if d.dialect.IsMissingTable(err) {
		return &SchemaError{Table: table, Missing: true, URL: d.url.String()}
	}
	return err
}

// EnsureHTableIndex adds sipht's key index (HTableIndexName) to an htable
// table when it is missing, and reports whether it did.
func (d *DB) EnsureHTableIndex(ctx context.Context, table, keyColumn string) (bool, error) {
	if err := CheckIdent(table); err != nil {
		return false, err
	}
	if err := CheckIdent(keyColumn); err != nil {
		return false, err
	}
	name := HTableIndexName(table, keyColumn)
	exists, err := d.indexExists(ctx, table, name)
	if err != nil {
		return false, err
	}
	if exists {
		return false, nil
	}
	if _, err := d.sql.ExecContext(ctx, d.dialect.createIndexSQL(name, table, keyColumn)); err != nil {
		if again, _ := d.indexExists(ctx, table, name); again {
			return false, nil
		}
		return false, fmt.Errorf("create index %s on %s: %w", name, table, d.missingTable(table, err))
	}
	return true, nil
}

func (d *DB) indexExists(ctx context.Context, table, index string) (bool, error) {
	var q string
	args := []any{index}
	base := table
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[i+1:]
	}
	switch d.url.Driver {
	case SQLite:
		q = "SELECT count(*) FROM sqlite_master WHERE type='index' AND name=?"
	case MySQL:
		q = "SELECT count(*) FROM information_schema.statistics WHERE table_schema=DATABASE() AND index_name=? AND table_name=?"
		args = append(args, base)
	case Postgres:
		q = "SELECT count(*) FROM pg_indexes WHERE indexname=$1 AND tablename=$2"
		args = append(args, base)
	}
	var n int
	if err := d.sql.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return false, fmt.Errorf("look for index %s: %w", index, err)
	}
	return n > 0, nil
}

// ColumnWidths returns the declared VARCHAR length of the key and value
// columns of an htable table (0 when unknown or unbounded; SQLite never
// enforces lengths, so it always returns 0, 0).
func (d *DB) ColumnWidths(ctx context.Context, table string, cols HTableColumns) (Widths, error) {
	cols.fill()
	if d.url.Driver == SQLite {
		return Widths{}, nil
	}
	base := table
	if i := strings.LastIndexByte(base, '.'); i >= 0 {
		base = base[i+1:]
	}
	var q string
	switch d.url.Driver {
	case MySQL:
		q = "SELECT column_name, character_maximum_length FROM information_schema.columns WHERE table_schema=DATABASE() AND table_name=?"
	case Postgres:
		q = "SELECT column_name, character_maximum_length FROM information_schema.columns WHERE table_schema=current_schema() AND table_name=$1"
	}
	rows, err := d.sql.QueryContext(ctx, q, base)
	if err != nil {
		return Widths{}, fmt.Errorf("read column widths of %s: %w", table, err)
	}
	defer rows.Close()
	var w Widths
	for rows.Next() {
		var name string
		var n sql.NullInt64
		if err := rows.Scan(&name, &n); err != nil {
			return Widths{}, fmt.Errorf("read column widths of %s: %w", table, err)
		}
		switch {
		case strings.EqualFold(name, cols.KeyName) && n.Valid:
			w.KeyName = int(n.Int64)
		case strings.EqualFold(name, cols.KeyValue) && n.Valid:
			w.KeyValue = int(n.Int64)
		}
	}
	return w, rows.Err()
}
