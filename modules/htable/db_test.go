package htable

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/ctlcli"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/testutil"
)

// live is a server a test starts and stops itself (to check what Stop
// saves).
type live struct {
	srv    *server.Server
	mod    *Module
	ctl    string
	logs   *testutil.Buffer
	cancel func()
	done   chan error
}

func startLive(t *testing.T, src string) *live {
	t.Helper()
	registerKit()
	logs := &testutil.Buffer{}
	srv, err := server.Load(server.Options{Source: []byte(src), SourceName: "test.cfg",
		Logger: slog.New(logging.NewTextHandler(logs, logging.LevelDebug))})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &live{srv: srv, logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- srv.Run(ctx) }()
	t.Cleanup(func() { l.stop(t) })
	select {
	case <-srv.Ready():
	case err := <-l.done:
		l.done <- err
		t.Fatalf("server: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatal("server not ready")
	}
	m, _ := srv.Module("htable")
	l.mod = m.(*Module)
	dir := testutil.ShortTempDir(t)
	b, err := binrpc.Listen(ctx, "unixs:"+filepath.Join(dir, "ctl"), binrpc.Options{Registry: srv.RPC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	l.ctl = b.Spec()
	return l
}

// stop stops the server (once) and returns Run's error.
func (l *live) stop(t *testing.T) error {
	if l.cancel == nil {
		return nil
	}
	l.cancel()
	l.cancel = nil
	select {
	case err := <-l.done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("server did not stop")
	}
	return nil
}

// ctl runs `sipht ctl` against the server and returns its output.
func (l *live) ctlRun(args ...string) string {
	var o, e bytes.Buffer
	ctlcli.Main(append([]string{"-s", l.ctl}, args...), &o, &e)
	return o.String() + e.String()
}

// rowsOf reads an htable table as sorted "name|ktype|vtype|value|expires"
// lines (expires as "E" when set, "0" otherwise, unless exact).
func rowsOf(t *testing.T, d *db.DB, table string, exact bool) []string {
	t.Helper()
	q := d.Dialect().Quote
	rows, err := d.SQL().Query("SELECT key_name,key_type,value_type,key_value,expires FROM " + q(table))
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, v string
		var kt, vt, ex int64
		if err := rows.Scan(&k, &kt, &vt, &v, &ex); err != nil {
			t.Fatal(err)
		}
		e := "0"
		if ex != 0 {
			e = "E"
			if exact {
				e = fmt.Sprint(ex)
			}
		}
		out = append(out, fmt.Sprintf("%s|%d|%d|%s|%s", k, kt, vt, v, e))
	}
	sort.Strings(out)
	return out
}

func dbConfig(url string, tables []string, extra string) string {
	return config(tables, `modparam("htable", "db_url", "`+url+`")`+"\n"+extra+"request_route { exit; }\n")
}

// TestDBLoadSave runs every DB option on SQLite, MariaDB and PostgreSQL:
// load at start with Kamailio's rules (arrays, expired rows, expires
// column with db_expires=1), dbmode=1 save at stop, cols= tables,
// htable.reload, htable.store, custom column names.
func TestDBLoadSave(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		ctx := context.Background()
		if _, err := b.DB.Init(ctx, db.HTable("h"), db.HTable("p")); err != nil {
			t.Fatal(err)
		}
		now := time.Now().Unix()
		b.Exec(t,
			"INSERT INTO h (key_name,key_type,value_type,key_value,expires) VALUES ('plain',0,0,'hello',0)",
			"INSERT INTO h (key_name,key_type,value_type,key_value,expires) VALUES ('num',0,1,'42',0)",
			"INSERT INTO h (key_name,key_type,value_type,key_value,expires) VALUES ('arr',1,0,'a0',0)",
			"INSERT INTO h (key_name,key_type,value_type,key_value,expires) VALUES ('arr',1,1,'7',0)",
			fmt.Sprintf("INSERT INTO h (key_name,key_type,value_type,key_value,expires) VALUES ('old',0,0,'gone',%d)", now-100),
			fmt.Sprintf("INSERT INTO h (key_name,key_type,value_type,key_value,expires) VALUES ('fut',0,0,'future',%d)", now+1000),
			"INSERT INTO h (key_name,key_type,value_type,key_value,expires) VALUES ('bad',0,1,'x1',0)",
			"INSERT INTO p (key_name,key_type,value_type,key_value,expires) VALUES ('k',0,0,'v',0)",
			"CREATE TABLE c (k VARCHAR(32), c1 VARCHAR(32), c2 INTEGER)",
			"INSERT INTO c (k,c1,c2) VALUES ('one','a',1)",
			"INSERT INTO c (k,c1,c2) VALUES ('two',NULL,2)",
		)
		l := startLive(t, dbConfig(b.URL, []string{
			"h=>size=4;autoexpire=3600;dbtable=h;dbmode=1",
			"p=>size=4;dbtable=p",
			"cc=>dbtable=c;cols='k,c1,c2';coldelim=';';colnull='-';dbmode=1",
			"nodb=>size=4",
		}, `modparam("htable", "db_expires", 1)`+"\n"))
		h := l.mod.Table("h")
		check := func(key string, want ht.Value) {
			t.Helper()
			if got, _ := h.Get(key); !got.Equal(want) {
				t.Errorf("%s = %#v, want %#v", key, got, want)
			}
		}
		check("plain", ht.Str("hello"))
		check("num", ht.Int(42))
		// array rows come in database order (ORDER BY key_name: rows with
		// the same name in any order)
		a0, _ := h.Get("arr[0]")
		a1, _ := h.Get("arr[1]")
		if !(a0.Equal(ht.Str("a0")) && a1.Equal(ht.Int(7))) && !(a1.Equal(ht.Str("a0")) && a0.Equal(ht.Int(7))) {
			t.Errorf("arr[0], arr[1] = %v, %v", a0, a1)
		}
		check("arr::size", ht.Int(2))
		check("old", ht.Value{})
		check("bad", ht.Value{}) // bad rows are skipped with a warning
		if ttl := h.TTL("fut"); ttl < 990 || ttl > 1000 {
			t.Errorf("fut ttl %d, want the row's expires", ttl)
		}
		if ttl := h.TTL("plain"); ttl < 3590 || ttl > 3600 {
			t.Errorf("plain ttl %d, want autoexpire", ttl)
		}
		if !strings.Contains(l.logs.String(), "bad") {
			t.Errorf("bad row not reported:\n%s", l.logs)
		}
		cc := l.mod.Table("cc")
		if v, _ := cc.Get("one"); v.Str() != "a;1" {
			t.Errorf("cols one = %v", v)
		}
		if v, _ := cc.Get("two"); v.Str() != "-;2" {
			t.Errorf("cols two = %v", v)
		}

		// htable.store / reload / faults
		if got := l.ctlRun("htable.store", "nodb"); got != "error: 500 - No database htable\n" {
			t.Errorf("store nodb: %q", got)
		}
		if got := l.ctlRun("htable.reload", "nosuch"); got != "error: 500 - No such htable\n" {
			t.Errorf("reload nosuch: %q", got)
		}
		if got := l.ctlRun("htable.reload"); got != "error: 500 - No htable name given\n" {
			t.Errorf("reload without name: %q", got)
		}
		l.ctlRun("htable.sets", "p", "added", "x")
		if got := l.ctlRun("htable.store", "p"); got != "Ok. Htable successfully stored to DB.\n" {
			t.Errorf("store p: %q", got)
		}
		if got := rowsOf(t, b.DB, "p", false); strings.Join(got, " ") != "added|0|0|x|0 k|0|0|v|0" {
			t.Errorf("p rows after store: %q", got)
		}
		b.Exec(t, "DELETE FROM p WHERE key_name='k'", "INSERT INTO p (key_name,key_type,value_type,key_value,expires) VALUES ('fresh',0,1,'9',0)")
		if got := l.ctlRun("htable.reload", "p"); got != "Ok. Htable reloaded.\n" {
			t.Errorf("reload p: %q", got)
		}
		p := l.mod.Table("p")
		if _, ok := p.Get("k"); ok {
			t.Errorf("reload kept a key the database no longer has")
		}
		if v, _ := p.Get("fresh"); v.Int() != 9 {
			t.Errorf("reload: fresh = %v", v)
		}
		if got := l.ctlRun("htable.store", "cc"); got != "Ok. Htable successfully stored to DB.\n" {
			t.Errorf("store cols table: %q", got)
		}

		// dbmode=1: changes are saved at stop, the whole table rewritten
		h.SetInt("num", 43)
		h.Delete("plain")
		h.SetStr("new", "n")
		if err := l.stop(t); err != nil {
			t.Fatal(err)
		}
		got := rowsOf(t, b.DB, "h", false)
		want := []string{"arr::size|0|1|2|E", "arr[0]|0|0|a0|E", "arr[1]|0|1|7|E", "fut|0|0|future|E", "new|0|0|n|E", "num|0|1|43|E"}
		if a0.IsInt() {
			want[1], want[2] = "arr[0]|0|1|7|E", "arr[1]|0|0|a0|E"
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("h rows after stop:\n got %q\nwant %q", got, want)
		}
		if n := b.Count(t, "c"); n != 2 {
			t.Errorf("cols table written: %d rows", n)
		}
		if got := rowsOf(t, b.DB, "p", false); strings.Join(got, " ") != "added|0|0|x|0 fresh|0|1|9|0" {
			t.Errorf("p (dbmode=0) changed at stop: %q", got)
		}
	})
}

// TestDBColumns: the *_column modparams, array_size_suffix and
// fetch_rows on the three databases; the table is created with Kamailio's
// schema (and the custom names) when missing.
func TestDBColumns(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		src := dbConfig(b.URL, []string{"h=>size=4;dbtable=hx;dbmode=1;autoexpire=60"}, `
modparam("htable", "key_name_column", "kn")
modparam("htable", "key_type_column", "kt")
modparam("htable", "value_type_column", "vt")
modparam("htable", "key_value_column", "kv")
modparam("htable", "expires_column", "ex")
modparam("htable", "db_expires", 1)
modparam("htable", "array_size_suffix", "#n")
modparam("htable", "fetch_rows", 2)
`)
		l := startLive(t, src)
		l.mod.Table("h").SetStr("a", "1")
		l.stop(t)
		var kn, kv string
		var ex int64
		if err := b.DB.SQL().QueryRow("SELECT kn, kv, ex FROM hx").Scan(&kn, &kv, &ex); err != nil {
			t.Fatal(err)
		}
		if kn != "a" || kv != "1" || ex == 0 {
			t.Fatalf("row %q %q %d", kn, kv, ex)
		}
		b.Exec(t, "INSERT INTO hx (kn,kt,vt,kv,ex) VALUES ('arr',1,0,'x',0)", "INSERT INTO hx (kn,kt,vt,kv,ex) VALUES ('arr',1,0,'y',0)",
			"INSERT INTO hx (kn,kt,vt,kv,ex) VALUES ('z1',0,0,'1',0)", "INSERT INTO hx (kn,kt,vt,kv,ex) VALUES ('z2',0,0,'2',0)")
		l = startLive(t, src)
		if v, _ := l.mod.Table("h").Get("arr#n"); v.Int() != 2 {
			t.Fatalf("array size item with suffix #n: %v", v)
		}
		if n := l.mod.Table("h").Len(); n != 6 {
			t.Fatalf("%d items loaded 2 rows at a time, want 6", n)
		}
	})
}

// TestSQLiteRelativePath: sqlite:///./data/x.db is relative to workdir
// (Kamailio's rule); the directory and the file are created.
func TestSQLiteRelativePath(t *testing.T) {
	dir := t.TempDir()
	l := startLive(t, config([]string{"h=>size=4;dbtable=h;dbmode=1"}, `
workdir="`+dir+`"
modparam("htable", "db_url", "sqlite:///./data/x.db")
request_route { exit; }
`))
	l.mod.Table("h").SetStr("a", "1")
	l.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "data", "x.db")); err != nil {
		t.Fatal(err)
	}
}

// TestDBStartFailures: a db_url that cannot be opened, or a table that
// cannot be loaded, aborts start-up as in Kamailio.
func TestDBStartFailures(t *testing.T) {
	registerKit()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "notadb"), []byte("this is not a database file, just text .........................................................."), 0o600)
	for _, tc := range []struct{ name, url, table string }{
		{"not a database", "sqlite://" + filepath.Join(dir, "notadb"), "h=>dbtable=h"},
		{"cols table missing", "sqlite://" + filepath.Join(dir, "ok.db"), "h=>dbtable=nosuch;cols='a,b'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := loadErr(dbConfig(tc.url, []string{tc.table}, ""))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Run(ctx); err == nil || !strings.Contains(err.Error(), "module htable") {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

// waitRows polls table until its rows are want.
func waitRows(t *testing.T, d *db.DB, table string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := rowsOf(t, d, table, false)
		if strings.Join(got, " ") == strings.Join(want, " ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s rows:\n got %q\nwant %q", table, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWriteBehind runs dbmode=2 on the three databases: every kind of
// change reaches the database within the interval, expiry times survive a
// restart, a queue overflow falls back to a full save, Stop flushes.
func TestWriteBehind(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		cfg := dbConfig(b.URL, []string{"w=>size=4;dbtable=w;dbmode=2;autoexpire=600", "n=>size=2;dbtable=n;dbmode=2"}, `
modparam("htable", "write_behind_interval", "30ms")
modparam("htable", "write_behind_max_pending", 50)
`)
		l := startLive(t, cfg)
		w, n := l.mod.Table("w"), l.mod.Table("n")
		w.SetStr("s", "v")
		w.SetInt("i", 1)
		w.Inc("i")
		n.SetStr("a", "x")
		n.SetStr("b", "y")
		waitRows(t, b.DB, "w", "i|0|1|2|E", "s|0|0|v|E")
		waitRows(t, b.DB, "n", "a|0|0|x|0", "b|0|0|y|0")
		w.Delete("s")
		n.RemoveNames(ht.MatchPrefix, "a")
		waitRows(t, b.DB, "w", "i|0|1|2|E")
		waitRows(t, b.DB, "n", "b|0|0|y|0")
		// an expiry change is written with the item's value
		w.SetExpire("i", 30)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := rowsOf(t, b.DB, "w", true)
			var ex int64
			if len(r) == 1 {
				fmt.Sscanf(r[0][strings.LastIndexByte(r[0], '|')+1:], "%d", &ex)
			}
			if now := time.Now().Unix(); ex >= now+25 && ex <= now+31 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("expires after SetExpire: %q", r)
			}
			time.Sleep(20 * time.Millisecond)
		}
		n.Reset()
		waitRows(t, b.DB, "n")
		// overflow: more distinct keys than write_behind_max_pending
		for i := range 200 {
			n.SetInt(fmt.Sprintf("k%03d", i), int64(i))
		}
		deadline = time.Now().Add(20 * time.Second)
		for b.Count(t, "n") != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("after overflow: %d rows", b.Count(t, "n"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		got := gather(t, l.srv.Metrics.Gather)
		if !containsPrefix(got, `sipht_htable_writebehind_overflows_total{table="n"} `) ||
			containsPrefix(got, `sipht_htable_writebehind_overflows_total{table="n"} 0`) {
			t.Errorf("no overflow counted: %q", got)
		}
		// the last changes are flushed by Stop
		n.SetStr("last", "z")
		w.SetStr("last", "z")
		if err := l.stop(t); err != nil {
			t.Fatal(err)
		}
		if b.Count(t, "n") != 201 {
			t.Errorf("stop did not flush n: %d rows", b.Count(t, "n"))
		}
		// restart: values and expiry times come back
		l2 := startLive(t, cfg)
		w2 := l2.mod.Table("w")
		if v, _ := w2.Get("last"); v.Str() != "z" {
			t.Errorf("last after restart: %v", v)
		}
		if ttl := w2.TTL("i"); ttl < 20 || ttl > 30 {
			t.Errorf("i ttl after restart %d, want ~30 (the stored expiry)", ttl)
		}
		if l2.mod.Table("n").Len() != 201 {
			t.Errorf("n after restart: %d items", l2.mod.Table("n").Len())
		}
	})
}

func containsPrefix(lines []string, p string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// TestDBEmptyTableSaved: a dbmode=1 table whose database table was empty
// at start is saved at stop. Kamailio 5.6 never marks such a table as
// loaded and silently skips its shutdown save
// (docs/kamailio-differences.md).
func TestDBEmptyTableSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.db")
	l := startLive(t, dbConfig("sqlite://"+path, []string{"h=>size=4;dbtable=h;dbmode=1"}, ""))
	l.mod.Table("h").SetStr("k", "v")
	if err := l.stop(t); err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(context.Background(), "sqlite://"+path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := rowsOf(t, d, "h", false); strings.Join(got, " ") != "k|0|0|v|0" {
		t.Fatalf("rows %q", got)
	}
}
