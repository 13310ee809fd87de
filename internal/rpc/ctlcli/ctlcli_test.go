package ctlcli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/rpc"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/jsonrpc"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/testutil"
)

func TestParseArg(t *testing.T) {
	cases := []struct {
		in   string
		want rpc.Value
	}{
		{"5", rpc.Int(5)},
		{"-5", rpc.Int(-5)},
		{"+7", rpc.Int(7)},
		{" 42", rpc.Int(42)},
		{"", rpc.Int(0)},
		{"12345678901", rpc.Int(-539222987)},  // strtol then (int)
		{"99999999999999999999", rpc.Int(-1)}, // LONG_MAX then (int)
		{"2.5", rpc.Double(2.5)},
		{"1e3", rpc.Double(1000)},
		{".5", rpc.Double(0.5)},
		{"0x10", rpc.Double(16)},
		{"inf", rpc.Double(math.Inf(1))},
		{"s:15", rpc.Str("15")},
		{"s:abc", rpc.Str("abc")},
		{"abc", rpc.Str("abc")},
		{"5 ", rpc.Str("5 ")},
		{"1e", rpc.Str("1e")},
		{"-", rpc.Str("-")},
		{"s:", rpc.Str("")},
		{"s", rpc.Str("s")},
		{"   ", rpc.Str("   ")},
	}
	for _, tc := range cases {
		if got := ParseArg(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseArg(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	if v := ParseArg("nan"); v.Kind != rpc.KindDouble || !math.IsNaN(v.F) {
		t.Errorf("nan: %+v", v)
	}
}

func registry(t testing.TB) (*rpc.Registry, *rpctest.FakeHTable) {
	t.Helper()
	r := rpc.NewRegistry()
	if err := rpc.RegisterCore(r, rpc.CoreInfo{Version: "0.0.1"}); err != nil {
		t.Fatal(err)
	}
	f := rpctest.NewFakeHTable(rpctest.TableDef{Name: "t", Size: 4}, rpctest.TableDef{Name: "iv", Size: 3, AutoExpire: 100})
	f.SetInt("t", "bob", 42)
	f.SetStr("t", "15", "x")
	f.SetStr("t", "alice", "hello")
	f.SetInt("t", "neg", -5)
	if err := f.Register(r); err != nil {
		t.Fatal(err)
	}
	return r, f
}

func serve(t testing.TB, r *rpc.Registry, spec string) *binrpc.Server {
	t.Helper()
	s, err := binrpc.Listen(context.Background(), spec, binrpc.Options{Registry: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func run(args ...string) (string, string, int) {
	var o, e bytes.Buffer
	code := Main(args, &o, &e)
	return o.String(), e.String(), code
}

var outputScript = [][]string{
	{"htable.dump", "t"},
	{"htable.dump", "iv"},
	{"htable.get", "t", "alice"},
	{"htable.get", "t", "neg"},
	{"htable.get", "t", "nokey"},
	{"htable.get", "nosuch", "x"},
	{"htable.get", "t"},
	{"htable.listTables"},
	{"htable.stats"},
	{"core.echo", "a", "1", "s:x", "", "2"},
	{"core.printi", "a"},
	{"no.such"},
	{"system.methodHelp", "core.echo"},
	{"-f", "%v|%v\\n", "htable.dump", "t"},
	{"-f", "entry=%v ", "htable.stats"},
	{"-f", "%v %v", "core.echo", "a", "b", "c"},
	{"-f", "x", "core.echo", "v"},
	{"-f", "100%% %v\\n", "core.echo", "a"},
	{"-f", "", "core.echo", "a", "b"},
}

// TestOutputLikeKamcmd prints the same replies with the real kamcmd and
// with sipht ctl, from sipht and from Kamailio 5.6: stdout must be byte
// identical; the exit status differs on faults by design (kamcmd 0, us 1).
func TestOutputLikeKamcmd(t *testing.T) {
	rpctest.KamcmdPath(t)
	r, _ := registry(t)
	dir := testutil.ShortTempDir(t)
	s := serve(t, r, "unixs:"+filepath.Join(dir, "ctl"))
	specs := []string{s.Spec()}
	if k := startKamailioIfPresent(t); k != nil {
		specs = append(specs, "unixs:"+k.CtlSocket)
		for _, c := range [][]string{
			{"htable.seti", "t", "bob", "42"}, {"htable.sets", "t", "s:15", "x"},
			{"htable.sets", "t", "alice", "hello"}, {"--", "htable.seti", "t", "neg", "-5"},
		} {
			rpctest.Kamcmd(t, append([]string{"-s", "unixs:" + k.CtlSocket}, c...)...)
		}
	}
	for _, spec := range specs {
		for _, cmd := range outputScript {
			args := append([]string{"-s", spec}, cmd...)
			wo, we, _ := rpctest.Kamcmd(t, args...)
			go_, ge, code := run(args...)
			if wo != go_ || we != ge {
				t.Errorf("%s %q\n--- kamcmd\n%q %q\n--- sipht ctl\n%q %q", spec, cmd, wo, we, go_, ge)
			}
			fault := strings.HasPrefix(wo, "error: ")
			if (code == ExitFault) != fault || (code != ExitOK && code != ExitFault) {
				t.Errorf("%q: exit %d for %q", cmd, code, wo)
			}
		}
	}
}

// startKamailioIfPresent starts Kamailio when it is installed (or
// required); otherwise the comparison runs against sipht only.
func startKamailioIfPresent(t *testing.T) *rpctest.Kamailio {
	t.Helper()
	_, err1 := exec.LookPath("kamailio")
	_, err2 := os.Stat("/usr/sbin/kamailio")
	if err1 != nil && err2 != nil && !testutil.Required() {
		t.Log("kamailio is not installed: comparing kamcmd and sipht ctl on sipht only")
		return nil
	}
	return rpctest.StartKamailio(t, "t=>size=4;", "iv=>size=3;initval=7;autoexpire=100")
}

func TestExitStatus(t *testing.T) {
	r, _ := registry(t)
	dir := testutil.ShortTempDir(t)
	s := serve(t, r, "unixs:"+filepath.Join(dir, "ctl"))
	if o, _, code := run("-s", s.Spec(), "htable.get", "t", "bob"); code != ExitOK || !strings.Contains(o, "value: 42") {
		t.Errorf("ok: %d %q", code, o)
	}
	if o, _, code := run("-s", s.Spec(), "htable.get", "t", "nokey"); code != ExitFault || o != "error: 500 - Key name doesn't exist in htable.\n" {
		t.Errorf("fault: %d %q", code, o)
	}
	if _, e, code := run("-s", "unixs:"+filepath.Join(dir, "nothing"), "core.version"); code != ExitError || !strings.Contains(e, "ERROR") {
		t.Errorf("connect: %d %q", code, e)
	}
	if _, _, code := run("-s", s.Spec()); code != ExitUsage {
		t.Errorf("no method: %d", code)
	}
	if _, _, code := run("-x", "core.version"); code != ExitUsage {
		t.Errorf("bad flag: %d", code)
	}
	if _, _, code := run("-s"); code != ExitUsage {
		t.Errorf("missing -s value: %d", code)
	}
	if o, _, code := run("-h"); code != ExitOK || !strings.Contains(o, "Usage: sipht ctl") {
		t.Errorf("help: %d", code)
	}
	// negative numbers after the method need no "--"
	if o, _, code := run("-s", s.Spec(), "htable.seti", "t", "n2", "-7"); code != ExitOK || o != "Ok. Key set to new value.\n" {
		t.Errorf("seti -7: %d %q", code, o)
	}
	// aliases and the help builtin
	if o, _, code := run("-s", s.Spec(), "ver"); code != ExitOK || !strings.HasPrefix(o, "sipht 0.0.1 (") {
		t.Errorf("ver: %d %q", code, o)
	}
	if o, _, code := run("-s", s.Spec(), "help", "core.echo"); code != ExitOK || o != "Returns back its parameters.\n" {
		t.Errorf("help: %d %q", code, o)
	}
	// every transport
	for _, spec := range []string{"unixd:" + filepath.Join(dir, "d"), fmt.Sprintf("tcp:127.0.0.1:%d", rpctest.FreePort(t, "tcp")), fmt.Sprintf("udp:127.0.0.1:%d", rpctest.FreePort(t, "udp"))} {
		sv := serve(t, r, spec)
		if o, e, code := run("-D", dir, "-s", sv.Spec(), "htable.get", "t", "bob"); code != ExitOK || !strings.Contains(o, "value: 42") {
			t.Errorf("%s: %d %q %q", spec, code, o, e)
		}
	}
}

// TestJSONOutput checks --json against the JSON-RPC result of the same
// call through the HTTP handler.
func TestJSONOutput(t *testing.T) {
	r, _ := registry(t)
	dir := testutil.ShortTempDir(t)
	s := serve(t, r, "unixs:"+filepath.Join(dir, "ctl"))
	hs, err := jsonrpc.ListenHTTP(t.Context(), "127.0.0.1:0", jsonrpc.HTTPOptions{HandlerOptions: jsonrpc.HandlerOptions{Registry: r}})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	for _, cmd := range [][]string{
		{"htable.dump", "t"},
		{"htable.dump", "iv"},
		{"htable.get", "t", "alice"},
		{"htable.listTables"},
		{"core.echo", "a", "b"},
		{"core.uptime"},
		{"core.version"},
		{"system.methodHelp", "core.echo"},
	} {
		o, e, code := run(append([]string{"--json", "-s", s.Spec()}, cmd...)...)
		if code != ExitOK {
			t.Fatalf("%q: %d %s", cmd, code, e)
		}
		var got any
		if err := json.Unmarshal([]byte(o), &got); err != nil {
			t.Fatalf("%q: not JSON: %v\n%s", cmd, err, o)
		}
		params := make([]any, 0)
		for _, a := range cmd[1:] {
			params = append(params, a)
		}
		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": cmd[0], "params": params, "id": 1})
		resp, err := httpPost(hs.URL(), body)
		if err != nil {
			t.Fatal(err)
		}
		var env struct{ Result any }
		if err := json.Unmarshal(resp, &env); err != nil {
			t.Fatal(err)
		}
		if cmd[0] == "core.uptime" {
			continue // the clock moves
		}
		if !reflect.DeepEqual(got, env.Result) {
			t.Errorf("%q:\n--json %s\njsonrpc %s", cmd, o, resp)
		}
	}
	o, _, code := run("--json", "-s", s.Spec(), "htable.dump", "t")
	want := "[{\n\t\t\"entry\":\t3,\n\t\t\"size\":\t1,\n\t\t\"slot\":\t[{\n\t\t\t\t\"name\":\t\"bob\","
	if code != ExitOK || !strings.HasPrefix(o, want) {
		t.Errorf("layout:\n%s", o)
	}
	o, _, code = run("--json", "-s", s.Spec(), "htable.get", "t", "nokey")
	if code != ExitFault || o != "{\n\t\"code\":\t500,\n\t\"message\":\t\"Key name doesn't exist in htable.\"\n}\n" {
		t.Errorf("fault: %d %q", code, o)
	}
}

// TestBigReply: a reply far over kamcmd's 128 KiB limit goes through sipht
// ctl in full, while kamcmd refuses it.
func TestBigReply(t *testing.T) {
	r := rpc.NewRegistry()
	r.MustRegister(rpctest.DumpGenerator(20000, 4))
	dir := testutil.ShortTempDir(t)
	s := serve(t, r, "unixs:"+filepath.Join(dir, "ctl"))
	o, e, code := run("-s", s.Spec(), "bench.dump")
	if code != ExitOK || strings.Count(o, "\t\t\tname: key") != 20000 {
		t.Fatalf("sipht ctl: %d %q (%d bytes)", code, e, len(o))
	}
	if !strings.Contains(o, "\t\t\tname: key19999\n") {
		t.Fatal("last item missing")
	}
	o, _, code = run("--json", "-s", s.Spec(), "bench.dump")
	var v []any
	if code != ExitOK || json.Unmarshal([]byte(o), &v) != nil || len(v) != 16 {
		t.Fatalf("json: %d, %d slots", code, len(v))
	}
	if _, err := os.Stat("/usr/sbin/kamcmd"); err == nil {
		_, ke, _ := rpctest.Kamcmd(t, "-s", s.Spec(), "bench.dump")
		if !strings.Contains(ke, "reply too big") {
			t.Errorf("kamcmd accepted a %d-byte reply: %q", len(o), ke)
		}
	}
}

func httpPost(url string, body []byte) ([]byte, error) {
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
