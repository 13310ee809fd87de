package textopsx_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/modtest"
	"github.com/sipht/sipht/internal/servertest"
)

// change_reply_status() in reply_route changes the status of the reply
// sipht relays statelessly; the class of a 1xx/2xx reply cannot change.
func TestChangeReplyStatus(t *testing.T) {
	s := modtest.Start(t, []string{"textopsx"}, "", `request_route { exit; }
reply_route {
	if (!change_reply_status("200", "Nope")) { t_log("class kept $rc"); }
	change_reply_status("404", "Changed Reason"); t_log("rc=$rc");
}`)
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	c := servertest.Dial(t, s.UDP)
	c.Send(t, "SIP/2.0 486 Busy Here\r\n"+
		"Via: SIP/2.0/UDP "+s.UDP+";branch=z9hG4bK-ours\r\n"+
		"Via: SIP/2.0/UDP "+sink.LocalAddr().String()+";branch=z9hG4bK-prev\r\n"+
		"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: crs-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
	if l := s.Probe.WaitLines(2); strings.Join(l, "|") != "class kept -1|rc=1" {
		t.Errorf("lines %q", l)
	}
	buf := make([]byte, 4096)
	sink.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err := sink.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("nothing relayed: %v", err)
	}
	if got := string(buf[:n]); !strings.HasPrefix(got, "SIP/2.0 404 Changed Reason\r\n") {
		t.Errorf("relayed:\n%s", got)
	}
}
