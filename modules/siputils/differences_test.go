package siputils_test

import (
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/servertest"
)

// Kamailio 5.6's add_uri_param builds a broken URI when the R-URI has
// headers (it copies the user part without moving past it); sipht puts the
// parameter before the headers.
func TestAddURIParamWithHeaders(t *testing.T) {
	s := modtest.Start(t, []string{"siputils"}, "", `request_route {
	add_uri_param("nat=yes"); t_log("$rc $t_ru");
}`)
	c := servertest.Dial(t, s.UDP)
	c.Send(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1;lr?subject=x", nil, ""))
	if l := s.Probe.WaitLines(1); len(l) != 1 || l[0] != "1 sip:a@127.0.0.1;lr;nat=yes?subject=x" {
		t.Errorf("lines %q", l)
	}
}
