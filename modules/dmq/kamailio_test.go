package dmq_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil/kamailio"
	_ "github.com/sipht/sipht/modules/ctl" // kamcmd access in TestRPCOutputLikeKamailio
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

// dmq.list_nodes and dmq.remove through the real kamcmd give the same
// output on sipht as on Kamailio 5.6 (addresses aside).
func TestRPCOutputLikeKamailio(t *testing.T) {
	sock := t.TempDir() + "/ctl"
	a := dmqtest.Start(t, dmqtest.Options{IP: "127.0.0.41", DMQParams: []string{`"ping_interval", 1`},
		Before: "loadmodule \"ctl.so\"\nmodparam(\"ctl\", \"binrpc\", \"unixs:" + sock + "\")\n"})
	k := dmqtest.StartKamailio(t, dmqtest.KamailioOptions{IP: "127.0.0.42", Notify: []string{a.URI()}, PingInterval: 5})
	dmqtest.Eventually(t, 10*time.Second, func() bool { return statusOf(a.DMQ(), k.URI()) == "active" }, "not joined")
	kamcmd := func(args ...string) string { return kamailio.MustKamcmd(t, "unix:"+sock, args...) }
	norm := func(s, self, other string) string {
		s = strings.ReplaceAll(s, self, "SELF")
		return strings.ReplaceAll(s, other, "OTHER")
	}
	host := func(u string) string { return strings.Split(strings.TrimPrefix(u, "sip:"), ":")[0] }
	port := func(u string) string { return strings.Split(u, ":")[2] }
	siphtOut := norm(norm(kamcmd("dmq.list_nodes"), host(a.URI()), host(k.URI())), port(a.URI()), port(k.URI()))
	kamOut := norm(norm(k.Kamcmd(t, "dmq.list_nodes"), host(k.URI()), host(a.URI())), port(k.URI()), port(a.URI()))
	if siphtOut != kamOut {
		t.Errorf("dmq.list_nodes\nsipht:\n%s\nkamailio:\n%s", siphtOut, kamOut)
	}
	for _, args := range [][]string{{"dmq.remove", "sip:10.9.9.9:5060"}, {"dmq.remove"}, {"dmq.remove", "not a uri"}} {
		s, kk := kamcmd(args...), k.Kamcmd(t, args...)
		if s != kk {
			t.Errorf("%v: sipht %q kamailio %q", args, s, kk)
		}
	}
	if out := kamcmd("dmq.remove", k.URI()); out != "Ok. DMQ node removed.\n" || statusOf(a.DMQ(), k.URI()) != "absent" {
		t.Errorf("remove: %q, node %s", out, statusOf(a.DMQ(), k.URI()))
	}
}
