package xlog_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
	_ "github.com/sipht/sipht/modules/all"
)

// The core debug level decides what xlog prints; log_prefix is evaluated
// before the script changes anything and printed before "<script>:".
func TestLevelsAndPrefix(t *testing.T) {
	var logs testutil.Buffer
	r := servertest.Start(t, `
debug=1
log_prefix="[$rm $rU] "
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "xlog.so"
modparam("xlog", "buf_size", 8192)
request_route {
	$rU = "changed";
	xlog("L_ERR", "err $rU\n");
	xnotice("notice\n");
	xinfo("info hidden\n");
	xdbg("debug hidden\n");
	$var(l) = 2;
	xlog("$var(l)", "info by var hidden\n");
	$var(l) = 0;
	xlog("$var(l)", "warn by var\n");
	xlog("L_NOTICE", "done\n");
}
`, func(o *server.Options) {
		o.Logger = nil
		o.ForceStderr = true
		o.LogWriter = &logs
	})
	c := servertest.Dial(t, r.UDP)
	c.Send(t, servertest.Request("OPTIONS", "sip:orig@127.0.0.1", nil, ""))
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(logs.String(), "done") {
		time.Sleep(10 * time.Millisecond)
	}
	var got []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if i := strings.Index(l, ") "); i >= 0 && strings.Contains(l, "<script>") {
			got = append(got, l[i+2:])
		}
	}
	want := []string{
		"ERROR: [OPTIONS orig] <script>: err changed",
		"NOTICE: [OPTIONS orig] <script>: notice",
		"WARNING: [OPTIONS orig] <script>: warn by var",
		"NOTICE: [OPTIONS orig] <script>: done",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestBadArguments(t *testing.T) {
	good := "listen=udp:127.0.0.1:0\nloadmodule \"xlog.so\"\nrequest_route { xlog(\"LOG_LOCAL0\", \"L_WARN\", \"a\"); }\n"
	if _, err := server.Load(server.Options{Source: []byte(good), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}); err != nil {
		t.Errorf("facility form: %v", err)
	}
	for _, call := range []string{`xlog("X", "a")`, `xlog("L_ERR", "$nosuch")`, `xlog("L_ERR", "$C(zz)")`, `xlog("1", "L_ERR", "a")`, `xlogl("LOG_NOPE", "L_ERR", "a")`} {
		src := "listen=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nrequest_route { " + call + "; }\n"
		_, err := server.Load(server.Options{Source: []byte(src), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err == nil {
			t.Errorf("%s: loaded", call)
		}
	}
}

// syslogServer is a unixgram socket standing in for /dev/log; read
// returns the datagrams containing one of the strings in keep, once want
// of them arrived or 5 s passed.
func syslogServer(t *testing.T) (addr string, read func(want int, keep ...string) []string) {
	t.Helper()
	addr = t.TempDir() + "/log"
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return addr, func(want int, keep ...string) []string {
		var got []string
		buf := make([]byte, 4096)
		deadline := time.Now().Add(5 * time.Second)
		for len(got) < want {
			conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				break
			}
			for _, k := range keep {
				if strings.Contains(string(buf[:n]), k) {
					got = append(got, string(buf[:n]))
					break
				}
			}
		}
		return got
	}
}

// With log_stderror=no the script's and the server's own messages go to
// syslog with log_facility, log_name as the ident, log_prefix before
// "<script>:", and the syslog priority of their level; with
// log_engine_type="json" each message is a JSON object.
func TestSyslogOutput(t *testing.T) {
	for _, c := range []struct {
		name, global string
		want         []string // the priority, then what the message ends with
	}{
		{"text", "", []string{
			// LOG_LOCAL3 is 19<<3 = 152: + LOG_INFO 6, LOG_ERR 3, LOG_ALERT 1, LOG_NOTICE 5
			"<158>", `INFO: <core>: listening transport=udp addr=127.0.0.1:`,
			"<155>", `ERROR: [OPTIONS] <script>: error from 127.0.0.1`,
			"<153>", `ALERT: [OPTIONS] <script>: alert`,
			"<157>", `NOTICE: [OPTIONS] <script>: notice`,
		}},
		{"json", `log_engine_type="json"`, []string{
			"<158>", `"level":"INFO","message":"listening","pid":%d,"module":"<core>","transport":"udp","addr":"127.0.0.1:`,
			"<155>", `"level":"ERROR","message":"error from 127.0.0.1","pid":%d,"module":"<script>","logprefix":"[OPTIONS] "}`,
			"<153>", `"level":"ALERT","message":"alert","pid":%d,"module":"<script>","logprefix":"[OPTIONS] "}`,
			"<157>", `"level":"NOTICE","message":"notice","pid":%d,"module":"<script>","logprefix":"[OPTIONS] "}`,
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, read := syslogServer(t)
			r := servertest.Start(t, `
debug=2
log_stderror=no
log_facility=LOG_LOCAL3
log_name="edge"
log_prefix="[$rm] "
`+c.global+`
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "xlog.so"
request_route {
	xlog("L_ERR", "error from $si\n");
	xalert("alert\n");
	xnotice("notice\n");
	xdbg("debug hidden\n");
	exit;
}
`, func(o *server.Options) {
				o.Logger = nil
				o.SyslogNetwork, o.SyslogAddr = "unixgram", addr
			})
			c1 := servertest.Dial(t, r.UDP)
			c1.Send(t, servertest.Request("OPTIONS", "sip:127.0.0.1", nil, ""))
			got := read(len(c.want)/2, "listening", "script")
			if len(got) != len(c.want)/2 {
				t.Fatalf("syslog got %d messages, want %d:\n%s", len(got), len(c.want)/2, strings.Join(got, "\n"))
			}
			// The server logs "listening" from its own goroutine: it may
			// reach syslog after the script's messages, which come in
			// order from one worker.
			scriptMsg := func(m string) int {
				if strings.Contains(m, "listening") {
					return 0
				}
				return 1
			}
			slices.SortStableFunc(got, func(a, b string) int { return scriptMsg(a) - scriptMsg(b) })
			for i := range got {
				pri, tail := c.want[2*i], c.want[2*i+1]
				if strings.Contains(tail, "%d") {
					tail = fmt.Sprintf(tail, os.Getpid())
				}
				if !strings.HasPrefix(got[i], pri) || !strings.Contains(got[i], " edge[") || !strings.Contains(got[i], tail) {
					t.Errorf("message %d = %q, want priority %s, ident edge, %q", i, got[i], pri, tail)
				}
			}
		})
	}
}
