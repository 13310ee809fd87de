// Package dmqrepl replicates htable tables over DMQ: Kamailio 5.6's
// protocol with every node (channel "htable", JSON actions and bulk sync,
// byte for byte as Kamailio writes them), and between sipht nodes a
// state-based protocol (channel "htable_sipht") under which every change
// kind converges: last-writer-wins sets and deletes with versions and
// tombstones, exact counters (per-node contributions), replicated flushes
// and pattern removals, and anti-entropy that repairs what was lost while
// a node was away or the network was split. docs/dmq.md describes both.
package dmqrepl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/modules/dmq"
)

// Options tune a Replicator. Zero values take the defaults.
type Options struct {
	// InitSync asks the other nodes for their content once this node has
	// joined (htable's dmq_init_sync).
	InitSync bool
	// SyncInterval is how often sipht nodes compare digests of their
	// tables (anti-entropy); default 30 s, negative turns it off (joins,
	// restarts and failed sends still trigger a comparison).
	SyncInterval time.Duration
	// TombstoneTTL is how long a deleted key is remembered, so that an
	// older write arriving late cannot bring it back (default 2 h).
	TombstoneTTL time.Duration
	// MaxTombstones bounds the remembered deletes per table (default
	// 1,000,000; the oldest go first).
	MaxTombstones int
	// EventQueue bounds the changes waiting to be sent to Kamailio nodes
	// (default 65,536); beyond it changes are dropped, counted, and the
	// Kamailio nodes later get a full bulk sync.
	EventQueue int
	// MaxDirty bounds the keys waiting to be sent to sipht nodes (default
	// 200,000); beyond it a digest comparison catches up.
	MaxDirty int
	// Logger receives warnings; default: discard.
	Logger *slog.Logger
	// Now is the wall clock (tests); default time.Now.
	Now func() time.Time
	// LocalOnlyOrigin, when not zero, is the origin of local changes that
	// Kamailio does not replicate (the htable module's iterator writes):
	// they go to sipht nodes only.
	LocalOnlyOrigin ht.Origin
}

func (o *Options) defaults() {
	if o.SyncInterval == 0 {
		o.SyncInterval = 30 * time.Second
	}
	if o.TombstoneTTL <= 0 {
		o.TombstoneTTL = 2 * time.Hour
	}
	if o.MaxTombstones <= 0 {
		o.MaxTombstones = 1_000_000
	}
	if o.EventQueue <= 0 {
		o.EventQueue = 65536
	}
	if o.MaxDirty <= 0 {
		o.MaxDirty = 200_000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// maxExtBacklog bounds the extension batches queued for one node.
const maxExtBacklog = 256

// nShards splits each table's key states.
const nShards = 64

type shard struct {
	mu sync.Mutex
	m  map[string]*keyState
}

// tstate is a replicated table.
type tstate struct {
	t       *ht.Table
	name    string
	autoexp bool
	updexp  bool
	autoSec int64

	floorMu sync.Mutex
	floor   version

	shards [nShards]shard
	ntomb  atomic.Int64
}

func (ts *tstate) shard(key string) *shard { return &ts.shards[ht.HashString(key)&(nShards-1)] }

func (ts *tstate) getFloor() version {
	ts.floorMu.Lock()
	defer ts.floorMu.Unlock()
	return ts.floor
}

// kevent is a change to send to Kamailio nodes.
type kevent struct {
	act     int
	ts      *tstate
	key     string
	val     ht.Value
	ttl     int64
	pattern string
	values  bool
}

// opRec is a table-wide change for sipht nodes (reset, pattern removal).
type opRec struct {
	ts  *tstate
	ver version
	rm  bool
	m   ht.Match
}

// Replicator replicates the tables with dmqreplicate of a registry
// through a dmq module.
type Replicator struct {
	reg      *ht.Registry
	d        *dmq.Module
	kch      *dmq.Channel
	sch      *dmq.Channel
	o        Options
	log      *slog.Logger
	ids      *idTable
	self     uint32
	selfOnce sync.Once
	clk      hlc

	tables  map[string]*tstate
	byTable map[*ht.Table]*tstate
	unsub   func()

	evMu      sync.Mutex
	ev        []kevent
	evSig     chan struct{}
	kamResync atomic.Bool

	dirtyMu  sync.Mutex
	dirty    map[*tstate]map[string]struct{}
	ndirty   int
	ops      []opRec
	dirtySig chan struct{}

	xferMu  sync.Mutex
	xfers   map[xferKey]*xfer
	bulkSem chan struct{}

	aeMu   sync.Mutex
	aeWant map[*dmq.Node]bool
	aeAll  bool
	aeSig  chan struct{}

	started  atomic.Bool
	initWant atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	stats Stats
}

// Stats counts what the replicator did (all atomic).
type Stats struct {
	KamSent, KamOK, KamRejected, KamFailed    atomic.Uint64 // Kamailio-format requests and their outcomes
	KamDropped                                atomic.Uint64 // changes dropped from a full event queue
	KamReceived, KamBad, KamUnknownTable      atomic.Uint64 // Kamailio-format requests received, 400s, 500s for unknown tables
	KamApplyFailed                            atomic.Uint64 // other 500s
	CellsApplied, CellsSkipped                atomic.Uint64 // bulk cells
	ExtSent, ExtFailed, ExtReceived, ExtBad   atomic.Uint64 // extension bodies
	StatesSent, StatesApplied, RecordsSkipped atomic.Uint64 // extension records
	DirtyDropped                              atomic.Uint64
	Digests, DigestMismatch, Pulls, BulkSyncs atomic.Uint64
	TombstonesGCed                            atomic.Uint64
	LastSyncNanos                             atomic.Int64 // duration of the last full state send
}

// New prepares replication of reg's tables with dmqreplicate through d.
// It registers the "htable" and "htable_sipht" channels, so it must be
// called during Init (before d starts).
func New(reg *ht.Registry, d *dmq.Module, o Options) (*Replicator, error) {
	o.defaults()
	r := &Replicator{
		reg: reg, d: d, o: o, log: o.Logger, ids: newIDTable(),
		clk:      hlc{wall: o.Now},
		tables:   map[string]*tstate{},
		byTable:  map[*ht.Table]*tstate{},
		evSig:    make(chan struct{}, 1),
		dirty:    map[*tstate]map[string]struct{}{},
		dirtySig: make(chan struct{}, 1),
		aeWant:   map[*dmq.Node]bool{},
		xfers:    map[xferKey]*xfer{},
		bulkSem:  make(chan struct{}, maxTransfers),
		aeSig:    make(chan struct{}, 1),
	}
	for _, t := range reg.Tables() {
		def := t.Def()
		if def.DMQReplicate == 0 {
			continue
		}
		ts := &tstate{t: t, name: def.Name, autoexp: def.AutoExpire > 0, updexp: def.UpdateExpire != 0, autoSec: int64(def.AutoExpire)}
		for i := range ts.shards {
			ts.shards[i].m = map[string]*keyState{}
		}
		r.tables[def.Name] = ts
		r.byTable[t] = ts
	}
	var err error
	r.kch, err = d.Register(dmq.Peer{Channel: "htable", Description: "htable", Handle: r.handleKamailio, OnInit: r.onInit, OnNodeUp: r.onNodeUp})
	if err != nil {
		return nil, err
	}
	if d.Extensions() {
		r.sch, err = d.Register(dmq.Peer{Channel: ExtChannel, Description: "htable (sipht extension)", Handle: r.handleExt})
		if err != nil {
			return nil, err
		}
	}
	r.unsub = reg.Subscribe(r.onChange)
	return r, nil
}

// Tables returns the names of the replicated tables.
func (r *Replicator) Tables() []string {
	out := make([]string, 0, len(r.tables))
	for n := range r.tables {
		out = append(out, n)
	}
	return out
}

// Stats returns the replicator's counters.
func (r *Replicator) Stats() *Stats { return &r.stats }

// Start starts the senders and the anti-entropy loop. The dmq module must
// be started (its node id is known then).
func (r *Replicator) Start(ctx context.Context) error {
	r.selfID()
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.started.Store(true)
	r.wg.Add(3)
	go r.kamLoop()
	go r.extLoop()
	go r.aeLoop()
	if r.initWant.Load() {
		r.onInit()
	}
	return nil
}

// Stop stops the loops and the change subscription.
func (r *Replicator) Stop() {
	if r.unsub != nil {
		r.unsub()
	}
	if !r.started.Swap(false) {
		return
	}
	r.cancel()
	r.wg.Wait()
}

func (r *Replicator) now() int64 { return r.o.Now().Unix() }

// selfID returns this node's id ("sip:host:port#incarnation"), interned on
// first use: the dmq module must have been initialised (every module's
// Init runs before any change can be made or received).
func (r *Replicator) selfID() uint32 {
	r.selfOnce.Do(func() {
		self := r.d.Self()
		r.self, _ = r.ids.intern(self.URI.String() + "#" + r.d.Incarnation())
	})
	return r.self
}

// tick returns a new version written by this node.
func (r *Replicator) tick() version { return version{t: r.clk.tick(), n: r.selfID()} }

// ---------------------------------------------------------------------
// Local changes

// onChange sees every change of every table (under the key's slot lock):
// it keeps the key states and queues what has to be sent.
func (r *Replicator) onChange(c *ht.Change) {
	ts := r.byTable[c.Table]
	if ts == nil {
		return
	}
	switch c.Origin {
	case ht.OriginLocal:
		r.localChange(ts, c, true)
	case ht.OriginRemote:
		// single-key changes from peers were merged by applyState; the
		// bulk ones still need their states adjusted
		switch c.Op {
		case ht.OpRemoved:
			r.tombstone(ts, c.Key, r.tick())
		case ht.OpReset:
			r.clearTable(ts)
		}
	default:
		if r.o.LocalOnlyOrigin != 0 && c.Origin == r.o.LocalOnlyOrigin {
			r.localChange(ts, c, false)
			return
		}
		// loads from a database
		switch c.Op {
		case ht.OpReplace:
			r.clearTable(ts)
		case ht.OpImport, ht.OpSet, ht.OpDelete, ht.OpAdd:
			sh := ts.shard(c.Key)
			sh.mu.Lock()
			r.dropLocked(ts, sh, c.Key)
			sh.mu.Unlock()
		}
	}
}

// localChange records a change made on this node; kam tells whether
// Kamailio nodes get it too.
func (r *Replicator) localChange(ts *tstate, c *ht.Change, kam bool) {
	now := r.now()
	queueKam := func(e kevent) {
		if kam {
			r.queueKam(e)
		}
	}
	switch c.Op {
	case ht.OpSet, ht.OpImport:
		v := r.tick()
		r.setState(ts, c.Key, &keyState{ver: v, base: c.Value, exp: c.Expire, xver: v})
		r.markDirty(ts, c.Key)
		queueKam(kevent{act: ActSetCell, ts: ts, key: c.Key, val: c.Value})
		if c.Op == ht.OpSet && c.TTL > 0 {
			queueKam(kevent{act: ActSetCellExpire, ts: ts, key: c.Key, ttl: c.TTL})
		}
	case ht.OpAdd:
		r.addState(ts, c, now)
		r.markDirty(ts, c.Key)
		queueKam(kevent{act: ActSetCell, ts: ts, key: c.Key, val: c.Value})
	case ht.OpDelete:
		r.tombstone(ts, c.Key, r.tick())
		r.markDirty(ts, c.Key)
		queueKam(kevent{act: ActDelCell, ts: ts, key: c.Key})
	case ht.OpSetExpire:
		queueKam(kevent{act: ActSetCellExpire, ts: ts, key: c.Key, ttl: c.TTL})
		if c.Applied {
			sh := ts.shard(c.Key)
			sh.mu.Lock()
			s := sh.m[c.Key]
			if s == nil {
				// known only to the table (loaded from a database): the
				// value is filled in when the state is read for sending
				s = &keyState{}
				sh.m[c.Key] = s
			}
			s.exp, s.xver = c.Expire, r.tick()
			sh.mu.Unlock()
			r.markDirty(ts, c.Key)
		}
	case ht.OpRemoved:
		r.tombstone(ts, c.Key, r.tick())
		r.markDirty(ts, c.Key)
		switch c.Match.Op {
		case ht.MatchRegex, ht.MatchPrefix:
			// Kamailio nodes get the pattern (OpRemoveMatch)
		default:
			// Kamailio 5.6 cannot replay these operators: it gets the
			// keys one by one
			queueKam(kevent{act: ActDelCell, ts: ts, key: c.Key})
		}
	case ht.OpRemoveMatch:
		switch c.Match.Op {
		case ht.MatchRegex:
			queueKam(kevent{act: ActRmCellRe, ts: ts, pattern: c.Match.Pattern, values: c.Match.Values})
		case ht.MatchPrefix:
			queueKam(kevent{act: ActRmCellSw, ts: ts, pattern: c.Match.Pattern, values: c.Match.Values})
		}
		r.queueOp(opRec{ts: ts, ver: r.tick(), rm: true, m: c.Match})
	case ht.OpReset:
		v := r.tick()
		r.clearTable(ts)
		ts.floorMu.Lock()
		if r.ids.cmp(v, ts.floor) > 0 {
			ts.floor = v
		}
		ts.floorMu.Unlock()
		r.queueOp(opRec{ts: ts, ver: v})
	case ht.OpExpired, ht.OpEvicted:
		sh := ts.shard(c.Key)
		sh.mu.Lock()
		if s := sh.m[c.Key]; s != nil && !s.dead {
			delete(sh.m, c.Key)
		}
		sh.mu.Unlock()
	case ht.OpReplace:
		r.clearTable(ts)
	}
}

// setState replaces a key's state.
func (r *Replicator) setState(ts *tstate, key string, s *keyState) {
	sh := ts.shard(key)
	sh.mu.Lock()
	if old := sh.m[key]; old != nil && old.dead {
		ts.ntomb.Add(-1)
	}
	sh.m[key] = s
	sh.mu.Unlock()
}

// addState records a local increment (Kamailio's $shtinc/$shtdec).
func (r *Replicator) addState(ts *tstate, c *ht.Change, now int64) {
	sh := ts.shard(c.Key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.m[c.Key]
	tick := r.tick()
	if s == nil || s.dead || s.expired(now) || !s.base.IsInt() {
		// a new generation of the counter, started from initval (or from
		// a value the table had without us knowing its history)
		epoch := ts.getFloor()
		if s != nil && r.ids.cmp(s.ver, epoch) > 0 {
			epoch = s.ver
		}
		if s != nil && s.dead {
			ts.ntomb.Add(-1)
		}
		ns := &keyState{ver: epoch, base: ht.Int(c.Value.Int() - c.Delta), exp: c.Expire, xver: tick}
		ns.addContrib(r.selfID(), c.Delta)
		sh.m[c.Key] = ns
		return
	}
	s.addContrib(r.selfID(), c.Delta)
	if s.value().Int() != c.Value.Int() {
		s.base = ht.Int(c.Value.Int() - s.sum())
	}
	if c.Expire != s.exp {
		s.exp, s.xver = c.Expire, tick
	}
}

// tombstone marks key deleted at v.
func (r *Replicator) tombstone(ts *tstate, key string, v version) {
	sh := ts.shard(key)
	sh.mu.Lock()
	if old := sh.m[key]; old == nil || !old.dead {
		ts.ntomb.Add(1)
	}
	sh.m[key] = &keyState{ver: v, dead: true, xver: v}
	sh.mu.Unlock()
}

func (r *Replicator) dropLocked(ts *tstate, sh *shard, key string) {
	if s := sh.m[key]; s != nil {
		if s.dead {
			ts.ntomb.Add(-1)
		}
		delete(sh.m, key)
	}
}

// clearTable forgets every key state of a table.
func (r *Replicator) clearTable(ts *tstate) {
	for i := range ts.shards {
		sh := &ts.shards[i]
		sh.mu.Lock()
		clear(sh.m)
		sh.mu.Unlock()
	}
	ts.ntomb.Store(0)
}

// ---------------------------------------------------------------------
// Queues

func (r *Replicator) queueKam(e kevent) {
	r.evMu.Lock()
	if len(r.ev) >= r.o.EventQueue {
		r.evMu.Unlock()
		r.stats.KamDropped.Add(1)
		r.kamResync.Store(true)
		return
	}
	r.ev = append(r.ev, e)
	r.evMu.Unlock()
	select {
	case r.evSig <- struct{}{}:
	default:
	}
}

func (r *Replicator) markDirty(ts *tstate, key string) {
	if r.sch == nil {
		return
	}
	r.dirtyMu.Lock()
	m := r.dirty[ts]
	if m == nil {
		m = map[string]struct{}{}
		r.dirty[ts] = m
	}
	if _, dup := m[key]; !dup {
		if r.ndirty >= r.o.MaxDirty {
			r.dirtyMu.Unlock()
			r.stats.DirtyDropped.Add(1)
			r.wantAE(nil)
			return
		}
		m[key] = struct{}{}
		r.ndirty++
	}
	r.dirtyMu.Unlock()
	select {
	case r.dirtySig <- struct{}{}:
	default:
	}
}

func (r *Replicator) queueOp(op opRec) {
	if r.sch == nil {
		return
	}
	r.dirtyMu.Lock()
	if len(r.ops) < 4096 {
		r.ops = append(r.ops, op)
	} else {
		r.stats.DirtyDropped.Add(1)
		r.dirtyMu.Unlock()
		r.wantAE(nil)
		return
	}
	r.dirtyMu.Unlock()
	select {
	case r.dirtySig <- struct{}{}:
	default:
	}
}

// ---------------------------------------------------------------------
// Sending to Kamailio nodes

// kamTargets returns the active nodes that get Kamailio's format: those
// not known to be sipht nodes.
func (r *Replicator) kamTargets() []dmq.Target {
	var out []dmq.Target
	for _, t := range r.d.Active() {
		if r.sch == nil || !t.Info.Sipht {
			out = append(out, t)
		}
	}
	return out
}

func (r *Replicator) kamLoop() {
	defer r.wg.Done()
	var buf []kevent
	var body []byte
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.evSig:
		}
		r.evMu.Lock()
		buf, r.ev = r.ev, buf[:0]
		r.evMu.Unlock()
		targets := r.kamTargets()
		if len(targets) > 0 {
			for i := range buf {
				e := &buf[i]
				body = encodeEvent(body[:0], e)
				b := append([]byte(nil), body...)
				key := "*" // pattern removals are barriers
				if e.key != "" {
					key = e.ts.name + "\x00" + e.key
				}
				for _, t := range targets {
					r.stats.KamSent.Add(1)
					r.kch.Send(t.Node, b, "application/json", dmq.SendOptions{Done: r.kamDone, Key: key})
				}
			}
		}
		clear(buf)
		buf = buf[:0]
		if r.kamResync.Swap(false) && len(targets) > 0 {
			for _, t := range targets {
				r.sendCells(t.Node, "")
			}
		}
	}
}

func encodeEvent(b []byte, e *kevent) []byte {
	switch e.act {
	case ActSetCell:
		return appendSetCell(b, e.ts.name, e.key, e.val)
	case ActSetCellExpire:
		return appendSetExpire(b, e.ts.name, e.key, e.ttl)
	case ActDelCell:
		return appendDelCell(b, e.ts.name, e.key)
	case ActRmCellRe, ActRmCellSw:
		return appendRm(b, e.act, e.ts.name, e.pattern, e.values)
	}
	return b
}

func (r *Replicator) kamDone(n *dmq.Node, code int, res *sip.Response, err error) {
	switch {
	case errors.Is(err, dmq.ErrQueueFull):
		r.stats.KamFailed.Add(1)
		r.kamResync.Store(true)
	case err != nil || code == 408:
		r.stats.KamFailed.Add(1)
	case code >= 200 && code < 300:
		r.stats.KamOK.Add(1)
	default:
		r.stats.KamRejected.Add(1)
		r.log.Warn("a DMQ node rejected an htable change", "node", r.d.Info(n).URI.String(), "code", code)
	}
}

// sendCells sends a node the content of one table (or all replicated
// tables) in Kamailio's bulk-sync format (Kamailio's ht_dmq_send_sync), in
// the background. Items of autoexpire tables made never-expiring are
// included with expire 0 (Kamailio skips them).
func (r *Replicator) sendCells(n *dmq.Node, table string) {
	if !r.started.Load() {
		return
	}
	r.schedule(xferKey{n: n, table: table, kam: true}, 1, func(uint64) {
		start := time.Now()
		r.stats.BulkSyncs.Add(1)
		tx := r.bulkSender(r.kch, n, "application/json", false)
		w := &cellWriter{flush: tx.send}
		for _, ts := range r.tables {
			if table != "" && ts.name != table {
				continue
			}
			ts.t.Export(func(it ht.Item) error { return w.add(ts.name, &it) })
		}
		w.final()
		tx.wait()
		r.stats.LastSyncNanos.Store(int64(time.Since(start)))
	})
}

// ---------------------------------------------------------------------
// Sending to sipht nodes

func (r *Replicator) siphtTargets() []dmq.Target {
	if r.sch == nil {
		return nil
	}
	var out []dmq.Target
	for _, t := range r.d.Active() {
		if t.Info.Sipht {
			out = append(out, t)
		}
	}
	return out
}

func (r *Replicator) extLoop() {
	defer r.wg.Done()
	w := newExtWriter(r.ids)
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.dirtySig:
		}
		r.dirtyMu.Lock()
		dirty, ops := r.dirty, r.ops
		r.dirty, r.ops, r.ndirty = map[*tstate]map[string]struct{}{}, nil, 0
		r.dirtyMu.Unlock()
		targets := r.siphtTargets()
		if len(targets) == 0 {
			continue
		}
		send := func(body []byte) {
			if body == nil {
				return
			}
			for _, t := range targets {
				if r.d.QueueLen(t.Node) >= maxExtBacklog {
					// the node does not keep up: stop piling up batches
					// (up to 60 KB each) and repair by digest later
					r.stats.DirtyDropped.Add(1)
					r.wantAE(t.Node)
					continue
				}
				r.sendExt(t.Node, body)
			}
		}
		for _, op := range ops {
			if op.rm {
				w.rm(op.ts.name, op.m, op.ver)
			} else {
				w.resetRec(op.ts.name, op.ver)
			}
			if w.full() {
				send(w.body())
			}
		}
		for ts, keys := range dirty {
			for k := range keys {
				if st, ok := r.snapshot(ts, k); ok {
					w.state(ts.name, k, st)
					r.stats.StatesSent.Add(1)
					if w.full() {
						send(w.body())
					}
				}
			}
		}
		send(w.body())
	}
}

func (r *Replicator) sendExt(n *dmq.Node, body []byte) {
	r.stats.ExtSent.Add(1)
	r.sch.Send(n, body, ExtContentType, dmq.SendOptions{PreferTCP: true, Done: r.extDone})
}

func (r *Replicator) extDone(n *dmq.Node, code int, res *sip.Response, err error) {
	if err == nil && code >= 200 && code < 300 {
		return
	}
	r.stats.ExtFailed.Add(1)
	if errors.Is(err, dmq.ErrNotRunning) {
		return
	}
	// lost or refused: compare digests with that node soon
	r.wantAE(n)
}

// snapshot reads a key's state together with the table's item, under the
// key's slot lock, repairing the state from the item where they differ
// (a value the state does not know, such as a database load).
func (r *Replicator) snapshot(ts *tstate, key string) (*keyState, bool) {
	var st *keyState
	ts.t.As(ht.OriginRemote).Update(key, func(cur ht.Item, live bool) ht.Mutation {
		sh := ts.shard(key)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		s := sh.m[key]
		switch {
		case s != nil && s.dead:
			st = s.clone()
		case live:
			if s == nil {
				st = &keyState{base: cur.Value, exp: cur.Expire}
				return ht.Mutation{}
			}
			repair(s, cur)
			st = s.clone()
		}
		return ht.Mutation{}
	})
	return st, st != nil
}

// repair makes a live state agree with the table's item.
func repair(s *keyState, cur ht.Item) {
	if cur.Value.IsInt() {
		if !s.base.IsInt() {
			s.base, s.contrib = cur.Value, nil
		} else if s.value().Int() != cur.Value.Int() {
			s.base = ht.Int(cur.Value.Int() - s.sum())
		}
	} else if !s.base.Equal(cur.Value) {
		s.base, s.contrib = cur.Value, nil
	}
	s.exp = cur.Expire
}

// ---------------------------------------------------------------------
// Init sync, sync RPCs

func (r *Replicator) onInit() {
	if !r.started.Load() {
		r.initWant.Store(true)
		return
	}
	r.initWant.Store(false)
	if !r.o.InitSync {
		return
	}
	r.requestSync("")
}

// requestSync asks the other nodes for their content: Kamailio nodes with
// {"action":1} (as Kamailio's dmq_init_sync and htable.dmqsync), sipht
// nodes with a digest comparison.
func (r *Replicator) requestSync(table string) int {
	n := 0
	body := appendSync(nil, table)
	for _, t := range r.kamTargets() {
		if r.kch.Send(t.Node, body, "application/json", dmq.SendOptions{Done: r.kamDone}) == nil {
			r.stats.KamSent.Add(1)
			n++
		}
	}
	for _, t := range r.siphtTargets() {
		r.sendDigest(t.Node, table)
		n++
	}
	return n
}

// ErrSyncFailed is returned by Sync and Resync when nothing could be sent
// (Kamailio's "HTable DMQ Sync Failed").
var ErrSyncFailed = errors.New("HTable DMQ Sync Failed")

// Sync asks every node for the content of table ("" = every replicated
// table): htable.dmqsync.
func (r *Replicator) Sync(table string) error {
	if !r.started.Load() {
		return ErrSyncFailed
	}
	if table != "" && r.tables[table] == nil {
		return fmt.Errorf("table %q is not replicated (dmqreplicate=1)", table)
	}
	r.requestSync(table)
	return nil
}

// Resync empties table locally (without replicating that) and asks every
// node for its content: htable.dmqresync.
func (r *Replicator) Resync(table string) error {
	if !r.started.Load() {
		return ErrSyncFailed
	}
	ts := r.tables[table]
	if ts == nil {
		return fmt.Errorf("table %q is not replicated (dmqreplicate=1)", table)
	}
	ts.t.As(ht.OriginRemote).Reset()
	r.clearTable(ts)
	r.requestSync(table)
	return nil
}

func (r *Replicator) onNodeUp(n dmq.NodeInfo) {
	if !n.Sipht || r.sch == nil {
		return
	}
	for _, t := range r.d.Active() {
		if t.Info.URI.SameNode(&n.URI) {
			r.wantAE(t.Node)
		}
	}
}
