// Package dmqtest starts DMQ clusters for tests: sipht nodes in the test
// process (each a full server loaded from a config text, which a test can
// stop and start again) and real Kamailio 5.6 nodes from temporary
// configs, all on 127.0.0.x loopback addresses with free ports. The test
// imports the modules its configs load (modules/all, or single ones).
package dmqtest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/logging"
	"github.com/sipht/sipht/internal/module"
	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/modules/dmq"
)

var portMu sync.Mutex

// FreePort returns a port that is free for both UDP and TCP on ip.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatalf("listen on %s: %v", ip, err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, fmt.Sprint(port)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatalf("no free port on %s", ip)
	return 0
}

// Buffer is a goroutine-safe log buffer.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Node is a sipht server started by a test.
type Node struct {
	t    testing.TB
	IP   string
	Port int
	// Config is the config text the node runs.
	Config string
	Logs   *Buffer
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
		o.Port = FreePort(t, o.IP)
	}
	n := &Node{t: t, IP: o.IP, Port: o.Port, Config: o.ConfigText(), tp: tpParam(o.Transport)}
	n.start()
	t.Cleanup(func() { n.Stop() })
	return n
}

func (n *Node) start() {
	t := n.t
	t.Helper()
	n.Logs = &Buffer{}
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
		n.t.Logf("node %s logs (last 8 KiB):\n%s", n.Addr(), tail(n.Logs.String(), 8192))
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

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
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
	log    *Buffer
	cmd    *exec.Cmd
	done   chan struct{}
	tp     string
}

// URI is the node's DMQ address.
func (k *Kamailio) URI() string { return fmt.Sprintf("sip:%s:%d%s", k.IP, k.Port, k.tp) }

// Addr is ip:port.
func (k *Kamailio) Addr() string { return net.JoinHostPort(k.IP, fmt.Sprint(k.Port)) }

// Log returns Kamailio's stderr so far.
func (k *Kamailio) Log() string { return k.log.String() }

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

// ModulesDir returns Kamailio's module directory or calls Missing.
func ModulesDir(t testing.TB) string {
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules", "/usr/lib64/kamailio/modules"} {
		if _, err := os.Stat(filepath.Join(p, "dmq.so")); err == nil {
			return p
		}
	}
	testutil.Missing(t, "Kamailio's dmq module", "dmq.so not found")
	return ""
}

// StartKamailio starts Kamailio with dmq, htable (enable_dmq=1) and ctl
// on a unix socket; it is killed at the end of the test.
func StartKamailio(t testing.TB, o KamailioOptions) *Kamailio {
	t.Helper()
	bin := testutil.LookPath(t, "kamailio", "/usr/sbin/kamailio")
	mpath := ModulesDir(t)
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = FreePort(t, o.IP)
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
	dir, err := os.MkdirTemp("", "sipht-kdmq-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	k := &Kamailio{IP: o.IP, Port: o.Port, Dir: dir, Ctl: filepath.Join(dir, "ctl"), log: &Buffer{}, tp: tpParam(o.Transport)}
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
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(k.Config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-DD", "-E", "-f", cfgPath, "-Y", dir, "-w", dir, "-P", filepath.Join(dir, "pid"), "-m", fmt.Sprint(o.ShmMB), "-M", "16")
	cmd.Stdout = k.log
	cmd.Stderr = k.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	k.cmd = cmd
	k.done = make(chan struct{})
	go func() { cmd.Wait(); close(k.done) }()
	t.Cleanup(func() {
		k.Kill()
		if t.Failed() {
			t.Logf("kamailio %s log (last 16 KiB):\n%s", k.Addr(), tail(k.log.String(), 16384))
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("unix", k.Ctl)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-k.done:
			t.Fatalf("kamailio exited at start-up:\n%s\nconfig:\n%s", k.log.String(), k.Config)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not open its ctl socket: %v\n%s", err, k.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	return k
}

// Kill stops Kamailio (SIGTERM, then SIGKILL after 5 s).
func (k *Kamailio) Kill() {
	if k.cmd == nil {
		return
	}
	syscall.Kill(-k.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-k.cmd.Process.Pid, syscall.SIGKILL)
		<-k.done
	}
	k.cmd = nil
}

// Kamcmd runs kamcmd against the node and returns its output (stdout and
// stderr together).
func (k *Kamailio) Kamcmd(t testing.TB, args ...string) string {
	t.Helper()
	bin := testutil.LookPath(t, "kamcmd", "/usr/sbin/kamcmd")
	cmd := exec.Command(bin, append([]string{"-s", "unix:" + k.Ctl}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("kamcmd %v: %v", args, err)
		}
	}
	return string(out)
}
