package htable

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// interopTables are defined identically on both servers.
var interopTables = []string{
	"h=>size=4;dbtable=h;dbmode=1",
	"e=>size=3;autoexpire=3600;dbtable=he;dbmode=1",
}

// kamailioWithDB starts Kamailio 5.6.3 (rpctest's launcher) with the
// interop tables on the SQLite file path and db_expires=1. The launcher
// writes each table as modparam("htable","htable","<def>"), so the
// db_sqlite lines ride on the last definition.
func kamailioWithDB(t *testing.T, path string) *rpctest.Kamailio {
	t.Helper()
	kamailio.ModuleDir(t, "db_sqlite")
	defs := append([]string(nil), interopTables...)
	last := len(defs) - 1
	defs[last] += `")` + "\n" + `loadmodule "db_sqlite.so"` + "\n" +
		`modparam("htable","db_expires",1)` + "\n" + `modparam("htable","db_url","sqlite:///` + path
	return rpctest.StartKamailio(t, defs...)
}

// stopKamailio sends SIGTERM and waits for the process to exit (its
// shutdown saves the dbmode=1 tables).
func stopKamailio(t *testing.T, k *rpctest.Kamailio) {
	t.Helper()
	k.Process.Terminate(t, 30*time.Second)
}

// interopWrites fills the tables (kamcmd arguments).
var interopWrites = [][]string{
	{"htable.sets", "h", "alice", "hello"},
	{"htable.seti", "h", "bob", "42"},
	{"htable.sets", "h", "s:15", "x"},
	{"--", "htable.seti", "h", "neg", "-5"},
	{"htable.sets", "h", "ABCdef", "upper"},
	{"htable.sets", "h", "sp ace", "v w"},
	{"htable.sets", "h", "quote'd", "it's"},
	{"htable.sets", "h", "héllo€x", "ütf"},
	{"htable.sets", "e", "k1", "v1"},
	{"htable.seti", "e", "k2", "7"},
	{"htable.setxs", "e", "k3", "short", "100"},
}

// interopReads are compared.
var interopReads = [][]string{
	{"htable.dump", "h"},
	{"htable.dump", "e"},
	{"htable.get", "h", "alice"},
	{"htable.get", "h", "neg"},
	{"htable.get", "e", "k3"},
	{"htable.stats"},
}

// TestSQLiteInteropSiphtToKamailio: sipht saves with dbmode=1, Kamailio
// 5.6.3 loads the same file, and kamcmd shows the same items on both
// (dump entry numbers, values, types, absolute expiry times).
func TestSQLiteInteropSiphtToKamailio(t *testing.T) {
	rpctest.KamcmdPath(t)
	path := filepath.Join(t.TempDir(), "shared.db")
	l := startLive(t, dbConfig("sqlite://"+path, interopTables, `modparam("htable", "db_expires", 1)`+"\n"))
	spec := l.ctl
	for _, w := range interopWrites {
		rpctest.Kamcmd(t, append([]string{"-s", spec}, w...)...)
	}
	want := runKamcmd(t, spec, interopReads)
	if err := l.stop(t); err != nil {
		t.Fatal(err)
	}
	k := kamailioWithDB(t, path)
	got := runKamcmd(t, "unixs:"+k.CtlSocket, interopReads)
	for i, cmd := range interopReads {
		if want[i] != got[i] {
			t.Errorf("kamcmd %q:\n--- sipht before stop\n%s\n--- kamailio after load\n%s", cmd, want[i], got[i])
		}
	}
}

// TestSQLiteInteropKamailioToSipht: Kamailio 5.6.3 saves at shutdown,
// sipht loads the same file and shows the same items.
func TestSQLiteInteropKamailioToSipht(t *testing.T) {
	rpctest.KamcmdPath(t)
	path := filepath.Join(t.TempDir(), "shared.db")
	d, err := db.Open(context.Background(), "sqlite://"+path, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Init(context.Background(), db.HTable("h"), db.HTable("he")); err != nil {
		t.Fatal(err)
	}
	// Kamailio 5.6 saves a dbmode=1 table at shutdown only when its load
	// found rows (an empty table is never marked loaded): seed both.
	for _, q := range []string{
		"INSERT INTO h (key_name,key_type,value_type,key_value,expires) VALUES ('seed',0,0,'s',0)",
		"INSERT INTO he (key_name,key_type,value_type,key_value,expires) VALUES ('seed',0,1,'1',0)",
	} {
		if _, err := d.SQL().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	k := kamailioWithDB(t, path)
	spec := "unixs:" + k.CtlSocket
	for _, w := range interopWrites {
		rpctest.Kamcmd(t, append([]string{"-s", spec}, w...)...)
	}
	want := runKamcmd(t, spec, interopReads)
	stopKamailio(t, k)
	l := startLive(t, dbConfig("sqlite://"+path, interopTables, `modparam("htable", "db_expires", 1)`+"\n"))
	got := runKamcmd(t, l.ctl, interopReads)
	for i, cmd := range interopReads {
		if want[i] != got[i] {
			t.Errorf("kamcmd %q:\n--- kamailio before stop\n%s\n--- sipht after load\n%s", cmd, want[i], got[i])
		}
	}
}
