package db_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/db"
	"github.com/sipht/sipht/internal/db/dbtest"
	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// kamNode is a real Kamailio 5.6 started by a test.
type kamNode struct {
	t   testing.TB
	p   *kamailio.Process
	ctl string // kamcmd -s argument
}

// startKamailio runs kamailio in the foreground on a config made of the
// common head (ctl, db_sqlite, htable) plus the given htable modparams,
// and waits until kamcmd gets an answer.
func startKamailio(t testing.TB, dir, dbPath string, modparams string, shmMB, pkgMB int, ready time.Duration) *kamNode {
	t.Helper()
	mpath := kamailio.ModuleDir(t, "db_sqlite")
	kamailio.KamcmdBinary(t)
	ctl := filepath.Join(dir, "ctl")
	cfg := fmt.Sprintf(`#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:%d
mpath="%s/"
loadmodule "kex.so"
loadmodule "ctl.so"
loadmodule "db_sqlite.so"
loadmodule "htable.so"
modparam("ctl", "binrpc", "unixs:%s")
modparam("htable", "db_url", "sqlite://%s")
%s
request_route { drop; }
`, testutil.FreeUDPPort(t, "127.0.0.1"), mpath, ctl, dbPath, modparams)
	k := &kamNode{t: t, ctl: "unixs:" + ctl}
	answers := func(*kamailio.Process) bool {
		out, err := kamailio.Kamcmd(t, k.ctl, "core.version")
		return err == nil && strings.Contains(out, "kamailio")
	}
	k.p = kamailio.Start(t, kamailio.Options{Config: cfg, Dir: dir, WorkDir: "/", Args: []string{"-m", strconv.Itoa(shmMB), "-M", strconv.Itoa(pkgMB)},
		Ready: answers, Timeout: ready})
	return k
}

func (k *kamNode) rpc(args ...string) string {
	k.t.Helper()
	out := kamailio.MustKamcmd(k.t, k.ctl, args...)
	if strings.HasPrefix(out, "error:") {
		k.t.Fatalf("kamcmd %v:\n%s", args, out)
	}
	return out
}

// stop sends SIGTERM (Kamailio saves dbmode=1 tables) and waits.
func (k *kamNode) stop(timeout time.Duration) {
	k.t.Helper()
	k.p.Terminate(k.t, timeout)
}

// dumpItems parses `kamcmd htable.dump` into name -> "type:value".
func dumpItems(out string) map[string]string {
	m := map[string]string{}
	var name, value string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimLeft(line, "\t")
		switch {
		case strings.HasPrefix(line, "name: "):
			name = strings.TrimPrefix(line, "name: ")
		case strings.HasPrefix(line, "value: "):
			value = strings.TrimPrefix(line, "value: ")
		case strings.HasPrefix(line, "type: "):
			m[name] = strings.TrimPrefix(line, "type: ") + ":" + value
		}
	}
	return m
}

func itemMap(items []db.Item) map[string]string {
	m := map[string]string{}
	for _, it := range items {
		if it.IsInt {
			m[it.Name] = "int:" + strconv.FormatInt(it.Int, 10)
		} else {
			m[it.Name] = "str:" + it.Str
		}
	}
	return m
}

// A table saved by Kamailio (dbmode=1, db_expires=1) loads in sipht with
// the same items, types and expiry; Kamailio's own flattening of array
// rows matches sipht's.
func TestKamailioSavesSiphtLoads(t *testing.T) {
	dir := t.TempDir()
	b := dbtest.SQLite(t)
	path := strings.TrimPrefix(b.URL, "sqlite://")
	runScript(t, b, "standard-create.sql")
	runScript(t, b, "htable-create.sql")
	ctx := context.Background()
	// Array rows and plain rows, as a Kamailio user might insert them.
	b.Exec(t,
		"INSERT INTO htable (key_name,key_type,value_type,key_value,expires) VALUES ('arr',1,0,'a0',0)",
		"INSERT INTO htable (key_name,key_type,value_type,key_value,expires) VALUES ('arr',1,1,'42',0)",
		"INSERT INTO htable (key_name,key_type,value_type,key_value,expires) VALUES ('arr',1,0,'a2',2000000000)",
		"INSERT INTO htable (key_name,key_type,value_type,key_value,expires) VALUES ('fut',0,0,'future',2000000000)",
		"INSERT INTO htable (key_name,key_type,value_type,key_value,expires) VALUES ('past',0,0,'gone',1000)",
	)
	// What sipht makes of the original rows.
	var mine []db.Item
	if _, err := b.DB.LoadItems(ctx, db.LoadOptions{Table: "htable", Expires: true}, "", time.Now().Unix(), func(it db.Item) error {
		mine = append(mine, it)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	k := startKamailio(t, dir, path, `modparam("htable", "db_expires", 1)
modparam("htable", "htable", "h=>size=8;dbtable=htable;dbmode=1;autoexpire=3600;")`, 64, 16, 20*time.Second)
	kamLoaded := dumpItems(k.rpc("htable.dump", "h"))
	if want := itemMap(mine); !reflect.DeepEqual(kamLoaded, want) {
		t.Errorf("Kamailio loaded %v\nsipht loads   %v", kamLoaded, want)
	}
	k.rpc("htable.seti", "h", "n", "--", "-5")
	k.rpc("htable.sets", "h", "s", "héllo, 'world'")
	k.rpc("htable.setxs", "h", "x", "exp", "100")
	before := time.Now().Unix()
	k.stop(20 * time.Second)
	after := time.Now().Unix()

	// Now load what Kamailio saved.
	var got []db.Item
	if _, err := b.DB.LoadItems(ctx, db.LoadOptions{Table: "htable", Expires: true}, "", time.Now().Unix(), func(it db.Item) error {
		got = append(got, it)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	gotMap := itemMap(got)
	want := itemMap(mine)
	want["n"] = "int:-5"
	want["s"] = "str:héllo, 'world'"
	want["x"] = "str:exp"
	if !reflect.DeepEqual(gotMap, want) {
		t.Errorf("after Kamailio's save sipht loads %v\nwant %v", gotMap, want)
	}
	for _, it := range got {
		var lo, hi int64
		switch it.Name {
		case "fut", "arr[2]":
			lo, hi = 2000000000, 2000000000
		case "x":
			lo, hi = before-5+100-3600, after+100 // setxs 100 s (loose lower bound)
		default:
			lo, hi = before-60+3600-60, after+3600 // now+autoexpire at set/load time
		}
		if it.Expires < lo || it.Expires > hi {
			t.Errorf("%s: expires %d, want in [%d, %d]", it.Name, it.Expires, lo, hi)
		}
	}
	// Rows Kamailio wrote are all key_type 0 (arrays flattened).
	var n int
	b.DB.SQL().QueryRow("SELECT count(*) FROM htable WHERE key_type <> 0").Scan(&n)
	if n != 0 {
		t.Errorf("%d rows with key_type <> 0 after Kamailio's save", n)
	}
}

// A table saved by sipht loads in Kamailio: htable.dump shows the same
// items, htable.get the same expiry. sipht's database stays open (WAL)
// while Kamailio runs beside it.
func TestSiphtSavesKamailioLoads(t *testing.T) {
	dir := t.TempDir()
	b := dbtest.SQLite(t)
	path := strings.TrimPrefix(b.URL, "sqlite://")
	ctx := context.Background()
	if _, err := b.DB.Init(ctx, db.HTable("htable"), db.HTable("plain")); err != nil {
		t.Fatal(err)
	}
	rows := []db.HTableRow{
		{KeyName: "alice", KeyValue: "hello", Expires: 2000000000},
		{KeyName: "n", ValueType: 1, Int: -2147483648, Expires: 2000000001},
		{KeyName: "m", ValueType: 1, Int: 2147483647, Expires: 2000000002},
		{KeyName: "15", KeyValue: "x", Expires: 2000000003},
		{KeyName: "sp ace", KeyValue: "a;b,c=d 'q'", Expires: 2000000004},
		{KeyName: "arr[0]", KeyValue: "a0", Expires: 2000000005},
		{KeyName: "arr::size", ValueType: 1, Int: 1, Expires: 2000000006},
	}
	if _, err := b.DB.SaveHTable(ctx, db.SaveOptions{Table: "htable", Expires: true}, seq(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.DB.SaveHTable(ctx, db.SaveOptions{Table: "plain"}, seq(rows[:3])); err != nil {
		t.Fatal(err)
	}
	k := startKamailio(t, dir, path, `modparam("htable", "db_expires", 1)
modparam("htable", "htable", "h=>size=8;dbtable=htable;dbmode=1;autoexpire=3600;")
modparam("htable", "htable", "p=>size=4;dbtable=plain;")`, 64, 16, 20*time.Second)
	want := map[string]string{}
	for _, r := range rows {
		if r.ValueType != 0 {
			want[r.KeyName] = "int:" + strconv.FormatInt(r.Int, 10)
		} else {
			want[r.KeyName] = "str:" + r.KeyValue
		}
	}
	if got := dumpItems(k.rpc("htable.dump", "h")); !reflect.DeepEqual(got, want) {
		t.Errorf("kamcmd htable.dump h:\n got %v\nwant %v", got, want)
	}
	wantP := map[string]string{"alice": "str:hello", "n": "int:-2147483648", "m": "int:2147483647"}
	if got := dumpItems(k.rpc("htable.dump", "p")); !reflect.DeepEqual(got, wantP) {
		t.Errorf("kamcmd htable.dump p:\n got %v\nwant %v", got, wantP)
	}
	for _, r := range rows {
		out := k.rpc("htable.get", "h", "s:"+r.KeyName)
		exp := time.Unix(r.Expires, 0).Format("2006-01-02 15:04:05")
		if !strings.Contains(out, "expire: "+exp) {
			t.Errorf("htable.get h %s: want expire %s (local time):\n%s", r.KeyName, exp, out)
		}
	}
	// htable.store from Kamailio, re-read by sipht while both have it open.
	k.rpc("htable.sets", "h", "new", "v")
	k.rpc("htable.store", "h")
	got := loadAll(t, b.DB, db.LoadOptions{Table: "htable", Expires: true})
	var names []string
	for _, r := range got {
		names = append(names, r.KeyName)
	}
	sort.Strings(names)
	if want := []string{"15", "alice", "arr::size", "arr[0]", "m", "n", "new", "sp ace"}; !reflect.DeepEqual(names, want) {
		t.Errorf("after htable.store: %v", names)
	}
	k.stop(20 * time.Second)
}

// cols= tables: Kamailio 5.6 packs the columns as sipht's LoadCols does
// (',' between columns, '*' for NULL, integers as text).
func TestColsMatchesKamailio(t *testing.T) {
	dir := t.TempDir()
	b := dbtest.SQLite(t)
	path := strings.TrimPrefix(b.URL, "sqlite://")
	b.Exec(t, "CREATE TABLE acl (id INTEGER PRIMARY KEY, ip VARCHAR(64) NOT NULL, port INTEGER, note VARCHAR(255), grp INTEGER)",
		"INSERT INTO acl (ip, port, note, grp) VALUES ('10.0.0.2', 5060, NULL, 1)",
		"INSERT INTO acl (ip, port, note, grp) VALUES ('10.0.0.1', NULL, 'home,sweet', -2)",
		"INSERT INTO acl (ip, port, note, grp) VALUES ('10.0.0.3', 0, '', NULL)",
	)
	mine := map[string]string{}
	if _, err := b.DB.LoadCols(context.Background(), db.ColsOptions{Table: "acl", Columns: []string{"ip", "port", "note", "grp"}}, func(k, v string) error {
		mine[k] = "str:" + v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	k := startKamailio(t, dir, path, `modparam("htable", "htable", "a=>size=4;dbtable=acl;cols='ip,port,note,grp';")`, 64, 16, 20*time.Second)
	got := dumpItems(k.rpc("htable.dump", "a"))
	t.Logf("Kamailio cols items: %v", got)
	if !reflect.DeepEqual(got, mine) {
		t.Errorf("Kamailio: %v\nsipht:    %v", got, mine)
	}
	k.stop(20 * time.Second)
}
