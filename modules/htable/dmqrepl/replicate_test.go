package dmqrepl

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	ht "github.com/sipht/sipht/htable"
)

func TestThreeNodesEveryChangeKind(t *testing.T) {
	nodes := cluster3(t, Options{})
	a, b, c := nodes[0], nodes[1], nodes[2]

	// sets on every node
	a.table("r").SetStr("alice", "1.2.3.4")
	b.table("r").SetInt("bob", 42)
	c.table("n").SetStr("carol", "x")
	converged(t, 5*time.Second, nodes, "r", "n")
	if v, _ := c.table("r").Get("alice"); v.Str() != "1.2.3.4" {
		t.Fatalf("alice on c = %v", v)
	}

	// expiry changes
	a.table("r").SetExpire("bob", 1000)
	dmqtestEventually(t, func() bool { return c.table("r").TTL("bob") > 500 }, "setex not replicated: ttl %d", c.table("r").TTL("bob"))
	b.table("r").SetWithExpire("tmp", ht.Str("v"), 50)
	dmqtestEventually(t, func() bool { x := a.table("r").TTL("tmp"); return x > 0 && x <= 50 }, "setxs ttl not replicated: %d", a.table("r").TTL("tmp"))

	// deletes by every path
	c.table("r").Delete("alice")
	a.table("n").SetStr("p1", "a")
	a.table("n").SetStr("p2", "b")
	a.table("n").SetStr("q1", "c")
	converged(t, 5*time.Second, nodes, "r", "n")
	b.table("n").RemoveNames(ht.MatchPrefix, "p")
	converged(t, 5*time.Second, nodes, "r", "n")
	if c.table("n").Has("p1") || !c.table("n").Has("q1") {
		t.Fatalf("prefix removal: %s", c.dump("n"))
	}
	a.table("n").RemoveNames(ht.MatchSuffix, "1") // not replicable to Kamailio 5.6, replicated here
	converged(t, 5*time.Second, nodes, "n")
	if b.table("n").Has("q1") {
		t.Fatalf("suffix removal: %s", b.dump("n"))
	}
	c.table("r").Reset() // sht_reset / htable.flush
	converged(t, 5*time.Second, nodes, "r")
	if a.table("r").Len() != 0 {
		t.Fatalf("flush not replicated: %s", a.dump("r"))
	}
	// writes after a flush survive it
	a.table("r").SetInt("after", 1)
	converged(t, 5*time.Second, nodes, "r")
	if !c.table("r").Has("after") {
		t.Fatal("write after flush lost")
	}
}

func dmqtestEventually(t *testing.T, cond func() bool, msg string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(msg, args...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Three nodes increment the same keys at the same time: every node ends
// with the exact total (Kamailio replicates absolute values and loses
// increments).
func TestConcurrentIncrementsExact(t *testing.T) {
	nodes := cluster3(t, Options{})
	const perNode = 2000
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func(i int, n *rnode) {
			defer wg.Done()
			for j := 0; j < perNode; j++ {
				n.table("c").Inc("attacker")
				if j%3 == 0 {
					n.table("n").Add(fmt.Sprintf("k%d", j%10), 2)
				}
			}
		}(i, n)
	}
	wg.Wait()
	want := int64(3 * perNode)
	dmqtestEventually(t, func() bool {
		for _, n := range nodes {
			if v, _ := n.table("c").Get("attacker"); v.Int() != want {
				return false
			}
		}
		return true
	}, "counter not exact: %v %v %v", get(nodes[0], "c", "attacker"), get(nodes[1], "c", "attacker"), get(nodes[2], "c", "attacker"))
	converged(t, 5*time.Second, nodes, "n", "c")
	var total int64
	for k := 0; k < 10; k++ {
		v, _ := nodes[1].table("n").Get(fmt.Sprintf("k%d", k))
		total += v.Int()
	}
	if want := int64(3 * 2 * ((perNode + 2) / 3)); total != want {
		t.Fatalf("sum of k* = %d, want %d", total, want)
	}
}

func get(n *rnode, table, key string) string {
	v, ok := n.table(table).Get(key)
	if !ok {
		return "<none>"
	}
	return v.String()
}

// A node that is killed misses changes; started again (empty tables, new
// incarnation) it catches up without any manual resync.
func TestRestartCatchesUp(t *testing.T) {
	nodes := cluster3(t, Options{})
	a, b, c := nodes[0], nodes[1], nodes[2]
	a.table("r").SetStr("before", "1")
	a.table("c").Add("cnt", 5)
	converged(t, 5*time.Second, nodes, "r", "c")
	c.stop()
	a.table("r").SetStr("during", "2")
	b.table("r").Delete("before")
	b.table("c").Add("cnt", 7)
	c.node.Restart()
	c.attach()
	converged(t, 10*time.Second, nodes, "r", "c")
	if c.table("r").Has("before") || get(c, "c", "cnt") != "12" || get(c, "r", "during") != "2" {
		t.Fatalf("restarted node: r{%s} c{%s}", c.dump("r"), c.dump("c"))
	}
	// and its increments after the restart add up with the others'
	c.table("c").Add("cnt", 1)
	a.table("c").Add("cnt", 1)
	dmqtestEventually(t, func() bool {
		return get(a, "c", "cnt") == "14" && get(b, "c", "cnt") == "14" && get(c, "c", "cnt") == "14"
	}, "after restart: %s %s %s", get(a, "c", "cnt"), get(b, "c", "cnt"), get(c, "c", "cnt"))
}

// A network split between one node and the two others for a while: both
// sides keep writing (sets, increments, deletes); once the network heals,
// every node converges: counters hold every increment, the later set wins,
// deletes stay deleted.
func TestPartitionHeals(t *testing.T) {
	nodes := cluster3(t, Options{SyncInterval: -1}) // no periodic rounds: the heal itself must trigger the repair
	a, b, c := nodes[0], nodes[1], nodes[2]
	for _, n := range nodes {
		n.table("c").Add("ctr", 0)
	}
	a.table("r").SetStr("x", "initial")
	a.table("r").SetStr("k1", "v")
	a.table("r").SetStr("k2", "v")
	a.table("c").Add("ctr", 10)
	converged(t, 5*time.Second, nodes, "r", "c")

	split := func(on bool) {
		side := map[string]int{a.node.IP: 0, b.node.IP: 1, c.node.IP: 1}
		for _, n := range nodes {
			if !on {
				n.node.DMQ().SetDrop(nil)
				continue
			}
			mine := side[n.node.IP]
			n.node.DMQ().SetDrop(func(ip netip.Addr) bool {
				s, ok := side[ip.String()]
				return ok && s != mine
			})
		}
	}
	split(true)
	for i := 0; i < 5; i++ {
		a.table("c").Inc("ctr")
	}
	a.table("r").Delete("k1")
	for i := 0; i < 7; i++ {
		b.table("c").Inc("ctr")
	}
	for i := 0; i < 3; i++ {
		c.table("c").Inc("ctr")
	}
	c.table("r").Delete("k2")
	a.table("r").SetStr("x", "from-a")
	time.Sleep(20 * time.Millisecond)
	b.table("r").SetStr("x", "from-b-later")
	a.table("r").SetStr("only-a", "1")
	// long enough for the membership to notice (pings every second)
	time.Sleep(3 * time.Second)
	if get(a, "c", "ctr") == get(b, "c", "ctr") {
		t.Fatalf("the split did not split: a %s b %s", get(a, "c", "ctr"), get(b, "c", "ctr"))
	}
	split(false)
	dmqtestEventually2(t, 20*time.Second, func() bool {
		for _, n := range nodes {
			if get(n, "c", "ctr") != "25" || get(n, "r", "x") != "from-b-later" || n.table("r").Has("k1") ||
				n.table("r").Has("k2") || get(n, "r", "only-a") != "1" {
				return false
			}
		}
		return true
	}, func() string {
		var s string
		for _, n := range nodes {
			s += fmt.Sprintf("\n%s: r{%s} c{%s} active=%d", n.node.Addr(), n.dump("r"), n.dump("c"), len(n.node.DMQ().Active()))
		}
		return s
	})
	converged(t, 5*time.Second, nodes, "r", "c")
}

func dmqtestEventually2(t *testing.T, d time.Duration, cond func() bool, state func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not converged after %s:%s", d, state())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
