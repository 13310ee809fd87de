package db_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/testutil"
)

// deadPort returns a loopback port nothing listens on.
func deadPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestOpenUnreachableRetries(t *testing.T) {
	for _, scheme := range []string{"mysql", "postgres"} {
		t.Run(scheme, func(t *testing.T) {
			port := deadPort(t)
			var logBuf bytes.Buffer
			u := scheme + "://sipht:topsecretpw@127.0.0.1:" + strconv.Itoa(port) + "/kamailio"
			start := time.Now()
			_, err := db.Open(context.Background(), u, db.Options{
				MaxAttempts: 4, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
				Logger: slog.New(slog.NewTextHandler(&logBuf, nil)),
			})
			if err == nil {
				t.Fatal("no error")
			}
			var ce *db.ConnectError
			if !errors.As(err, &ce) || ce.Attempts != 4 || ce.Permanent {
				t.Fatalf("error %#v", err)
			}
			msg := err.Error()
			for _, want := range []string{"127.0.0.1:" + strconv.Itoa(port), "after 4 attempts", `database "kamailio"`, `user "sipht"`, "refused"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg+logBuf.String(), "topsecretpw") {
				t.Errorf("password printed: %s\n%s", msg, logBuf.String())
			}
			if n := strings.Count(logBuf.String(), "retrying"); n != 3 {
				t.Errorf("%d retry warnings logged, want 3:\n%s", n, logBuf.String())
			}
			if time.Since(start) > 20*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

func TestOpenCancel(t *testing.T) {
	port := deadPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err := db.Open(ctx, "mysql://u@127.0.0.1:"+strconv.Itoa(port)+"/d", db.Options{InitialBackoff: time.Hour, StartTimeout: time.Hour})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

// A server that accepts but never answers: the per-attempt timeout and the
// start timeout bound the wait.
func TestOpenSilentServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	_, err = db.Open(context.Background(), "postgres://u@"+l.Addr().String()+"/d", db.Options{
		ConnectTimeout: 200 * time.Millisecond, StartTimeout: time.Second, InitialBackoff: 50 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("got %v", err)
	}
}

func TestOpenPermanentErrors(t *testing.T) {
	t.Run("mysql-bad-password", func(t *testing.T) {
		testutil.Dial(t, "MariaDB/MySQL server", "127.0.0.1:3306")
		_, err := db.Open(context.Background(), "mysql://sipht_nobody:wrongpassword1@127.0.0.1:3306/mysql", db.Options{})
		var ce *db.ConnectError
		if !errors.As(err, &ce) || !ce.Permanent || ce.Attempts != 1 {
			t.Fatalf("got %v", err)
		}
		if !strings.Contains(err.Error(), "Access denied") || strings.Contains(err.Error(), "wrongpassword1") {
			t.Errorf("message %q", err)
		}
	})
	t.Run("mysql-unknown-db", func(t *testing.T) {
		testutil.Dial(t, "MariaDB/MySQL server", "127.0.0.1:3306")
		_, err := db.Open(context.Background(), "mysql://"+dbtest.Server(db.MySQL)+"/sipht_no_such_db", db.Options{})
		var ce *db.ConnectError
		if !errors.As(err, &ce) || !ce.Permanent || !strings.Contains(err.Error(), "sipht_no_such_db") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("postgres-unknown-db", func(t *testing.T) {
		testutil.Dial(t, "PostgreSQL server", "127.0.0.1:5432")
		_, err := db.Open(context.Background(), "postgres://"+dbtest.Server(db.Postgres)+"/sipht_no_such_db", db.Options{})
		var ce *db.ConnectError
		if !errors.As(err, &ce) || !ce.Permanent || !strings.Contains(err.Error(), "sipht_no_such_db") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("sqlite-missing-dir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		_, err := db.Open(context.Background(), "sqlite://"+dir+"/x.db", db.Options{})
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "no such file") {
			t.Fatalf("got %v", err)
		}
		d, err := db.Open(context.Background(), "sqlite://"+dir+"/x.db", db.Options{CreateDir: true})
		if err != nil {
			t.Fatalf("CreateDir: %v", err)
		}
		d.Close()
	})
	t.Run("sqlite-not-a-database", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "junk.db")
		os.WriteFile(p, bytes.Repeat([]byte("not a database "), 100), 0o600)
		_, err := db.Open(context.Background(), "sqlite://"+p, db.Options{})
		if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "not a database") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestOpenSQLiteRelativeAndPragmas(t *testing.T) {
	wd := t.TempDir()
	d, err := db.Open(context.Background(), "sqlite:///./data/x.db", db.Options{WorkDir: wd, CreateDir: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := os.Stat(filepath.Join(wd, "data", "x.db")); err != nil {
		t.Fatal(err)
	}
	var mode string
	var busy int
	d.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode)
	d.SQL().QueryRow("PRAGMA busy_timeout").Scan(&busy)
	if mode != "wal" || busy != 5000 {
		t.Errorf("journal_mode=%s busy_timeout=%d, want wal 5000", mode, busy)
	}
	d2, err := db.Open(context.Background(), "sqlite://"+wd+"/y.db?journal_mode=delete&busy_timeout=100", db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	d2.SQL().QueryRow("PRAGMA journal_mode").Scan(&mode)
	d2.SQL().QueryRow("PRAGMA busy_timeout").Scan(&busy)
	if mode != "delete" || busy != 100 {
		t.Errorf("journal_mode=%s busy_timeout=%d, want delete 100", mode, busy)
	}
	// A path with URI specials.
	odd := filepath.Join(wd, "a?b#c%d e.db")
	d3, err := db.Open(context.Background(), "sqlite://"+strings.ReplaceAll(odd, "?", "%3F"), db.Options{})
	if err == nil {
		d3.SQL().Exec("CREATE TABLE t (x)")
		d3.Close()
	}
	d4, err := db.Open(context.Background(), "sqlite://"+filepath.Join(wd, "a#c%d e.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d4.SQL().Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	d4.Close()
	if _, err := os.Stat(filepath.Join(wd, "a#c%d e.db")); err != nil {
		t.Errorf("file with URI specials not created under its own name: %v", err)
	}
}

func TestOpenMemory(t *testing.T) {
	d, err := db.Open(context.Background(), "sqlite://:memory:", db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Init(context.Background(), db.HTable("htable")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.TableExists(context.Background(), "htable"); !ok {
		t.Fatal("table vanished: in-memory database not shared across the pool")
	}
}
