package db_test

import (
	"context"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// Benchmarks of whole-table load and save (1,000,000 rows by default):
//
//	go test -run '^$' -bench 'HTable' -benchtime 1x ./internal/db/
//
// SIPHT_BENCH_ROWS changes the row count; SIPHT_BENCH_DIR puts the SQLite
// files somewhere else than the test's temp dir (e.g. /dev/shm to take the
// disk out of the comparison). SIPHT_BENCH_KAMAILIO=1 adds Kamailio 5.6's
// own load and save of the same rows on SQLite (minutes at 1M rows):
//
//	SIPHT_BENCH_KAMAILIO=1 SIPHT_BENCH_DIR=/dev/shm go test -run '^$' \
//	    -bench 'HTable.*/sqlite|Kamailio' -benchtime 1x -timeout 60m ./internal/db/

func benchRows() int {
	if v, err := strconv.Atoi(os.Getenv("SIPHT_BENCH_ROWS")); err == nil && v > 0 {
		return v
	}
	return 1_000_000
}

// genRows yields n rows shaped like a rate-limit table: half strings, half
// integers, keys "key-<i>".
func genRows(n int, expires int64) iter.Seq[*db.HTableRow] {
	return func(yield func(*db.HTableRow) bool) {
		var r db.HTableRow
		for i := 0; i < n; i++ {
			r = db.HTableRow{KeyName: "key-" + strconv.Itoa(i), Expires: expires}
			if i%2 == 1 {
				r.ValueType = 1
				r.Int = int64(i)
			} else {
				r.KeyValue = "value-" + strconv.Itoa(i)
			}
			if !yield(&r) {
				return
			}
		}
	}
}

func benchBackend(b *testing.B, name string) *dbtest.Backend {
	switch name {
	case "mysql":
		return dbtest.MySQL(b)
	case "postgres":
		return dbtest.Postgres(b)
	}
	dir := os.Getenv("SIPHT_BENCH_DIR")
	if dir == "" {
		return dbtest.SQLite(b)
	}
	dir, err := os.MkdirTemp(dir, "sipht-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	d, err := db.Open(context.Background(), "sqlite://"+filepath.Join(dir, "bench.db"), db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return &dbtest.Backend{Name: "sqlite", URL: "sqlite://" + filepath.Join(dir, "bench.db"), DB: d}
}

// benchBackends runs bench on every backend, with the htable table
// created and, when seeded, holding n rows.
func benchBackends(b *testing.B, seeded bool, bench func(b *testing.B, be *dbtest.Backend, n int)) {
	n := benchRows()
	for _, name := range []string{"sqlite", "mysql", "postgres"} {
		b.Run(name, func(b *testing.B) {
			be := benchBackend(b, name)
			ctx := context.Background()
			if _, err := be.DB.Init(ctx, db.HTable("htable")); err != nil {
				b.Fatal(err)
			}
			if seeded {
				if _, err := be.DB.SaveHTable(ctx, db.SaveOptions{Table: "htable", Expires: true}, genRows(n, 2000000000)); err != nil {
					b.Fatal(err)
				}
			}
			bench(b, be, n)
		})
	}
}

// timeRows runs op b.N times and reports the seconds a run takes
// ("s/<what>") and the rows (n a run) per second.
func timeRows(b *testing.B, n int, what string, op func()) {
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		op()
	}
	sec := time.Since(start).Seconds() / float64(b.N)
	b.ReportMetric(sec, "s/"+what)
	b.ReportMetric(float64(n)/sec, "rows/s")
}

func BenchmarkHTableSave(b *testing.B) {
	benchBackends(b, false, func(b *testing.B, be *dbtest.Backend, n int) {
		ctx := context.Background()
		timeRows(b, n, "save", func() {
			st, err := be.DB.SaveHTable(ctx, db.SaveOptions{Table: "htable", Expires: true}, genRows(n, 2000000000))
			if err != nil {
				b.Fatal(err)
			}
			if st.Written != int64(n) {
				b.Fatalf("wrote %d", st.Written)
			}
		})
	})
}

func BenchmarkHTableLoad(b *testing.B) {
	benchBackends(b, true, func(b *testing.B, be *dbtest.Backend, n int) {
		ctx := context.Background()
		timeRows(b, n, "load", func() {
			// Items go into a map, as an in-memory table would hold them.
			m := make(map[string]db.Item, 1024)
			_, err := be.DB.LoadItems(ctx, db.LoadOptions{Table: "htable", Expires: true}, "", time.Now().Unix(), func(it db.Item) error {
				m[it.Name] = it
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if len(m) != n {
				b.Fatalf("loaded %d", len(m))
			}
		})
	})
}

// BenchmarkHTableLoadStream is the load alone (rows counted, nothing kept):
// the database layer's cost and its memory, which does not grow with n.
func BenchmarkHTableLoadStream(b *testing.B) {
	benchBackends(b, true, func(b *testing.B, be *dbtest.Backend, n int) {
		ctx := context.Background()
		runtime.GC()
		var base, ms runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak uint64
		timeRows(b, n, "load", func() {
			count := 0
			_, err := be.DB.LoadHTable(ctx, db.LoadOptions{Table: "htable", Expires: true}, func(r *db.HTableRow) error {
				count++
				if count%100000 == 0 {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse)
				}
				return nil
			})
			if err != nil || count != n {
				b.Fatal(count, err)
			}
		})
		if peak > base.HeapInuse {
			b.ReportMetric(float64(peak-base.HeapInuse)/(1<<20), "MiB-heap-growth")
		} else {
			b.ReportMetric(0, "MiB-heap-growth")
		}
	})
}

// BenchmarkKamailio56SQLite times Kamailio 5.6's own dbmode=1 load (start
// until htable.stats counts every item) and save (SIGTERM until exit) of
// the same rows, on SQLite.
func BenchmarkKamailio56SQLite(b *testing.B) {
	if os.Getenv("SIPHT_BENCH_KAMAILIO") != "1" {
		b.Skip("set SIPHT_BENCH_KAMAILIO=1 to run Kamailio 5.6's load/save (takes minutes at 1M rows)")
	}
	n := benchRows()
	be := benchBackend(b, "sqlite")
	ctx := context.Background()
	runScript(b, be, "standard-create.sql")
	runScript(b, be, "htable-create.sql")
	if _, err := be.DB.SaveHTable(ctx, db.SaveOptions{Table: "htable"}, genRows(n, 0)); err != nil {
		b.Fatal(err)
	}
	// Checkpoint and leave WAL mode: Kamailio uses the file as it finds it.
	be.DB.SQL().Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	be.DB.SQL().Exec("PRAGMA journal_mode=DELETE")
	path := strings.TrimPrefix(be.URL, "sqlite://")
	be.DB.Close()
	dir := b.TempDir()
	var load, save time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		k := startKamailio(b, dir, path, `exit_timeout=7200
modparam("htable", "fetch_rows", 1000)
modparam("htable", "htable", "h=>size=16;dbtable=htable;dbmode=1;")`, 2048, 1536, 30*time.Minute)
		want := "all: " + strconv.Itoa(n)
		for {
			out, _ := kamailio.Kamcmd(b, k.ctl, "htable.stats")
			if strings.Contains(out, want) {
				break
			}
			if time.Since(start) > 30*time.Minute {
				b.Fatalf("kamailio did not load %d items: %s", n, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
		load += time.Since(start)
		start = time.Now()
		k.stop(2 * time.Hour)
		save += time.Since(start)
	}
	d, err := db.Open(ctx, be.URL, db.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var got int
	d.SQL().QueryRow("SELECT count(*) FROM htable").Scan(&got)
	if got != n {
		b.Errorf("Kamailio saved %d of %d rows", got, n)
	}
	b.ReportMetric(load.Seconds()/float64(b.N), "s/load")
	b.ReportMetric(save.Seconds()/float64(b.N), "s/save")
	fmt.Fprintf(os.Stderr, "kamailio 5.6 sqlite %d rows: load %.2fs save %.2fs\n", n, load.Seconds()/float64(b.N), save.Seconds()/float64(b.N))
}

// BenchmarkWriterSet is the hot-path cost of dbmode=2: recording a change
// (no database I/O happens on this path). Side by side: a plain
// mutex-protected map store, the least any queue could cost.
func BenchmarkWriterSet(b *testing.B) {
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i)
	}
	b.Run("writer", func(b *testing.B) {
		d, err := db.Open(context.Background(), "sqlite://:memory:", db.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		d.Init(context.Background(), db.HTable("htable"))
		w, _ := db.NewWriter(d, db.WriterOptions{Table: "htable", Interval: 50 * time.Millisecond, MaxPending: 1 << 20})
		defer w.Close(context.Background())
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				w.SetInt(keys[i%len(keys)], int64(i), 0)
				i++
			}
		})
	})
	b.Run("mutex-map-baseline", func(b *testing.B) {
		var mu sync.Mutex
		m := map[string]int64{}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				mu.Lock()
				m[keys[i%len(keys)]] = int64(i)
				mu.Unlock()
				i++
			}
		})
	})
}
