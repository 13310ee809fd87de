// Package dmqtest starts DMQ clusters for tests: sipht nodes in the test
// process (each a full server loaded from a config text, which a test can
// stop and start again) and real Kamailio 5.6 nodes from temporary
// configs, all on 127.0.0.x loopback addresses with free ports. The test
// imports the modules its configs load (modules/all, or single ones).
package dmqtest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
	"github.com/sipht/sipht/modules/dmq"
)

// Node is a sipht server started by a test.
type Node struct {
	t    testing.TB
	IP   string
	Port int
	// Config is the config text the node runs.
	Config string
	Logs   *testutil.Buffer
	Srv    *server.Server

	cancel context.CancelFunc
	done   chan error
	tp     string
}

// URI is the node's DMQ address, sip:ip:port[;transport=tcp].
func (n *Node) URI() string { return fmt.Sprintf("sip:%s:%d%s", n.IP, n.Port, n.tp) }

func tpParam(tp string) string {
	if tp == "" || tp == "udp" {
		return ""
	}
	return ";transport=" + tp
}

// Addr is ip:port.
func (n *Node) Addr() string { return net.JoinHostPort(n.IP, fmt.Sprint(n.Port)) }

// DMQ returns the node's dmq module.
func (n *Node) DMQ() *dmq.Module {
	m, ok := n.Srv.Module("dmq")
	if !ok {
		n.t.Fatalf("node %s has no dmq module", n.Addr())
	}
	return m.(*dmq.Module)
}

// Module returns a loaded module of the node.
func (n *Node) Module(name string) module.Module {
	m, ok := n.Srv.Module(name)
	if !ok {
		n.t.Fatalf("node %s has no %s module", n.Addr(), name)
	}
	return m
}

// Options describe a sipht node.
type Options struct {
	IP     string   // 127.0.0.x
	Port   int      // 0: a free one
	Notify []string // notification_address values
	// DMQParams are extra modparam("dmq", ...) lines' "name", value pairs
	// written verbatim: `"ping_interval", 1`.
	DMQParams []string
	// Before is config text placed after loadmodule "dmq.so" (more
	// loadmodule / modparam lines).
	Before string
	// Route is the request_route body (default: empty).
	Route string
	// Tail is config text after request_route (other routes).
	Tail string
	// Transport, when "tcp", puts ;transport=tcp in server_address.
	Transport string
}

// Config builds the config text of a sipht node.
func (o Options) ConfigText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!KAMAILIO\nchildren=2\nlisten=udp:%s:%d\nlisten=tcp:%s:%d\n", o.IP, o.Port, o.IP, o.Port)
	b.WriteString("loadmodule \"dmq.so\"\n")
	fmt.Fprintf(&b, "modparam(\"dmq\", \"server_address\", \"sip:%s:%d%s\")\n", o.IP, o.Port, tpParam(o.Transport))
	for _, n := range o.Notify {
		fmt.Fprintf(&b, "modparam(\"dmq\", \"notification_address\", \"%s\")\n", n)
	}
	for _, p := range o.DMQParams {
		fmt.Fprintf(&b, "modparam(\"dmq\", %s)\n", p)
	}
	b.WriteString(o.Before)
	fmt.Fprintf(&b, "\nrequest_route {\n%s\n}\n%s\n", o.Route, o.Tail)
	return b.String()
}

// Start starts a sipht node; it is stopped at the end of the test.
func Start(t testing.TB, o Options) *Node {
	t.Helper()
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = testutil.FreePort(t, o.IP)
	}
	n := &Node{t: t, IP: o.IP, Port: o.Port, Config: o.ConfigText(), tp: tpParam(o.Transport)}
	n.start()
	t.Cleanup(func() { n.Stop() })
	return n
}

func (n *Node) start() {
	t := n.t
	t.Helper()
	n.Logs = &testutil.Buffer{}
	srv, err := server.Load(server.Options{Source: []byte(n.Config), SourceName: n.Addr() + ".cfg",
		Logger: slog.New(logging.NewTextHandler(n.Logs, logging.LevelDebug))})
	if err != nil {
		t.Fatalf("node %s: load config: %v\n%s", n.Addr(), err, n.Config)
	}
	n.Srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.done = make(chan error, 1)
	go func() { n.done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-n.done:
		t.Fatalf("node %s: run: %v\nlogs:\n%s", n.Addr(), err, n.Logs.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("node %s not ready after 20 s", n.Addr())
	}
}

// Stop stops the node (as on SIGTERM); it may be started again.
func (n *Node) Stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			n.t.Errorf("node %s: Run: %v", n.Addr(), err)
		}
	case <-time.After(30 * time.Second):
		n.t.Errorf("node %s did not stop within 30 s", n.Addr())
	}
	if n.t.Failed() {
		n.t.Logf("node %s logs (last 8 KiB):\n%s", n.Addr(), testutil.Tail(n.Logs.String(), 8192))
	}
}

// Restart starts a stopped node again with the same config.
func (n *Node) Restart() {
	n.t.Helper()
	if n.cancel != nil {
		n.Stop()
	}
	n.start()
}

// Eventually polls cond every 20 ms until it is true or d passed, and
// fails the test with msg then.
func Eventually(t testing.TB, d time.Duration, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: "+msg, append([]any{d}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------
// Kamailio

// Kamailio is a real Kamailio 5.6 node started by a test.
type Kamailio struct {
	IP     string
	Port   int
	Dir    string
	Ctl    string // ctl unix socket (kamcmd -s unix:<Ctl>)
	Config string
	p      *kamailio.Process
	tp     string
}

// URI is the node's DMQ address.
func (k *Kamailio) URI() string { return fmt.Sprintf("sip:%s:%d%s", k.IP, k.Port, k.tp) }

// Addr is ip:port.
func (k *Kamailio) Addr() string { return net.JoinHostPort(k.IP, fmt.Sprint(k.Port)) }

// Log returns Kamailio's stderr so far.
func (k *Kamailio) Log() string { return k.p.Log() }

// KamailioOptions describe a Kamailio node.
type KamailioOptions struct {
	IP           string
	Port         int
	Notify       []string
	PingInterval int      // seconds (Kamailio raises values < 5 to 5)
	Tables       []string // htable definitions
	InitSync     bool
	// Route is the request_route body after the KDMQ handling (default:
	// sl_send_reply("404","Not here")).
	Route string
	// Children is the number of SIP workers (default 2).
	Children int
	Debug    int
	// ShmMB is the shared memory size (-m, default 64 as Kamailio's own
	// default).
	ShmMB int
	// Transport, when "tcp", puts ;transport=tcp in server_address.
	Transport string
}

// StartKamailio starts Kamailio with dmq, htable (enable_dmq=1) and ctl
// on a unix socket; it is killed at the end of the test.
func StartKamailio(t testing.TB, o KamailioOptions) *Kamailio {
	t.Helper()
	mpath := kamailio.ModuleDir(t, "dmq", "htable", "ctl")
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = testutil.FreePort(t, o.IP)
	}
	if o.PingInterval == 0 {
		o.PingInterval = 60
	}
	if o.Children == 0 {
		o.Children = 2
	}
	if o.ShmMB == 0 {
		o.ShmMB = 64
	}
	if o.Route == "" {
		o.Route = `sl_send_reply("404", "Not here");`
	}
	dir := testutil.ShortTempDir(t)
	k := &Kamailio{IP: o.IP, Port: o.Port, Dir: dir, Ctl: filepath.Join(dir, "ctl"), tp: tpParam(o.Transport)}
	var b strings.Builder
	fmt.Fprintf(&b, `#!KAMAILIO
debug=%d
log_stderror=yes
children=%d
tcp_children=1
auto_aliases=no
listen=udp:%s:%d
listen=tcp:%s:%d
mpath="%s"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "ctl.so"
loadmodule "dmq.so"
loadmodule "htable.so"
modparam("ctl", "binrpc", "unixs:%s")
modparam("dmq", "server_address", "sip:%s:%d%s")
modparam("dmq", "ping_interval", %d)
`, o.Debug, o.Children, o.IP, o.Port, o.IP, o.Port, mpath, k.Ctl, o.IP, o.Port, k.tp, o.PingInterval)
	for _, n := range o.Notify {
		fmt.Fprintf(&b, "modparam(\"dmq\", \"notification_address\", \"%s\")\n", n)
	}
	b.WriteString("modparam(\"htable\", \"enable_dmq\", 1)\n")
	if o.InitSync {
		b.WriteString("modparam(\"htable\", \"dmq_init_sync\", 1)\n")
	}
	for _, tb := range o.Tables {
		fmt.Fprintf(&b, "modparam(\"htable\", \"htable\", \"%s\")\n", tb)
	}
	fmt.Fprintf(&b, `request_route {
	if ($rm == "KDMQ") {
		dmq_handle_message();
		exit;
	}
	%s
}
`, o.Route)
	k.Config = b.String()
	k.p = kamailio.Start(t, kamailio.Options{Config: k.Config, Dir: dir, Args: []string{"-m", fmt.Sprint(o.ShmMB), "-M", "16"},
		Ready: kamailio.Listening("unix:" + k.Ctl), Settle: 300 * time.Millisecond})
	return k
}

// Kill stops Kamailio (SIGTERM, then SIGKILL after 5 s).
func (k *Kamailio) Kill() { k.p.Stop() }

// Kamcmd runs kamcmd against the node and returns its output (stdout and
// stderr together).
func (k *Kamailio) Kamcmd(t testing.TB, args ...string) string {
	t.Helper()
	out, _ := kamailio.Kamcmd(t, "unix:"+k.Ctl, args...)
	return out
}
