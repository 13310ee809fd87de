package dmq_test

import (
	"testing"
	"time"

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
}
