package dmqrepl

import (
	"bytes"
	"errors"
	"regexp"

	ht "github.com/sipht/sipht/htable"
	"github.com/sipht/sipht/modules/dmq"
)

// Replies of Kamailio's htable DMQ handler (ht_dmq.c).
var (
	resp200 = dmq.Response{Code: 200, Reason: "OK"}
	resp400 = dmq.Response{Code: 400, Reason: "Bad Request"}
	resp500 = dmq.Response{Code: 500, Reason: "Server Internal Error"}
)

// handleKamailio handles a request on the "htable" channel as Kamailio
// 5.6's ht_dmq_handle_msg does: a bulk sync is applied cell by cell and
// always answered 200; a single action is replayed (200), or refused as
// malformed (400) or not applicable (500: unknown table or action).
func (r *Replicator) handleKamailio(req *dmq.Request) dmq.Response {
	r.stats.KamReceived.Add(1)
	bulk, a, cells, err := decodeKamailio(req.Body)
	if err != nil {
		r.stats.KamBad.Add(1)
		r.log.Debug("bad htable DMQ body", "from", req.From.String(), "err", err)
		return resp400
	}
	if bulk {
		r.applyCells(cells)
		return resp200
	}
	if a.Action == ActSync {
		r.answerSync(req, a.HTName)
		return resp200
	}
	t := r.reg.Table(a.HTName)
	if t == nil {
		r.stats.KamUnknownTable.Add(1)
		r.log.Debug("htable DMQ change for an unknown table", "table", a.HTName, "from", req.From.String())
		return resp500
	}
	if err := r.applyAction(t, r.tables[a.HTName], &a); err != nil {
		r.stats.KamApplyFailed.Add(1)
		r.log.Debug("htable DMQ change not applied", "table", a.HTName, "action", a.Action, "err", err)
		return resp500
	}
	return resp200
}

var errUnknownAction = errors.New("unrecognized action")

// applyAction replays one Kamailio action on t (ts is nil for a table that
// is not replicated from here: it is still written, as Kamailio does).
func (r *Replicator) applyAction(t *ht.Table, ts *tstate, a *action) error {
	def := t.Def()
	autoSec := int64(def.AutoExpire)
	w := t.As(ht.OriginRemote)
	switch a.Action {
	case ActSetCell:
		v := valueOf(a.Type, a.Str, a.Int)
		_, err := w.Update(a.CName, func(cur ht.Item, live bool) ht.Mutation {
			now := r.now()
			var exp int64
			switch {
			case autoSec == 0:
			case !live || def.UpdateExpire != 0:
				exp = now + autoSec
			default:
				exp = cur.Expire
			}
			if ts != nil {
				tick := r.tick()
				r.putLocked(ts, a.CName, &keyState{ver: tick, base: v, exp: exp, xver: tick})
			}
			return ht.Mutation{Op: ht.MutSet, Value: v, Expire: exp}
		})
		return err
	case ActSetCellExpire:
		if a.Type&typeStr != 0 || autoSec == 0 {
			return nil // Kamailio ignores these
		}
		_, err := w.Update(a.CName, func(cur ht.Item, live bool) ht.Mutation {
			if !live {
				return ht.Mutation{}
			}
			var exp int64
			if a.Int > 0 {
				exp = r.now() + a.Int
			}
			if ts != nil {
				sh := ts.shard(a.CName)
				sh.mu.Lock()
				s := sh.m[a.CName]
				if s == nil || s.dead {
					s = &keyState{base: cur.Value}
					sh.m[a.CName] = s
				}
				s.exp, s.xver = exp, r.tick()
				sh.mu.Unlock()
			}
			return ht.Mutation{Op: ht.MutSet, Value: cur.Value, Expire: exp}
		})
		return err
	case ActDelCell:
		_, err := w.Update(a.CName, func(cur ht.Item, live bool) ht.Mutation {
			if ts != nil {
				tick := r.tick()
				r.putLocked(ts, a.CName, &keyState{ver: tick, dead: true, xver: tick})
			}
			return ht.Mutation{Op: ht.MutDelete}
		})
		return err
	case ActRmCellRe, ActRmCellSw:
		op := ht.MatchRegex
		if a.Action == ActRmCellSw {
			op = ht.MatchPrefix
		}
		var err error
		if a.Mode != 0 {
			_, err = w.RemoveValues(op, a.Str)
		} else {
			_, err = w.RemoveNames(op, a.Str)
		}
		return err
	}
	return errUnknownAction
}

// putLocked stores a key state, keeping the tombstone count.
func (r *Replicator) putLocked(ts *tstate, key string, s *keyState) {
	sh := ts.shard(key)
	sh.mu.Lock()
	old := sh.m[key]
	switch {
	case (old == nil || !old.dead) && s.dead:
		ts.ntomb.Add(1)
	case old != nil && old.dead && !s.dead:
		ts.ntomb.Add(-1)
	}
	sh.m[key] = s
	sh.mu.Unlock()
}

// applyCells applies a bulk sync from a Kamailio node: every usable cell
// is set with its absolute expiry (0, or a Kamailio value of 0 or less,
// gives the table's lifetime). Unlike Kamailio, a cell whose expiry has
// already passed is skipped rather than given a fresh lifetime.
func (r *Replicator) applyCells(cells []cell) {
	for i := range cells {
		c := &cells[i]
		if c.bad != "" {
			r.stats.CellsSkipped.Add(1)
			continue
		}
		t := r.reg.Table(c.HTName)
		if t == nil {
			r.stats.CellsSkipped.Add(1)
			continue
		}
		ts := r.tables[c.HTName]
		autoSec := int64(t.Def().AutoExpire)
		v := valueOf(c.Type, c.Str, c.Int)
		now := r.now()
		var exp int64
		if autoSec > 0 {
			switch {
			case c.Expire <= 0:
				exp = now + autoSec
			case c.Expire <= now:
				r.stats.CellsSkipped.Add(1)
				continue
			default:
				exp = c.Expire
			}
		}
		_, err := t.As(ht.OriginRemote).Update(c.CName, func(cur ht.Item, live bool) ht.Mutation {
			if ts != nil {
				tick := r.tick()
				r.putLocked(ts, c.CName, &keyState{ver: tick, base: v, exp: exp, xver: tick})
			}
			return ht.Mutation{Op: ht.MutSet, Value: v, Expire: exp}
		})
		if err != nil {
			r.stats.CellsSkipped.Add(1)
			continue
		}
		r.stats.CellsApplied.Add(1)
	}
}

// answerSync answers {"action":1}: a sipht node gets our states, any other
// node Kamailio's bulk cells (the node the From URI names, or every
// Kamailio node when the requester is not in the node list, as Kamailio).
func (r *Replicator) answerSync(req *dmq.Request, table string) {
	if !r.started.Load() {
		return
	}
	if req.Node != nil && req.Sipht && r.sch != nil {
		for _, ts := range r.tables {
			if table == "" || ts.name == table {
				r.sendBuckets(req.Node, ts, ^uint64(0))
			}
		}
		return
	}
	if req.Node != nil {
		r.sendCells(req.Node, table)
		return
	}
	for _, t := range r.kamTargets() {
		r.sendCells(t.Node, table)
	}
}

// ---------------------------------------------------------------------
// Extension channel

func (r *Replicator) handleExt(req *dmq.Request) dmq.Response {
	r.stats.ExtReceived.Add(1)
	skipped, err := decodeExt(r.ids, req.Body, func(rec *record) { r.applyRecord(req.Node, rec) })
	if err != nil {
		r.stats.ExtBad.Add(1)
		r.log.Debug("bad sipht htable body", "from", req.From.String(), "err", err)
		return resp400
	}
	if skipped > 0 {
		r.stats.RecordsSkipped.Add(uint64(skipped))
	}
	return resp200
}

func (r *Replicator) applyRecord(n *dmq.Node, rec *record) {
	ts := r.tables[rec.table]
	if ts == nil {
		r.stats.RecordsSkipped.Add(1)
		return
	}
	r.clk.observe(rec.ver.t)
	r.clk.observe(rec.st.xver.t)
	switch rec.op {
	case "s":
		if err := r.applyState(ts, rec.key, &rec.st); err != nil {
			r.stats.RecordsSkipped.Add(1)
			return
		}
		r.stats.StatesApplied.Add(1)
	case "reset":
		r.applyReset(ts, rec.ver)
	case "rm":
		r.applyRm(ts, rec)
	case "dig":
		if n != nil {
			r.onDigest(n, ts, rec)
		}
	case "pull":
		if n != nil {
			r.stats.Pulls.Add(1)
			r.sendBuckets(n, ts, rec.bits)
		}
	}
}

// applyState merges a peer's state of a key into ours and writes the
// result to the table, atomically.
func (r *Replicator) applyState(ts *tstate, key string, in *keyState) error {
	floor := ts.getFloor()
	_, err := ts.t.As(ht.OriginRemote).Update(key, func(cur ht.Item, live bool) ht.Mutation {
		sh := ts.shard(key)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		s := sh.m[key]
		wasDead := s != nil && s.dead
		if s != nil && !s.dead && live {
			repair(s, cur)
		}
		if s == nil && live {
			s = &keyState{base: cur.Value, exp: cur.Expire}
		}
		out := r.ids.merge(s, in, floor, r.now(), ts.autoexp)
		nowDead := out != nil && out.dead
		switch {
		case wasDead && !nowDead:
			ts.ntomb.Add(-1)
		case !wasDead && nowDead:
			ts.ntomb.Add(1)
		}
		if out == nil {
			delete(sh.m, key)
		} else {
			sh.m[key] = out
		}
		return mutationFor(out, cur, live, ts.autoexp)
	})
	return err
}

// applyReset applies a peer's flush: everything older than v goes.
func (r *Replicator) applyReset(ts *tstate, v version) {
	ts.floorMu.Lock()
	if r.ids.cmp(v, ts.floor) <= 0 {
		ts.floorMu.Unlock()
		return
	}
	ts.floor = v
	ts.floorMu.Unlock()
	r.dropOlder(ts, v, false, func(string, ht.Item) bool { return true })
}

// dropOlder deletes the items older than v for which match is true, and
// forgets their states (tomb: leaves a tombstone at v instead, so that a
// late older write cannot bring them back; a reset has its floor for that).
func (r *Replicator) dropOlder(ts *tstate, v version, tomb bool, match func(key string, it ht.Item) bool) {
	var keys []string
	ts.t.Export(func(it ht.Item) error {
		if match(it.Key, it) {
			keys = append(keys, it.Key)
		}
		return nil
	})
	for _, k := range keys {
		ts.t.As(ht.OriginRemote).Update(k, func(cur ht.Item, live bool) ht.Mutation {
			if !live || !match(k, cur) {
				return ht.Mutation{}
			}
			sh := ts.shard(k)
			sh.mu.Lock()
			defer sh.mu.Unlock()
			s := sh.m[k]
			if s != nil && r.ids.cmp(s.ver, v) >= 0 {
				return ht.Mutation{}
			}
			if tomb {
				if s == nil || !s.dead {
					ts.ntomb.Add(1)
				}
				sh.m[k] = &keyState{ver: v, dead: true, xver: v}
			} else {
				if s != nil && s.dead {
					ts.ntomb.Add(-1)
				}
				delete(sh.m, k)
			}
			return ht.Mutation{Op: ht.MutDelete}
		})
	}
	if tomb {
		return
	}
	for i := range ts.shards {
		sh := &ts.shards[i]
		sh.mu.Lock()
		for k, s := range sh.m {
			if s.dead && r.ids.cmp(s.ver, v) < 0 {
				delete(sh.m, k)
				ts.ntomb.Add(-1)
			}
		}
		sh.mu.Unlock()
	}
}

// applyRm applies a peer's pattern removal to the items older than it.
// The peer's own removals arrive as tombstones too; this catches items the
// peer did not have.
func (r *Replicator) applyRm(ts *tstate, rec *record) {
	op, err := ht.ParseMatchOp(rec.mop)
	if err != nil || rec.pat == "" {
		r.stats.RecordsSkipped.Add(1)
		return
	}
	var re *regexp.Regexp
	if op == ht.MatchRegex {
		if re, err = ht.CompileRegex(rec.pat); err != nil {
			r.stats.RecordsSkipped.Add(1)
			return
		}
	}
	pat := []byte(rec.pat)
	test := func(b []byte) bool {
		switch op {
		case ht.MatchRegex:
			return re.Match(b)
		case ht.MatchPrefix:
			return bytes.HasPrefix(b, pat)
		case ht.MatchSuffix:
			return bytes.HasSuffix(b, pat)
		case ht.MatchContains:
			return bytes.Contains(b, pat)
		case ht.MatchEqual:
			return bytes.Equal(b, pat)
		case ht.MatchNotEqual:
			return !bytes.Equal(b, pat)
		}
		return false
	}
	r.dropOlder(ts, rec.ver, true, func(key string, it ht.Item) bool {
		if rec.vals {
			return it.Value.IsStr() && test([]byte(it.Value.Str()))
		}
		return test([]byte(key))
	})
}
