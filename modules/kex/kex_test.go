package kex_test

import (
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/servertest"
)

// setdebug()/resetdebug() are accepted and change nothing (one log level
// for all workers in sipht).
func TestSetDebugAccepted(t *testing.T) {
	s := modtest.Start(t, []string{"kex"}, "", `request_route {
	setdebug("3"); t_log("set $rc");
	resetdebug(); t_log("reset $rc");
}`)
	c := servertest.Dial(t, s.UDP)
	c.Send(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""))
	if l := s.Probe.WaitLines(2); len(l) != 2 || l[0] != "set 1" || l[1] != "reset 1" {
		t.Errorf("lines %q", l)
	}
}
