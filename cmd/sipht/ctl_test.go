package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/rpc/ctlcli"
	"github.com/sipht/sipht/internal/servertest"
	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/modules/ctl"
)

// `sipht ctl` talks to the ctl module of a running sipht, and its default
// socket is the module's default one.
func TestCtlCommand(t *testing.T) {
	if got := ctl.New().DefaultSpec(); got != ctlcli.DefaultSocket {
		t.Fatalf("ctl module default socket %q, sipht ctl default %q", got, ctlcli.DefaultSocket)
	}
	dir := testutil.ShortTempDir(t)
	servertest.Start(t, fmt.Sprintf(`#!KAMAILIO
listen=udp:127.0.0.1:0
rundir=%q
loadmodule "ctl.so"
request_route { exit; }
`, dir))
	spec := "unixs:" + filepath.Join(dir, "kamailio_ctl")
	var o, e bytes.Buffer
	if code := run([]string{"ctl", "-s", spec, "core.echo", "hello", "42"}, &o, &e); code != 0 || o.String() != "hello\n42\n" {
		t.Fatalf("sipht ctl core.echo: exit %d, %q %q", code, o.String(), e.String())
	}
	o.Reset()
	if code := run([]string{"ctl", "-s", spec, "ctl.listen"}, &o, &e); code != 0 || !strings.Contains(o.String(), "unix_stream\n"+filepath.Join(dir, "kamailio_ctl")) {
		t.Fatalf("sipht ctl ctl.listen: exit %d, %q", code, o.String())
	}
}
