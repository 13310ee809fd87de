package modtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/internal/testutil/kamailio"
)

// Kamailio is a real Kamailio 5.6 started by StartKamailio.
type Kamailio struct {
	UDP string // host:port it listens on
	p   *kamailio.Process
}

// Log returns what Kamailio printed so far.
func (k *Kamailio) Log() string { return k.p.Log() }

// kamailioConfig is the config StartKamailio and KamailioAccepts run: a
// header (log to stderr, one worker, UDP on port of 127.0.0.1, no TCP, the
// module path), loadmodule lines for modules, then body.
func kamailioConfig(t testing.TB, port int, modules []string, body string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "debug=2\nlog_stderror=yes\nchildren=1\ndisable_tcp=yes\nauto_aliases=no\nlisten=udp:127.0.0.1:%d\nmpath=\"%s/\"\n", port, kamailio.ModuleDir(t))
	for _, m := range modules {
		fmt.Fprintf(&b, "loadmodule \"%s.so\"\n", m)
	}
	b.WriteString(body)
	return b.String()
}

// StartKamailio runs the real Kamailio with a config made of: a header
// (log to stderr, one worker, UDP on a free 127.0.0.1 port, no TCP, the
// module path), loadmodule lines for modules, then body (modparams and
// routes). The first line of body may not be a listen=. Kamailio is killed
// at the end of the test; the test is skipped (failed with
// SIPHT_REQUIRE_EXTERNAL=1) when Kamailio is not installed.
func StartKamailio(t testing.TB, modules []string, body string) *Kamailio {
	t.Helper()
	port := testutil.FreeUDPPort(t, "127.0.0.1")
	// ready when the worker process logs its start-up
	p := kamailio.Start(t, kamailio.Options{Config: kamailioConfig(t, port, modules, body),
		Ready: kamailio.LogHas("child_init"), Settle: 200 * time.Millisecond})
	return &Kamailio{UDP: fmt.Sprintf("127.0.0.1:%d", port), p: p}
}

// KamailioAccepts reports whether Kamailio starts with a config made as
// StartKamailio makes it (modules plus sl, pv and xlog, then body): it runs
// Kamailio until its workers start (accepted) or it exits (refused; `kamailio
// -c` does not run the functions' fixups, so it cannot tell).
func KamailioAccepts(t testing.TB, modules []string, body string) bool {
	t.Helper()
	port := testutil.FreeUDPPort(t, "127.0.0.1")
	p := kamailio.Launch(t, kamailio.Options{Config: kamailioConfig(t, port, dedupe(append([]string{"sl", "pv", "xlog"}, modules...)), body), Quiet: true})
	defer p.Stop()
	switch err := p.Wait(kamailio.LogHas("child_init"), 15*time.Second); err {
	case nil:
		return true
	case kamailio.ErrExited:
		if testing.Verbose() {
			t.Logf("kamailio refused the config:\n%s", p.Log())
		}
		return false
	default:
		t.Fatalf("kamailio neither started nor exited:\n%s", p.Log())
		return false
	}
}
