package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// DB is an open database behind a db_url: a database/sql pool plus the
// dialect of its engine. It is safe for concurrent use.
type DB struct {
	sql     *sql.DB
	url     *URL
	dialect Dialect
}

// SQL returns the underlying pool.
func (d *DB) SQL() *sql.DB { return d.sql }

// URL returns the parsed db_url (print it with String, which hides the
// password).
func (d *DB) URL() *URL { return d.url }

// Dialect returns the SQL dialect of the engine.
func (d *DB) Dialect() Dialect { return d.dialect }

// Driver returns the engine kind.
func (d *DB) Driver() Driver { return d.url.Driver }

// Close closes the pool.
func (d *DB) Close() error { return d.sql.Close() }

// Options tune Open. The zero value is a good default.
type Options struct {
	// WorkDir resolves relative SQLite paths (empty: current directory).
	WorkDir string
	// CreateDir creates the directory of a SQLite file when missing.
	CreateDir bool
	// ConnectTimeout bounds one connection attempt (default 5 s, or the
	// connect_timeout URL parameter).
	ConnectTimeout time.Duration
	// StartTimeout bounds all attempts together (default 30 s). A
	// negative value means a single attempt.
	StartTimeout time.Duration
	// MaxAttempts bounds the number of attempts (0: only StartTimeout
	// bounds them).
	MaxAttempts int
	// InitialBackoff is the first wait between attempts (default 250 ms);
	// each wait doubles up to MaxBackoff (default 5 s).
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// MaxOpenConns caps the pool for MySQL and PostgreSQL (default 4).
	// SQLite always uses one connection: one writer, no SQLITE_BUSY
	// inside the process.
	MaxOpenConns int
	// Logger receives one warning per failed attempt (default: discard).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 250 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// ConnectError is a database that could not be reached or opened. Its
// message names the engine, the address (host:port or file), the database
// and user, the number of attempts and the driver's last error, never the
// password.
type ConnectError struct {
	URL      *URL
	Attempts int
	Elapsed  time.Duration
	// Permanent is true when retrying cannot help (bad password, unknown
	// database, file that is not a database).
	Permanent bool
	Err       error
}

func (e *ConnectError) Error() string {
	u := e.URL
	var b strings.Builder
	if u.Driver == SQLite {
		fmt.Fprintf(&b, "cannot open sqlite database %s", u.Database)
	} else {
		fmt.Fprintf(&b, "cannot connect to %s server at %s (database %q, user %q)", u.Driver, u.Addr(), u.Database, u.User)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts in %s", e.Attempts, e.Elapsed.Round(time.Millisecond))
	}
	b.WriteString(": ")
	b.WriteString(redactErr(e.Err.Error(), u.Password))
	return b.String()
}

func (e *ConnectError) Unwrap() error { return e.Err }

// redactErr hides the password inside a driver message (drivers do not
// print it, but a DSN echoed in a parse error could).
func redactErr(msg, password string) string {
	if password == "" {
		return msg
	}
	return strings.ReplaceAll(msg, password, "xxxxx")
}

// Open parses a db_url and connects, retrying with exponential backoff
// while the server is unreachable (bounded by opts.StartTimeout and
// opts.MaxAttempts, cancelled by ctx). Errors that retrying cannot fix
// (bad URL, access denied, unknown database) return at once.
func Open(ctx context.Context, dbURL string, opts Options) (*DB, error) {
	u, err := ParseURL(dbURL, opts.WorkDir)
	if err != nil {
		return nil, err
	}
	return OpenURL(ctx, u, opts)
}

// OpenURL is Open for an already parsed URL.
func OpenURL(ctx context.Context, u *URL, opts Options) (*DB, error) {
	opts.defaults()
	if v, ok := u.Params["connect_timeout"]; ok {
		opts.ConnectTimeout, _ = parseSeconds(v)
	}
	sdb, err := newPool(u, &opts)
	if err != nil {
		return nil, &ConnectError{URL: u, Attempts: 1, Permanent: true, Err: err}
	}
	d := &DB{sql: sdb, url: u, dialect: Dialect{Driver: u.Driver}}

	start := time.Now()
	var deadline time.Time
	if opts.StartTimeout > 0 {
		deadline = start.Add(opts.StartTimeout)
	}
	backoff := opts.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := d.ping(ctx, opts.ConnectTimeout)
		if err == nil {
			if attempt > 1 {
				opts.Logger.Info("database reachable", "db", u.String(), "attempts", attempt)
			}
			return d, nil
		}
		permanent := isPermanent(u, err)
		wait := backoff
		if !deadline.IsZero() {
			if left := time.Until(deadline); left < wait {
				wait = left // one last attempt at the deadline
			}
		}
		done := permanent || opts.StartTimeout < 0 || ctx.Err() != nil ||
			(opts.MaxAttempts > 0 && attempt >= opts.MaxAttempts) || wait <= 0
		if done {
			sdb.Close()
			if ctx.Err() != nil && !permanent {
				err = fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
			}
			return nil, &ConnectError{URL: u, Attempts: attempt, Elapsed: time.Since(start), Permanent: permanent, Err: err}
		}
		opts.Logger.Warn("database not reachable, retrying", "db", u.String(), "addr", u.Addr(),
			"attempt", attempt, "retry_in", wait, "error", redactErr(err.Error(), u.Password))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff *= 2
		if backoff > opts.MaxBackoff {
			backoff = opts.MaxBackoff
		}
	}
}

func (d *DB) ping(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if d.url.Driver == SQLite {
		// Ping opens the file; reading the schema proves it is a database.
		var n int
		return d.sql.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n)
	}
	return d.sql.PingContext(ctx)
}

// isPermanent reports whether retrying the connection cannot help.
func isPermanent(u *URL, err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1044, 1045, 1049, 1698: // access denied, unknown database
			return true
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "28P01", "28000", "3D000", "42501":
			return true
		}
	}
	if u.Driver == SQLite {
		// A missing directory or a non-database file does not fix itself.
		return !strings.Contains(err.Error(), "locked") && !strings.Contains(err.Error(), "busy")
	}
	return false
}

func newPool(u *URL, o *Options) (*sql.DB, error) {
	switch u.Driver {
	case SQLite:
		dsn, err := sqliteDSN(u, o)
		if err != nil {
			return nil, err
		}
		db, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		// One connection: SQLite has one writer anyway, and a single
		// connection means no SQLITE_BUSY between our own goroutines (and
		// one shared in-memory database for :memory:).
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return db, nil
	case MySQL:
		cfg := mysql.NewConfig()
		cfg.User = u.User
		cfg.Passwd = u.Password
		cfg.Net = "tcp"
		cfg.Addr = u.Addr()
		cfg.DBName = u.Database
		cfg.Timeout = o.ConnectTimeout
		cfg.InterpolateParams = true // one round trip per statement
		cfg.AllowNativePasswords = true
		cfg.MaxAllowedPacket = 0 // ask the server
		if v, ok := u.Params["tls"]; ok {
			cfg.TLSConfig = strings.ToLower(v)
		}
		conn, err := mysql.NewConnector(cfg)
		if err != nil {
			return nil, err
		}
		db := sql.OpenDB(conn)
		poolDefaults(db, o)
		return db, nil
	case Postgres:
		var b strings.Builder
		kv := func(k, v string) {
			b.WriteString(k)
			b.WriteString("='")
			b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v))
			b.WriteString("' ")
		}
		kv("host", u.Host)
		kv("port", strconv.Itoa(u.Port))
		kv("dbname", u.Database)
		if u.User != "" {
			kv("user", u.User)
		}
		if u.Password != "" {
			kv("password", u.Password)
		}
		if v, ok := u.Params["sslmode"]; ok {
			kv("sslmode", v)
		}
		secs := int(o.ConnectTimeout / time.Second)
		if secs < 1 {
			secs = 1
		}
		kv("connect_timeout", strconv.Itoa(secs))
		kv("application_name", "sipht")
		cfg, err := pgx.ParseConfig(b.String())
		if err != nil {
			return nil, errors.New(redactErr(err.Error(), u.Password))
		}
		cfg.ConnectTimeout = o.ConnectTimeout
		db := stdlib.OpenDB(*cfg)
		poolDefaults(db, o)
		return db, nil
	}
	return nil, fmt.Errorf("unsupported driver %v", u.Driver)
}

func poolDefaults(db *sql.DB, o *Options) {
	db.SetMaxOpenConns(o.MaxOpenConns)
	db.SetMaxIdleConns(o.MaxOpenConns)
	db.SetConnMaxLifetime(30 * time.Minute)
	db.SetConnMaxIdleTime(5 * time.Minute)
}

func sqliteDSN(u *URL, o *Options) (string, error) {
	journal := "WAL"
	busy := "5000"
	sync := ""
	if v, ok := u.Params["journal_mode"]; ok {
		journal = strings.ToUpper(v)
	}
	if v, ok := u.Params["busy_timeout"]; ok {
		busy = v
	}
	if v, ok := u.Params["synchronous"]; ok {
		sync = strings.ToUpper(v)
	} else if journal == "WAL" {
		sync = "NORMAL" // durable at each checkpoint, safe against corruption
	}
	q := url.Values{}
	q.Set("_busy_timeout", busy)
	q.Set("_txlock", "immediate")
	if u.Database == MemoryPath {
		return "file::memory:?" + q.Encode(), nil
	}
	q.Set("_journal_mode", journal)
	if sync != "" {
		q.Set("_synchronous", sync)
	}
	dir := filepath.Dir(u.Database)
	if st, err := os.Stat(dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) || !o.CreateDir {
			return "", fmt.Errorf("directory %s: %w", dir, err)
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return "", fmt.Errorf("create directory %s: %w", dir, err)
		}
	} else if !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", dir)
	}
	// A "file:" URI lets any byte appear in the path: escape the URI
	// specials.
	path := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(u.Database)
	return "file:" + path + "?" + q.Encode(), nil
}
