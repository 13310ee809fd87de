package xlog_test

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/server"
	"github.com/sipht/sipht/internal/servertest"
	_ "github.com/sipht/sipht/modules/all"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// The core debug level decides what xlog prints; log_prefix is evaluated
// before the script changes anything and printed before "<script>:".
func TestLevelsAndPrefix(t *testing.T) {
	var logs syncBuf
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
