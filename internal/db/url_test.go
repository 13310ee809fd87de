package db

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	const wd = "/work/dir"
	cases := []struct {
		in   string
		want URL
	}{
		// SQLite forms.
		{"sqlite:///etc/kamailio/kamailio.db", URL{Driver: SQLite, Database: "/etc/kamailio/kamailio.db"}},
		{"sqlite:////var/mydb.sqlite", URL{Driver: SQLite, Database: "/var/mydb.sqlite"}},
		{"sqlite:///./data/sipht.db", URL{Driver: SQLite, Database: "/work/dir/data/sipht.db"}},
		{"sqlite:///../x.db", URL{Driver: SQLite, Database: "/work/x.db"}},
		{"sqlite://data/sipht.db", URL{Driver: SQLite, Database: "/work/dir/data/sipht.db"}},
		{"sqlite://x.db", URL{Driver: SQLite, Database: "/work/dir/x.db"}},
		{"sqlite://:memory:", URL{Driver: SQLite, Database: MemoryPath}},
		{"sqlite:///a b/c?d.db?journal_mode=delete", URL{Driver: SQLite, Database: "/a b/c", Params: map[string]string{"d.db?journal_mode": "delete"}}},
		{"SQLITE:///x.db?busy_timeout=100&journal_mode=wal", URL{Driver: SQLite, Database: "/x.db", Params: map[string]string{"busy_timeout": "100", "journal_mode": "wal"}}},
		// MySQL.
		{"mysql://kamailio:kamailiorw@localhost/kamailio", URL{Driver: MySQL, User: "kamailio", Password: "kamailiorw", Host: "localhost", Port: 3306, Database: "kamailio"}},
		{"mysql://root@127.0.0.1:3307/test", URL{Driver: MySQL, User: "root", Host: "127.0.0.1", Port: 3307, Database: "test"}},
		{"mysql://127.0.0.1/test", URL{Driver: MySQL, Host: "127.0.0.1", Port: 3306, Database: "test"}},
		{"mysql://u:p@ss:w/rd@db.example.org:3306/k", URL{Driver: MySQL, User: "u", Password: "p@ss:w/rd", Host: "db.example.org", Port: 3306, Database: "k"}},
		{"mysql://u:%41@h/k", URL{Driver: MySQL, User: "u", Password: "%41", Host: "h", Port: 3306, Database: "k"}},
		{"mysql://u:p@[::1]:3310/k?connect_timeout=2", URL{Driver: MySQL, User: "u", Password: "p", Host: "::1", Port: 3310, Database: "k", Params: map[string]string{"connect_timeout": "2"}}},
		{"mysql://u:p@[::1]/k", URL{Driver: MySQL, User: "u", Password: "p", Host: "::1", Port: 3306, Database: "k"}},
		// PostgreSQL.
		{"postgres://kamailio:pw@pg.local/kamailio", URL{Driver: Postgres, User: "kamailio", Password: "pw", Host: "pg.local", Port: 5432, Database: "kamailio"}},
		{"postgresql://root@127.0.0.1:5433/test?sslmode=disable", URL{Driver: Postgres, User: "root", Host: "127.0.0.1", Port: 5433, Database: "test", Params: map[string]string{"sslmode": "disable"}}},
	}
	for _, c := range cases {
		got, err := ParseURL(c.in, wd)
		if c.in == "sqlite:///a b/c?d.db?journal_mode=delete" {
			// '?' starts the parameters: "d.db?journal_mode" is unknown.
			if err == nil {
				t.Errorf("%q: want error for unknown parameter", c.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got.Driver != c.want.Driver || got.User != c.want.User || got.Password != c.want.Password ||
			got.Host != c.want.Host || got.Port != c.want.Port || got.Database != c.want.Database ||
			len(got.Params) != len(c.want.Params) {
			t.Errorf("%q:\n got %+v\nwant %+v", c.in, *got, c.want)
			continue
		}
		for k, v := range c.want.Params {
			if got.Params[k] != v {
				t.Errorf("%q: param %s=%q, want %q", c.in, k, got.Params[k], v)
			}
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "empty"},
		{"kamailio.db", "no scheme"},
		{"oracle://u:secretpw@h/db", `unsupported scheme "oracle"`},
		{"text:///etc/kamailio/dbtext", `unsupported scheme "text"`},
		{"sqlite://", "no file path"},
		{"sqlite:///", "names a directory"},
		{"sqlite:///var/lib/", "names a directory"},
		{"mysql://u:secretpw@h", "no database name"},
		{"mysql://u:secretpw@h/", "no database name"},
		{"mysql://u:secretpw@/db", "no host"},
		{"mysql://u:secretpw@h:0/db", `bad port "0"`},
		{"mysql://u:secretpw@h:99999/db", `bad port "99999"`},
		{"mysql://u:secretpw@h:x/db", `bad port "x"`},
		{"mysql://u:secretpw@[::1/db", "unclosed '['"},
		{"mysql://u:secretpw@h/db?sslmode=disable", `unknown parameter "sslmode" for mysql`},
		{"postgres://u:secretpw@h/db?sslmode=maybe", `sslmode="maybe"`},
		{"postgres://u:secretpw@h/db?connect_timeout=-1", "connect_timeout"},
		{"sqlite:///x.db?journal_mode=fast", `journal_mode="fast"`},
		{"postgres://u:secretpw@h/d'b", "contains '/', '\\' or a quote"},
		{"mysql://u:secretpw@h/db\x00", "NUL"},
	}
	for _, c := range cases {
		_, err := ParseURL(c.in, "/w")
		if err == nil {
			t.Errorf("%q: no error", c.in)
			continue
		}
		var ue *URLError
		if !errors.As(err, &ue) {
			t.Errorf("%q: error %T, want *URLError", c.in, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %q does not contain %q", c.in, err, c.want)
		}
		if strings.Contains(err.Error(), "secretpw") {
			t.Errorf("%q: error prints the password: %v", c.in, err)
		}
	}
}

func TestURLString(t *testing.T) {
	u, err := ParseURL("mysql://kam:s3cr3t@db:3306/kamailio?connect_timeout=3", "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := u.String(), "mysql://kam:xxxxx@db:3306/kamailio?connect_timeout=3"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := u.Addr(); got != "db:3306" {
		t.Errorf("Addr() = %q", got)
	}
	u, _ = ParseURL("postgres://r@[::1]/x", "")
	if got, want := u.String(), "postgres://r@[::1]:5432/x"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	u, _ = ParseURL("sqlite:///a/b.db", "")
	if got := u.String(); got != "sqlite:///a/b.db" {
		t.Errorf("String() = %q", got)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"mysql://u:pw@h/db":         "mysql://u:xxxxx@h/db",
		"mysql://u:p@w@h/db":        "mysql://u:xxxxx@h/db",
		"mysql://u@h/db":            "mysql://u@h/db",
		"sqlite:///x.db":            "sqlite:///x.db",
		"junk u:pw@h":               "junk u:xxxxx@h",
		"weird://a:b:c@d:e@f/g?h=i": "weird://a:xxxxx@f/g?h=i",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseURL: no panic; a parsed URL prints without its password and
// re-parses to the same thing; errors never contain a password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"sqlite:///etc/kamailio/kamailio.db", "sqlite:////x", "sqlite://rel/x.db", "sqlite:///./x.db",
		"sqlite://:memory:", "mysql://kamailio:kamailiorw@localhost/kamailio", "mysql://u:p@[::1]:3306/d?connect_timeout=2",
		"postgres://u:p@h:5432/d?sslmode=disable", "postgresql://h/d", "mysql://u:p@ss@h/d", "mysql://:@:/",
		"sqlite:///x?busy_timeout=5&journal_mode=wal", "mysql://u:p@h/d?tls=true",
	} {
		f.Add(s, "hunter2pw")
	}
	f.Fuzz(func(t *testing.T, raw, pw string) {
		u, err := ParseURL(raw, "/wd")
		if err == nil {
			if u.Driver == SQLite && !strings.HasPrefix(u.Database, "/") && u.Database != MemoryPath {
				t.Fatalf("%q: sqlite path %q not absolute", raw, u.Database)
			}
			s := u.String()
			if u.Password != "" && strings.Contains(s, ":"+u.Password+"@") {
				t.Fatalf("%q: String() %q shows the password", raw, s)
			}
			if u.Driver != SQLite && u.Password == "" {
				u2, err := ParseURL(s, "/wd")
				if err != nil {
					t.Fatalf("%q: String() %q does not re-parse: %v", raw, s, err)
				}
				if u2.Host != u.Host || u2.Port != u.Port || u2.Database != u.Database || u2.User != u.User {
					t.Fatalf("%q: re-parse of %q differs: %+v vs %+v", raw, s, *u2, *u)
				}
			}
		}
		// With a marked password in a URL-shaped string, no error may show it.
		if strings.ContainsAny(pw, "@\x00\r\n") || pw == "" {
			return
		}
		secret := "S3CRET" + pw
		for _, scheme := range []string{"mysql", "postgres", "sqlite", "bogus"} {
			in := scheme + "://user:" + secret + "@" + raw
			if u, err := ParseURL(in, "/wd"); err != nil {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error for %q shows the password: %v", in, err)
				}
			} else if u.Driver != SQLite && strings.Contains(u.String(), secret) {
				t.Fatalf("String() of %q shows the password: %s", in, u.String())
			}
		}
	})
}
