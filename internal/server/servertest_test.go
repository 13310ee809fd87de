package server_test

import (
	"testing"

	"github.com/sipht/sipht/internal/servertest"
)

// An empty request_route sends nothing: the request times out, as with
// Kamailio, and the server keeps running.
func TestServertestNoReply(t *testing.T) {
	r := servertest.Start(t, "listen=udp:127.0.0.1:0\nrequest_route { exit; }\n")
	c := servertest.Dial(t, r.UDP)
	c.Send(t, servertest.Request("OPTIONS", "sip:a@127.0.0.1", nil, ""))
	if got := c.Read(t, 300e6); got != "" {
		t.Fatalf("unexpected reply %q", got)
	}
}
