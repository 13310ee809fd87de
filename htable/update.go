package htable

// MutationOp is what an Update callback decides to do with a key.
type MutationOp uint8

const (
	// MutNone leaves the key as it is.
	MutNone MutationOp = iota
	// MutSet stores Mutation.Value with the absolute expiry
	// Mutation.Expire.
	MutSet
	// MutDelete removes the key.
	MutDelete
)

// Mutation is the write an Update callback asks for.
type Mutation struct {
	Op    MutationOp
	Value Value
	// Expire is the absolute expiry for MutSet (Unix seconds, 0 = never).
	// It is ignored on tables without autoexpire, whose items never
	// expire.
	Expire int64
}

// Update reads and writes key atomically: fn receives the key's live item
// (ok is false when the key is missing or expired) while the key's slot is
// locked, and the write it returns is applied before the lock is released,
// so no other change of the key can come in between. This is what a
// replicator needs to merge a peer's version of a key with the local one
// (compare versions, then write), and to read an item together with state
// it keeps beside the table.
//
// fn must be quick and must not call methods of the table (the slot is
// locked). A MutSet with a null value deletes. Subscribers get OpSet (TTL
// 0, Expire as stored) or OpDelete (Applied when a live item was removed)
// with w's origin; MutNone sends nothing. Update returns the mutation
// applied; it fails (applying nothing) for keys longer than MaxKeyLen or
// when an insert cannot be made (ErrFull, ErrTooBig).
func (w Writer) Update(key string, fn func(cur Item, ok bool) Mutation) (Mutation, error) {
	t := w.t
	k := sbytes(key)
	if len(k) > MaxKeyLen {
		return Mutation{}, ErrKeyTooLong
	}
	p := t.probe(k)
	now := t.now()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	pos := d.find(p.h, p.hh, k)
	var cur Item
	live := false
	if pos >= 0 {
		e := &d.tab()[pos]
		if !t.expired(e, now) {
			live = true
			cur = Item{Key: key, Value: d.value(e), Expire: int64(e.expire)}
		}
	}
	m := fn(cur, live)
	if m.Op == MutSet && m.Value.IsNull() {
		m.Op = MutDelete
	}
	switch m.Op {
	case MutSet:
		var exp uint32
		if t.autoexp > 0 && m.Expire > 0 {
			exp = clampExp(m.Expire)
		}
		isStr := m.Value.k == KindStr
		sval := sbytes(m.Value.s)
		d.sets++
		if pos < 0 {
			if err := t.insert(&p, d, isStr, m.Value.n, sval, exp, now); err != nil {
				s.mu.Unlock()
				return Mutation{}, err
			}
		} else {
			e := &d.tab()[pos]
			e.expire = exp
			d.noteExpire(exp)
			if isStr {
				if !d.setStr(pos, sval) {
					s.mu.Unlock()
					return Mutation{}, ErrTooBig
				}
			} else {
				d.setInt(pos, m.Value.n)
			}
		}
		m.Expire = int64(exp)
		if t.hasSubs() {
			t.emit(&Change{Op: OpSet, Origin: w.o, Applied: true, Key: key, Value: m.Value, Expire: int64(exp)})
		}
	case MutDelete:
		d.ext().deletes++
		if pos >= 0 {
			d.removeAt(pos)
			t.removed(1)
		}
		if t.hasSubs() {
			t.emit(&Change{Op: OpDelete, Origin: w.o, Applied: live, Key: key, Value: cur.Value})
		}
	}
	s.mu.Unlock()
	return m, nil
}
