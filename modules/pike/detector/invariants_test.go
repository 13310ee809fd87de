package detector

import (
	"fmt"
	"net/netip"
	"time"
)

// fakeClock is a settable clock for tests.
type fakeClock struct{ t time.Time }

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { return c.t }

// advance moves the clock by s seconds and runs d's timer once per second
// passed, as the pike module's loop does.
func (c *fakeClock) advance(d *Detector, s int) {
	for i := 0; i < s; i++ {
		c.t = c.t.Add(time.Second)
		d.Tick()
	}
}

// newTest returns a detector with the given settings on a fake clock.
func newTest(unit, maxHits, latency, maxNodes int, allow ...string) (*Detector, *fakeClock) {
	c := newClock()
	cfg := Config{SamplingUnit: unit, MaxHits: maxHits, RemoveLatency: latency, MaxNodes: maxNodes, Now: c.Now}
	for _, a := range allow {
		cfg.Allow = append(cfg.Allow, netip.MustParsePrefix(a))
	}
	d, err := New(cfg)
	if err != nil {
		panic(err)
	}
	return d, c
}

// checkInvariants verifies the tree's bookkeeping: node count, parent
// links and child lists, the timer list (exactly the nodes without
// children, sorted by expiry), and the blocked list and set.
func (d *Detector) checkInvariants() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	onTimer := map[*node]bool{}
	prev := uint32(0)
	for n := d.timer.tnext; n != &d.timer; n = n.tnext {
		if onTimer[n] {
			return fmt.Errorf("timer list loops")
		}
		if n.tnext.tprev != n {
			return fmt.Errorf("timer list back link broken")
		}
		if n.expires < prev {
			return fmt.Errorf("timer list not sorted: %d after %d", n.expires, prev)
		}
		prev = n.expires
		onTimer[n] = true
	}
	count, reds := 0, 0
	var walk func(n *node, depth, maxDepth int) error
	walk = func(n *node, depth, maxDepth int) error {
		count++
		if depth > maxDepth {
			return fmt.Errorf("node deeper than an address")
		}
		if n.kids == nil {
			if !onTimer[n] {
				return fmt.Errorf("childless node at depth %d not on the timer list", depth)
			}
		} else {
			if onTimer[n] {
				return fmt.Errorf("inner node at depth %d on the timer list", depth)
			}
			if len(n.kids.nodes) == 0 || len(n.kids.nodes) != len(n.kids.bytes) {
				return fmt.Errorf("bad child list")
			}
			seen := map[byte]bool{}
			for i, k := range n.kids.nodes {
				if k.parent != n || k.b != n.kids.bytes[i] || seen[k.b] {
					return fmt.Errorf("child link broken")
				}
				seen[k.b] = true
				if err := walk(k, depth+1, maxDepth); err != nil {
					return err
				}
			}
		}
		if n.flags&flagIPLeaf != 0 && depth != maxDepth {
			return fmt.Errorf("IP leaf at depth %d", depth)
		}
		if n.flags&flagRed != 0 {
			reds++
			if n.hot == nil || n.flags&flagIPLeaf == 0 || d.red[n.hot.idx] != n || d.hot.get(n.hot.ip) != n.hot || addrOfNode(n) != n.hot.ip {
				return fmt.Errorf("blocked leaf %v not registered", addrOfNode(n))
			}
		} else if n.hot != nil {
			return fmt.Errorf("unblocked node with a hot entry")
		}
		return nil
	}
	for fam, l := range []int{4, 16} {
		for b, r := range d.roots[fam] {
			if r == nil {
				continue
			}
			if r.parent != nil || int(r.b) != b {
				return fmt.Errorf("bad root %d", b)
			}
			if err := walk(r, 1, l); err != nil {
				return err
			}
		}
	}
	if count != d.nodes || int64(count) != d.nodesA.Load() {
		return fmt.Errorf("node count %d, counted %d (atomic %d)", d.nodes, count, d.nodesA.Load())
	}
	if count != len(onTimer)+countInner(d) {
		return fmt.Errorf("timer list has %d entries for %d nodes", len(onTimer), count)
	}
	if count > d.cfg.MaxNodes {
		return fmt.Errorf("%d nodes, more than MaxNodes %d", count, d.cfg.MaxNodes)
	}
	if reds != len(d.red) || int64(reds) != d.hot.count.Load() {
		return fmt.Errorf("%d blocked leaves, list %d, set %d", reds, len(d.red), d.hot.count.Load())
	}
	return nil
}

func countInner(d *Detector) int {
	n := 0
	var walk func(x *node)
	walk = func(x *node) {
		if x.kids != nil {
			n++
			for _, k := range x.kids.nodes {
				walk(k)
			}
		}
	}
	for fam := range d.roots {
		for _, r := range d.roots[fam] {
			if r != nil {
				walk(r)
			}
		}
	}
	return n
}
