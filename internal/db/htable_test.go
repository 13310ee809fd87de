package db_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
)

func seq(rows []db.HTableRow) iter.Seq[*db.HTableRow] {
	return func(yield func(*db.HTableRow) bool) {
		for i := range rows {
			r := rows[i]
			if !yield(&r) {
				return
			}
		}
	}
}

func loadAll(t *testing.T, d *db.DB, o db.LoadOptions) []db.HTableRow {
	t.Helper()
	var out []db.HTableRow
	if _, err := d.LoadHTable(context.Background(), o, func(r *db.HTableRow) error {
		out = append(out, *r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func initHTable(t *testing.T, b *dbtest.Backend, tables ...db.Table) {
	t.Helper()
	if len(tables) == 0 {
		tables = []db.Table{db.HTable("htable")}
	}
	if _, err := b.DB.Init(context.Background(), tables...); err != nil {
		t.Fatal(err)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		ctx := context.Background()
		initHTable(t, b)
		b.Exec(t, "INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('old', 0, 0, 'gone', 0)")
		in := []db.HTableRow{
			{KeyName: "alice", KeyValue: "x"},
			{KeyName: "n", ValueType: 1, Int: -42, Expires: 2000000000},
			{KeyName: "big", ValueType: 1, Int: 1<<62 + 5},
			{KeyName: "empty", KeyValue: ""},
			{KeyName: "utf8", KeyValue: "héllo€ 'quote' \"dq\" \\ ;"},
			{KeyName: "arr[0]", KeyValue: "a0", Expires: 1999999999},
			{KeyName: "arr::size", ValueType: 1, Int: 1},
			{KeyName: "", KeyValue: "empty key"},
		}
		st, err := b.DB.SaveHTable(ctx, db.SaveOptions{Table: "htable", Expires: true, BatchRows: 3}, seq(in))
		if err != nil {
			t.Fatal(err)
		}
		if st.Written != int64(len(in)) || st.Skipped != 0 || st.Deleted != 1 {
			t.Errorf("stats %+v", st)
		}
		got := loadAll(t, b.DB, db.LoadOptions{Table: "htable", Expires: true})
		want := slices.Clone(in)
		for i := range want {
			if want[i].ValueType == 1 {
				want[i].KeyValue = fmt.Sprint(want[i].Int)
			}
		}
		slices.SortFunc(want, func(a, b db.HTableRow) int { return strings.Compare(a.KeyName, b.KeyName) })
		slices.SortStableFunc(got, func(a, b db.HTableRow) int { return strings.Compare(a.KeyName, b.KeyName) })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
		}
		// Rows are stored as Kamailio writes them: key_type 0, ints as text.
		var kt, vt int
		var v string
		if err := b.DB.SQL().QueryRow("SELECT key_type, value_type, key_value FROM htable WHERE key_name='n'").Scan(&kt, &vt, &v); err != nil {
			t.Fatal(err)
		}
		if kt != 0 || vt != 1 || v != "-42" {
			t.Errorf("stored n as key_type=%d value_type=%d key_value=%q", kt, vt, v)
		}
		// Without Expires the column keeps its default 0 and is not read.
		if _, err := b.DB.SaveHTable(ctx, db.SaveOptions{Table: "htable"}, seq(in)); err != nil {
			t.Fatal(err)
		}
		for _, r := range loadAll(t, b.DB, db.LoadOptions{Table: "htable", Expires: true}) {
			if r.Expires != 0 {
				t.Errorf("%s: expires %d written without SaveOptions.Expires", r.KeyName, r.Expires)
			}
		}
	})
}

// The expires column is only selected when asked: a table without it
// loads fine.
func TestLoadWithoutExpiresColumn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		b.Exec(t, "CREATE TABLE noexp (kn VARCHAR(64) NOT NULL, kt INTEGER NOT NULL, vt INTEGER NOT NULL, kv VARCHAR(128) NOT NULL)",
			"INSERT INTO noexp VALUES ('b', 0, 1, '7')", "INSERT INTO noexp VALUES ('a', 0, 0, 'x')")
		cols := db.HTableColumns{KeyName: "kn", KeyType: "kt", ValueType: "vt", KeyValue: "kv"}
		got := loadAll(t, b.DB, db.LoadOptions{Table: "noexp", Columns: cols})
		want := []db.HTableRow{{KeyName: "a", KeyValue: "x"}, {KeyName: "b", ValueType: 1, KeyValue: "7", Int: 7}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v want %+v", got, want)
		}
		_, err := b.DB.LoadHTable(context.Background(), db.LoadOptions{Table: "noexp", Columns: cols, Expires: true}, func(*db.HTableRow) error { return nil })
		if err == nil || !strings.Contains(err.Error(), "noexp") {
			t.Errorf("missing expires column: %v", err)
		}
		// Saving with custom column names.
		if _, err := b.DB.SaveHTable(context.Background(), db.SaveOptions{Table: "noexp", Columns: cols}, seq(want[:1])); err != nil {
			t.Fatal(err)
		}
		if n := b.Count(t, "noexp"); n != 1 {
			t.Errorf("%d rows", n)
		}
	})
}

func TestLoadMissingTable(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		_, err := b.DB.LoadHTable(context.Background(), db.LoadOptions{Table: "nosuch"}, func(*db.HTableRow) error { return nil })
		if !errors.Is(err, db.ErrMissingTable) || !strings.Contains(err.Error(), `"nosuch" does not exist`) {
			t.Errorf("got %v", err)
		}
		_, err = b.DB.SaveHTable(context.Background(), db.SaveOptions{Table: "nosuch"}, seq(nil))
		if !errors.Is(err, db.ErrMissingTable) {
			t.Errorf("save: got %v", err)
		}
	})
}

// Kamailio's array rule, checked against the exact sequences its loader
// produces (ht_db_load_table in 5.6), in database order.
func TestArrayFlattener(t *testing.T) {
	r := func(name string, ktype, vtype int, val string) db.HTableRow {
		row := db.HTableRow{KeyName: name, KeyType: ktype, ValueType: vtype, KeyValue: val}
		if vtype != 0 {
			row.Int, _ = db.ParseInt(val)
		}
		return row
	}
	cases := []struct {
		name   string
		suffix string
		rows   []db.HTableRow
		want   []string
	}{
		{"plain", "", []db.HTableRow{r("a", 0, 0, "x"), r("b", 0, 1, "2")}, []string{"a=s:x", "b=i:2"}},
		{"array then plain", "", []db.HTableRow{r("arr", 1, 0, "a0"), r("arr", 1, 1, "42"), r("arr", 1, 0, "a2"), r("z", 0, 0, "zz")},
			[]string{"arr[0]=s:a0", "arr[1]=i:42", "arr[2]=s:a2", "arr::size=i:3", "z=s:zz"}},
		{"trailing array", "_n", []db.HTableRow{r("a", 0, 0, "x"), r("arr", 1, 0, "a0"), r("arr", 1, 0, "a1")},
			[]string{"a=s:x", "arr[0]=s:a0", "arr[1]=s:a1", "arr_n=i:2"}},
		{"two arrays", "", []db.HTableRow{r("a", 1, 0, "1"), r("b", 1, 0, "2"), r("b", 1, 0, "3")},
			[]string{"a[0]=s:1", "a::size=i:1", "b[0]=s:2", "b[1]=s:3", "b::size=i:2"}},
		// A plain row with the array's name in the middle: Kamailio keeps
		// counting from where it was and emits no size until an array row
		// is followed by another name.
		{"mixed kinds", "", []db.HTableRow{r("a", 1, 0, "1"), r("a", 0, 0, "p"), r("b", 1, 0, "2")},
			[]string{"a[0]=s:1", "a=s:p", "b[1]=s:2", "b::size=i:2"}},
		{"empty name array", "", []db.HTableRow{r("", 1, 0, "1"), r("x", 0, 0, "2")},
			[]string{"[0]=s:1", "x=s:2"}},
	}
	for _, c := range cases {
		var got []string
		emit := func(it db.Item) error {
			if it.IsInt {
				got = append(got, fmt.Sprintf("%s=i:%d", it.Name, it.Int))
			} else {
				got = append(got, fmt.Sprintf("%s=s:%s", it.Name, it.Str))
			}
			return nil
		}
		af := db.ArrayFlattener{Suffix: c.suffix}
		for i := range c.rows {
			if err := af.Push(&c.rows[i], emit); err != nil {
				t.Fatal(err)
			}
		}
		if err := af.Finish(emit); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %v\nwant %v", c.name, got, c.want)
		}
	}
}

func TestLoadItems(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		initHTable(t, b)
		b.Exec(t,
			"INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('arr', 1, 0, 'a0', 0)",
			"INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('arr', 1, 1, '42', 1795688183)",
			"INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('arr', 1, 0, 'old', 100)",
			"INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('fut', 0, 0, 'future', 2000000000)",
			"INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('past', 0, 0, 'x', 5)",
			"INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('n', 0, 1, '-7', 0)",
		)
		now := int64(1700000000)
		var got []db.Item
		used, err := b.DB.LoadItems(context.Background(), db.LoadOptions{Table: "htable", Expires: true}, "", now, func(it db.Item) error {
			got = append(got, it)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Rows of one key_name come back in insertion order on all three
		// databases here (heap order); Kamailio has the same dependence.
		want := []db.Item{
			{Name: "arr[0]", Str: "a0"},
			{Name: "arr[1]", IsInt: true, Int: 42, Expires: 1795688183},
			{Name: "arr::size", IsInt: true, Int: 2, Size: true},
			{Name: "fut", Str: "future", Expires: 2000000000},
			{Name: "n", IsInt: true, Int: -7},
		}
		if used != 4 || !reflect.DeepEqual(got, want) {
			t.Errorf("used %d\n got %+v\nwant %+v", used, got, want)
		}
		// Without db_expires every row loads and no expiry is read.
		got = nil
		used, err = b.DB.LoadItems(context.Background(), db.LoadOptions{Table: "htable"}, "::size", now, func(it db.Item) error {
			got = append(got, it)
			return nil
		})
		if err != nil || used != 6 || len(got) != 7 || got[3].Name != "arr::size" || got[3].Int != 3 {
			t.Errorf("no db_expires: used %d err %v items %+v", used, err, got)
		}
	})
}

func TestLoadBadRows(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		ctx := context.Background()
		b.Exec(t, "CREATE TABLE bad (key_name VARCHAR(64), key_type INTEGER, value_type INTEGER, key_value VARCHAR(128), expires INTEGER)",
			"INSERT INTO bad VALUES ('a', 0, 1, '12x', 0)",
			"INSERT INTO bad VALUES ('b', 0, 1, '99999999999999999999', 0)",
			"INSERT INTO bad VALUES ('c', 0, 0, NULL, 0)",
			"INSERT INTO bad VALUES ('d', NULL, NULL, 'ok', NULL)",
			"INSERT INTO bad VALUES ('e', 0, 1, '', 0)",
			"INSERT INTO bad VALUES ('f', 0, 1, '+5', 0)",
			"INSERT INTO bad VALUES (NULL, 0, 0, 'nokey', 0)",
		)
		_, err := b.DB.LoadHTable(ctx, db.LoadOptions{Table: "bad", Expires: true}, func(*db.HTableRow) error { return nil })
		var re *db.RowError
		if !errors.As(err, &re) {
			t.Fatalf("got %v", err)
		}
		// NULL sorts first on SQLite and MySQL, last on PostgreSQL.
		if b.Name == "postgres" {
			if re.Key != "a" || re.Column != "key_value" || !strings.Contains(err.Error(), `table bad, row 1 (key "a"), column key_value`) || !strings.Contains(err.Error(), `"12x"`) {
				t.Errorf("got %v", err)
			}
		} else if re.Column != "key_name" || !strings.Contains(err.Error(), "table bad, row 1, column key_name: NULL key name") {
			t.Errorf("got %v", err)
		}
		var bad []string
		var good []db.HTableRow
		st, err := b.DB.LoadHTable(ctx, db.LoadOptions{Table: "bad", Expires: true, OnBadRow: func(e *db.RowError) error {
			bad = append(bad, e.Key+"/"+e.Column)
			return nil
		}}, func(r *db.HTableRow) error {
			good = append(good, *r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(bad)
		if want := []string{"/key_name", "a/key_value", "b/key_value", "c/key_value"}; !reflect.DeepEqual(bad, want) {
			t.Errorf("bad rows %v, want %v", bad, want)
		}
		want := []db.HTableRow{{KeyName: "d", KeyValue: "ok"}, {KeyName: "e", ValueType: 1}, {KeyName: "f", ValueType: 1, KeyValue: "+5", Int: 5}}
		if st.Rows != 7 || st.BadRows != 4 || !reflect.DeepEqual(good, want) {
			t.Errorf("stats %+v good %+v", st, good)
		}
	})
}

func TestLoadCols(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		ctx := context.Background()
		b.Exec(t, "CREATE TABLE acl (ip VARCHAR(64) NOT NULL, port INTEGER, note VARCHAR(5000), grp INTEGER)",
			"INSERT INTO acl VALUES ('10.0.0.2', 5060, NULL, 1)",
			"INSERT INTO acl VALUES ('10.0.0.1', NULL, 'home', 2)",
		)
		type kv struct{ k, v string }
		load := func(o db.ColsOptions) ([]kv, error) {
			var out []kv
			_, err := b.DB.LoadCols(ctx, o, func(k, v string) error {
				out = append(out, kv{k, v})
				return nil
			})
			return out, err
		}
		got, err := load(db.ColsOptions{Table: "acl", Columns: []string{"ip", "port", "note", "grp"}})
		if err != nil {
			t.Fatal(err)
		}
		if want := []kv{{"10.0.0.1", "*,home,2"}, {"10.0.0.2", "5060,*,1"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v want %v", got, want)
		}
		got, err = load(db.ColsOptions{Table: "acl", Columns: []string{"ip", "note", "port"}, Delim: "|", NullEmpty: true})
		if err != nil {
			t.Fatal(err)
		}
		if want := []kv{{"10.0.0.1", "home|"}, {"10.0.0.2", "|5060"}}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %v want %v", got, want)
		}
		// An integer key column is read as text.
		got, err = load(db.ColsOptions{Table: "acl", Columns: []string{"grp", "ip"}})
		if err != nil || len(got) != 2 || got[0] != (kv{"1", "10.0.0.2"}) {
			t.Errorf("int key: %v %v", got, err)
		}
		// Too big for Kamailio's 4 KiB buffer.
		b.Exec(t, "INSERT INTO acl VALUES ('10.0.0.3', 1, '"+strings.Repeat("x", 4070)+"', 3)")
		_, err = load(db.ColsOptions{Table: "acl", Columns: []string{"ip", "port", "note", "grp"}})
		var re *db.RowError
		if !errors.As(err, &re) || re.Key != "10.0.0.3" || !strings.Contains(err.Error(), "too large") {
			t.Errorf("got %v", err)
		}
		if _, err := load(db.ColsOptions{Table: "acl", Columns: []string{"ip"}}); err == nil {
			t.Error("one column accepted")
		}
	})
}

// Values longer than the column are skipped and reported on MySQL and
// PostgreSQL (Kamailio logs "failed to store key" per row and goes on);
// the rest of the save is kept.
func TestSaveSkipsRowsThatDoNotFit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		initHTable(t, b)
		long := strings.Repeat("v", 129)
		in := []db.HTableRow{{KeyName: "ok", KeyValue: "fine"}, {KeyName: "long", KeyValue: long}, {KeyName: strings.Repeat("k", 65), KeyValue: "x"},
			{KeyName: "bin", KeyValue: "a\xffb"}, {KeyName: "exp", KeyValue: "x", Expires: 1 << 40}, {KeyName: "wide€", KeyValue: strings.Repeat("€", 128)}}
		var skipped []string
		st, err := b.DB.SaveHTable(context.Background(), db.SaveOptions{Table: "htable", Expires: true, OnSkip: func(r *db.HTableRow, reason string) {
			skipped = append(skipped, r.KeyName[:min(4, len(r.KeyName))]+": "+reason)
		}}, seq(in))
		if err != nil {
			t.Fatal(err)
		}
		if b.Name == "sqlite" {
			if st.Skipped != 0 || st.Written != 6 {
				t.Errorf("sqlite stores everything: %+v %v", st, skipped)
			}
			return
		}
		if st.Written != 2 || st.Skipped != 4 || len(skipped) != 4 {
			t.Errorf("stats %+v skipped %v", st, skipped)
		}
		joined := strings.Join(skipped, "\n")
		for _, want := range []string{"key_value is 129 characters, the column holds 128", "key_name is 65 characters, the column holds 64", "not valid UTF-8", "does not fit"} {
			if !strings.Contains(joined, want) {
				t.Errorf("skip reasons %q lack %q", joined, want)
			}
		}
	})
}

// A failed save (here: cancelled midway) leaves the previous content.
func TestSaveIsAtomic(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		initHTable(t, b)
		b.Exec(t, "INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('keep', 0, 0, 'me', 0)")
		ctx, cancel := context.WithCancel(context.Background())
		rows := func(yield func(*db.HTableRow) bool) {
			for i := 0; i < 5000; i++ {
				if i == 1200 {
					cancel()
				}
				if !yield(&db.HTableRow{KeyName: fmt.Sprint("k", i), KeyValue: "v"}) {
					return
				}
			}
		}
		if _, err := b.DB.SaveHTable(ctx, db.SaveOptions{Table: "htable"}, rows); err == nil {
			t.Fatal("no error from a cancelled save")
		}
		got := loadAll(t, b.DB, db.LoadOptions{Table: "htable"})
		if len(got) != 1 || got[0].KeyName != "keep" {
			t.Errorf("after failed save: %d rows, first %+v", len(got), got[:min(1, len(got))])
		}
	})
}

func TestParseInt(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "-1": -1, "+7": 7, "9223372036854775807": 1<<63 - 1, "-9223372036854775808": -1 << 63} {
		if got, err := db.ParseInt(in); err != nil || got != want {
			t.Errorf("ParseInt(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{" 1", "1 ", "1x", "+", "-", "+-1", "++1", "0x10", "9223372036854775808", "1.5"} {
		if _, err := db.ParseInt(in); !errors.Is(err, db.ErrNotInteger) {
			t.Errorf("ParseInt(%q): %v", in, err)
		}
	}
}

// Loading streams: the live heap does not grow with the table.
func TestLoadStreamsInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	b := dbtest.SQLite(t)
	initHTable(t, b)
	const n = 50000
	if _, err := b.DB.SaveHTable(context.Background(), db.SaveOptions{Table: "htable"}, genRows(n, 0)); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base, ms runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	count := 0
	if _, err := b.DB.LoadHTable(context.Background(), db.LoadOptions{Table: "htable", FetchRows: 1000}, func(r *db.HTableRow) error {
		count++
		if count%10000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("live heap while streaming %d rows: %d -> %d bytes", n, base.HeapAlloc, peak)
	// Holding the rows would take about 5 MiB.
	if count != n || peak > base.HeapAlloc+2<<20 {
		t.Errorf("%d rows, live heap grew from %d to %d bytes", count, base.HeapAlloc, peak)
	}
}

func FuzzParseInt(f *testing.F) {
	for _, s := range []string{"", "0", "-1", "+5", "12x", "9223372036854775808", " 1", "+-1", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := db.ParseInt(s)
		if err != nil {
			return
		}
		// Whatever parses is an optional sign and digits, and reads back.
		body := strings.TrimLeft(s, "+-")
		if len(s)-len(body) > 1 || strings.Trim(body, "0123456789") != "" {
			t.Fatalf("ParseInt(%q) = %d accepted", s, n)
		}
		if s != "" && strings.TrimLeft(strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-"), "0") != strings.TrimLeft(strings.TrimPrefix(strconv.FormatInt(n, 10), "-"), "0") {
			t.Fatalf("ParseInt(%q) = %d", s, n)
		}
	})
}
