package detector

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Result is what Check says about a source; the values are
// pike_check_req's return codes.
type Result int

// Check results.
const (
	Pass         Result = 1  // not blocked
	Blocked      Result = -1 // blocked, detected by an earlier hit
	NewlyBlocked Result = -2 // blocked, detected by this hit
)

// Status is a listed source's state, as pike.top prints it.
type Status uint8

// Statuses.
const (
	StatusNone Status = iota // ""
	StatusWarm               // "WARM"
	StatusHot                // "HOT"
)

// String returns "", "WARM" or "HOT".
func (s Status) String() string {
	switch s {
	case StatusWarm:
		return "WARM"
	case StatusHot:
		return "HOT"
	}
	return ""
}

// Selection is what Top lists (pike.top's argument).
type Selection uint8

// Selections.
const (
	SelectHot  Selection = iota + 1 // leaves that are hot now
	SelectWarm                      // nothing: Kamailio 5.6 lists no WARM leaves
	SelectAll                       // every full-address leaf
)

// Defaults (Kamailio's, and sipht's node bound).
const (
	DefaultSamplingUnit  = 2      // seconds
	DefaultMaxHits       = 30     // hits per sampling unit
	DefaultRemoveLatency = 120    // seconds
	DefaultMaxNodes      = 262144 // about 25 MiB of nodes
	// MinMaxNodes is the smallest accepted MaxNodes: one IPv6 path.
	MinMaxNodes = 16
)

// Config configures a Detector. DefaultConfig gives Kamailio's defaults.
type Config struct {
	// SamplingUnit is the window length in seconds (sampling_time_unit), >= 1.
	SamplingUnit int
	// MaxHits is the number of hits per window that blocks a source
	// (reqs_density_per_unit), 1 to 65535.
	MaxHits int
	// RemoveLatency is how many seconds a leaf stays after its last hit
	// (remove_latency), >= 0.
	RemoveLatency int
	// MaxNodes bounds the tree (sipht extension), >= MinMaxNodes.
	MaxNodes int
	// Allow lists sources that are never counted nor blocked (sipht
	// extension).
	Allow []netip.Prefix
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnUnblock, when set, is called for every source that a window shift
	// unblocks, after the detector's lock is released.
	OnUnblock func(ip netip.Addr)
}

// DefaultConfig returns Kamailio's defaults and DefaultMaxNodes.
func DefaultConfig() Config {
	return Config{
		SamplingUnit:  DefaultSamplingUnit,
		MaxHits:       DefaultMaxHits,
		RemoveLatency: DefaultRemoveLatency,
		MaxNodes:      DefaultMaxNodes,
	}
}

// counter limit: Kamailio's counters are 16-bit and stop at 65534.
const maxCount = 65534

// node flags
const (
	flagIPLeaf uint8 = 1 << iota // a full address has been hit here
	flagRed                      // blocked
	flagV6                       // belongs to the IPv6 tree
)

// node is one byte of an address path. 64 bytes.
type node struct {
	parent       *node
	kids         *kidList // nil when the node has no children
	tprev, tnext *node    // timer list links; nil when not on the list
	hot          *hotEntry
	expires      uint32    // tick at which the node is removed (on the timer list)
	win          uint32    // window the counters below belong to
	hits         [2]uint16 // prefix hits: previous, current window
	leaf         [2]uint16 // full-address hits: previous, current window
	b            byte
	flags        uint8
}

// kidList holds a node's children in creation order; bytes mirrors the
// children's bytes so that a lookup is one IndexByte.
type kidList struct {
	bytes []byte
	nodes []*node
}

// Detector is one pike tree pair (IPv4 and IPv6). It is safe for
// concurrent use.
type Detector struct {
	cfg     Config
	maxHits int // as uint16 in Kamailio
	quarter int // maxHits >> 2
	unit    uint32
	latency uint32
	now     func() time.Time
	start   time.Time
	tick    atomic.Uint32 // seconds since start, as of the last Tick

	mu     sync.Mutex
	window uint32         // current window number (tick / unit at the last Tick)
	roots  [2][256]*node  // first-byte nodes of the IPv4 and IPv6 trees
	timer  node           // sentinel of the timer list (oldest first)
	red    []*node        // blocked leaves
	nodes  int            // nodes in both trees
	hot    hotSet         // blocked addresses, readable without mu
	allow  []netip.Prefix // normalised Allow
	stats  struct{ blocked, evicted, hotDrops atomic.Uint64 }
	nodesA atomic.Int64 // nodes, readable without mu
}

// New checks cfg and returns an empty detector whose clock starts now.
func New(cfg Config) (*Detector, error) {
	var errs []error
	if cfg.SamplingUnit < 1 {
		errs = append(errs, fmt.Errorf("sampling unit %d: must be at least 1 second", cfg.SamplingUnit))
	}
	if cfg.MaxHits < 1 || cfg.MaxHits > 65535 {
		errs = append(errs, fmt.Errorf("max hits %d: must be between 1 and 65535", cfg.MaxHits))
	}
	if cfg.RemoveLatency < 0 {
		errs = append(errs, fmt.Errorf("remove latency %d: must not be negative", cfg.RemoveLatency))
	}
	if cfg.MaxNodes < MinMaxNodes {
		errs = append(errs, fmt.Errorf("max nodes %d: must be at least %d", cfg.MaxNodes, MinMaxNodes))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	d := &Detector{
		cfg:     cfg,
		maxHits: cfg.MaxHits,
		quarter: cfg.MaxHits >> 2,
		unit:    uint32(cfg.SamplingUnit),
		latency: uint32(cfg.RemoveLatency),
		now:     cfg.Now,
	}
	if d.now == nil {
		d.now = time.Now
	}
	for _, p := range cfg.Allow {
		if !p.IsValid() {
			return nil, fmt.Errorf("allow: invalid prefix %v", p)
		}
		d.allow = append(d.allow, NormPrefix(p))
	}
	d.start = d.now()
	d.timer.tprev, d.timer.tnext = &d.timer, &d.timer
	d.hot.init()
	return d, nil
}

// NormPrefix returns p masked, without zone, and as an IPv4 prefix when it
// is an IPv4-mapped IPv6 prefix of at least 96 bits (::ffff:10.0.0.0/104
// is 10.0.0.0/8), since sources are matched unmapped.
func NormPrefix(p netip.Prefix) netip.Prefix {
	a, bits := p.Addr(), p.Bits()
	if a.Zone() != "" {
		a = a.WithZone("")
	}
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// norm returns the address pike keys on: IPv4-mapped IPv6 addresses as
// IPv4, without zone.
func norm(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Zone() != "" {
		ip = ip.WithZone("")
	}
	return ip
}

// Allowed reports whether ip is in the allow list.
func (d *Detector) Allowed(ip netip.Addr) bool {
	if len(d.allow) == 0 {
		return false
	}
	ip = norm(ip)
	for _, p := range d.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Check counts one hit from ip and says whether it is blocked (pike's
// pike_check_req / pike_check_ip). Allowed and invalid addresses pass
// without being counted.
func (d *Detector) Check(ip netip.Addr) Result {
	if !ip.IsValid() {
		return Pass
	}
	ip = norm(ip)
	if d.Allowed(ip) {
		return Pass
	}
	var buf [16]byte
	key, fam := path(ip, &buf)
	d.mu.Lock()
	r := d.mark(key, fam)
	d.mu.Unlock()
	if r == NewlyBlocked {
		d.stats.blocked.Add(1)
	}
	return r
}

// path returns the bytes of ip's tree path and its tree (0 IPv4, 1 IPv6).
func path(ip netip.Addr, buf *[16]byte) ([]byte, int) {
	if ip.Is4() {
		a := ip.As4()
		copy(buf[:], a[:])
		return buf[:4], 0
	}
	*buf = ip.As16()
	return buf[:16], 1
}

// mark is Kamailio's mark_node plus the timer updates of
// pike_check_ipaddr. d.mu is held.
func (d *Detector) mark(key []byte, fam int) Result {
	now := d.tick.Load()
	var n *node
	pos := 0
	for kid := d.roots[fam][key[0]]; kid != nil; {
		n = kid
		pos++
		if pos == len(key) {
			break
		}
		kid = n.kid(key[pos])
	}
	switch {
	case pos == len(key):
		// the whole address is in the tree
		n.flags |= flagIPLeaf
		d.foldPending(n)
		d.normalize(n)
		if n.leaf[1] < maxCount {
			n.leaf[1]++
		}
		// a full-address node never has children, so it is on the timer
		// list: refresh it
		d.timerMove(n, now+d.latency)
		if n.flags&flagRed != 0 {
			return Blocked
		}
		if d.hotLeaf(n) {
			d.setRed(n, fam, key)
			return NewlyBlocked
		}
		return Pass
	case pos == 0:
		// empty branch: a first-byte node with one hit
		if !d.reserve(nil) {
			return Pass
		}
		r := d.newNode(nil, key[0], fam)
		r.hits[1] = 1
		d.roots[fam][key[0]] = r
		d.timerAppend(r, now+d.latency)
		return Pass
	default:
		// a prefix of the address is in the tree
		d.normalize(n)
		if n.hits[1] < maxCount {
			n.hits[1]++
		}
		if !d.hotInner(n) {
			// a prefix with few hits is not refreshed, so that it expires
			return Pass
		}
		if !d.reserve(n) {
			return Pass // tree full and nothing to evict: do not expand
		}
		c := d.newNode(n, key[pos], fam)
		if n.hits[1] >= 1 {
			c.hits[1] = n.hits[1] - 1
		}
		d.timerAppend(c, now+d.latency)
		if len(n.kids.nodes) == 1 && n.tnext != nil {
			// the prefix became an inner node: inner nodes do not expire
			d.timerRemove(n)
		}
		return Pass
	}
}

func (n *node) kid(b byte) *node {
	if n.kids == nil {
		return nil
	}
	if i := bytes.IndexByte(n.kids.bytes, b); i >= 0 {
		return n.kids.nodes[i]
	}
	return nil
}

// newNode creates a node for byte b under parent (nil: a first-byte node,
// linked by the caller) in the current window.
func (d *Detector) newNode(parent *node, b byte, fam int) *node {
	n := &node{parent: parent, b: b, win: d.window}
	if fam == 1 {
		n.flags = flagV6
	}
	if parent != nil {
		if parent.kids == nil {
			parent.kids = &kidList{}
		}
		parent.kids.bytes = append(parent.kids.bytes, b)
		parent.kids.nodes = append(parent.kids.nodes, n)
	}
	d.nodes++
	d.nodesA.Store(int64(d.nodes))
	return n
}

// normalize brings n's counters to the current window: Kamailio shifts
// every node at every window boundary; here a node is shifted when it is
// next looked at, with the same result.
func (d *Detector) normalize(n *node) {
	switch d.window - n.win {
	case 0:
		return
	case 1:
		n.hits = [2]uint16{n.hits[1], 0}
		n.leaf = [2]uint16{n.leaf[1], 0}
	default:
		n.hits = [2]uint16{}
		n.leaf = [2]uint16{}
	}
	n.win = d.window
}

func (d *Detector) hotLeaf(n *node) bool {
	p, c, m := int(n.leaf[0]), int(n.leaf[1]), d.maxHits
	return p >= m || c >= m || (p+c)>>1 >= m
}

func (d *Detector) hotInner(n *node) bool {
	p, c, q := int(n.hits[0]), int(n.hits[1]), d.quarter
	return p >= q || c >= q || (p+c)>>1 >= q
}

func (d *Detector) warm(n *node) bool { return int(n.hits[1]) >= d.quarter }

// ---- timer list (oldest first; sorted by expires because every entry
// gets now+latency)

func (d *Detector) timerAppend(n *node, expires uint32) {
	n.expires = expires
	last := d.timer.tprev
	n.tprev, n.tnext = last, &d.timer
	last.tnext = n
	d.timer.tprev = n
}

func (d *Detector) timerRemove(n *node) {
	n.tprev.tnext = n.tnext
	n.tnext.tprev = n.tprev
	n.tprev, n.tnext = nil, nil
}

func (d *Detector) timerMove(n *node, expires uint32) {
	if n.tnext != nil {
		d.timerRemove(n)
	}
	d.timerAppend(n, expires)
}

// ---- removal

// remove deletes n, a node without children, from its tree; a parent left
// without children goes on the timer list. d.mu is held.
func (d *Detector) remove(n *node) {
	if n.tnext != nil {
		d.timerRemove(n)
	}
	if n.flags&flagRed != 0 {
		d.clearRed(n)
	}
	fam := 0
	if n.flags&flagV6 != 0 {
		fam = 1
	}
	if p := n.parent; p == nil {
		d.roots[fam][n.b] = nil
	} else {
		k := p.kids
		i := bytes.IndexByte(k.bytes, n.b)
		copy(k.bytes[i:], k.bytes[i+1:])
		k.bytes = k.bytes[:len(k.bytes)-1]
		copy(k.nodes[i:], k.nodes[i+1:])
		k.nodes[len(k.nodes)-1] = nil
		k.nodes = k.nodes[:len(k.nodes)-1]
		if len(k.nodes) == 0 {
			p.kids = nil
			// the parent ends a path again: it expires on its own
			d.timerAppend(p, d.tick.Load()+d.latency)
		}
		n.parent = nil
	}
	d.nodes--
	d.nodesA.Store(int64(d.nodes))
}

// evictScan is how many list entries reserve looks at to find a victim
// that is not a blocked leaf.
const evictScan = 64

// reserve makes room for one new node when the tree is full by evicting
// the oldest entry of the timer list that is neither keep (the node about
// to get a child) nor, preferably, a blocked leaf. It reports false when
// nothing could be evicted.
func (d *Detector) reserve(keep *node) bool {
	if d.nodes < d.cfg.MaxNodes {
		return true
	}
	var victim, fallback *node
	i := 0
	for n := d.timer.tnext; n != &d.timer && i < evictScan; n, i = n.tnext, i+1 {
		if n == keep {
			continue
		}
		if n.flags&flagRed == 0 {
			victim = n
			break
		}
		if fallback == nil {
			fallback = n
		}
	}
	if victim == nil {
		victim = fallback
	}
	if victim == nil {
		return false
	}
	d.remove(victim)
	d.stats.evicted.Add(1)
	return true
}

// ---- blocked set

func (d *Detector) setRed(n *node, fam int, key []byte) {
	n.flags |= flagRed
	ip := addrOf(key, fam)
	e := &hotEntry{idx: len(d.red), ip: ip}
	n.hot = e
	d.red = append(d.red, n)
	d.hot.add(ip, e)
}

func (d *Detector) clearRed(n *node) {
	e := n.hot
	last := len(d.red) - 1
	moved := d.red[last]
	d.red[e.idx] = moved
	moved.hot.idx = e.idx
	d.red[last] = nil
	d.red = d.red[:last]
	n.flags &^= flagRed
	n.hot = nil
	d.hot.remove(e.ip)
}

// foldPending adds the hits that DropHot counted for a blocked leaf since
// the last fold to its current window, refreshing its expiry.
func (d *Detector) foldPending(n *node) {
	if n.hot == nil {
		return
	}
	p := n.hot.pending.Swap(0)
	if p == 0 {
		return
	}
	d.normalize(n)
	c := uint64(n.leaf[1]) + p
	if c > maxCount {
		c = maxCount
	}
	n.leaf[1] = uint16(c)
	d.timerMove(n, d.tick.Load()+d.latency)
}

func addrOf(key []byte, fam int) netip.Addr {
	if fam == 0 {
		return netip.AddrFrom4([4]byte(key[:4]))
	}
	return netip.AddrFrom16([16]byte(key[:16]))
}

// addrOfNode rebuilds the address of a full-address leaf.
func addrOfNode(n *node) netip.Addr {
	var key [16]byte
	l := 4
	fam := 0
	if n.flags&flagV6 != 0 {
		l, fam = 16, 1
	}
	for i := l - 1; i >= 0 && n != nil; i-- {
		key[i] = n.b
		n = n.parent
	}
	return addrOf(key[:l], fam)
}

// DropHot reports whether ip is blocked right now. When it is, the call is
// counted as a hit of ip (the caller drops the message, as a script would
// after pike_check_req). It does not take the tree lock: when nothing is
// blocked it costs one atomic load. Safe for concurrent use; it never
// blocks for longer than a map insert or delete elsewhere takes.
func (d *Detector) DropHot(ip netip.Addr) bool {
	if d.hot.count.Load() == 0 {
		return false
	}
	e := d.hot.get(norm(ip))
	if e == nil {
		return false
	}
	e.pending.Add(1)
	d.stats.hotDrops.Add(1)
	return true
}

// IsBlocked reports whether ip is blocked right now, without counting a
// hit.
func (d *Detector) IsBlocked(ip netip.Addr) bool {
	if d.hot.count.Load() == 0 {
		return false
	}
	return d.hot.get(norm(ip)) != nil
}

// Tick advances the detector to the clock's current second: it shifts the
// sampling windows when a SamplingUnit boundary has passed, unblocking the
// sources that are no longer hot, and removes the nodes whose
// RemoveLatency is over. Call it about once a second.
func (d *Detector) Tick() {
	el := d.now().Sub(d.start)
	if el < 0 {
		el = 0
	}
	t := uint32(el / time.Second)
	if t < d.tick.Load() {
		t = d.tick.Load() // the clock went back: keep time monotonic
	}
	d.mu.Lock()
	d.tick.Store(t)
	var unblocked []netip.Addr
	if w := t / d.unit; w != d.window {
		// hits dropped early belong to the window that ends now
		for _, n := range d.red {
			d.foldPending(n)
		}
		d.window = w
		for i := 0; i < len(d.red); {
			n := d.red[i]
			d.normalize(n)
			if d.hotLeaf(n) {
				i++
				continue
			}
			unblocked = append(unblocked, n.hot.ip)
			d.clearRed(n) // moves the last entry to i
		}
	}
	// Remove what expired. Parents that go back on the list now are looked
	// at from the next Tick on (Kamailio: at the next run of its 1 s
	// timer), so the loop stops at the entry that was last when it began.
	end := d.timer.tprev
	for n := d.timer.tnext; n != &d.timer && n.expires <= t; {
		next, last := n.tnext, n == end
		if n.hot != nil && n.hot.pending.Load() > 0 {
			d.foldPending(n) // still being hit (dropped early): refreshed
		} else {
			d.remove(n)
		}
		if last {
			break
		}
		n = next
	}
	d.mu.Unlock()
	if d.cfg.OnUnblock != nil {
		for _, ip := range unblocked {
			d.cfg.OnUnblock(ip)
		}
	}
}

// Entry is one listed source (pike.top).
type Entry struct {
	IP           netip.Addr
	LeafHitsPrev int
	LeafHitsCurr int
	HitsPrev     int
	HitsCurr     int
	Expires      int // seconds until the node is removed (if not hit again)
	Status       Status
}

// Top lists full-address leaves in Kamailio's pike.top order: the trees
// walked by first byte, depth first, newest child first, and the whole
// list reversed.
func (d *Detector) Top(sel Selection) []Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sel != SelectHot && sel != SelectAll {
		return nil
	}
	now := int(d.tick.Load())
	var out []Entry
	var walk func(n *node)
	walk = func(n *node) {
		if n.flags&flagIPLeaf != 0 {
			d.foldPending(n)
			d.normalize(n)
			st := StatusNone
			switch {
			case d.hotLeaf(n):
				st = StatusHot
			case d.warm(n):
				st = StatusWarm
			}
			if sel == SelectAll || st == StatusHot {
				out = append(out, Entry{
					IP:           addrOfNode(n),
					LeafHitsPrev: int(n.leaf[0]), LeafHitsCurr: int(n.leaf[1]),
					HitsPrev: int(n.hits[0]), HitsCurr: int(n.hits[1]),
					Expires: int(n.expires) - now,
					Status:  st,
				})
			}
		}
		if n.kids != nil {
			for i := len(n.kids.nodes) - 1; i >= 0; i-- {
				walk(n.kids.nodes[i])
			}
		}
	}
	for b := 0; b < 256; b++ {
		for fam := 0; fam < 2; fam++ {
			if r := d.roots[fam][b]; r != nil {
				walk(r)
			}
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Unblock resets the counters of ip's leaf and lifts its block (pike.rm).
// found is false when ip has no full-address leaf in the tree; wasBlocked
// says whether it was blocked.
func (d *Detector) Unblock(ip netip.Addr) (found, wasBlocked bool) {
	if !ip.IsValid() {
		return false, false
	}
	ip = norm(ip)
	var buf [16]byte
	key, fam := path(ip, &buf)
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.roots[fam][key[0]]
	for i := 1; n != nil && i < len(key); i++ {
		n = n.kid(key[i])
	}
	if n == nil || n.flags&flagIPLeaf == 0 {
		return false, false
	}
	wasBlocked = n.flags&flagRed != 0
	if wasBlocked {
		d.clearRed(n)
	}
	n.win = d.window
	n.hits = [2]uint16{}
	n.leaf = [2]uint16{}
	return true, wasBlocked
}

// Stats are the detector's counters.
type Stats struct {
	Nodes    int    // nodes in the trees now
	Blocked  int    // sources blocked now
	Detected uint64 // NewlyBlocked results so far (Kamailio's pike:blocked_ips)
	Evicted  uint64 // nodes evicted because the tree was full
	HotDrops uint64 // DropHot calls that reported a blocked source
}

// Stats returns the counters without taking the tree lock.
func (d *Detector) Stats() Stats {
	return Stats{
		Nodes:    int(d.nodesA.Load()),
		Blocked:  int(d.hot.count.Load()),
		Detected: d.stats.blocked.Load(),
		Evicted:  d.stats.evicted.Load(),
		HotDrops: d.stats.hotDrops.Load(),
	}
}

// MaxHits returns the configured hits per window (pike.top's max_hits).
func (d *Detector) MaxHits() int { return d.maxHits }
