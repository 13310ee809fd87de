// Package dbtest gives tests a fresh, empty database on each engine sipht
// supports: a SQLite file in the test's temp dir, and a uniquely named
// database (sipht_test_<random>) on the local MariaDB/MySQL and PostgreSQL
// servers, dropped when the test ends. A test that needs a server skips
// with a clear message when it is absent (testutil.Missing), and fails
// instead when SIPHT_REQUIRE_EXTERNAL=1.
//
// Server locations (defaults match the development machine and CI):
//
//	SIPHT_TEST_MYSQL     user[:pass]@host:port   (default root@127.0.0.1:3306)
//	SIPHT_TEST_POSTGRES  user[:pass]@host:port   (default root@127.0.0.1:5432)
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/testutil"
)

// Backend is one fresh database for a test.
type Backend struct {
	Name string // "sqlite", "mysql", "postgres"
	URL  string // db_url of the fresh database
	DB   *db.DB // open connection (closed at test end)
}

// Server is the "user[:pass]@host:port" of a test server.
func Server(driver db.Driver) string {
	switch driver {
	case db.MySQL:
		if v := os.Getenv("SIPHT_TEST_MYSQL"); v != "" {
			return v
		}
		return "root@127.0.0.1:3306"
	case db.Postgres:
		if v := os.Getenv("SIPHT_TEST_POSTGRES"); v != "" {
			return v
		}
		return "root@127.0.0.1:5432"
	}
	return ""
}

func hostOf(server string) string {
	if i := strings.LastIndexByte(server, '@'); i >= 0 {
		return server[i+1:]
	}
	return server
}

// RandomName returns prefix + 12 random hex digits.
func RandomName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// SQLite returns a Backend on a new SQLite file in t.TempDir().
func SQLite(t testing.TB) *Backend {
	t.Helper()
	u := "sqlite://" + filepath.Join(t.TempDir(), "sipht.db")
	return open(t, "sqlite", u)
}

// URL creates an empty database on the given server engine and returns its
// db_url; the database is dropped at test end. It skips (or fails) the
// test when the server does not answer.
func URL(t testing.TB, driver db.Driver) string {
	t.Helper()
	server := Server(driver)
	what := map[db.Driver]string{db.MySQL: "MariaDB/MySQL server", db.Postgres: "PostgreSQL server"}[driver]
	testutil.Dial(t, what, hostOf(server))
	name := RandomName("sipht_test_")
	admin := adminURL(driver, server)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := db.Open(ctx, admin, db.Options{StartTimeout: -1})
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	defer a.Close()
	if _, err := a.SQL().ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("dbtest: create database %s on %s: %v", name, hostOf(server), err)
	}
	t.Cleanup(func() { drop(t, driver, admin, name) })
	return fmt.Sprintf("%s://%s/%s", driver, server, name)
}

func adminURL(driver db.Driver, server string) string {
	if driver == db.MySQL {
		return "mysql://" + server + "/mysql"
	}
	return "postgres://" + server + "/postgres"
}

func drop(t testing.TB, driver db.Driver, admin, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := db.Open(ctx, admin, db.Options{StartTimeout: -1})
	if err != nil {
		t.Errorf("dbtest: drop %s: %v", name, err)
		return
	}
	defer a.Close()
	q := "DROP DATABASE IF EXISTS " + name
	if driver == db.Postgres {
		q += " WITH (FORCE)"
	}
	if _, err := a.SQL().ExecContext(ctx, q); err != nil {
		t.Errorf("dbtest: drop database %s: %v", name, err)
	}
}

// MySQL returns a Backend on a fresh MariaDB/MySQL database.
func MySQL(t testing.TB) *Backend {
	t.Helper()
	return open(t, "mysql", URL(t, db.MySQL))
}

// Postgres returns a Backend on a fresh PostgreSQL database.
func Postgres(t testing.TB) *Backend {
	t.Helper()
	return open(t, "postgres", URL(t, db.Postgres))
}

func open(t testing.TB, name, u string) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, u, db.Options{StartTimeout: -1})
	if err != nil {
		t.Fatalf("dbtest: open %s: %v", name, err)
	}
	t.Cleanup(func() { d.Close() })
	return &Backend{Name: name, URL: u, DB: d}
}

// Each runs fn as a subtest on SQLite, MySQL and PostgreSQL, each with a
// fresh database.
func Each(t *testing.T, fn func(t *testing.T, b *Backend)) {
	t.Helper()
	for _, mk := range []struct {
		name string
		f    func(testing.TB) *Backend
	}{{"sqlite", SQLite}, {"mysql", MySQL}, {"postgres", Postgres}} {
		t.Run(mk.name, func(t *testing.T) {
			fn(t, mk.f(t))
		})
	}
}

// Exec runs statements on b, failing the test on error.
func (b *Backend) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := b.DB.SQL().Exec(s); err != nil {
			t.Fatalf("%s: %s: %v", b.Name, s, err)
		}
	}
}

// Count returns SELECT count(*) FROM table.
func (b *Backend) Count(t testing.TB, table string) int {
	t.Helper()
	var n int
	if err := b.DB.SQL().QueryRow("SELECT count(*) FROM " + b.DB.Dialect().Quote(table)).Scan(&n); err != nil {
		t.Fatalf("%s: count %s: %v", b.Name, table, err)
	}
	return n
}

// Raw opens a second plain database/sql handle on b (used to simulate
// another process).
func (b *Backend) Raw(t testing.TB) *sql.DB {
	t.Helper()
	d, err := db.Open(context.Background(), b.URL, db.Options{StartTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d.SQL()
}
