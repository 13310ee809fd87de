package htable_test

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipht/sipht/internal/testutil/kamailio"
	"github.com/sipht/sipht/modules/dmq/dmqtest"
	htmod "github.com/sipht/sipht/modules/htable"

	_ "github.com/sipht/sipht/modules/all"
)

// dmqNode is a sipht server running the htable module with DMQ
// replication and ctl (for the real kamcmd).
type dmqNode struct {
	*dmqtest.Node
	ctl string
}

const dmqTables = `modparam("htable", "htable", "r=>size=4;autoexpire=300;dmqreplicate=1")
modparam("htable", "htable", "c=>size=6;autoexpire=600;initval=0;dmqreplicate=1")
modparam("htable", "htable", "n=>size=4;dmqreplicate=1")
`

func startDMQNode(t *testing.T, ip string, notify ...string) *dmqNode {
	t.Helper()
	ctl := filepath.Join(t.TempDir(), "ctl")
	n := dmqtest.Start(t, dmqtest.Options{IP: ip, Notify: notify,
		DMQParams: []string{`"ping_interval", 1`, `"request_timeout", 500`, `"sync_interval", 2`},
		Before: `loadmodule "htable.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unixs:` + ctl + `")
modparam("htable", "enable_dmq", 1)
modparam("htable", "dmq_init_sync", 1)
` + dmqTables,
		// every request that reaches the script counts one hit
		Route: `$var(n) = $shtinc(c=>hits); exit;`})
	return &dmqNode{Node: n, ctl: ctl}
}

func (n *dmqNode) kamcmd(t *testing.T, args ...string) string {
	t.Helper()
	return kamailio.MustKamcmd(t, "unix:"+n.ctl, args...)
}

// value returns the item's value through htable.get ("<none>" when absent).
func value(out string) string {
	if strings.Contains(out, "error:") {
		return "<none>"
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "value: "); ok {
			return v
		}
	}
	return "<?>"
}

func (n *dmqNode) get(t *testing.T, table, key string) string {
	return value(n.kamcmd(t, "htable.get", table, "s:"+key))
}

func (n *dmqNode) module(t *testing.T) *htmod.Module { return n.Module("htable").(*htmod.Module) }

// hit sends count OPTIONS to the node (each runs $shtinc(c=>hits)).
func hit(t *testing.T, addr string, count int) {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	for i := 0; i < count; i++ {
		fmt.Fprintf(c, "OPTIONS sip:x@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-h%d\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:x@y>\r\nCall-ID: hit-%s-%d\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			addr, local, i, local, i)
		if i%200 == 199 {
			time.Sleep(time.Millisecond) // stay under the socket buffer
		}
	}
}

func waitAll(t *testing.T, d time.Duration, nodes []*dmqNode, what string, cond func(n *dmqNode) bool) {
	t.Helper()
	dmqtest.Eventually(t, d, func() bool {
		for _, n := range nodes {
			if !cond(n) {
				return false
			}
		}
		return true
	}, "%s: not on every node", what)
}

// Three sipht nodes: changes made through kamcmd on any node and increments
// made by the script on all three at once are visible on every node; a
// node started late is filled by its init sync; a node killed and started
// again catches up.
func TestDMQThreeSiphtNodes(t *testing.T) {
	a := startDMQNode(t, "127.0.0.61")
	b := startDMQNode(t, "127.0.0.62", a.URI())
	c := startDMQNode(t, "127.0.0.63", a.URI())
	nodes := []*dmqNode{a, b, c}
	waitAll(t, 10*time.Second, nodes, "mesh", func(n *dmqNode) bool { return len(n.DMQ().Active()) == 2 })

	a.kamcmd(t, "htable.sets", "r", "s:alice", "10.0.0.1")
	b.kamcmd(t, "htable.seti", "n", "s:limit", "5")
	c.kamcmd(t, "htable.setxs", "r", "s:tmp", "short", "60")
	waitAll(t, 5*time.Second, nodes, "sets", func(n *dmqNode) bool {
		return n.get(t, "r", "alice") == "10.0.0.1" && n.get(t, "n", "limit") == "5" && n.get(t, "r", "tmp") == "short"
	})
	waitAll(t, 5*time.Second, nodes, "setxs expiry", func(n *dmqNode) bool {
		tt := n.module(t).Table("r").TTL("tmp")
		return tt > 0 && tt <= 60
	})
	b.kamcmd(t, "htable.setex", "r", "s:alice", "1000")
	waitAll(t, 5*time.Second, nodes, "setex", func(n *dmqNode) bool { return n.module(t).Table("r").TTL("alice") > 900 })
	c.kamcmd(t, "htable.delete", "n", "s:limit")
	waitAll(t, 5*time.Second, nodes, "delete", func(n *dmqNode) bool { return n.get(t, "n", "limit") == "<none>" })

	// concurrent increments on three nodes: the exact total everywhere
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func(addr string) { defer wg.Done(); hit(t, addr, 1000) }(n.Addr())
	}
	wg.Wait()
	waitAll(t, 15*time.Second, nodes, "3000 increments", func(n *dmqNode) bool { return n.get(t, "c", "hits") == "3000" })

	// htable.flush is replicated between sipht nodes (not by Kamailio)
	a.kamcmd(t, "htable.sets", "n", "s:gone", "x")
	waitAll(t, 5*time.Second, nodes, "pre-flush", func(n *dmqNode) bool { return n.get(t, "n", "gone") == "x" })
	b.kamcmd(t, "htable.flush", "n")
	waitAll(t, 5*time.Second, nodes, "flush", func(n *dmqNode) bool { return n.get(t, "n", "gone") == "<none>" })

	// a node started late is filled
	d := startDMQNode(t, "127.0.0.64", a.URI())
	waitAll(t, 10*time.Second, []*dmqNode{d}, "late node init sync", func(n *dmqNode) bool {
		return n.get(t, "r", "alice") == "10.0.0.1" && n.get(t, "c", "hits") == "3000" && n.get(t, "r", "tmp") == "short"
	})

	// a node killed and started again catches up
	c.Stop()
	a.kamcmd(t, "htable.sets", "r", "s:while-away", "yes")
	hit(t, b.Addr(), 100)
	b.kamcmd(t, "htable.delete", "r", "s:alice")
	c.Restart()
	waitAll(t, 15*time.Second, []*dmqNode{c}, "restarted node", func(n *dmqNode) bool {
		return n.get(t, "r", "while-away") == "yes" && n.get(t, "c", "hits") == "3100" && n.get(t, "r", "alice") == "<none>"
	})
	for _, n := range nodes {
		if st := n.module(t).Replicator().Stats(); st.KamRejected.Load() != 0 || st.ExtBad.Load() != 0 {
			t.Errorf("%s: rejected %d bad %d", n.Addr(), st.KamRejected.Load(), st.ExtBad.Load())
		}
	}
	// the metrics are there
	mfs, err := a.Srv.Metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"sipht_dmq_nodes", "sipht_dmq_messages_sent_total", "sipht_dmq_messages_received_total",
		"sipht_dmq_htable_states_applied_total", "sipht_dmq_htable_last_sync_seconds", "sipht_dmq_htable_tombstones"} {
		if !names[want] {
			t.Errorf("metric %s missing", want)
		}
	}
}

// A sipht node with the htable module and a Kamailio 5.6 node: a change
// made with kamcmd on one is visible with kamcmd htable.get on the other,
// and each side's init sync fills the other.
func TestDMQKamailioInteropKamcmd(t *testing.T) {
	s := startDMQNode(t, "127.0.0.65")
	s.kamcmd(t, "htable.sets", "r", "s:from-sipht-early", "1")
	k := dmqtest.StartKamailio(t, dmqtest.KamailioOptions{IP: "127.0.0.66", Notify: []string{s.URI()}, PingInterval: 5, InitSync: true,
		Tables: []string{"r=>size=4;autoexpire=300;dmqreplicate=1;", "c=>size=6;autoexpire=600;initval=0;dmqreplicate=1;", "n=>size=4;dmqreplicate=1;"}})
	kget := func(table, key string) string { return value(k.Kamcmd(t, "htable.get", table, "s:"+key)) }
	dmqtest.Eventually(t, 10*time.Second, func() bool { return kget("r", "from-sipht-early") == "1" }, "kamailio init sync from sipht")

	k.Kamcmd(t, "htable.sets", "r", "s:from-kamailio", "k")
	k.Kamcmd(t, "htable.seti", "n", "s:num", "42")
	dmqtest.Eventually(t, 5*time.Second, func() bool {
		return s.get(t, "r", "from-kamailio") == "k" && s.get(t, "n", "num") == "42"
	}, "kamailio change not on sipht")
	s.kamcmd(t, "htable.sets", "r", "s:from-sipht", "s")
	s.kamcmd(t, "htable.delete", "n", "s:num")
	hit(t, s.Addr(), 50)
	dmqtest.Eventually(t, 5*time.Second, func() bool {
		return kget("r", "from-sipht") == "s" && kget("n", "num") == "<none>" && kget("c", "hits") == "50"
	}, "sipht change not on kamailio: %s", k.Kamcmd(t, "htable.dump", "c"))

	// a sipht node started after Kamailio has data is filled by its init sync
	late := startDMQNode(t, "127.0.0.67", k.URI())
	dmqtest.Eventually(t, 10*time.Second, func() bool {
		return late.get(t, "r", "from-kamailio") == "k" && late.get(t, "r", "from-sipht") == "s"
	}, "late sipht node init sync")
	for _, n := range []*dmqNode{s, late} {
		if st := n.module(t).Replicator().Stats(); st.KamRejected.Load() != 0 {
			t.Errorf("kamailio rejected %d requests from %s", st.KamRejected.Load(), n.Addr())
		}
		if c := n.DMQ().Counts(); c["sent/htable/400"]+c["sent/htable/500"]+c["sent/htable_sipht/404"] != 0 {
			t.Errorf("kamailio refused something: %v", c)
		}
	}
	if strings.Contains(k.Log(), "unrecognized field") || strings.Contains(k.Log(), "invalid json") {
		t.Errorf("kamailio complained:\n%s", k.Log())
	}
}

// htable.dmqresync empties the table locally only (the other nodes keep
// theirs) and fills it again from them.
func TestDMQResync(t *testing.T) {
	a := startDMQNode(t, "127.0.0.68")
	b := startDMQNode(t, "127.0.0.69", a.URI())
	dmqtest.Eventually(t, 10*time.Second, func() bool { return len(a.DMQ().Active()) == 1 && len(b.DMQ().Active()) == 1 }, "not joined")
	a.kamcmd(t, "htable.sets", "r", "s:k", "v")
	dmqtest.Eventually(t, 5*time.Second, func() bool { return b.get(t, "r", "k") == "v" }, "not replicated")
	if out := b.kamcmd(t, "htable.dmqresync", "r"); strings.TrimSpace(out) != "Ok" {
		t.Fatalf("dmqresync: %s", out)
	}
	dmqtest.Eventually(t, 5*time.Second, func() bool { return b.get(t, "r", "k") == "v" }, "not filled again")
	time.Sleep(300 * time.Millisecond)
	if a.get(t, "r", "k") != "v" {
		t.Fatal("the resync flush reached the other node")
	}
	if out := b.kamcmd(t, "htable.dmqsync"); strings.TrimSpace(out) != "Ok" {
		t.Fatalf("dmqsync: %s", out)
	}
}

// Configs that route KDMQ themselves: dmq_handle_message("1") returns 1
// and the script goes on; dmq_process_message() returns 0, which ends it.
func TestDMQScriptRouting(t *testing.T) {
	mk := func(ip, route string, notify ...string) *dmqtest.Node {
		return dmqtest.Start(t, dmqtest.Options{IP: ip, Notify: notify, DMQParams: []string{`"ping_interval", 1`},
			Before: `loadmodule "htable.so"
modparam("htable", "enable_dmq", 1)
modparam("htable", "htable", "r=>size=4;dmqreplicate=1")
modparam("htable", "htable", "l=>size=2;initval=0")
`, Route: route})
	}
	a := mk("127.0.0.75", `dmq_handle_message("1"); $var(n) = $shtinc(l=>after);`)
	b := mk("127.0.0.76", `dmq_process_message(); $var(n) = $shtinc(l=>after);`, a.URI())
	dmqtest.Eventually(t, 10*time.Second, func() bool {
		return len(a.DMQ().Active()) == 1 && len(b.DMQ().Active()) == 1
	}, "not joined through the script")
	ta := a.Module("htable").(*htmod.Module)
	tb := b.Module("htable").(*htmod.Module)
	ta.Table("r").SetStr("k", "v")
	dmqtest.Eventually(t, 5*time.Second, func() bool { v, _ := tb.Table("r").Get("k"); return v.Str() == "v" }, "not replicated")
	if v, _ := ta.Table("l").Get("after"); v.Int() == 0 {
		t.Error(`dmq_handle_message("1") ended the script`)
	}
	if v, ok := tb.Table("l").Get("after"); ok && v.Int() != 0 {
		t.Errorf("dmq_process_message() did not end the script: %v", v)
	}
}
