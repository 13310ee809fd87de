package dmq_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil"
	"github.com/sipht/sipht/modules/dmq"
	"github.com/sipht/sipht/modules/dmq/dmqtest"
)

func statusOf(m *dmq.Module, uri string) string {
	for _, n := range m.Nodes() {
		if n.URI.String() == uri {
			return n.Status.String()
		}
	}
	return "absent"
}

func TestTwoSiphtNodesDiscover(t *testing.T) {
	a := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.1", DMQParams: []string{`"ping_interval", 1`}})
	b := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.2", Notify: []string{a.URI()}, DMQParams: []string{`"ping_interval", 1`}})
	dmqtest.Eventually(t, 5*time.Second, func() bool {
		return statusOf(a.DMQ(), b.URI()) == "active" && statusOf(b.DMQ(), a.URI()) == "active"
	}, "nodes did not see each other active: a sees b %s, b sees a %s", statusOf(a.DMQ(), b.URI()), statusOf(b.DMQ(), a.URI()))
	for _, n := range b.DMQ().Nodes() {
		if !n.Local && !n.Sipht {
			t.Errorf("b does not know a is sipht: %+v", n)
		}
	}
	for _, n := range a.DMQ().Nodes() {
		if !n.Local && !n.Sipht {
			t.Errorf("a does not know b is sipht: %+v", n)
		}
	}
	// a third node with two notification addresses, one of them dead
	dead := "sip:127.0.0.9:9;transport=udp"
	c := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.3", Notify: []string{dead, b.URI()}, DMQParams: []string{`"ping_interval", 1`, `"request_timeout", 300`}})
	dmqtest.Eventually(t, 5*time.Second, func() bool {
		return statusOf(c.DMQ(), a.URI()) == "active" && statusOf(c.DMQ(), b.URI()) == "active" &&
			statusOf(a.DMQ(), c.URI()) == "active" && statusOf(c.DMQ(), "sip:127.0.0.9:9") == "pending"
	}, "third node: %+v", c.DMQ().Nodes())
}

// multi_notify resolves the notification host name; server_socket picks
// the sending socket.
func TestMultiNotifyAndServerSocket(t *testing.T) {
	portA := testutil.FreePort(t, "127.0.0.1")
	a := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.1", Port: portA, DMQParams: []string{`"ping_interval", 1`}})
	portB := testutil.FreePort(t, "127.0.0.4")
	b := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.4", Port: portB,
		Notify:    []string{fmt.Sprintf("sip:localhost:%d", portA)},
		DMQParams: []string{`"ping_interval", 1`, `"multi_notify", 1`, fmt.Sprintf(`"server_socket", "udp:127.0.0.4:%d"`, portB)}})
	dmqtest.Eventually(t, 10*time.Second, func() bool {
		return statusOf(a.DMQ(), b.URI()) == "active" && statusOf(b.DMQ(), a.URI()) == "active"
	}, "multi_notify join: a sees b %s, b sees a %s (%+v)", statusOf(a.DMQ(), b.URI()), statusOf(b.DMQ(), a.URI()), b.DMQ().Nodes())
}

// Nodes whose addresses say ;transport=tcp are reached over TCP, sipht
// and Kamailio alike.
func TestTCPNodes(t *testing.T) {
	c := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.5", Transport: "tcp", DMQParams: []string{`"ping_interval", 1`}})
	d := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.6", Transport: "tcp", Notify: []string{c.URI()}, DMQParams: []string{`"ping_interval", 1`}})
	k := dmqtest.StartKamailio(t, dmqtest.KamailioOptions{IP: "127.0.0.7", Transport: "tcp", Notify: []string{c.URI()}, PingInterval: 5})
	dmqtest.Eventually(t, 10*time.Second, func() bool {
		return statusOf(c.DMQ(), d.URI()) == "active" && statusOf(d.DMQ(), c.URI()) == "active" &&
			statusOf(c.DMQ(), k.URI()) == "active" && statusOf(d.DMQ(), k.URI()) == "active"
	}, "tcp nodes: %+v", c.DMQ().Nodes())
	if st := c.Srv.SIP().Stats(); st.TCPOpen == 0 {
		t.Errorf("no TCP connection open: %+v", st)
	}
	if !strings.Contains(k.Kamcmd(t, "dmq.list_nodes"), "proto: tcp") {
		t.Errorf("kamailio:\n%s", k.Kamcmd(t, "dmq.list_nodes"))
	}
}

// A node that stops tells the others (its own line, status=disabled) while
// its SIP transport still runs, so they stop sending to it at once instead
// of waiting for failed pings (ping_interval is long here on purpose).
func TestShutdownNotice(t *testing.T) {
	a := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.1", DMQParams: []string{`"ping_interval", 600`}})
	b := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.2", Notify: []string{a.URI()}, DMQParams: []string{`"ping_interval", 600`}})
	dmqtest.Eventually(t, 5*time.Second, func() bool {
		return statusOf(a.DMQ(), b.URI()) == "active"
	}, "a does not see b active: %s", statusOf(a.DMQ(), b.URI()))
	b.Stop()
	dmqtest.Eventually(t, 5*time.Second, func() bool {
		return statusOf(a.DMQ(), b.URI()) == "disabled"
	}, "after b stopped, a sees b %s (want disabled)", statusOf(a.DMQ(), b.URI()))
}
