package rpctest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// KamcmdPath returns the kamcmd binary or skips/fails the test (see
// testutil.Missing).
func KamcmdPath(t testing.TB) string {
	t.Helper()
	return kamailio.KamcmdBinary(t)
}

// Kamailio is a real Kamailio started for a test.
type Kamailio struct {
	Dir       string // runtime directory
	CtlSocket string // ctl unix stream socket path
	HTTPAddr  string // host:port of the xhttp/jsonrpcs listener (POST /RPC)
	DgramSock string // jsonrpcs unix datagram socket
	FIFO      string // jsonrpcs FIFO
	Process   *kamailio.Process
}

// FreePort returns a port free on 127.0.0.1 for network ("tcp" or "udp").
// (A ctl spec with port 0 means Kamailio's default port 2049, not a free
// port.)
func FreePort(t testing.TB, network string) int {
	t.Helper()
	if network == "udp" {
		return testutil.FreeUDPPort(t, "127.0.0.1")
	}
	return testutil.FreeTCPPort(t, "127.0.0.1")
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
	mpath := kamailio.ModuleDir(t, "ctl", "xhttp", "jsonrpcs", "htable")
	dir := testutil.ShortTempDir(t)
	k := &Kamailio{
		Dir:       dir,
		CtlSocket: filepath.Join(dir, "ctl"),
		DgramSock: filepath.Join(dir, "rpc.sock"),
		FIFO:      filepath.Join(dir, "rpc.fifo"),
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
	k.Process = kamailio.Start(t, kamailio.Options{Config: cfg.String(), Dir: dir,
		Ready:  kamailio.Listening("unix:"+k.CtlSocket, "tcp:"+k.HTTPAddr, "file:"+k.DgramSock),
		Settle: 200 * time.Millisecond})
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
