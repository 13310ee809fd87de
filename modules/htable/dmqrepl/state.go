package dmqrepl

import (
	"sort"
	"strings"
	"sync"
	"time"

	ht "github.com/sipht/sipht/htable"
)

// version orders writes between sipht nodes: a hybrid logical clock time
// (milliseconds << 16 | a logical counter) and the writer's node id
// (interned, compared by text), so two versions are never equal unless they
// are the same write.
type version struct {
	t uint64
	n uint32 // index in the replicator's idTable; 0 = no writer
}

func (v version) isZero() bool { return v.t == 0 && v.n == 0 }

// ms returns the wall-clock milliseconds of the version.
func (v version) ms() int64 { return int64(v.t >> 16) }

// idTable interns node ids ("sip:10.0.0.1:5060#<incarnation>").
type idTable struct {
	mu   sync.RWMutex
	ids  []string
	byID map[string]uint32
}

// maxIDs bounds the interned ids (every restart of every node adds one).
const maxIDs = 1 << 16

func newIDTable() *idTable { return &idTable{ids: []string{""}, byID: map[string]uint32{"": 0}} }

func (t *idTable) intern(s string) (uint32, bool) {
	t.mu.RLock()
	i, ok := t.byID[s]
	t.mu.RUnlock()
	if ok {
		return i, true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.byID[s]; ok {
		return i, true
	}
	if len(t.ids) >= maxIDs {
		return 0, false
	}
	i = uint32(len(t.ids))
	t.ids = append(t.ids, s)
	t.byID[s] = i
	return i, true
}

func (t *idTable) name(i uint32) string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if int(i) < len(t.ids) {
		return t.ids[i]
	}
	return ""
}

// cmp orders two versions.
func (t *idTable) cmp(a, b version) int {
	switch {
	case a.t < b.t:
		return -1
	case a.t > b.t:
		return 1
	case a.n == b.n:
		return 0
	}
	return strings.Compare(t.name(a.n), t.name(b.n))
}

// hlc is a hybrid logical clock: never goes backwards, always ahead of
// every version seen (within maxSkew of the wall clock).
type hlc struct {
	mu   sync.Mutex
	last uint64
	wall func() time.Time
}

// maxSkew is how far ahead of our wall clock a peer's time may pull ours.
const maxSkew = time.Minute

func (c *hlc) tick() uint64 {
	pt := uint64(c.wall().UnixMilli()) << 16
	c.mu.Lock()
	defer c.mu.Unlock()
	if pt > c.last {
		c.last = pt
	} else {
		c.last++
	}
	return c.last
}

func (c *hlc) observe(t uint64) {
	limit := uint64(c.wall().Add(maxSkew).UnixMilli()) << 16
	if t > limit {
		return
	}
	c.mu.Lock()
	if t > c.last {
		c.last = t
	}
	c.mu.Unlock()
}

// contrib is one node's share of a counter in the current epoch: the sums
// of its increments (p) and decrements (n), both only ever growing, so
// that merging two states takes the maximum of each (a PN-counter).
type contrib struct {
	node uint32
	p, n int64
}

// keyState is what a sipht node knows about one key of a replicated table
// besides the table itself.
//
//   - ver is the version of the last set or delete (the epoch); 0 when the
//     key was only ever incremented from nothing (every node agrees on
//     that epoch, so concurrent first increments add up).
//   - base is the value written at ver (initval for an implicit counter);
//     the item's value is base plus the sum of the contributions.
//   - exp (absolute Unix seconds, 0 = never) has its own version xver.
//   - dead marks a tombstone: the key was deleted at ver.
type keyState struct {
	ver     version
	dead    bool
	base    ht.Value
	contrib []contrib
	exp     int64
	xver    version
}

// value returns the item value the state stands for.
func (s *keyState) value() ht.Value {
	if !s.base.IsInt() {
		return s.base
	}
	n := s.base.Int()
	for _, c := range s.contrib {
		n += c.p - c.n
	}
	return ht.Int(n)
}

// sum returns the net contribution of all nodes.
func (s *keyState) sum() int64 {
	var n int64
	for _, c := range s.contrib {
		n += c.p - c.n
	}
	return n
}

// expired reports whether a live state's expiry has passed.
func (s *keyState) expired(now int64) bool {
	return !s.dead && s.exp != 0 && s.exp <= now
}

func (s *keyState) clone() *keyState {
	c := *s
	c.contrib = append([]contrib(nil), s.contrib...)
	return &c
}

// addContrib adds delta to node's share.
func (s *keyState) addContrib(node uint32, delta int64) {
	for i := range s.contrib {
		if s.contrib[i].node == node {
			if delta >= 0 {
				s.contrib[i].p += delta
			} else {
				s.contrib[i].n -= delta
			}
			return
		}
	}
	c := contrib{node: node}
	if delta >= 0 {
		c.p = delta
	} else {
		c.n = -delta
	}
	s.contrib = append(s.contrib, c)
}

// mergeContrib takes, per node, the larger of each sum.
func (s *keyState) mergeContrib(in []contrib) bool {
	changed := false
	for _, c := range in {
		found := false
		for i := range s.contrib {
			if s.contrib[i].node == c.node {
				found = true
				if c.p > s.contrib[i].p {
					s.contrib[i].p, changed = c.p, true
				}
				if c.n > s.contrib[i].n {
					s.contrib[i].n, changed = c.n, true
				}
				break
			}
		}
		if !found {
			s.contrib = append(s.contrib, c)
			changed = true
		}
	}
	return changed
}

// valueRank orders values for breaking ties between states of the same
// version (which only differ when two nodes loaded different content from
// their databases): null < int < string, then by value.
func valueCmp(a, b ht.Value) int {
	rank := func(v ht.Value) int {
		switch {
		case v.IsNull():
			return 0
		case v.IsInt():
			return 1
		}
		return 2
	}
	ra, rb := rank(a), rank(b)
	switch {
	case ra != rb:
		return ra - rb
	case ra == 1:
		switch {
		case a.Int() < b.Int():
			return -1
		case a.Int() > b.Int():
			return 1
		}
		return 0
	case ra == 2:
		return strings.Compare(a.Str(), b.Str())
	}
	return 0
}

// merge folds a peer's state for a key into ours (nil: none) and returns
// the result (nil: the key does not exist, and no tombstone is needed).
// It is commutative, associative and idempotent, so nodes that exchange
// their states in any order, any number of times, end up equal:
//
//   - a state older than the table's reset floor is ignored;
//   - the newer epoch (ver) wins base, tombstone and contributions; in the
//     same epoch the contributions are merged by maximum (ties of base
//     value go to the larger value);
//   - the newer xver wins the expiry (a tie to the later expiry);
//   - a live state whose expiry has passed (after merging) is gone.
//
// Our own state is dropped first when it has expired: its generation is
// over, whatever the peer still says about it (unless the peer extended
// the expiry, which the merge then adopts).
func (ids *idTable) merge(s, in *keyState, floor version, now int64, autoexp bool) *keyState {
	if ids.cmp(in.ver, floor) < 0 {
		return s
	}
	if s != nil && s.expired(now) {
		s = nil
	}
	var out *keyState
	c := 1
	if s == nil {
		out = &keyState{}
	} else {
		out = s.clone()
		c = ids.cmp(in.ver, out.ver)
	}
	switch {
	case c > 0:
		out.ver, out.dead, out.base = in.ver, in.dead, in.base
		out.contrib = append(out.contrib[:0], in.contrib...)
	case c == 0 && in.dead != out.dead:
		// one write cannot be both a set and a delete; keep the live side
		// so that both nodes decide alike
		if out.dead {
			out.dead, out.base = false, in.base
			out.contrib = append(out.contrib[:0], in.contrib...)
		}
	case c == 0 && !out.dead:
		if valueCmp(in.base, out.base) > 0 {
			out.base = in.base
		}
		out.mergeContrib(in.contrib)
	}
	if s == nil {
		out.exp, out.xver = in.exp, in.xver
	} else if xc := ids.cmp(in.xver, out.xver); xc > 0 || (xc == 0 && in.exp > out.exp) {
		out.exp, out.xver = in.exp, in.xver
	}
	if !autoexp {
		out.exp = 0
	}
	if out.dead {
		out.base, out.contrib = ht.Value{}, nil
		return out
	}
	if out.base.IsNull() || out.expired(now) {
		return nil
	}
	return out
}

// mutationFor returns the table write that makes the item match st.
func mutationFor(st *keyState, cur ht.Item, ok bool, autoexp bool) ht.Mutation {
	if st == nil || st.dead {
		if ok {
			return ht.Mutation{Op: ht.MutDelete}
		}
		return ht.Mutation{}
	}
	v := st.value()
	exp := st.exp
	if !autoexp {
		exp = 0
	}
	if ok && cur.Value.Equal(v) && cur.Expire == exp {
		return ht.Mutation{}
	}
	return ht.Mutation{Op: ht.MutSet, Value: v, Expire: exp}
}

// ---------------------------------------------------------------------
// Digests

// nBuckets is the number of digest buckets per table.
const nBuckets = 64

func bucketOf(key string) int { return int(ht.HashString(key) % nBuckets) }

// stateHash hashes a key and its state the same way on every node (FNV-1a
// over a canonical encoding; node ids by text, contributions sorted).
func (ids *idTable) stateHash(key string, s *keyState) uint64 {
	h := fnv64{h: 14695981039346656037}
	h.str(key)
	h.u64(s.ver.t)
	h.str(ids.name(s.ver.n))
	if s.dead {
		h.u64(1)
		return h.h
	}
	h.u64(0)
	switch {
	case s.base.IsInt():
		h.u64(1)
		h.u64(uint64(s.base.Int()))
	case s.base.IsStr():
		h.u64(2)
		h.str(s.base.Str())
	}
	h.u64(uint64(s.exp))
	h.u64(s.xver.t)
	h.str(ids.name(s.xver.n))
	if len(s.contrib) > 0 {
		cs := append([]contrib(nil), s.contrib...)
		names := make(map[uint32]string, len(cs))
		for _, c := range cs {
			names[c.node] = ids.name(c.node)
		}
		sort.Slice(cs, func(i, j int) bool { return names[cs[i].node] < names[cs[j].node] })
		for _, c := range cs {
			h.str(names[c.node])
			h.u64(uint64(c.p))
			h.u64(uint64(c.n))
		}
	}
	return h.h
}

type fnv64 struct{ h uint64 }

func (f *fnv64) byte(b byte) { f.h = (f.h ^ uint64(b)) * 1099511628211 }
func (f *fnv64) u64(x uint64) {
	for i := 0; i < 8; i++ {
		f.byte(byte(x >> (8 * i)))
	}
}
func (f *fnv64) str(s string) {
	f.u64(uint64(len(s)))
	for i := 0; i < len(s); i++ {
		f.byte(s[i])
	}
}
