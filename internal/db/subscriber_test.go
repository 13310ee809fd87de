package db_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/testutil"
)

func TestHA1(t *testing.T) {
	// Values computed by kamctl 5.6 (`kamctl add alice@example.com s3cret`).
	if got := db.HA1("alice", "example.com", "s3cret"); got != "d2d0c8958e1b1c2b989afda0efb9663e" {
		t.Errorf("HA1 = %s", got)
	}
	if got := db.HA1B("alice", "example.com", "example.com", "s3cret"); got != "bd29b5fa6d5950d315d827af71f63c91" {
		t.Errorf("HA1B = %s", got)
	}
}

func TestSubscribers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, b *dbtest.Backend) {
		ctx := context.Background()
		s := db.NewSubscribers(b.DB, "")
		if err := s.CheckVersion(ctx); !errors.Is(err, db.ErrMissingTable) {
			t.Errorf("CheckVersion before init: %v", err)
		}
		if err := s.AddUser(ctx, "alice", "example.com", "x", db.AddOptions{}); !errors.Is(err, db.ErrMissingTable) {
			t.Errorf("AddUser before init: %v", err)
		}
		if _, err := b.DB.Init(ctx, db.Subscriber("subscriber")); err != nil {
			t.Fatal(err)
		}
		if err := s.CheckVersion(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUser(ctx, "alice", "example.com", "s3cret", db.AddOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUser(ctx, "alice", "example.com", "other", db.AddOptions{}); !errors.Is(err, db.ErrUserExists) {
			t.Errorf("duplicate: %v", err)
		}
		if err := s.AddUser(ctx, "alice", "example.org", "pw2", db.AddOptions{NoPlaintext: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddUser(ctx, "bad user", "example.com", "x", db.AddOptions{}); err == nil || !strings.Contains(err.Error(), "bad user name") {
			t.Errorf("bad name: %v", err)
		}
		vals, found, err := s.LookupCredentials(ctx, "alice", "example.com", true, "password", "ha1", "ha1b")
		if err != nil || !found {
			t.Fatal(found, err)
		}
		if want := []string{"s3cret", db.HA1("alice", "example.com", "s3cret"), db.HA1B("alice", "example.com", "example.com", "s3cret")}; !reflect.DeepEqual(vals, want) {
			t.Errorf("lookup %v want %v", vals, want)
		}
		vals, found, err = s.LookupCredentials(ctx, "alice", "example.org", true, "password", "ha1")
		if err != nil || !found || vals[0] != "" || vals[1] != db.HA1("alice", "example.org", "pw2") {
			t.Errorf("no plaintext: %v %v %v", vals, found, err)
		}
		// use_domain=0: the domain is ignored.
		if _, found, _ := s.LookupCredentials(ctx, "alice", "whatever", false, "ha1"); !found {
			t.Error("use_domain=0 lookup failed")
		}
		if _, found, _ := s.LookupCredentials(ctx, "bob", "example.com", true, "ha1"); found {
			t.Error("bob found")
		}
		if _, _, err := s.LookupCredentials(ctx, "alice", "", false, "ha1;drop"); err == nil {
			t.Error("bad column accepted")
		}
		if err := s.SetPassword(ctx, "alice", "example.com", "new", db.AddOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPassword(ctx, "alice", "example.com", "new", db.AddOptions{}); err != nil {
			t.Fatalf("unchanged password: %v", err)
		}
		if err := s.SetPassword(ctx, "nobody", "example.com", "new", db.AddOptions{}); !errors.Is(err, db.ErrNoUser) {
			t.Errorf("SetPassword nobody: %v", err)
		}
		vals, _, _ = s.LookupCredentials(ctx, "alice", "example.com", true, "ha1")
		if vals[0] != db.HA1("alice", "example.com", "new") {
			t.Error("password not changed")
		}
		var list []string
		if err := s.ListUsers(ctx, func(r db.SubscriberRow) error {
			list = append(list, r.User+"@"+r.Domain+":"+r.Password)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if want := []string{"alice@example.com:new", "alice@example.org:"}; !reflect.DeepEqual(list, want) {
			t.Errorf("list %v", list)
		}
		if err := s.RemoveUser(ctx, "alice", "example.org"); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveUser(ctx, "alice", "example.org"); !errors.Is(err, db.ErrNoUser) {
			t.Errorf("remove twice: %v", err)
		}
		if n := b.Count(t, "subscriber"); n != 1 {
			t.Errorf("%d rows", n)
		}
	})
}

func TestSplitAOR(t *testing.T) {
	for in, want := range map[string][2]string{"alice@example.com": {"alice", "example.com"}, "bob": {"bob", "def.org"}} {
		u, d, err := db.SplitAOR(in, "def.org")
		if err != nil || u != want[0] || d != want[1] {
			t.Errorf("SplitAOR(%q) = %q %q %v", in, u, d, err)
		}
	}
	if _, _, err := db.SplitAOR("bob", ""); err == nil {
		t.Error("no domain accepted")
	}
}

// AddUser writes the same row as the real `kamctl add` (SQLite engine).
func TestAddUserMatchesKamctl(t *testing.T) {
	kamctl := testutil.LookPath(t, "kamctl", "/usr/sbin/kamctl")
	testutil.LookPath(t, "sqlite3", "/usr/bin/sqlite3")
	kam := dbtest.SQLite(t)
	runScript(t, kam, "standard-create.sql")
	runScript(t, kam, "auth_db-create.sql")
	runScript(t, kam, "alias_db-create.sql")
	home := t.TempDir()
	path := strings.TrimPrefix(kam.URL, "sqlite://")
	kam.DB.Close() // let the sqlite3 CLI have the file
	if err := os.WriteFile(filepath.Join(home, ".kamctlrc"), []byte("DBENGINE=SQLITE\nDB_PATH="+path+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kamctl, "add", "carol@sip.example.net", "pa:ss@w0rd")
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Dir = home
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kamctl add: %v\n%s", err, out)
	}
	k, err := db.Open(context.Background(), kam.URL, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	cols := []string{"username", "domain", "password", "ha1", "ha1b"}
	want, found, err := db.NewSubscribers(k, "").LookupCredentials(context.Background(), "carol", "sip.example.net", true, cols...)
	if err != nil || !found {
		t.Fatalf("kamctl's row: %v %v", found, err)
	}
	sip := dbtest.SQLite(t)
	if _, err := sip.DB.Init(context.Background(), db.Subscriber("subscriber")); err != nil {
		t.Fatal(err)
	}
	s := db.NewSubscribers(sip.DB, "")
	if err := s.AddUser(context.Background(), "carol", "sip.example.net", "pa:ss@w0rd", db.AddOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s.LookupCredentials(context.Background(), "carol", "sip.example.net", true, cols...)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sipht row %v\nkamctl row %v", got, want)
	}
}
