package dmqrepl

import (
	"context"
	"sort"
	"sync"
	"time"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/modules/dmq"
)

// Anti-entropy between sipht nodes: a node sends its digest of each
// replicated table (reset floor + 64 bucket sums of key-state hashes); the
// receiver adopts a newer floor (or sends its own), and for every bucket
// that differs sends its states of that bucket and asks for the sender's.
// Both sides then merge; merges commute, so both end equal. This runs
// every SyncInterval, when a sipht node becomes active or restarts, at
// init sync, and after a message to a node was lost.

// wantAE asks for a digest exchange with n (nil: with every sipht node).
func (r *Replicator) wantAE(n *dmq.Node) {
	r.aeMu.Lock()
	if n == nil {
		r.aeAll = true
	} else {
		r.aeWant[n] = true
	}
	r.aeMu.Unlock()
	select {
	case r.aeSig <- struct{}{}:
	default:
	}
}

// aeMinGap is the least time between two digests sent to one node for a
// triggered (not periodic) exchange.
const aeMinGap = 500 * time.Millisecond

func (r *Replicator) aeLoop() {
	defer r.wg.Done()
	tk := time.NewTicker(min(max(r.o.SyncInterval, 100*time.Millisecond), time.Second))
	defer tk.Stop()
	lastRound := time.Now()
	lastGC := time.Now()
	gcEvery := min(r.o.TombstoneTTL/10, time.Minute)
	lastSent := map[*dmq.Node]time.Time{}
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tk.C:
		case <-r.aeSig:
		}
		now := time.Now()
		all := false
		if r.o.SyncInterval > 0 && now.Sub(lastRound) >= r.o.SyncInterval {
			all, lastRound = true, now
		}
		r.aeMu.Lock()
		want := r.aeWant
		r.aeWant = map[*dmq.Node]bool{}
		if r.aeAll {
			all, r.aeAll = true, false
		}
		r.aeMu.Unlock()
		self := r.d.Self().URI.String()
		for _, t := range r.siphtTargets() {
			// periodic rounds: one side of each pair starts them (the
			// other answers), so that they do not both transfer the
			// same differences
			periodic := all && !want[t.Node]
			if periodic && t.Info.URI.String() < self {
				continue
			}
			if !all && !want[t.Node] {
				continue
			}
			if !all && now.Sub(lastSent[t.Node]) < aeMinGap {
				r.aeMu.Lock()
				r.aeWant[t.Node] = true // later
				r.aeMu.Unlock()
				continue
			}
			lastSent[t.Node] = now
			r.sendDigest(t.Node, "")
		}
		if len(lastSent) > 1024 {
			clear(lastSent)
		}
		if now.Sub(lastGC) >= gcEvery {
			lastGC = now
			r.gc()
		}
	}
}

// digest computes a table's floor and bucket sums.
func (r *Replicator) digest(ts *tstate) (version, [nBuckets]uint64) {
	var d [nBuckets]uint64
	floor := ts.getFloor()
	ts.t.Export(func(it ht.Item) error {
		sh := ts.shard(it.Key)
		sh.mu.Lock()
		s := sh.m[it.Key]
		var st keyState
		if s == nil || s.dead {
			st = keyState{base: it.Value, exp: it.Expire}
		} else {
			st = *s.clone()
			repair(&st, it)
		}
		h := r.ids.stateHash(it.Key, &st)
		sh.mu.Unlock()
		d[bucketOf(it.Key)] += h
		return nil
	})
	for i := range ts.shards {
		sh := &ts.shards[i]
		sh.mu.Lock()
		for k, s := range sh.m {
			if s.dead {
				d[bucketOf(k)] += r.ids.stateHash(k, s)
			}
		}
		sh.mu.Unlock()
	}
	return floor, d
}

// sendDigest sends node n our digest of one table ("" = all).
func (r *Replicator) sendDigest(n *dmq.Node, table string) {
	if r.sch == nil {
		return
	}
	w := newExtWriter(r.ids)
	for _, ts := range r.tables {
		if table != "" && ts.name != table {
			continue
		}
		floor, d := r.digest(ts)
		w.digest(ts.name, floor, &d)
		if w.full() {
			r.sendExt(n, w.body())
		}
	}
	if b := w.body(); b != nil {
		r.stats.Digests.Add(1)
		r.sendExt(n, b)
	}
}

// onDigest compares a peer's digest with ours.
func (r *Replicator) onDigest(n *dmq.Node, ts *tstate, rec *record) {
	mine := ts.getFloor()
	switch c := r.ids.cmp(rec.floor, mine); {
	case c > 0:
		r.applyReset(ts, rec.floor)
	case c < 0:
		w := newExtWriter(r.ids)
		w.resetRec(ts.name, mine)
		r.sendExt(n, w.body())
	}
	_, d := r.digest(ts)
	var bits uint64
	for i := range d {
		if d[i] != rec.dig[i] {
			bits |= 1 << i
		}
	}
	if bits == 0 {
		return
	}
	r.stats.DigestMismatch.Add(1)
	w := newExtWriter(r.ids)
	w.pull(ts.name, bits)
	r.sendExt(n, w.body())
	r.sendBuckets(n, ts, bits)
}

// maxTransfers bounds the concurrent bulk transfers (sync answers) of a
// replicator.
const maxTransfers = 4

// xferKey names a transfer: to a node, of one table ("" for Kamailio's
// all-tables sync).
type xferKey struct {
	n     *dmq.Node
	table string
	kam   bool
}

type xfer struct {
	bits    uint64 // buckets still to send (sipht)
	cur     uint64 // buckets of the transfer running now
	running bool
}

// schedule runs job for key now, or, when a transfer for key is already
// running, once more after it for the buckets the running one does not
// cover: a node that keeps asking (digest rounds, retries) never gets
// several copies of the same data at once.
func (r *Replicator) schedule(k xferKey, bits uint64, job func(bits uint64)) {
	r.xferMu.Lock()
	x := r.xfers[k]
	if x == nil {
		x = &xfer{}
		r.xfers[k] = x
	}
	x.bits |= bits &^ x.cur
	if x.running {
		r.xferMu.Unlock()
		return
	}
	x.running = true
	r.xferMu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			r.xferMu.Lock()
			b := x.bits
			x.bits, x.cur = 0, b
			if b == 0 {
				x.running = false
				delete(r.xfers, k)
				r.xferMu.Unlock()
				return
			}
			r.xferMu.Unlock()
			select {
			case r.bulkSem <- struct{}{}:
			case <-r.ctx.Done():
				return
			}
			job(b)
			<-r.bulkSem
		}
	}()
}

// sendBuckets sends node n our states of the keys in the given buckets
// (tombstones included), in the background, a few messages in flight.
func (r *Replicator) sendBuckets(n *dmq.Node, ts *tstate, bits uint64) {
	if !r.started.Load() {
		return
	}
	r.schedule(xferKey{n: n, table: ts.name}, bits, func(bits uint64) { r.transferBuckets(n, ts, bits) })
}

func (r *Replicator) transferBuckets(n *dmq.Node, ts *tstate, bits uint64) {
	start := time.Now()
	tx := r.bulkSender(r.sch, n, ExtContentType, true)
	w := newExtWriter(r.ids)
	in := func(k string) bool { return bits&(1<<bucketOf(k)) != 0 }
	ts.t.Export(func(it ht.Item) error {
		if !in(it.Key) {
			return nil
		}
		if st, ok := r.snapshot(ts, it.Key); ok && !st.dead {
			w.state(ts.name, it.Key, st)
			r.stats.StatesSent.Add(1)
			if w.full() {
				return tx.send(w.body())
			}
		}
		return nil
	})
	type tomb struct {
		k string
		s *keyState
	}
	var tombs []tomb
	for i := range ts.shards {
		sh := &ts.shards[i]
		sh.mu.Lock()
		for k, s := range sh.m {
			if s.dead && in(k) {
				tombs = append(tombs, tomb{k, s.clone()})
			}
		}
		sh.mu.Unlock()
	}
	for _, t := range tombs {
		w.state(ts.name, t.k, t.s)
		if w.full() {
			tx.send(w.body())
		}
	}
	tx.send(w.body())
	tx.wait()
	r.stats.LastSyncNanos.Store(int64(time.Since(start)))
}

// bulkTx sends a series of bodies to one node with a few in flight,
// waiting for the replies (bounded memory, unlike queueing them all).
type bulkTx struct {
	r    *Replicator
	ch   *dmq.Channel
	n    *dmq.Node
	ct   string
	tcp  bool
	win  chan struct{}
	wg   sync.WaitGroup
	fail bool
	mu   sync.Mutex
}

func (r *Replicator) bulkSender(ch *dmq.Channel, n *dmq.Node, ct string, tcp bool) *bulkTx {
	return &bulkTx{r: r, ch: ch, n: n, ct: ct, tcp: tcp, win: make(chan struct{}, 4)}
}

func (b *bulkTx) send(body []byte) error {
	if body == nil {
		return nil
	}
	select {
	case b.win <- struct{}{}:
	case <-b.r.ctx.Done():
		return context.Canceled
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() { <-b.win }()
		code, _, err := b.ch.Do(b.r.ctx, b.n, body, b.ct, dmq.SendOptions{PreferTCP: b.tcp})
		if b.ch == b.r.sch {
			b.r.stats.ExtSent.Add(1)
		} else {
			b.r.stats.KamSent.Add(1)
		}
		if err != nil || code < 200 || code >= 300 {
			b.mu.Lock()
			b.fail = true
			b.mu.Unlock()
			if b.ch == b.r.sch {
				b.r.stats.ExtFailed.Add(1)
			} else {
				b.r.kamDone(b.n, code, nil, err)
			}
		} else if b.ch != b.r.sch {
			b.r.stats.KamOK.Add(1)
		}
	}()
	return nil
}

func (b *bulkTx) wait() { b.wg.Wait() }

// gc forgets tombstones older than TombstoneTTL (by the delete's own
// time, the same on every node), the oldest beyond MaxTombstones, and
// states of items long expired.
func (r *Replicator) gc() {
	now := r.o.Now()
	cutoff := now.Add(-r.o.TombstoneTTL).UnixMilli()
	sec := now.Unix()
	for _, ts := range r.tables {
		for i := range ts.shards {
			sh := &ts.shards[i]
			sh.mu.Lock()
			for k, s := range sh.m {
				switch {
				case s.dead && s.ver.ms() < cutoff:
					delete(sh.m, k)
					ts.ntomb.Add(-1)
					r.stats.TombstonesGCed.Add(1)
				case !s.dead && s.exp != 0 && s.exp < sec-60:
					delete(sh.m, k)
				}
			}
			sh.mu.Unlock()
		}
		if excess := ts.ntomb.Load() - int64(r.o.MaxTombstones); excess > 0 {
			type tomb struct {
				k  string
				ms int64
			}
			var all []tomb
			for i := range ts.shards {
				sh := &ts.shards[i]
				sh.mu.Lock()
				for k, s := range sh.m {
					if s.dead {
						all = append(all, tomb{k, s.ver.ms()})
					}
				}
				sh.mu.Unlock()
			}
			sort.Slice(all, func(i, j int) bool { return all[i].ms < all[j].ms })
			for _, t := range all[:min(int(excess), len(all))] {
				sh := ts.shard(t.k)
				sh.mu.Lock()
				if s := sh.m[t.k]; s != nil && s.dead {
					delete(sh.m, t.k)
					ts.ntomb.Add(-1)
					r.stats.TombstonesGCed.Add(1)
				}
				sh.mu.Unlock()
			}
		}
	}
}
