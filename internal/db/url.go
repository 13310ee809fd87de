package db

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Driver names the database engine a db_url points at.
type Driver int

const (
	// SQLite is an embedded database file (modernc.org/sqlite, pure Go).
	SQLite Driver = iota + 1
	// MySQL covers MySQL and MariaDB (github.com/go-sql-driver/mysql).
	MySQL
	// Postgres is PostgreSQL (github.com/jackc/pgx/v5 through database/sql).
	Postgres
)

// String returns the db_url scheme of the driver.
func (d Driver) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case MySQL:
		return "mysql"
	case Postgres:
		return "postgres"
	}
	return "unknown"
}

// MemoryPath is the SQLite "file name" of a private in-memory database
// (db_url "sqlite://:memory:"). Useful in tests; nothing survives Close.
const MemoryPath = ":memory:"

// URL is a parsed db_url. It never holds the URL text itself, so printing
// it (String) cannot leak the password.
type URL struct {
	Driver Driver
	// User and Password are the credentials (MySQL, PostgreSQL), taken
	// verbatim from the URL: like Kamailio, sipht does not percent-decode
	// them, so the same db_url string works in both.
	User     string
	Password string
	// Host and Port locate the server (MySQL, PostgreSQL). Port is the
	// default port of the engine when the URL gives none.
	Host string
	Port int
	// Database is the database name (MySQL, PostgreSQL) or the absolute
	// path of the SQLite file (or MemoryPath).
	Database string
	// Params are the query parameters after '?', validated per driver
	// (see ParseURL).
	Params map[string]string
}

// Addr returns "host:port" for a server, or the file path for SQLite.
func (u *URL) Addr() string {
	if u.Driver == SQLite {
		return u.Database
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(u.Port))
}

// String returns the URL with the password replaced by "xxxxx". It is the
// only form of a db_url sipht ever prints.
func (u *URL) String() string {
	var b strings.Builder
	b.WriteString(u.Driver.String())
	b.WriteString("://")
	if u.Driver == SQLite {
		b.WriteString(u.Database)
	} else {
		if u.User != "" || u.Password != "" {
			b.WriteString(u.User)
			if u.Password != "" {
				b.WriteString(":xxxxx")
			}
			b.WriteByte('@')
		}
		b.WriteString(u.Addr())
		b.WriteByte('/')
		b.WriteString(u.Database)
	}
	if len(u.Params) > 0 {
		keys := make([]string, 0, len(u.Params))
		for k := range u.Params {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == 0 {
				b.WriteByte('?')
			} else {
				b.WriteByte('&')
			}
			b.WriteString(url.QueryEscape(k))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(u.Params[k]))
		}
	}
	return b.String()
}

// URLError is a db_url that cannot be used. Its message names the problem
// and shows the URL with the password hidden.
type URLError struct {
	URL    string // redacted form of the URL as given
	Reason string
}

func (e *URLError) Error() string {
	return fmt.Sprintf("bad db_url %q: %s", e.URL, e.Reason)
}

// knownParams lists the query parameters each driver accepts and what they
// mean (shown in errors).
var knownParams = map[Driver]map[string]string{
	SQLite: {
		"journal_mode": "SQLite journal mode: wal (default), delete, truncate, persist, memory",
		"busy_timeout": "milliseconds to wait for a lock held by another process (default 5000)",
		"synchronous":  "off, normal (default with wal), full, extra",
	},
	MySQL: {
		"connect_timeout": "seconds (or Go duration) for one connection attempt (default 5)",
		"tls":             "true, false (default), skip-verify, preferred",
	},
	Postgres: {
		"connect_timeout": "seconds (or Go duration) for one connection attempt (default 5)",
		"sslmode":         "disable, allow, prefer (default), require, verify-ca, verify-full",
	},
}

// ParseURL parses a db_url. Forms:
//
//	sqlite:///abs/path.db         absolute path /abs/path.db (Kamailio's usual form)
//	sqlite:////abs/path.db        the same (Kamailio's db_sqlite README form)
//	sqlite:///./rel/path.db       relative to workDir (also /../)
//	sqlite://rel/path.db          relative to workDir (sipht form; see below)
//	sqlite://:memory:             private in-memory database
//	mysql://user:pass@host[:port]/db        MySQL or MariaDB, port 3306
//	postgres://user:pass@host[:port]/db     PostgreSQL, port 5432 (also postgresql://)
//
// Kamailio parses "sqlite://X/Y" as host X and file Y relative to its
// working directory (default "/"), so its sqlite:///etc/k.db means
// /etc/k.db. sipht agrees for every URL whose path starts with a slash and
// differs for "sqlite://rel/path.db": Kamailio would drop "rel" as a host
// name, sipht reads rel/path.db relative to workDir (empty workDir: the
// process's current directory).
//
// User and password are not percent-decoded (as in Kamailio); the password
// ends at the last '@', so it may contain '@', ':' and '/'. Query
// parameters (after '?' in the database part) are percent-decoded and
// checked against a short per-driver list; an unknown one is an error.
func ParseURL(raw, workDir string) (*URL, error) {
	fail := func(format string, a ...any) (*URL, error) {
		return nil, &URLError{URL: RedactURL(raw), Reason: fmt.Sprintf(format, a...)}
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return fail("empty (want sqlite:///path/to/file.db, mysql://user:pass@host[:port]/db or postgres://user:pass@host[:port]/db)")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return fail("no scheme:// (want sqlite:///path/to/file.db, mysql://user:pass@host[:port]/db or postgres://user:pass@host[:port]/db)")
	}
	u := &URL{}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		u.Driver = SQLite
	case "mysql", "mariadb":
		u.Driver = MySQL
		u.Port = 3306
	case "postgres", "postgresql", "pgsql":
		u.Driver = Postgres
		u.Port = 5432
	default:
		return fail("unsupported scheme %q (supported: sqlite, mysql, postgres)", scheme)
	}
	if strings.ContainsAny(raw, "\x00\r\n") {
		return fail("contains a NUL or line break")
	}

	var query string
	if u.Driver == SQLite {
		path := rest
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path, query = path[:i], path[i+1:]
		}
		switch {
		case path == "":
			return fail("no file path (want sqlite:///path/to/file.db)")
		case path == MemoryPath:
			u.Database = MemoryPath
		case strings.HasPrefix(path, "/./") || strings.HasPrefix(path, "/../") || path == "/." || path == "/..":
			u.Database = resolve(workDir, path[1:])
		case strings.HasPrefix(path, "/"):
			u.Database = filepath.Clean(path)
		default:
			u.Database = resolve(workDir, path)
		}
		if u.Database == "/" || strings.HasSuffix(path, "/") {
			return fail("the path names a directory, not a database file")
		}
	} else {
		hostPart := rest
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			userinfo := rest[:at]
			hostPart = rest[at+1:]
			u.User, u.Password, _ = strings.Cut(userinfo, ":")
		}
		slash := strings.IndexByte(hostPart, '/')
		if slash < 0 {
			return fail("no database name (want %s://user:pass@host[:port]/dbname)", u.Driver)
		}
		hostPort, dbPart := hostPart[:slash], hostPart[slash+1:]
		if i := strings.IndexByte(dbPart, '?'); i >= 0 {
			dbPart, query = dbPart[:i], dbPart[i+1:]
		}
		if dbPart == "" {
			return fail("no database name (want %s://user:pass@host[:port]/dbname)", u.Driver)
		}
		if strings.ContainsAny(dbPart, "/\\`\"'") {
			return fail("database name %q contains '/', '\\' or a quote", dbPart)
		}
		u.Database = dbPart
		host, port, err := splitHostPort(hostPort)
		if err != nil {
			return fail("%v", err)
		}
		u.Host = host
		if port != 0 {
			u.Port = port
		}
		if u.Host == "" {
			return fail("no host (want %s://user:pass@host[:port]/%s)", u.Driver, u.Database)
		}
	}

	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return fail("bad parameters after '?': %v", err)
		}
		u.Params = make(map[string]string, len(q))
		known := knownParams[u.Driver]
		for k, v := range q {
			if _, ok := known[k]; !ok {
				return fail("unknown parameter %q for %s (known: %s)", k, u.Driver, paramList(known))
			}
			u.Params[k] = v[len(v)-1]
		}
		if err := u.checkParams(); err != nil {
			return fail("%v", err)
		}
	}
	return u, nil
}

func resolve(workDir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	if workDir == "" {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return filepath.Clean(p)
	}
	if !filepath.IsAbs(workDir) {
		if abs, err := filepath.Abs(workDir); err == nil {
			workDir = abs
		}
	}
	return filepath.Join(workDir, p)
}

func splitHostPort(s string) (host string, port int, err error) {
	if s == "" {
		return "", 0, nil
	}
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, errors.New("unclosed '[' in IPv6 host")
		}
		host, s = s[1:end], s[end+1:]
		if net.ParseIP(host) == nil {
			return "", 0, fmt.Errorf("bad IPv6 address %q", host)
		}
		if s == "" {
			return host, 0, nil
		}
		if s[0] != ':' {
			return "", 0, fmt.Errorf("unexpected %q after IPv6 address", s)
		}
		n, err := parsePort(s[1:])
		return host, n, err
	}
	h, p, found := strings.Cut(s, ":")
	if !found {
		return s, 0, checkHost(s)
	}
	if err := checkHost(h); err != nil {
		return "", 0, err
	}
	n, err := parsePort(p)
	return h, n, err
}

func checkHost(h string) error {
	if strings.ContainsAny(h, " \t/\\@[]") {
		return fmt.Errorf("bad host name %q", h)
	}
	return nil
}

func parsePort(p string) (int, error) {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || p[0] == '+' || p[0] == '-' {
		return 0, fmt.Errorf("bad port %q (want 1-65535)", p)
	}
	return n, nil
}

func paramList(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		keys = append(keys, k+" ("+v+")")
	}
	sort.Strings(keys)
	return strings.Join(keys, "; ")
}

func (u *URL) checkParams() error {
	for k, v := range u.Params {
		switch k {
		case "journal_mode":
			if !oneOf(strings.ToLower(v), "wal", "delete", "truncate", "persist", "memory") {
				return fmt.Errorf("journal_mode=%q: want wal, delete, truncate, persist or memory", v)
			}
		case "synchronous":
			if !oneOf(strings.ToLower(v), "off", "normal", "full", "extra") {
				return fmt.Errorf("synchronous=%q: want off, normal, full or extra", v)
			}
		case "busy_timeout":
			if n, err := strconv.Atoi(v); err != nil || n < 0 {
				return fmt.Errorf("busy_timeout=%q: want milliseconds >= 0", v)
			}
		case "connect_timeout":
			if _, err := parseSeconds(v); err != nil {
				return fmt.Errorf("connect_timeout=%q: %v", v, err)
			}
		case "tls":
			if !oneOf(strings.ToLower(v), "true", "false", "skip-verify", "preferred") {
				return fmt.Errorf("tls=%q: want true, false, skip-verify or preferred", v)
			}
		case "sslmode":
			if !oneOf(v, "disable", "allow", "prefer", "require", "verify-ca", "verify-full") {
				return fmt.Errorf("sslmode=%q: want disable, allow, prefer, require, verify-ca or verify-full", v)
			}
		}
	}
	return nil
}

// parseSeconds reads "5" (seconds) or a Go duration ("1500ms").
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0, errors.New("want a positive number of seconds")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("want seconds or a Go duration such as 1500ms")
	}
	return d, nil
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// RedactURL hides the password of a db_url given as text, even one that
// does not parse: everything between the first ':' of the user part and
// the last '@' becomes "xxxxx".
func RedactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// No scheme: hide anything that looks like user:pass@.
		if at := strings.LastIndexByte(raw, '@'); at >= 0 {
			if c := strings.IndexByte(raw[:at], ':'); c >= 0 {
				return raw[:c+1] + "xxxxx" + raw[at:]
			}
		}
		return raw
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return raw
	}
	c := strings.IndexByte(rest[:at], ':')
	if c < 0 {
		return raw
	}
	return scheme + "://" + rest[:c+1] + "xxxxx" + rest[at:]
}
