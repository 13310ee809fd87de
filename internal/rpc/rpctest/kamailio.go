package rpctest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
)

// KamcmdPath returns the kamcmd binary or skips/fails the test (see
// testutil.Missing).
func KamcmdPath(t testing.TB) string {
	t.Helper()
	return testutil.LookPath(t, "kamcmd", "/usr/sbin/kamcmd")
}

// Kamailio is a real Kamailio started for a test.
type Kamailio struct {
	Dir       string // runtime directory
	CtlSocket string // ctl unix stream socket path
	HTTPAddr  string // host:port of the xhttp/jsonrpcs listener (POST /RPC)
	DgramSock string // jsonrpcs unix datagram socket
	FIFO      string // jsonrpcs FIFO
	cmd       *exec.Cmd
	log       *bytes.Buffer
}

// FreePort returns a port free on 127.0.0.1 for network ("tcp" or "udp").
// (A ctl spec with port 0 means Kamailio's default port 2049, not a free
// port.)
func FreePort(t testing.TB, network string) int {
	t.Helper()
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
}

// DefaultXHTTPRoute is the body of event_route[xhttp:request] StartKamailio
// uses.
const DefaultXHTTPRoute = `
	if ($hu =~ "^/RPC") { jsonrpc_dispatch(); } else { xhttp_reply("404", "Not Found", "text/plain", "no"); }
`

// StartKamailio starts Kamailio 5.6 on loopback with ctl on a unix stream
// socket, jsonrpcs over HTTP (xhttp, POST /RPC), a unix datagram socket
// and a FIFO, and htable tables given as modparam values
// ("t=>size=4;"). It is stopped at the end of the test. The test is
// skipped (or failed with SIPHT_REQUIRE_EXTERNAL=1) when Kamailio is not
// installed.
func StartKamailio(t testing.TB, tables ...string) *Kamailio {
	t.Helper()
	return StartKamailioRoute(t, DefaultXHTTPRoute, tables...)
}

// StartKamailioRoute is StartKamailio with route as the body of
// event_route[xhttp:request].
func StartKamailioRoute(t testing.TB, route string, tables ...string) *Kamailio {
	t.Helper()
	bin := testutil.LookPath(t, "kamailio", "/usr/sbin/kamailio")
	mpath := ""
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules", "/usr/local/lib64/kamailio/modules"} {
		if _, err := os.Stat(filepath.Join(p, "ctl.so")); err == nil {
			mpath = p
			break
		}
	}
	if mpath == "" {
		testutil.Missing(t, "Kamailio modules", "ctl.so not found")
	}
	dir, err := os.MkdirTemp("", "sipht-kam-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	k := &Kamailio{
		Dir:       dir,
		CtlSocket: filepath.Join(dir, "ctl"),
		DgramSock: filepath.Join(dir, "rpc.sock"),
		FIFO:      filepath.Join(dir, "rpc.fifo"),
		log:       &bytes.Buffer{},
	}
	sipPort := FreePort(t, "udp")
	httpPort := FreePort(t, "tcp")
	k.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", httpPort)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `#!KAMAILIO
debug=1
log_stderror=yes
children=1
tcp_children=1
tcp_accept_no_cl=yes
auto_aliases=no
listen=udp:127.0.0.1:%d
listen=tcp:127.0.0.1:%d
mpath="%s"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "ctl.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "htable.so"
modparam("ctl","binrpc","unixs:%s")
modparam("jsonrpcs","transport",0)
modparam("jsonrpcs","fifo_name","%s")
modparam("jsonrpcs","dgram_socket","%s")
`, sipPort, httpPort, mpath, k.CtlSocket, k.FIFO, k.DgramSock)
	for _, tb := range tables {
		fmt.Fprintf(&cfg, "modparam(\"htable\",\"htable\",\"%s\")\n", tb)
	}
	cfg.WriteString(`request_route { sl_send_reply("404","Not here"); }
event_route[xhttp:request] {` + route + `}
`)
	cfgPath := filepath.Join(dir, "kamailio.cfg")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-DD", "-E", "-f", cfgPath, "-Y", dir, "-w", dir, "-P", filepath.Join(dir, "pid"))
	cmd.Stdout = k.log
	cmd.Stderr = k.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start kamailio: %v", err)
	}
	k.cmd = cmd
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("kamailio log:\n%s", k.log.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c1, err1 := net.Dial("unix", k.CtlSocket)
		c2, err2 := net.Dial("tcp", k.HTTPAddr)
		if err1 == nil {
			c1.Close()
		}
		if err2 == nil {
			c2.Close()
		}
		if err1 == nil && err2 == nil {
			if _, err := os.Stat(k.DgramSock); err == nil {
				break
			}
		}
		select {
		case <-done:
			t.Fatalf("kamailio exited at start-up:\n%s", k.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio did not open its sockets: %v / %v\n%s", err1, err2, k.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// let every worker finish its start-up
	time.Sleep(200 * time.Millisecond)
	return k
}

// Kamcmd runs kamcmd with args and returns stdout, stderr and the exit
// status.
func Kamcmd(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := KamcmdPath(t)
	cmd := exec.Command(bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout = &o
	cmd.Stderr = &e
	err := cmd.Run()
	code = 0
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			t.Fatalf("kamcmd %v: %v", args, err)
		}
	}
	return o.String(), e.String(), code
}
