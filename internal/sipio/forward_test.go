package sipio

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestStatelessForward(t *testing.T) {
	seen := make(chan string, 10)
	var rb srvRef
	_, backend := startServer(t, Config{Handler: func(m *Msg) {
		if m.Req != nil {
			seen <- string(m.Raw)
			rb.get().Respond(m, 200, "OK", nil)
		}
	}}, &rb)
	for _, tp := range []Transport{UDP, TCP} {
		t.Run(tp.String(), func(t *testing.T) {
			var rp srvRef
			proxy, paddr := startServer(t, Config{Handler: func(m *Msg) {
				s := rp.get()
				var err error
				if m.Req != nil {
					err = s.Forward(m, Target{Transport: tp, Addr: backend})
				} else {
					err = s.ForwardReply(m)
				}
				if err != nil {
					t.Errorf("forwarding: %v", err)
				}
			}}, &rp)
			c := newUDPClient(t)
			via := fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-fw;rport", c.port())
			req := options("z9hG4bK-fw", via)
			var branches []string
			for i := 0; i < 2; i++ { // the second is a retransmission
				c.send(t, paddr, req)
				r := c.recv(t, 3*time.Second)
				want := fmt.Sprintf("Via: %s=%d;received=127.0.0.1\r\nFrom", via, c.port())
				if !strings.HasPrefix(r, "SIP/2.0 200 OK\r\n") || !strings.Contains(r, want) || strings.Count(r, "Via:") != 1 {
					t.Fatalf("client got:\n%s\nwant Via %q", r, want)
				}
				got := <-seen
				top := strings.SplitN(got, "\r\n", 3)[1]
				wantTop := fmt.Sprintf("Via: SIP/2.0/%s %s;branch=z9hG4bK", strings.ToUpper(tp.String()), proxy.Listeners()[0].Addr)
				if !strings.HasPrefix(top, wantTop) {
					t.Fatalf("backend's top Via %q, want prefix %q", top, wantTop)
				}
				branches = append(branches, top)
				if !strings.Contains(got, fmt.Sprintf("\r\nVia: %s=%d;received=127.0.0.1\r\n", via, c.port())) || !strings.Contains(got, "Max-Forwards: 70\r\n") {
					t.Fatalf("backend got:\n%s", got)
				}
			}
			if branches[0] != branches[1] {
				t.Fatalf("retransmission forwarded with another branch: %q vs %q", branches[0], branches[1])
			}
		})
	}
}
