package textopsx_test

import (
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/servertest"
)

// keep_hf() without an argument makes Kamailio 5.6 refuse to start (its
// fixup is called with no parameter); in sipht it keeps only the headers a
// SIP message needs. Like Kamailio it returns -1.
func TestKeepHFNoArgument(t *testing.T) {
	s := modtest.Start(t, []string{"textopsx"}, "", `request_route {
	keep_hf(); t_log("rc=$rc");
	t_apply();
}`)
	c := servertest.Dial(t, s.UDP)
	c.Send(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", []string{"X-A: 1", "Subject: s", "Route: <sip:r>"}, ""))
	if l := s.Probe.WaitLines(1); len(l) != 1 || l[0] != "rc=-1" {
		t.Fatalf("lines %q", l)
	}
	a := s.Probe.Applied()
	if len(a) != 1 || strings.Contains(a[0], "X-A") || strings.Contains(a[0], "Subject") || !strings.Contains(a[0], "Route: <sip:r>") ||
		!strings.Contains(a[0], "Max-Forwards: 70") {
		t.Errorf("applied %q", a)
	}
}
