package db_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/testutil"
)

// kamailioScripts is where Debian's kamailio package installs the
// creation scripts kamdbctl runs.
const kamailioScripts = "/usr/share/kamailio"

func scriptDir(b *dbtest.Backend) string {
	switch b.Name {
	case "mysql":
		return filepath.Join(kamailioScripts, "mysql")
	case "postgres":
		return filepath.Join(kamailioScripts, "postgres")
	}
	return filepath.Join(kamailioScripts, "db_sqlite")
}

// runScript executes one of Kamailio's *-create.sql files statement by
// statement.
func runScript(t testing.TB, b *dbtest.Backend, file string) {
	t.Helper()
	path := filepath.Join(scriptDir(b), file)
	data, err := os.ReadFile(path)
	if err != nil {
		testutil.Missing(t, "Kamailio's SQL creation scripts", err.Error())
	}
	for _, stmt := range strings.Split(string(data), ";\n") {
		stmt = strings.TrimSpace(stmt)
		if stmt == "" {
			continue
		}
		if _, err := b.DB.SQL().Exec(stmt); err != nil {
			t.Fatalf("%s: %s: %v", path, stmt, err)
		}
	}
}

// column is a column as the database describes it.
type column struct {
	Name, Type, Null, Default, Extra string
}

func describe(t *testing.T, b *dbtest.Backend, table string) (cols []column, indexes []string) {
	t.Helper()
	s := b.DB.SQL()
	// eachRow runs query and scans every row it returns.
	eachRow := func(query string, scan func(*sql.Rows) error, args ...any) {
		t.Helper()
		rows, err := s.Query(query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatal(err)
			}
		}
	}
	scanColumn := func(r *sql.Rows) error {
		var c column
		err := r.Scan(&c.Name, &c.Type, &c.Null, &c.Default, &c.Extra)
		cols = append(cols, c)
		return err
	}
	switch b.Name {
	case "sqlite":
		eachRow("SELECT name, type, \"notnull\", coalesce(dflt_value,'<nil>'), pk FROM pragma_table_info('"+table+"') ORDER BY cid", func(r *sql.Rows) error {
			var c column
			var nn, pk int
			err := r.Scan(&c.Name, &c.Type, &nn, &c.Default, &pk)
			c.Null = fmt.Sprint(nn)
			c.Extra = fmt.Sprint(pk)
			cols = append(cols, c)
			return err
		})
		eachRow(`SELECT il.name, il."unique", group_concat(ii.name, ',') FROM pragma_index_list('`+table+`') il, pragma_index_info(il.name) ii GROUP BY il.name ORDER BY il.name`, func(r *sql.Rows) error {
			var name, colsStr string
			var uniq int
			if err := r.Scan(&name, &uniq, &colsStr); err != nil {
				return err
			}
			if strings.HasPrefix(name, "sqlite_autoindex_") {
				name = "autoindex" // named by position; Kamailio's CONSTRAINT name is not kept
			}
			indexes = append(indexes, fmt.Sprintf("%s unique=%d (%s)", name, uniq, colsStr))
			return nil
		})
		// The named UNIQUE constraint lives in the CREATE text.
		var sqlText string
		if err := s.QueryRow("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", table).Scan(&sqlText); err != nil {
			t.Fatal(err)
		}
		if i := strings.Index(sqlText, "CONSTRAINT"); i >= 0 {
			c := strings.NewReplacer(`"`, "", "`", "").Replace(sqlText[i:])
			indexes = append(indexes, strings.Join(strings.Fields(strings.TrimRight(c, ")\n ")), " "))
		}
	case "mysql":
		eachRow("SELECT column_name, column_type, is_nullable, coalesce(column_default,'<nil>'), extra FROM information_schema.columns WHERE table_schema=DATABASE() AND table_name=? ORDER BY ordinal_position", scanColumn, table)
		eachRow("SELECT index_name, non_unique, group_concat(column_name ORDER BY seq_in_index) FROM information_schema.statistics WHERE table_schema=DATABASE() AND table_name=? GROUP BY index_name, non_unique ORDER BY index_name", func(r *sql.Rows) error {
			var name, colsStr string
			var nonUnique int
			err := r.Scan(&name, &nonUnique, &colsStr)
			indexes = append(indexes, fmt.Sprintf("%s non_unique=%d (%s)", name, nonUnique, colsStr))
			return err
		}, table)
	case "postgres":
		eachRow("SELECT column_name, data_type || coalesce('('||character_maximum_length||')',''), is_nullable, coalesce(column_default,'<nil>'), '' FROM information_schema.columns WHERE table_schema=current_schema() AND table_name=$1 ORDER BY ordinal_position", scanColumn, table)
		eachRow("SELECT indexdef FROM pg_indexes WHERE schemaname=current_schema() AND tablename=$1 ORDER BY indexname", func(r *sql.Rows) error {
			var def string
			err := r.Scan(&def)
			indexes = append(indexes, def)
			return err
		}, table)
	}
	sort.Strings(indexes)
	return cols, indexes
}

func versionRows(t *testing.T, b *dbtest.Backend) map[string]int {
	t.Helper()
	rows, err := b.DB.SQL().Query("SELECT table_name, table_version FROM version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var n string
		var v int
		if err := rows.Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		m[n] = v
	}
	return m
}

// TestSchemaMatchesKamailio creates the tables once with Kamailio's own
// creation scripts and once with Init, and compares what each database
// reports: columns (type, NULL, default, auto-increment), indexes and
// constraints, version rows. The only difference allowed is sipht's extra
// non-unique index on htable.key_name.
func TestSchemaMatchesKamailio(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, kam *dbtest.Backend) {
		var mk func(testing.TB) *dbtest.Backend
		switch kam.Name {
		case "sqlite":
			mk = dbtest.SQLite
		case "mysql":
			mk = dbtest.MySQL
		default:
			mk = dbtest.Postgres
		}
		sip := mk(t)
		runScript(t, kam, "standard-create.sql")
		runScript(t, kam, "htable-create.sql")
		runScript(t, kam, "auth_db-create.sql")
		rep, err := sip.DB.Init(context.Background(), db.HTable("htable"), db.Subscriber("subscriber"))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"version", "htable", "subscriber"}; !reflect.DeepEqual(rep.Created, want) {
			t.Errorf("Init created %v, want %v", rep.Created, want)
		}
		for _, table := range []string{"version", "htable", "subscriber"} {
			kc, ki := describe(t, kam, table)
			sc, si := describe(t, sip, table)
			if len(kc) == 0 {
				t.Fatalf("%s: no columns read for Kamailio's %s", kam.Name, table)
			}
			if !reflect.DeepEqual(kc, sc) {
				t.Errorf("%s table %s columns differ:\nkamailio %v\nsipht    %v", kam.Name, table, kc, sc)
			}
			if table == "htable" {
				// sipht adds one non-unique index on key_name.
				var rest []string
				found := false
				for _, ix := range si {
					if strings.Contains(ix, "htable_key_name_idx") {
						found = true
						continue
					}
					rest = append(rest, ix)
				}
				if !found {
					t.Errorf("%s: no htable_key_name_idx in %v", kam.Name, si)
				}
				si = rest
			}
			if !reflect.DeepEqual(ki, si) {
				t.Errorf("%s table %s indexes differ:\nkamailio %v\nsipht    %v", kam.Name, table, ki, si)
			}
		}
		if kv, sv := versionRows(t, kam), versionRows(t, sip); !reflect.DeepEqual(kv, sv) {
			t.Errorf("%s version rows differ: kamailio %v, sipht %v", kam.Name, kv, sv)
		}
	})
}

func TestInitIdempotentAndNeverDrops(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		ctx := context.Background()
		// A Kamailio-made htable table with data and no sipht index.
		runScript(t, b, "standard-create.sql")
		runScript(t, b, "htable-create.sql")
		b.Exec(t, "INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('a', 0, 0, 'x', 0)")
		rep, err := b.DB.Init(ctx, db.HTable("htable"), db.HTable("ipban"), db.Subscriber("subscriber"))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"ipban", "subscriber"}; !reflect.DeepEqual(rep.Created, want) {
			t.Errorf("created %v, want %v", rep.Created, want)
		}
		if want := []string{"htable_key_name_idx"}; !reflect.DeepEqual(rep.Indexes, want) {
			t.Errorf("indexes %v, want %v", rep.Indexes, want)
		}
		if want := []string{"ipban=2", "subscriber=7"}; !reflect.DeepEqual(rep.VersionRows, want) {
			t.Errorf("version rows %v, want %v", rep.VersionRows, want)
		}
		if n := b.Count(t, "htable"); n != 1 {
			t.Errorf("htable has %d rows after Init, want 1", n)
		}
		rep, err = b.DB.Init(ctx, db.HTable("htable"), db.HTable("ipban"), db.Subscriber("subscriber"))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Created)+len(rep.Indexes)+len(rep.VersionRows)+len(rep.Notes) != 0 {
			t.Errorf("second Init did something: %+v", rep)
		}
		// An existing subscriber table with an old version is reported, not touched.
		b.Exec(t, "UPDATE version SET table_version=6 WHERE table_name='subscriber'")
		rep, err = b.DB.Init(ctx, db.Subscriber("subscriber"))
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Notes) != 1 || !strings.Contains(rep.Notes[0], "version 6") {
			t.Errorf("notes %v", rep.Notes)
		}
	})
}

func TestInitWideAndCustomColumns(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		ctx := context.Background()
		tb := db.Table{Kind: db.KindHTable, Name: "wide", Widths: db.Widths60,
			Columns: db.HTableColumns{KeyName: "kname", KeyValue: "kvalue"}}
		if _, err := b.DB.Init(ctx, tb); err != nil {
			t.Fatal(err)
		}
		cols, _ := describe(t, b, "wide")
		var names []string
		for _, c := range cols {
			names = append(names, c.Name+" "+c.Type)
		}
		got := strings.ToLower(strings.Join(names, ", "))
		for _, want := range []string{"kname", "key_type", "value_type", "kvalue", "expires"} {
			if !strings.Contains(got, want) {
				t.Errorf("columns %s: no %s", got, want)
			}
		}
		if !strings.Contains(got, "256") || !strings.Contains(got, "512") {
			t.Errorf("columns %s: want widths 256 and 512", got)
		}
		if b.Name != "sqlite" {
			w, err := b.DB.ColumnWidths(ctx, "wide", db.HTableColumns{KeyName: "kname", KeyValue: "kvalue"})
			if err != nil {
				t.Fatal(err)
			}
			if w != db.Widths60 {
				t.Errorf("ColumnWidths = %+v", w)
			}
		}
	})
}

func TestCheckVersion(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		ctx := context.Background()
		err := b.DB.CheckVersion(ctx, "subscriber", 7)
		var se *db.SchemaError
		if !errors.As(err, &se) || !se.Missing || !errors.Is(err, db.ErrMissingTable) {
			t.Fatalf("missing table: got %v", err)
		}
		if !strings.Contains(err.Error(), `table "subscriber" does not exist`) || !strings.Contains(err.Error(), "sipht db init") {
			t.Errorf("message: %v", err)
		}
		// Table without version table / row.
		b.Exec(t, "CREATE TABLE subscriber (username VARCHAR(64))")
		err = b.DB.CheckVersion(ctx, "subscriber", 7)
		if !errors.As(err, &se) || !se.NoRow || !errors.Is(err, db.ErrTableVersion) {
			t.Fatalf("no version row: got %v", err)
		}
		if _, err := b.DB.Init(ctx); err != nil { // creates the version table only
			t.Fatal(err)
		}
		b.Exec(t, "INSERT INTO version (table_name, table_version) VALUES ('subscriber', 6)")
		err = b.DB.CheckVersion(ctx, "subscriber", 7)
		if !errors.As(err, &se) || se.Have != 6 || se.Want != 7 {
			t.Fatalf("old version: got %v", err)
		}
		if !strings.Contains(err.Error(), "has version 6, sipht needs version 7") {
			t.Errorf("message: %v", err)
		}
		b.Exec(t, "UPDATE version SET table_version=7 WHERE table_name='subscriber'")
		if err := b.DB.CheckVersion(ctx, "subscriber", 7); err != nil {
			t.Errorf("good version: %v", err)
		}
	})
}

func TestCreateSQLRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "a b", "x;drop", "1abc", `a"b`, "a`b", strings.Repeat("x", 65)} {
		if _, err := (db.Dialect{Driver: db.MySQL}).CreateSQL(db.HTable(name)); err == nil {
			t.Errorf("CreateSQL(%q): no error", name)
		}
	}
	if _, err := (db.Dialect{Driver: db.Postgres}).CreateSQL(db.HTable("public.htable")); err != nil {
		t.Errorf("schema-qualified name: %v", err)
	}
}
