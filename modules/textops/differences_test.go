package textops_test

import (
	"strings"
	"testing"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/servertest"
)

// Kamailio copies append_to_reply's text into the reply as it is: a final
// header without a line end is glued to the next header ("X-R: 1Server:
// ..."), a line without ':' is written anyway. sipht ends the line and
// refuses text that is not "Name: value" lines (listed in
// docs/kamailio-differences.md).
func TestAppendToReplyEndsLine(t *testing.T) {
	s := modtest.Start(t, []string{"textops"}, "", `request_route {
	append_to_reply("X-R: 1");
	if (!append_to_reply("garbage\r\n")) { t_log("refused $rc"); }
	t_reply("404", "No");
}`)
	c := servertest.Dial(t, s.UDP)
	r := c.Do(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""))
	if !strings.Contains(r, "\r\nX-R: 1\r\nServer: ") || strings.Contains(r, "garbage") {
		t.Errorf("reply:\n%s", r)
	}
	if l := s.Probe.WaitLines(1); len(l) != 1 || l[0] != "refused -1" {
		t.Errorf("lines %q", l)
	}
}
