package ctl_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/sipht/sipht/internal/core"
	"github.com/sipht/sipht/internal/rpc/binrpc"
	"github.com/sipht/sipht/internal/rpc/ctlcli"
	"github.com/sipht/sipht/internal/rpc/rpctest"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
	_ "github.com/sipht/sipht/modules/all"
	"github.com/sipht/sipht/modules/ctl"
)

func startSipht(t *testing.T, extra string) *servertest.Running {
	t.Helper()
	rpctest.RegisterModule()
	return servertest.Start(t, `#!KAMAILIO
listen=udp:127.0.0.1:0
loadmodule "ctl.so"
loadmodule "jsonrpcs.so"
loadmodule "rpctest_htable.so"
modparam("jsonrpcs", "transport", 0)
modparam("jsonrpcs", "fifo_name", "")
modparam("jsonrpcs", "dgram_socket", "")
`+extra+`
request_route { exit; }
`)
}

// TestKamcmdThroughModuleVsKamailio runs the whole kamcmd comparison
// script through the ctl module of a running sipht and through a real
// Kamailio 5.6, plus the ctl.* and jsonrpc.echo methods.
func TestKamcmdThroughModuleVsKamailio(t *testing.T) {
	rpctest.KamcmdPath(t)
	k := rpctest.StartKamailio(t, "t=>size=4;", "iv=>size=3;initval=7;autoexpire=100")
	dir := testutil.ShortTempDir(t)
	sock := filepath.Join(dir, "ctl")
	startSipht(t, fmt.Sprintf(`modparam("ctl", "binrpc", "unixs:%s")`, sock))

	want := rpctest.RunKamcmdScript(t, "unixs:"+k.CtlSocket)
	got := rpctest.RunKamcmdScript(t, "unixs:"+sock)
	for i, cmd := range rpctest.KamcmdScript {
		w, g := want[i], got[i]
		if cmd[0] == "!" {
			w.Out, g.Out = rpctest.ShapeKamcmd(cmd, w.Out), rpctest.ShapeKamcmd(cmd, g.Out)
		}
		if w != g {
			t.Errorf("kamcmd %q:\n--- kamailio\n%s%s\n--- sipht\n%s%s", cmd, w.Out, w.Err, g.Out, g.Err)
		}
	}
	for _, cmd := range [][]string{
		{"ctl.listen"}, {"ctl.who"}, {"ctl.connections"},
		{"jsonrpc.echo", "a", "7"}, {"jsonrpc.echo", "a"}, {"jsonrpc.echo"}, {"jsonrpc.echo", "1", "x"},
		{"system.methodHelp", "ctl.who"}, {"system.methodHelp", "jsonrpc.echo"},
	} {
		wo, we, wc := rpctest.Kamcmd(t, append([]string{"-s", "unixs:" + k.CtlSocket}, cmd...)...)
		gotOut, ge, gc := rpctest.Kamcmd(t, append([]string{"-s", "unixs:" + sock}, cmd...)...)
		wo = strings.ReplaceAll(wo, k.CtlSocket, "SOCK")
		gotOut = strings.ReplaceAll(gotOut, sock, "SOCK")
		if wo != gotOut || we != ge || wc != gc {
			t.Errorf("kamcmd %q:\n--- kamailio\n%s%s[exit %d]\n--- sipht\n%s%s[exit %d]", cmd, wo, we, wc, gotOut, ge, gc)
		}
	}
}

// TestSiphtCtl runs `sipht ctl` (ctlcli.Main) against the module: the
// same output as kamcmd, and no size limit.
func TestSiphtCtl(t *testing.T) {
	dir := testutil.ShortTempDir(t)
	sock := filepath.Join(dir, "ctl")
	startSipht(t, fmt.Sprintf(`modparam("ctl", "binrpc", "unixs:%s")
modparam("rpctest_htable", "dump_items", 20000)`, sock))
	run := func(args ...string) (string, string, int) {
		var o, e bytes.Buffer
		code := ctlcli.Main(append([]string{"-s", "unixs:" + sock}, args...), &o, &e)
		return o.String(), e.String(), code
	}
	o, e, code := run("core.echo", "a", "1", "s:x")
	if o != "a\n1\nx\n" || e != "" || code != 0 {
		t.Errorf("core.echo: %q %q %d", o, e, code)
	}
	o, _, code = run("no.such")
	if o != "error: 500 - command no.such not found\n" || code != 1 {
		t.Errorf("unknown method: %q %d", o, code)
	}
	o, _, code = run("system.listMethods")
	for _, m := range []string{"core.echo", "ctl.who", "ctl.listen", "ctl.connections", "jsonrpc.echo", "htable.dump"} {
		if !strings.Contains(o, "\n"+m+"\n") {
			t.Errorf("system.listMethods lacks %s:\n%s", m, o)
		}
	}
	// a dump far over kamcmd's 128 KiB limit
	o, e, code = run("bench.dump")
	if code != 0 || strings.Count(o, "\t\t\tname: ") != 20000 {
		t.Errorf("bench.dump through sipht ctl: exit %d, %d items, stderr %q", code, strings.Count(o, "\t\t\tname: "), e)
	}
	if _, err := os.Stat("/usr/sbin/kamcmd"); err == nil {
		ko, _, _ := rpctest.Kamcmd(t, "-s", "unixs:"+sock, "htable.stats")
		go2, _, _ := run("htable.stats")
		if ko != go2 {
			t.Errorf("htable.stats: kamcmd %q, sipht ctl %q", ko, go2)
		}
	}
}

// TestDefaultSocket: without a binrpc parameter the socket is
// <rundir>/kamailio_ctl, the rundir is created, and with Kamailio's
// default rundir that is where kamcmd and sipht ctl look.
func TestDefaultSocket(t *testing.T) {
	if want := "unixs:" + filepath.Join(core.Defaults().Rundir, binrpc.DefaultSocketName); ctlcli.DefaultSocket != want || binrpc.DefaultSpec("") != want {
		t.Fatalf("defaults disagree: sipht ctl %q, binrpc %q, core rundir gives %q", ctlcli.DefaultSocket, binrpc.DefaultSpec(""), want)
	}
	if got := ctl.New().DefaultSpec(); got != ctlcli.DefaultSocket {
		t.Fatalf("ctl module default %q, sipht ctl default %q", got, ctlcli.DefaultSocket)
	}
	dir := testutil.ShortTempDir(t)
	run := filepath.Join(dir, "run")
	r := startSipht(t, fmt.Sprintf("rundir=%q\n", run))
	sock := filepath.Join(run, "kamailio_ctl")
	st, err := os.Stat(sock)
	if err != nil {
		t.Fatalf("default socket: %v\n%s", err, r.Logs.String())
	}
	if st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want 0600 socket", st.Mode())
	}
	if dst, _ := os.Stat(run); dst.Mode().Perm() != 0o700 {
		t.Errorf("rundir mode %v, want 0700", dst.Mode())
	}
	var o bytes.Buffer
	if code := ctlcli.Main([]string{"-s", "unixs:" + sock, "core.echo", "hi"}, &o, &o); code != 0 || o.String() != "hi\n" {
		t.Errorf("sipht ctl on the default socket: %d %q", code, o.String())
	}
}

// TestSocketsModesAndCleanup: a relative path (resolved against workdir),
// mode, a TCP socket, the ctl.* replies, the fifo warning, the RPC call
// metrics, and socket files removed at stop.
func TestSocketsModesAndCleanup(t *testing.T) {
	dir := testutil.ShortTempDir(t)
	port := rpctest.FreePort(t, "tcp")
	// runs after the server has stopped (cleanups run last-in first-out)
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(dir, "rel.sock")); !os.IsNotExist(err) {
			t.Errorf("socket file left after stop: %v", err)
		}
	})
	r := startSipht(t, fmt.Sprintf(`workdir=%q
modparam("ctl", "binrpc", "unixs:rel.sock")
modparam("ctl", "binrpc", "tcp:127.0.0.1:%d")
modparam("ctl", "mode", 0660)
modparam("ctl", "fifo", "fifo:/tmp/kamailio_fifo")
modparam("ctl", "binrpc_max_body_size", 64)`, dir, port))
	sock := filepath.Join(dir, "rel.sock")
	st, err := os.Stat(sock)
	if err != nil || st.Mode().Perm() != 0o660 {
		t.Fatalf("relative socket: %v %v", st, err)
	}
	if !strings.Contains(r.Logs.String(), "legacy FIFO protocol is not supported") {
		t.Errorf("no warning for the fifo parameter:\n%s", r.Logs.String())
	}
	call := func(spec string, args ...string) string {
		var o bytes.Buffer
		ctlcli.Main(append([]string{"-s", spec}, args...), &o, &o)
		return o.String()
	}
	tcp := fmt.Sprintf("tcp:127.0.0.1:%d", port)
	if got, want := call(tcp, "ctl.listen"), fmt.Sprintf("binrpc\nunix_stream\n%s\n\nbinrpc\ntcp\n127.0.0.1\n%d\n", sock, port); got != want {
		t.Errorf("ctl.listen:\n%q\nwant\n%q", got, want)
	}
	who := call(tcp, "ctl.who")
	if !strings.HasPrefix(who, "binrpc\ntcp\n127.0.0.1\n") || !strings.HasSuffix(who, fmt.Sprintf("\n127.0.0.1\n%d\n", port)) {
		t.Errorf("ctl.who over TCP: %q", who)
	}
	// the connections of the calls above may take a moment to be closed
	// on the server side
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := call("unixs:"+sock, "ctl.connections")
		if got == "1\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("ctl.connections: %q", got)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	call(tcp, "no.such.method")
	call(tcp, "core.echo", "x")

	mfs, err := r.Srv.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "sipht_rpc_calls_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			counts[labels(m)] = m.GetCounter().GetValue()
		}
	}
	for _, k := range []string{"core.echo/binrpc/ok", "<unknown>/binrpc/not_found", "ctl.listen/binrpc/ok"} {
		if counts[k] < 1 {
			t.Errorf("sipht_rpc_calls_total{%s} = %v (all: %v)", k, counts[k], counts)
		}
	}

}

func labels(m *dto.Metric) string {
	var method, tp, outcome string
	for _, l := range m.GetLabel() {
		switch l.GetName() {
		case "method":
			method = l.GetValue()
		case "transport":
			tp = l.GetValue()
		case "outcome":
			outcome = l.GetValue()
		}
	}
	return method + "/" + tp + "/" + outcome
}
