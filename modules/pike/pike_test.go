package pike_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/jsonrpc"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/sipio"
	"github.com/sipht/sipht/internal/testutil/kamailio"
	_ "github.com/sipht/sipht/modules/htable"
	"github.com/sipht/sipht/modules/pike"
)

// config returns a test config: pike with the given modparam lines, the
// test stub for sl_send_reply/$rc/$si, and route as request_route.
func config(modparams, route string) string {
	servertest.RegisterStub()
	return `loadmodule "servertest_stub.so"
loadmodule "pike.so"
` + modparams + "\nrequest_route {\n" + route + "\n}\n"
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// freeListens are the test server's sockets, on free ports. (A config's
// listen=udp:127.0.0.1:0 means port 5060, as in Kamailio.)
var freeListens = []sipio.ListenSpec{
	{Transport: sipio.UDP, Host: "127.0.0.1"},
	{Transport: sipio.TCP, Host: "127.0.0.1"},
	{Transport: sipio.UDP, Host: "::1"},
}

// start runs src on freeListens.
func start(t *testing.T, src string) *servertest.Running {
	t.Helper()
	return servertest.Start(t, src, func(o *server.Options) { o.ListenOverride = freeListens })
}

// rcRoute replies with pike_check_req's return code in the reason.
const rcRoute = `pike_check_req(); sl_send_reply("200", "pike $rc");`

// ask sends n OPTIONS from c and returns the reply reasons ("" for none).
func ask(t *testing.T, c *servertest.Client, n int, wait time.Duration) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		c.Send(t, servertest.Request("OPTIONS", "sip:127.0.0.1", nil, ""))
		r := c.Read(t, wait)
		if r == "" {
			out = append(out, "")
			continue
		}
		line := r[:strings.Index(r, "\r\n")]
		out = append(out, strings.TrimPrefix(line, "SIP/2.0 200 "))
	}
	return out
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func seq(parts ...[]string) []string { return slices.Concat(parts...) }

func pikeModule(t testing.TB, r *servertest.Running) *pike.Module {
	t.Helper()
	m, ok := r.Srv.Module("pike")
	if !ok {
		t.Fatal("pike not loaded")
	}
	return m.(*pike.Module)
}

// TestCheckReq: the fact sheet's sequence through the real transport and
// script, and the BLOCKing log line, once.
func TestCheckReq(t *testing.T) {
	r := start(t, config(`
modparam("pike", "sampling_time_unit", 60)
modparam("pike", "reqs_density_per_unit", 3)`, rcRoute))
	c := servertest.DialFrom(t, "127.0.0.1:0", r.UDP)
	got := ask(t, c, 14, 2*time.Second)
	want := seq(repeat("pike 1", 6), []string{"pike -2"}, repeat("pike -1", 7))
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	logs := r.Logs.String()
	if n := strings.Count(logs, "PIKE - BLOCKing ip 127.0.0.1, node=127.0.0.1/32"); n != 1 {
		t.Fatalf("BLOCKing logged %d times:\n%s", n, logs)
	}
	if !strings.Contains(logs, "WARNING: pike: PIKE - BLOCKing") {
		t.Fatalf("BLOCKing not at L_WARN by pike:\n%s", logs)
	}
}

// TestCheckIP: pike_check_ip with constant and dynamic addresses, IPv6
// included (Kamailio 5.6 parses IPv4 only), and a runtime parse error.
func TestCheckIP(t *testing.T) {
	r := start(t, config(`
modparam("pike", "sampling_time_unit", 60)
modparam("pike", "reqs_density_per_unit", 3)
modparam("pike", "pike_log_level", -1)`, `
if ($rU == "v6") { pike_check_ip("[2001:db8::1]"); }
else if ($rU == "bad.1") { pike_check_ip("$rU"); }
else if ($rU == "empty") { pike_check_ip("$null"); }
else { pike_check_ip("10.0.0.$rU"); }
sl_send_reply("200", "pike $rc");`))
	c := servertest.Dial(t, r.UDP)
	req := func(user string) string {
		c.Send(t, servertest.Request("OPTIONS", "sip:"+user+"@127.0.0.1", nil, ""))
		rep := c.Read(t, 2*time.Second)
		return strings.TrimPrefix(rep[:strings.Index(rep, "\r\n")], "SIP/2.0 200 ")
	}
	var got []string
	for i := 0; i < 20; i++ {
		got = append(got, req("v6"))
	}
	want := seq(repeat("pike 1", 18), []string{"pike -2", "pike -1"})
	if !slices.Equal(got, want) {
		t.Fatalf("IPv6: got %q\nwant %q", got, want)
	}
	for i := 0; i < 7; i++ {
		got[i] = req("7")
	}
	if got[6] != "pike -2" {
		t.Fatalf("10.0.0.7: %q", got[:7])
	}
	if g := req("bad.1"); g != "pike -1" {
		t.Fatalf("unparsable address: %q", g)
	}
	if g := req("empty"); g != "pike -1" {
		t.Fatalf("empty address: %q", g)
	}
	logs := r.Logs.String()
	for _, want := range []string{"failed to parse ip address: bad.1", "ERROR: pike: PIKE - BLOCKing ip 2001:db8::1, node=2001:db8::1/128"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// TestAllow: allowed sources always get 1 and are not in the tree.
func TestAllow(t *testing.T) {
	r := start(t, config(`
modparam("pike", "sampling_time_unit", 60)
modparam("pike", "reqs_density_per_unit", 3)
modparam("pike", "allow", "127.0.0.5")
modparam("pike", "allow", "127.0.1.0/24")
modparam("pike", "allow", "::1")`, rcRoute))
	for _, src := range []string{"127.0.0.5", "127.0.1.9"} {
		c := servertest.DialFrom(t, src+":0", r.UDP)
		if got := ask(t, c, 20, 2*time.Second); !slices.Equal(got, repeat("pike 1", 20)) {
			t.Fatalf("%s: %q", src, got)
		}
	}
	if n := pikeModule(t, r).Detector().Stats().Nodes; n != 0 {
		t.Fatalf("allowed sources made %d nodes", n)
	}
	c := servertest.DialFrom(t, "127.0.0.6:0", r.UDP)
	if got := ask(t, c, 7, 2*time.Second); got[6] != "pike -2" {
		t.Fatalf("127.0.0.6: %q", got)
	}
}

// TestConfigErrors: parameter values Kamailio would take silently or
// that sipht cannot honour are load errors naming the parameter.
func TestConfigErrors(t *testing.T) {
	servertest.RegisterStub()
	for _, tc := range []struct{ modparam, want string }{
		{`modparam("pike", "reqs_density_per_unit", 0)`, "max hits 0"},
		{`modparam("pike", "reqs_density_per_unit", 70000)`, "max hits 70000"},
		{`modparam("pike", "sampling_time_unit", 0)`, "sampling unit 0"},
		{`modparam("pike", "remove_latency", -5)`, "remove latency -5"},
		{`modparam("pike", "max_nodes", 3)`, "max nodes 3"},
		{`modparam("pike", "allow", "10.0.0.1/8")`, "did you mean 10.0.0.0/8"},
		{`modparam("pike", "allow", "not-an-ip")`, `allow "not-an-ip"`},
		{`modparam("pike", "early_drop", 2)`, "want 0 or 1"},
		{`modparam("pike", "early_drop_table", "ipban")`, `needs the htable module`},
		{`modparam("pike", "nosuch", 1)`, `has no parameter "nosuch"`},
	} {
		src := config(tc.modparam, "exit;")
		_, err := server.Load(server.Options{Source: []byte(src), SourceName: "t.cfg", Logger: quiet})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.modparam, err, tc.want)
		}
	}
	src := config(`modparam("pike", "reqs_density_per_unit", 3)`, `pike_check_ip("1.2.3.999");`)
	if _, err := server.Load(server.Options{Source: []byte(src), SourceName: "t.cfg", Logger: quiet}); err == nil || !strings.Contains(err.Error(), `t.cfg:5:15: pike_check_ip(): "1.2.3.999" is not an IP address`) {
		t.Errorf("invalid constant address: %v", err)
	}
}

// rpcJSON calls a method through the JSON-RPC dispatcher (as jsonrpcs
// would) and returns the reply document.
func rpcJSON(t testing.TB, r *servertest.Running, method string, params ...string) string {
	t.Helper()
	ps := make([]string, len(params))
	for i, p := range params {
		ps[i] = fmt.Sprintf("%q", p)
	}
	doc := fmt.Sprintf(`{"jsonrpc":"2.0","method":%q,"params":[%s],"id":1}`, method, strings.Join(ps, ","))
	d := &jsonrpc.Dispatcher{Registry: r.Srv.RPC}
	_, out, err := d.Exec(context.Background(), []byte(doc), "test")
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// kamcmd serves the server's RPC registry over BINRPC on a unix socket
// and runs the real kamcmd against it.
func kamcmd(t *testing.T, r *servertest.Running) func(args ...string) string {
	t.Helper()
	kamailio.KamcmdBinary(t)
	sock := filepath.Join(t.TempDir(), "ctl")
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := binrpc.Listen(ctx, "unixs:"+sock, binrpc.Options{Registry: r.Srv.RPC})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); srv.Close() })
	return func(args ...string) string { return kamailio.MustKamcmd(t, "unixs:"+sock, args...) }
}

// TestRPC: pike.top / pike.list shapes and faults (the differential test
// in test/e2e compares them with Kamailio's), and sipht's pike.rm.
func TestRPC(t *testing.T) {
	r := start(t, config(`
modparam("pike", "sampling_time_unit", 60)
modparam("pike", "reqs_density_per_unit", 3)`, rcRoute))
	ask(t, servertest.DialFrom(t, "127.0.0.8:0", r.UDP), 10, 2*time.Second)
	ask(t, servertest.DialFrom(t, "127.0.0.9:0", r.UDP), 2, 2*time.Second)

	j := rpcJSON(t, r, "pike.top", "ALL")
	for _, want := range []string{`"max_hits":3`, `"ip_addr":"127.0.0.8"`, `"leaf_hits_curr":6`, `"status":"HOT"`,
		`"ip_addr":"127.0.0.9"`, `"status":"WARM"`, `"number_of_rows":2`, `"list":[{`} {
		if !strings.Contains(strings.ReplaceAll(j, " ", ""), want) {
			t.Errorf("pike.top ALL lacks %s:\n%s", want, j)
		}
	}
	if j := rpcJSON(t, r, "pike.top", "bogus"); !strings.Contains(j, "Bad argument. Select: ALL, HOT or WARM") || !strings.Contains(j, "500") {
		t.Errorf("bad argument: %s", j)
	}
	if j := rpcJSON(t, r, "pike.list"); !strings.Contains(j, `"number_of_rows": 1`) && !strings.Contains(j, `"number_of_rows":1`) {
		t.Errorf("pike.list (HOT): %s", j)
	}
	if j := rpcJSON(t, r, "pike.top", "warm"); !strings.Contains(strings.ReplaceAll(j, " ", ""), `"list":[]`) {
		t.Errorf("pike.top warm: %s", j)
	}

	k := kamcmd(t, r)
	top := k("pike.top")
	for _, want := range []string{"max_hits: 3", "ip_addr: 127.0.0.8", "leaf_hits_prev: 0", "leaf_hits_curr: 6", "status: HOT", "number_of_rows: 1"} {
		if !strings.Contains(top, want) {
			t.Errorf("kamcmd pike.top lacks %q:\n%s", want, top)
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"pike.rm 127.0.0.8", "Ok. 127.0.0.8 unblocked."},
		{"pike.rm 127.0.0.8", "Ok. 127.0.0.8 was not blocked; counters reset."},
		{"pike.rm 127.0.0.77", "error: 404 - IP address not found in pike tree: 127.0.0.77"},
		{"pike.rm nonsense", "error: 500 - Invalid IP address: nonsense"},
		{"pike.rm", "error: 500 - Not enough parameters (IP address)"},
		{"pike.top x", "error: 500 - Bad argument. Select: ALL, HOT or WARM"},
	} {
		if got := strings.TrimSpace(k(strings.Fields(tc.args)...)); got != tc.want {
			t.Errorf("kamcmd %s: %q, want %q", tc.args, got, tc.want)
		}
	}
	if top := k("pike.top"); !strings.Contains(top, "number_of_rows: 0") {
		t.Errorf("after pike.rm:\n%s", top)
	}
	// unblocked: the source is judged afresh (its path exists: x hits)
	got := ask(t, servertest.DialFrom(t, "127.0.0.8:0", r.UDP), 4, 2*time.Second)
	if want := []string{"pike 1", "pike 1", "pike -2", "pike -1"}; !slices.Equal(got, want) {
		t.Errorf("after pike.rm: %q", got)
	}
	if !strings.Contains(r.Logs.String(), "PIKE - UNBLOCKing ip 127.0.0.8, node=127.0.0.8/32 (pike.rm)") {
		t.Errorf("pike.rm not logged:\n%s", r.Logs.String())
	}
}

// TestEarlyDrop: with early_drop=1 a blocked source's requests are dropped
// before parsing (no script run, counted as filtered), the source stays
// blocked while it floods, and is let through again once it slows down.
// Real time, unit 1 s.
func TestEarlyDrop(t *testing.T) {
	r := start(t, config(`
modparam("pike", "sampling_time_unit", 1)
modparam("pike", "reqs_density_per_unit", 3)
modparam("pike", "early_drop", 1)`, rcRoute))
	c := servertest.DialFrom(t, "127.0.0.8:0", r.UDP)
	// burst until blocked (7 requests in well under a second, unless a
	// window boundary falls inside: then a few more)
	var got []string
	for i := 0; i < 20 && !slices.Contains(got, "pike -2"); i++ {
		got = append(got, ask(t, c, 1, 2*time.Second)...)
	}
	if !slices.Contains(got, "pike -2") {
		t.Fatalf("never blocked: %q", got)
	}
	// from now on: no answer, dropped before parsing
	before := r.Srv.SIP().Stats()
	flood := ask(t, c, 30, 20*time.Millisecond)
	if !slices.Equal(flood, repeat("", 30)) {
		t.Fatalf("blocked source answered: %q", flood)
	}
	after := r.Srv.SIP().Stats()
	if d := after.Dropped[sipio.DropFiltered] - before.Dropped[sipio.DropFiltered]; d != 30 {
		t.Fatalf("filtered %d, want 30", d)
	}
	if after.RequestsIn["OPTIONS"] != before.RequestsIn["OPTIONS"] {
		t.Fatal("dropped requests reached the parser")
	}
	// the flood goes on for 3 s: still blocked the whole time
	end := time.Now().Add(3 * time.Second)
	for time.Now().Before(end) {
		if g := ask(t, c, 1, 50*time.Millisecond); g[0] != "" {
			t.Fatalf("answered while flooding: %q", g)
		}
	}
	// it stops: after two quiet windows it is unblocked and answered (a
	// request every 500 ms is far below 3 per second)
	time.Sleep(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		g := ask(t, c, 1, 500*time.Millisecond)
		if g[0] == "pike 1" {
			break
		}
		if g[0] != "" || time.Now().After(deadline) {
			t.Fatalf("after the flood: %q", g)
		}
	}
	if !strings.Contains(r.Logs.String(), "PIKE - UNBLOCKing ip 127.0.0.8") {
		t.Errorf("unblock not logged:\n%s", r.Logs.String())
	}
	// another source was never affected
	if g := ask(t, servertest.DialFrom(t, "127.0.0.9:0", r.UDP), 1, 2*time.Second); g[0] != "pike 1" {
		t.Fatalf("other source: %q", g)
	}
	mf := gather(t, r.Srv.Metrics)
	if v := metric(mf, "sipht_pike_early_drops_total", "reason", "hot"); v < 30 {
		t.Errorf("early drops (hot) = %v", v)
	}
	if v := metric(mf, "sipht_pike_blocked_total", "", ""); v != 1 {
		t.Errorf("blocked total = %v", v)
	}
	if v := metric(mf, "sipht_pike_nodes", "", ""); v < 4 {
		t.Errorf("nodes = %v", v)
	}
}

// TestEarlyDropTable: with the real htable module, sources that are keys of
// the early_drop_table are dropped before parsing (allowed sources
// excepted), the Kamailio WITH_ANTIFLOOD flow bans through the script,
// and an undefined table is a config error.
func TestEarlyDropTable(t *testing.T) {
	src := config(`
loadmodule "htable.so"
modparam("htable", "htable", "ipban=>size=8;autoexpire=300")
modparam("pike", "sampling_time_unit", 60)
modparam("pike", "reqs_density_per_unit", 3)
modparam("pike", "early_drop", 1)
modparam("pike", "early_drop_table", "ipban")
modparam("pike", "allow", "127.0.0.5")`, `
if ($sht(ipban=>$si) != $null) { exit; }
if (!pike_check_req()) { $sht(ipban=>$si) = 1; exit; }
sl_send_reply("200", "seen $si");`)
	r := start(t, src)
	for _, k := range []string{"127.0.0.8", "127.0.0.5", "::1"} {
		if j := rpcJSON(t, r, "htable.seti", "ipban", k, "1"); !strings.Contains(j, "result") {
			t.Fatalf("htable.seti %s: %s", k, j)
		}
	}
	for _, tc := range []struct {
		src  string
		want string
	}{
		{"127.0.0.8", ""},
		{"127.0.0.9", "seen 127.0.0.9"},
		{"127.0.0.5", ""}, // banned but allowed: parsed, then the script drops it
		{"[::1]", ""},
	} {
		dst := r.UDP
		if strings.HasPrefix(tc.src, "[") {
			dst = udpListener(t, r, true)
		}
		parsed := r.Srv.SIP().Stats().RequestsIn["OPTIONS"]
		if g := ask(t, servertest.DialFrom(t, tc.src+":0", dst), 1, 300*time.Millisecond); g[0] != tc.want {
			t.Errorf("%s: %q, want %q", tc.src, g[0], tc.want)
		}
		wasParsed := r.Srv.SIP().Stats().RequestsIn["OPTIONS"] > parsed
		if early := tc.src == "127.0.0.8" || tc.src == "[::1]"; wasParsed == early {
			t.Errorf("%s: parsed=%v, want dropped early=%v", tc.src, wasParsed, early)
		}
	}
	rpcJSON(t, r, "htable.delete", "ipban", "127.0.0.8")
	if g := ask(t, servertest.DialFrom(t, "127.0.0.8:0", r.UDP), 1, 2*time.Second); g[0] != "seen 127.0.0.8" {
		t.Errorf("after the ban is lifted: %q", g[0])
	}
	// the WITH_ANTIFLOOD flow: pike detects 127.0.0.7 (after 4 passes:
	// the 127.0.0 prefix exists already), the script bans it, everything
	// after is dropped before parsing by the ban table (not by pike's own
	// set: the table comes first)
	before := r.Srv.SIP().Stats()
	got := ask(t, servertest.DialFrom(t, "127.0.0.7:0", r.UDP), 20, 300*time.Millisecond)
	if want := seq(repeat("seen 127.0.0.7", 4), repeat("", 16)); !slices.Equal(got, want) {
		t.Errorf("flood from 127.0.0.7: %q", got)
	}
	after := r.Srv.SIP().Stats()
	if p := after.RequestsIn["OPTIONS"] - before.RequestsIn["OPTIONS"]; p != 5 {
		t.Errorf("%d requests parsed, want 5", p)
	}
	mf := gather(t, r.Srv.Metrics)
	if v := metric(mf, "sipht_pike_early_drops_total", "reason", "ban_table"); v != 2+15 {
		t.Errorf("ban_table drops = %v, want 17", v)
	}
	if v := metric(mf, "sipht_pike_early_drops_total", "reason", "hot"); v != 0 {
		t.Errorf("hot drops = %v, want 0", v)
	}

	// an undefined table is a config error
	bad := strings.Replace(src, `"early_drop_table", "ipban"`, `"early_drop_table", "nosuch"`, 1)
	_, err := server.Load(server.Options{Source: []byte(bad), SourceName: "bad.cfg", Logger: quiet, ListenOverride: freeListens})
	if err == nil || !strings.Contains(err.Error(), `early_drop_table "nosuch": htable "nosuch" is not defined`) {
		t.Fatalf("Load: %v", err)
	}
}

// udpListener returns the server's first UDP address of a family.
func udpListener(t *testing.T, r *servertest.Running, v6 bool) string {
	t.Helper()
	for _, l := range r.Srv.SIP().Listeners() {
		if l.Transport == sipio.UDP && l.Addr.Addr().Is6() == v6 {
			return l.Addr.String()
		}
	}
	t.Fatal("no such listener")
	return ""
}

func gather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mf, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mf
}

// metric returns the value of a counter or gauge (with label=value when
// label is set), or -1.
func metric(mf []*dto.MetricFamily, name, label, value string) float64 {
	for _, f := range mf {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			ok := label == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					ok = true
				}
			}
			if !ok {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return -1
}
