package dmqrepl

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/modules/dmq/dmqtest"
)

// rnode is one sipht node of a test cluster: a server with the dmq module
// and, beside it, a table registry replicated by a Replicator.
type rnode struct {
	t    *testing.T
	node *dmqtest.Node
	reg  *ht.Registry
	rep  *Replicator
	defs []string
	opts Options
}

var testDefs = []string{
	"r=>size=4;autoexpire=300;dmqreplicate=1",
	"n=>size=4;initval=0;dmqreplicate=1",
	"c=>size=6;autoexpire=600;initval=0;dmqreplicate=1",
	"local=>size=2",
}

func startNode(t *testing.T, ip string, notify []string, o Options) *rnode {
	t.Helper()
	n := &rnode{t: t, defs: testDefs, opts: o}
	n.node = dmqtest.Start(t, dmqtest.Options{IP: ip, Notify: notify,
		DMQParams: []string{`"ping_interval", 1`, `"request_timeout", 500`}})
	n.attach()
	t.Cleanup(func() {
		if n.rep != nil {
			n.rep.Stop()
		}
	})
	return n
}

func (n *rnode) attach() {
	t := n.t
	n.reg = ht.NewRegistry()
	for _, d := range n.defs {
		if _, err := n.reg.Define(d); err != nil {
			t.Fatal(err)
		}
	}
	o := n.opts
	if o.SyncInterval == 0 {
		o.SyncInterval = time.Second
	}
	if os.Getenv("DMQREPL_DEBUG") != "" {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rep, err := New(n.reg, n.node.DMQ(), o)
	if err != nil {
		t.Fatal(err)
	}
	n.rep = rep
	if err := rep.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// restart stops the node (server and replicator) and starts it again
// with empty tables, as a process restart does.
func (n *rnode) restart() {
	n.rep.Stop()
	n.node.Stop()
	n.node.Restart()
	n.attach()
}

func (n *rnode) stop() {
	n.rep.Stop()
	n.node.Stop()
}

func (n *rnode) table(name string) *ht.Table { return n.reg.Table(name) }

func (n *rnode) dump(name string) string {
	var s string
	n.table(name).Export(func(it ht.Item) error {
		s += fmt.Sprintf("%s=%s;", it.Key, it.Value)
		return nil
	})
	return s
}

// items returns key -> value of a table.
func (n *rnode) items(name string) map[string]string {
	m := map[string]string{}
	n.table(name).Export(func(it ht.Item) error {
		m[it.Key] = it.Value.String()
		return nil
	})
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// converged waits until every node has the same content in every table.
func converged(t *testing.T, d time.Duration, nodes []*rnode, tables ...string) {
	t.Helper()
	dmqtest.Eventually(t, d, func() bool {
		for _, tb := range tables {
			ref := nodes[0].items(tb)
			for _, n := range nodes[1:] {
				if !equalMaps(ref, n.items(tb)) {
					return false
				}
			}
		}
		return true
	}, "not converged: %s", func() string {
		var s string
		for _, n := range nodes {
			s += "\n" + n.node.Addr() + ":"
			for _, tb := range tables {
				s += " " + tb + "{" + clip(n.dump(tb)) + "}"
			}
		}
		return s
	}())
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func cluster3(t *testing.T, o Options) []*rnode {
	a := startNode(t, "127.0.0.11", nil, o)
	b := startNode(t, "127.0.0.12", []string{a.node.URI()}, o)
	c := startNode(t, "127.0.0.13", []string{a.node.URI()}, o)
	nodes := []*rnode{a, b, c}
	waitMesh(t, nodes)
	return nodes
}

// waitMesh waits until every node sees every other as an active sipht node.
func waitMesh(t *testing.T, nodes []*rnode) {
	t.Helper()
	dmqtest.Eventually(t, 10*time.Second, func() bool {
		for _, n := range nodes {
			got := 0
			for _, x := range n.node.DMQ().Active() {
				if x.Info.Sipht {
					got++
				}
			}
			if got != len(nodes)-1 {
				return false
			}
		}
		return true
	}, "nodes did not all see each other as active sipht nodes")
}
