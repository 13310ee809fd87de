package db_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/testutil"
)

// content reads the table as key -> "s:value" / "i:value" [+ "@expires"].
func content(t *testing.T, d *db.DB, table string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, r := range loadAll(t, d, db.LoadOptions{Table: table, Expires: true}) {
		v := "s:" + r.KeyValue
		if r.ValueType != 0 {
			v = "i:" + r.KeyValue
		}
		if r.Expires != 0 {
			v += "@" + strconv.FormatInt(r.Expires, 10)
		}
		if _, dup := m[r.KeyName]; dup {
			t.Errorf("key %q stored twice", r.KeyName)
		}
		m[r.KeyName] = v
	}
	return m
}

func newWriter(t *testing.T, d *db.DB, o db.WriterOptions) *db.Writer {
	t.Helper()
	if o.Table == "" {
		o.Table = "htable"
	}
	w, err := db.NewWriter(d, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Close(ctx)
	})
	return w
}

func flush(t *testing.T, w *db.Writer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWriterBasic(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		initHTable(t, b)
		// Rows already there, as after a load.
		b.Exec(t, "INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('pre1', 0, 0, 'a', 0)",
			"INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('pre2', 0, 0, 'keep', 0)",
			"INSERT INTO htable (key_name, key_type, value_type, key_value, expires) VALUES ('gone', 0, 0, 'x', 0)")
		w := newWriter(t, b.DB, db.WriterOptions{Expires: true, Interval: time.Hour})
		w.SetString("s", "hello", 0)
		w.SetInt("i", 5, 2000000000)
		w.SetInt("i", 6, 2000000001) // coalesced
		w.SetString("pre2", "new", 0)
		w.Delete("gone")
		w.Delete("never-existed")
		flush(t, w)
		want := map[string]string{"pre1": "s:a", "pre2": "s:new", "s": "s:hello", "i": "i:6@2000000001"}
		if got := content(t, b.DB, "htable"); !maps.Equal(got, want) {
			t.Errorf("got %v\nwant %v", got, want)
		}
		// Pattern delete is ordered between key changes: x1 set before it
		// and matching goes, x2 set after it stays.
		w.SetString("x1", "a", 0)
		w.DeleteMatching("value == a", func(name, value string, isInt bool) bool { return value == "a" && !isInt })
		w.SetString("x2", "a", 0)
		flush(t, w)
		want = map[string]string{"pre2": "s:new", "s": "s:hello", "i": "i:6@2000000001", "x2": "s:a"}
		if got := content(t, b.DB, "htable"); !maps.Equal(got, want) {
			t.Errorf("after delete-matching got %v\nwant %v", got, want)
		}
		w.SetString("before", "x", 0)
		w.Truncate()
		w.SetString("after", "y", 0)
		flush(t, w)
		if got := content(t, b.DB, "htable"); !maps.Equal(got, map[string]string{"after": "s:y"}) {
			t.Errorf("after truncate got %v", got)
		}
		w.SetString("discarded", "x", 0)
		if n := w.Discard(); n != 1 {
			t.Errorf("Discard() = %d", n)
		}
		flush(t, w)
		st := w.Stats()
		if st.Flushes != 3 || st.Coalesced != 1 || st.Pending != 0 || st.Failures != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// A flood of updates to one key costs one row write.
func TestWriterCoalesces(t *testing.T) {
	b := dbtest.SQLite(t)
	initHTable(t, b)
	w := newWriter(t, b.DB, db.WriterOptions{Interval: time.Hour})
	for i := 0; i < 100000; i++ {
		w.SetInt("hot", int64(i), 0)
	}
	flush(t, w)
	st := w.Stats()
	if st.RowsWritten != 1 || st.Coalesced != 99999 || st.Changes != 100000 {
		t.Errorf("stats %+v", st)
	}
	if got := content(t, b.DB, "htable"); got["hot"] != "i:99999" {
		t.Errorf("got %v", got)
	}
}

// Without Flush, changes reach the database by themselves (Interval).
func TestWriterFlushesByInterval(t *testing.T) {
	b := dbtest.SQLite(t)
	initHTable(t, b)
	w := newWriter(t, b.DB, db.WriterOptions{Interval: 20 * time.Millisecond})
	w.SetString("k", "v", 0)
	deadline := time.Now().Add(30 * time.Second)
	for w.Stats().Flushes == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no flush by interval")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := content(t, b.DB, "htable"); got["k"] != "s:v" {
		t.Errorf("got %v", got)
	}
}

// Overflow: changes beyond MaxPending are dropped and counted, a full save
// from Source catches up.
func TestWriterOverflowFullSave(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		initHTable(t, b)
		var mu sync.Mutex
		mem := map[string]string{} // the "table"
		source := func(yield func(*db.HTableRow) bool) {
			mu.Lock()
			snap := maps.Clone(mem)
			mu.Unlock()
			for k, v := range snap {
				if !yield(&db.HTableRow{KeyName: k, KeyValue: v}) {
					return
				}
			}
		}
		var logs testutil.Buffer
		var needed atomic.Int32
		w := newWriter(t, b.DB, db.WriterOptions{Interval: time.Hour, MaxPending: 10, Source: source,
			OnNeedFullSave: func() { needed.Add(1) },
			Logger:         slog.New(slog.NewTextHandler(&logs, nil))})
		set := func(k, v string) {
			mu.Lock()
			mem[k] = v
			mu.Unlock()
			w.SetString(k, v, 0)
		}
		for i := 0; i < 100; i++ {
			set(fmt.Sprint("k", i), "v")
		}
		st := w.Stats()
		if !st.NeedsFullSave || st.Overflows != 1 || st.Pending != 0 || st.Dropped != 90 {
			t.Fatalf("stats %+v", st)
		}
		if l := logs.String(); !strings.Contains(l, "queue overflow") {
			t.Errorf("no overflow log: %s", l)
		}
		flush(t, w)
		if got := content(t, b.DB, "htable"); len(got) != 100 {
			t.Errorf("after full save: %d rows", len(got))
		}
		st = w.Stats()
		if st.NeedsFullSave || st.FullSaves != 1 || needed.Load() != 1 {
			t.Errorf("stats %+v needed %d", st, needed.Load())
		}
		// Normal queueing resumes.
		set("k1", "changed")
		flush(t, w)
		if got := content(t, b.DB, "htable"); got["k1"] != "s:changed" || len(got) != 100 {
			t.Errorf("after resume: %d rows, k1=%s", len(got), got["k1"])
		}
	})
}

// proxy is a TCP relay the test can cut and restore, to make a database
// server "go away".
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target, conns: map[net.Conn]struct{}{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[s] = struct{}{}, struct{}{}
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { io.Copy(c, s); c.Close() }()
		}
	}()
}

// down refuses new connections and cuts the open ones.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) up() {
	var l net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("proxy up: %v", err)
	}
	p.serve(l)
}

// The database server goes away and comes back: producers never block,
// changes stay queued, are retried with backoff and land once it is back.
func TestWriterServerGoesAway(t *testing.T) {
	for _, drv := range []db.Driver{db.MySQL, db.Postgres} {
		t.Run(drv.String(), func(t *testing.T) {
			direct := dbtest.URL(t, drv)
			u, _ := db.ParseURL(direct, "")
			p := newProxy(t, u.Addr())
			viaProxy := strings.Replace(direct, u.Addr(), p.addr, 1)
			ctx := context.Background()
			d, err := db.Open(ctx, viaProxy, db.Options{StartTimeout: -1, ConnectTimeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Init(ctx, db.HTable("htable")); err != nil {
				t.Fatal(err)
			}
			var logs testutil.Buffer
			w := newWriter(t, d, db.WriterOptions{Interval: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			w.SetString("before", "1", 0)
			flush(t, w)

			p.down()
			for i := 0; i < 1000; i++ { // never blocks although nothing answers
				w.SetInt(fmt.Sprint("k", i%100), int64(i), 0)
			}
			deadline := time.Now().Add(30 * time.Second)
			for w.Stats().Failures < 2 {
				if time.Now().After(deadline) {
					t.Fatalf("no failed attempts while down: %+v", w.Stats())
				}
				time.Sleep(10 * time.Millisecond)
			}
			st := w.Stats()
			if st.Pending != 100 || st.LastError == "" {
				t.Errorf("while down: %+v", st)
			}
			p.up()
			for w.Stats().Pending != 0 || w.Stats().LastError != "" {
				if time.Now().After(deadline) {
					t.Fatalf("not caught up after the server came back: %+v", w.Stats())
				}
				time.Sleep(20 * time.Millisecond)
			}
			got := content(t, d, "htable")
			if len(got) != 101 || got["k7"] != "i:907" || got["before"] != "s:1" {
				t.Errorf("after recovery: %d rows, k7=%s", len(got), got["k7"])
			}
			l := logs.String()
			if strings.Count(l, "database write failed") != 1 || !strings.Contains(l, "work again") {
				t.Errorf("logs:\n%s", l)
			}
		})
	}
}

// lockableSQLite opens a new SQLite database holding the htable table
// twice: d for the code under test and other to take the write lock, which
// d's writes wait busyMS milliseconds for. Both are closed when the test
// ends.
func lockableSQLite(t *testing.T, busyMS int) (d, other *db.DB) {
	t.Helper()
	u := "sqlite://" + filepath.Join(t.TempDir(), "h.db") + "?busy_timeout=" + strconv.Itoa(busyMS)
	d, err := db.Open(context.Background(), u, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Init(context.Background(), db.HTable("htable")); err != nil {
		t.Fatal(err)
	}
	other, err = db.Open(context.Background(), u, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return d, other
}

// SQLite locked by another process: writes wait busy_timeout, fail, and
// succeed once the lock is gone; producers never block meanwhile.
func TestWriterSQLiteLocked(t *testing.T) {
	d, other := lockableSQLite(t, 20)
	w := newWriter(t, d, db.WriterOptions{Interval: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	tx, err := other.SQL().Begin() // BEGIN IMMEDIATE: holds the write lock
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("INSERT INTO htable (key_name) VALUES ('other')"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		w.SetInt(fmt.Sprint("k", i), int64(i), 0)
	}
	deadline := time.Now().Add(30 * time.Second)
	for w.Stats().Failures == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no failure while locked")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(w.Stats().LastError, "locked") && !strings.Contains(w.Stats().LastError, "busy") {
		t.Errorf("last error %q", w.Stats().LastError)
	}
	tx.Commit()
	for w.Stats().Pending != 0 || w.Stats().LastError != "" {
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: %+v", w.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := content(t, d, "htable"); len(got) != 51 {
		t.Errorf("%d rows", len(got))
	}
}

// Many producers, concurrent flushes: the database ends with each key's
// last value (run with -race).
func TestWriterConcurrent(t *testing.T) {
	b := dbtest.SQLite(t)
	initHTable(t, b)
	w := newWriter(t, b.DB, db.WriterOptions{Interval: 5 * time.Millisecond})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				key := fmt.Sprintf("g%d-k%d", g, i%50)
				if i%7 == 0 {
					w.Delete(key)
				} else {
					w.SetInt(key, int64(i), 0)
				}
			}
		}()
	}
	wg.Wait()
	flush(t, w)
	got := content(t, b.DB, "htable")
	for g := 0; g < 8; g++ {
		for k := 0; k < 50; k++ {
			last := 1950 + k // last i with i%50 == k
			key := fmt.Sprintf("g%d-k%d", g, k)
			if last%7 == 0 {
				if _, ok := got[key]; ok {
					t.Errorf("%s present, want deleted", key)
				}
			} else if got[key] != "i:"+strconv.Itoa(last) {
				t.Errorf("%s = %q, want i:%d", key, got[key], last)
			}
		}
	}
}

// Close writes what is queued; with the server gone it gives up when ctx
// ends and says how much was lost.
func TestWriterClose(t *testing.T) {
	b := dbtest.SQLite(t)
	initHTable(t, b)
	w, err := db.NewWriter(b.DB, db.WriterOptions{Table: "htable", Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	w.SetString("a", "1", 0)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := content(t, b.DB, "htable"); got["a"] != "s:1" {
		t.Errorf("got %v", got)
	}
	w.SetString("late", "x", 0) // after Close: dropped, counted
	if st := w.Stats(); st.Dropped != 1 {
		t.Errorf("stats %+v", st)
	}

	pg := dbtest.URL(t, db.Postgres)
	u, _ := db.ParseURL(pg, "")
	p := newProxy(t, u.Addr())
	d, err := db.Open(context.Background(), strings.Replace(pg, u.Addr(), p.addr, 1), db.Options{StartTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.Init(context.Background(), db.HTable("htable"))
	w, _ = db.NewWriter(d, db.WriterOptions{Table: "htable", Interval: time.Hour, MaxBackoff: 20 * time.Millisecond})
	p.down()
	w.SetString("lost", "x", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err = w.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "1 queued keys not written") {
		t.Errorf("Close with server down: %v", err)
	}
}

// The crash test: a process feeding a Writer is killed with SIGKILL; every
// change older than the flush interval is in the database afterwards.
func TestWriterSurvivesKill9(t *testing.T) {
	if os.Getenv("SIPHT_WRITER_CHILD") != "" {
		writerChild()
		return
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			var u string
			if name == "sqlite" {
				u = "sqlite://" + filepath.Join(t.TempDir(), "crash.db")
			} else {
				u = dbtest.URL(t, db.Postgres)
			}
			d, err := db.Open(context.Background(), u, db.Options{StartTimeout: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if _, err := d.Init(context.Background(), db.HTable("htable")); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestWriterSurvivesKill9$")
			cmd.Env = append(os.Environ(), "SIPHT_WRITER_CHILD="+u)
			out, _ := cmd.StdoutPipe()
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			// The child prints "set N" after each batch of changes; the
			// changes stay unflushed only up to the interval (50 ms).
			sc := bufio.NewScanner(out)
			var acked int
			for sc.Scan() {
				if n, ok := strings.CutPrefix(sc.Text(), "set "); ok {
					acked, _ = strconv.Atoi(n)
					if acked >= 3000 {
						break
					}
				}
			}
			// Wait until the child's own flush stats say everything up to
			// acked is written, by reading the database, then kill -9.
			deadline := time.Now().Add(30 * time.Second)
			for {
				var n int
				d.SQL().QueryRow("SELECT count(*) FROM htable").Scan(&n)
				if n >= acked {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("only %d of %d rows reached the database", n, acked)
				}
				time.Sleep(20 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			d2, err := db.Open(context.Background(), u, db.Options{StartTimeout: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer d2.Close()
			got := content(t, d2, "htable")
			for i := 0; i < acked; i++ {
				if got[fmt.Sprintf("k%06d", i)] != "i:"+strconv.Itoa(i) {
					t.Fatalf("after kill -9: k%06d = %q (of %d acknowledged)", i, got[fmt.Sprintf("k%06d", i)], acked)
				}
			}
			t.Logf("%d changes acknowledged, %d rows after kill -9", acked, len(got))
		})
	}
}

func writerChild() {
	u := os.Getenv("SIPHT_WRITER_CHILD")
	d, err := db.Open(context.Background(), u, db.Options{StartTimeout: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w, err := db.NewWriter(d, db.WriterOptions{Table: "htable", Interval: 50 * time.Millisecond})
	if err != nil {
		os.Exit(2)
	}
	for i := 0; ; i++ {
		w.SetInt(fmt.Sprintf("k%06d", i), int64(i), 0)
		if i%100 == 99 {
			fmt.Printf("set %d\n", i+1)
			time.Sleep(time.Millisecond)
		}
		if i > 1_000_000 {
			select {} // wait for the kill
		}
	}
}

// A failed batch is re-queued in front of newer changes, keeping order
// with pattern deletes and truncates.
func TestWriterRequeueKeepsOrder(t *testing.T) {
	d, other := lockableSQLite(t, 10)
	d.SQL().Exec("INSERT INTO htable (key_name, value_type, key_value) VALUES ('old-a', 0, 'x'), ('old-b', 0, 'y')")
	w := newWriter(t, d, db.WriterOptions{Interval: time.Hour})
	lock := func() func() {
		tx, err := other.SQL().Begin()
		if err != nil {
			t.Fatal(err)
		}
		tx.Exec("INSERT INTO htable (key_name) VALUES ('lock')")
		return func() { tx.Rollback() }
	}
	unlock := lock()
	w.SetString("a", "1", 0)
	w.SetString("c", "keep", 0)
	if err := w.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded while locked")
	}
	// Newer changes arrive after the failed batch.
	w.DeleteMatching("name ^a or old-a", func(name, _ string, _ bool) bool { return name == "a" || name == "old-a" })
	w.SetString("b", "2", 0)
	if err := w.Flush(context.Background()); err == nil {
		t.Fatal("flush succeeded while locked")
	}
	w.SetString("a", "3", 0)
	unlock()
	flush(t, w)
	want := map[string]string{"a": "s:3", "b": "s:2", "c": "s:keep", "old-b": "s:y"}
	if got := content(t, d, "htable"); !maps.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	unlock = lock()
	w.SetString("x", "1", 0)
	w.Flush(context.Background())
	w.Truncate()
	w.SetString("y", "2", 0)
	w.Flush(context.Background())
	unlock()
	flush(t, w)
	if got := content(t, d, "htable"); !maps.Equal(got, map[string]string{"y": "s:2"}) {
		t.Errorf("after truncate: %v", got)
	}
	if st := w.Stats(); st.Failures != 4 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
}
