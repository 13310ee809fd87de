package htable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/rpc/ctlcli"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
)

// The tables both servers hold in the comparisons.
var rpcTables = []string{"t=>size=4;", "iv=>size=3;initval=7;autoexpire=100"}

// kamcmdScript is run by the real kamcmd against sipht (the htable module
// in a running server) and against Kamailio 5.6.3 with the same tables.
var kamcmdScript = append(slices.Clone(rpctest.KamcmdSeed), [][]string{
	{"htable.sets", "t", "héllo€x", "utf-8 key"},
	{"htable.sets", "t", "empty", ""},
	{"htable.seti", "iv", "n", "1"},
	{"htable.sets", "iv", "s", "v"},
	{"htable.dump", "t"},
	{"htable.dump", "iv"},
	{"htable.get", "t", "alice"},
	{"htable.get", "t", "bob"},
	{"htable.get", "t", "neg"},
	{"htable.get", "t", "big"},
	{"htable.get", "t", "s:16"},
	{"htable.get", "t", "16"},
	{"htable.get", "t", "ALICE"},
	{"htable.get", "t", "nokey"},
	{"htable.get", "nosuch", "x"},
	{"htable.get", "t"},
	{"htable.get"},
	{"htable.seti", "t"},
	{"htable.seti", "t", "k"},
	{"htable.seti", "t", "15", "5"},
	{"htable.seti", "t", "k", "notanumber"},
	{"htable.seti", "nosuch", "k", "1"},
	{"htable.sets", "t", "k"},
	{"htable.sets", "nosuch", "k", "v"},
	{"htable.setxs", "nosuch", "k", "v", "10"},
	{"htable.setxi", "nosuch", "k", "1", "10"},
	{"htable.setxs", "t"},
	{"htable.setxi", "t", "k", "1"},
	{"htable.setex", "t", "k"},
	{"htable.setex", "t", "alice", "10"},
	{"htable.setex", "nosuch", "alice", "10"},
	{"htable.setex", "t", "nokey", "10"},
	{"htable.delete", "t", "alice"},
	{"htable.delete", "t", "alice"},
	{"htable.delete", "t"},
	{"htable.delete", "nosuch", "k"},
	{"htable.dump", "t"},
	{"htable.dump", "nosuch"},
	{"htable.dump"},
	{"htable.listTables"},
	{"htable.stats"},
	{"htable.reload", "t"},
	{"htable.reload"},
	{"htable.store", "t"},
	{"htable.store"},
	{"-f", "%v|%v\\n", "htable.dump", "t"},
	{"-f", "entry=%v ", "htable.stats"},
	{"htable.flush", "iv"},
	{"htable.flush", "nosuch"},
	{"htable.flush"},
	{"htable.dump", "iv"},
	{"system.methodHelp", "htable.dump"},
	{"system.methodHelp", "htable.get"},
	{"system.methodHelp", "htable.delete"},
	{"system.methodHelp", "htable.sets"},
	{"system.methodHelp", "htable.seti"},
	{"system.methodHelp", "htable.setex"},
	{"system.methodHelp", "htable.setxs"},
	{"system.methodHelp", "htable.setxi"},
	{"system.methodHelp", "htable.listTables"},
	{"system.methodHelp", "htable.stats"},
	{"system.methodHelp", "htable.flush"},
	{"system.methodHelp", "htable.reload"},
	{"system.methodHelp", "htable.store"},
	{"htable.flush", "t"},
	{"htable.dump", "t"},
}...)

// startSipht runs a server with the htable module and the given tables
// (plus extra config lines), with the real ctl module (BINRPC on a unix
// socket, for kamcmd) and jsonrpcs over xhttp (POST /RPC on the TCP
// listener), as a user's config would.
func startSipht(t testing.TB, tables []string, extra string) (r *servertest.Running, ctl, httpAddr string) {
	t.Helper()
	registerKit()
	dir := testutil.ShortTempDir(t)
	sock := filepath.Join(dir, "ctl")
	r = servertest.Start(t, config(tables, `listen=tcp:127.0.0.1:0
loadmodule "ctl.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
modparam("ctl", "binrpc", "unixs:`+sock+`")
modparam("jsonrpcs", "transport", 1)
event_route[xhttp:request] {
	if ($hu =~ "^/RPC") { jsonrpc_dispatch(); } else { xhttp_reply("404", "Not Found", "text/plain", "no"); }
}
`+extra))
	return r, "unixs:" + sock, r.TCP
}

func runKamcmd(t *testing.T, spec string, script [][]string) []string {
	t.Helper()
	var out []string
	for _, args := range script {
		o, e, code := rpctest.Kamcmd(t, append([]string{"-s", spec}, args...)...)
		out = append(out, fmt.Sprintf("%s%s[exit %d]", o, e, code))
	}
	return out
}

// TestKamcmdVsKamailio runs the real kamcmd against sipht's htable module
// and against Kamailio 5.6.3 holding the same keys: stdout, stderr and
// exit status must be byte-identical, dump entry numbers included.
func TestKamcmdVsKamailio(t *testing.T) {
	rpctest.KamcmdPath(t)
	k := rpctest.StartKamailio(t, rpcTables...)
	_, ctl, _ := startSipht(t, rpcTables, "")
	want := runKamcmd(t, "unixs:"+k.CtlSocket, kamcmdScript)
	got := runKamcmd(t, ctl, kamcmdScript)
	for i, cmd := range kamcmdScript {
		if want[i] != got[i] {
			t.Errorf("kamcmd %q:\n--- kamailio\n%s\n--- sipht\n%s", cmd, want[i], got[i])
		}
	}
}

// jsonScript is sent to Kamailio 5.6.3's jsonrpcs (xhttp, POST /RPC) and
// to sipht's JSON-RPC handler.
var jsonScript = []string{
	rpctest.JSONRequest("htable.seti", "1", `"t"`, `"bob"`, `42`),
	rpctest.JSONRequest("htable.sets", "2", `"t"`, `"15"`, `"x"`),
	rpctest.JSONRequest("htable.sets", "3", `"t"`, `"alice"`, `"hello"`),
	rpctest.JSONRequest("htable.sets", "4", `"t"`, `"num"`, `123`),
	rpctest.JSONRequest("htable.seti", "5", `"t"`, `"neg"`, `-5`),
	rpctest.JSONRequest("htable.seti", "6", `"t"`, `"flt"`, `7.9`),
	rpctest.JSONRequest("htable.sets", "7", `"t"`, `"k2"`, `"same slot as bob"`),
	rpctest.JSONRequest("htable.sets", "71", `"t"`, `"quote\"and\\back"`, `"tab\tnl\n"`),
	rpctest.JSONRequest("htable.seti", "72", `"iv"`, `"n"`, `3`),
	rpctest.JSONRequest("htable.dump", "8", `"t"`),
	rpctest.JSONRequest("htable.dump", `"str-id"`, `"iv"`),
	rpctest.JSONRequest("htable.dump", "", `"t"`),
	rpctest.JSONRequest("htable.dump", "10", `"nosuch"`),
	rpctest.JSONRequest("htable.dump", "11"),
	rpctest.JSONRequest("htable.get", "12", `"t"`, `"alice"`),
	rpctest.JSONRequest("htable.get", "13", `"t"`, `"bob"`),
	rpctest.JSONRequest("htable.get", "14", `"t"`, `"num"`),
	rpctest.JSONRequest("htable.get", "15", `"t"`, `"nokey"`),
	rpctest.JSONRequest("htable.get", "16", `"nosuch"`, `"x"`),
	rpctest.JSONRequest("htable.get", "17", `"t"`),
	rpctest.JSONRequest("htable.get", "18", `"t"`, `"15"`),
	rpctest.JSONRequest("htable.delete", "30", `"t"`, `"alice"`),
	rpctest.JSONRequest("htable.delete", "31", `"t"`, `"alice"`),
	rpctest.JSONRequest("htable.delete", "32", `"t"`),
	rpctest.JSONRequest("htable.seti", "33", `"t"`),
	rpctest.JSONRequest("htable.setxs", "34", `"nosuch"`, `"k"`, `"v"`, `10`),
	rpctest.JSONRequest("htable.setex", "35", `"t"`, `"k"`),
	rpctest.JSONRequest("htable.setex", "351", `"t"`, `"bob"`, `10`),
	rpctest.JSONRequest("htable.listTables", "36"),
	rpctest.JSONRequest("htable.stats", "37"),
	rpctest.JSONRequest("htable.flush", "38", `"iv"`),
	rpctest.JSONRequest("htable.flush", "39"),
	rpctest.JSONRequest("htable.reload", "40", `"t"`),
	rpctest.JSONRequest("htable.store", "41", `"t"`),
	rpctest.JSONRequest("htable.dump", "52", `"t"`),
	rpctest.JSONRequest("htable.flush", "53", `"t"`),
	rpctest.JSONRequest("htable.dump", "54", `"t"`),
	rpctest.JSONRequest("htable.stats", "55"),
}

// TestJSONRPCVsKamailio sends the same JSON-RPC requests to Kamailio's
// jsonrpcs and to sipht: same status line, Content-Type and body bytes.
func TestJSONRPCVsKamailio(t *testing.T) {
	k := rpctest.StartKamailio(t, rpcTables...)
	_, _, addr := startSipht(t, rpcTables, "")
	for _, body := range jsonScript {
		w := rpctest.PostRPC(t, k.HTTPAddr, body)
		g := rpctest.PostRPC(t, addr, body)
		if w != g {
			t.Errorf("request %s\n--- kamailio: %s [%s]\n%s\n--- sipht: %s [%s]\n%s", body, w.Status, w.CType, w.Body, g.Status, g.CType, g.Body)
		}
	}
}

// TestRPCDifferences pins the answers that differ from Kamailio on
// purpose (docs/kamailio-differences.md).
func TestRPCDifferences(t *testing.T) {
	rpctest.KamcmdPath(t)
	_, ctl, _ := startSipht(t, rpcTables, "")
	kc := func(args ...string) string {
		o, e, _ := rpctest.Kamcmd(t, append([]string{"-s", ctl}, args...)...)
		return o + e
	}
	// A lifetime on a table without autoexpire is ignored (Kamailio shows
	// expire 1970-01-01 00:00:10).
	kc("htable.setxs", "t", "tmp", "v", "10")
	if got := kc("htable.get", "t", "tmp"); !strings.Contains(got, "expire: NEVER") {
		t.Errorf("setxs on a table without autoexpire: %q", got)
	}
	// setxi with expire 0 on an autoexpire table: the table's lifetime.
	kc("htable.setxi", "iv", "n", "5", "0")
	if got := kc("htable.get", "iv", "n"); !regexp.MustCompile(`expire: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d`).MatchString(got) {
		t.Errorf("setxi with expire 0 on an autoexpire table: %q", got)
	}
	// sipht's htable.list pages through a table.
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		kc("htable.sets", "t", k, "v"+k)
	}
	first := kc("htable.list", "t", "", "2")
	m := regexp.MustCompile(`next: (\d+:\d+)`).FindStringSubmatch(first)
	if m == nil || !strings.Contains(first, "count: 2") {
		t.Fatalf("htable.list page 1: %q", first)
	}
	var names []string
	cur := ""
	for i := 0; i < 10; i++ {
		page := kc("htable.list", "t", "s:"+cur, "2")
		for _, l := range regexp.MustCompile(`name: (\S+)`).FindAllStringSubmatch(page, -1) {
			names = append(names, l[1])
		}
		m := regexp.MustCompile(`next: (\d+:\d+)`).FindStringSubmatch(page)
		if m == nil {
			break
		}
		cur = m[1]
	}
	slices.Sort(names)
	if strings.Join(names, ",") != "a,b,c,d,e,tmp" {
		t.Errorf("htable.list pages gave %v", names)
	}
	if got := kc("htable.list", "t", "s:", "10", "c"); !strings.Contains(got, "name: c") || strings.Contains(got, "name: a") {
		t.Errorf("htable.list with filter: %q", got)
	}
	if got := kc("htable.list", "t", "bad", "10"); !strings.Contains(got, "error: 400 - Bad cursor") {
		t.Errorf("htable.list bad cursor: %q", got)
	}
	if got := kc("htable.dmqsync"); got != "error: 500 - HTable DMQ Sync Failed\n" {
		t.Errorf("dmqsync without DMQ: %q", got)
	}
}

// TestDMQSyncHook: htable.dmqsync and htable.dmqresync call the hook the
// DMQ code installs (dmqresync flushes the table first).
func TestDMQSyncHook(t *testing.T) {
	r, ctl, _ := startSipht(t, rpcTables, "")
	m := modOf(r)
	var calls []string
	fail := false
	m.SetDMQSync(func(_ context.Context, table string) error {
		calls = append(calls, "sync("+table+")")
		if fail {
			return errors.New("no peers")
		}
		return nil
	})
	m.Table("t").SetStr("x", "1")
	run := func(args ...string) string {
		var o, e bytes.Buffer
		ctlcli.Main(append([]string{"-s", ctl}, args...), &o, &e)
		return o.String() + e.String()
	}
	for _, c := range []struct{ args, want string }{
		{"htable.dmqsync", "Ok\n"},
		{"htable.dmqsync t", "Ok\n"},
		{"htable.dmqsync nosuch", "error: 500 - No such htable\n"},
		{"htable.dmqresync t", "Ok\n"},
		{"htable.dmqresync", "error: 500 - No htable name given\n"},
	} {
		if got := run(strings.Fields(c.args)...); got != c.want {
			t.Errorf("%s: %q, want %q", c.args, got, c.want)
		}
	}
	if _, ok := m.Table("t").Get("x"); ok {
		t.Errorf("dmqresync did not flush the table")
	}
	fail = true
	if got := run("htable.dmqsync"); got != "error: 500 - HTable DMQ Sync Failed\n" {
		t.Errorf("failing hook: %q", got)
	}
	if strings.Join(calls, " ") != "sync() sync(t) sync(t) sync()" {
		t.Errorf("hook calls %q", calls)
	}
}
