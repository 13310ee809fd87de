package dmq_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/modules/dmq/dmqtest"
)

func TestKamailioJoinsSipht(t *testing.T) {
	a := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.1", DMQParams: []string{`"ping_interval", 1`}})
	k := dmqtest.StartKamailio(t, dmqtest.KamailioOptions{IP: "127.0.0.3", Notify: []string{a.URI()}, PingInterval: 5})
	dmqtest.Eventually(t, 10*time.Second, func() bool {
		return statusOf(a.DMQ(), k.URI()) == "active"
	}, "sipht does not see kamailio active: %s", statusOf(a.DMQ(), k.URI()))
	for _, n := range a.DMQ().Nodes() {
		if n.URI.String() == k.URI() && n.Sipht {
			t.Errorf("kamailio taken for a sipht node: %+v", n)
		}
	}
	dmqtest.Eventually(t, 10*time.Second, func() bool {
		out := k.Kamcmd(t, "dmq.list_nodes")
		return strings.Count(out, "status: active") == 2
	}, "kamailio does not list both nodes active:\n%s", k.Kamcmd(t, "dmq.list_nodes"))
	t.Logf("kamailio:\n%s", k.Kamcmd(t, "dmq.list_nodes"))
}
