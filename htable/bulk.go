package htable

import "errors"

// Import loads one item the way Kamailio loads a database row or a DMQ
// sync cell: on a table with autoexpire, expire > 0 is the item's
// absolute expiry (an item already expired is skipped: Import returns
// false) and expire 0 gives it the table's lifetime; on a table without
// autoexpire expire is ignored. An existing item is overwritten.
// Subscribers get OpImport with w's origin.
func (w Writer) Import(key string, v Value, expire int64) (bool, error) {
	t := w.t
	if v.IsNull() {
		return false, errors.New("htable: import of a null value")
	}
	k := sbytes(key)
	if len(k) > MaxKeyLen {
		return false, ErrKeyTooLong
	}
	now := t.now()
	var exp uint32
	if t.autoexp > 0 {
		switch {
		case expire <= 0:
			exp = t.freshExpire(now, 0)
		case expire < now:
			return false, nil
		default:
			exp = clampExp(expire)
		}
	}
	isStr := v.k == KindStr
	sval := sbytes(v.s)
	p := t.probe(k)
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.sets++
	if pos := d.find(p.h, p.hh, k); pos >= 0 {
		d.tab()[pos].expire = exp
		if isStr {
			if !d.setStr(pos, sval) {
				s.mu.Unlock()
				return false, ErrTooBig
			}
		} else {
			d.setInt(pos, v.n)
		}
		d.noteExpire(exp)
	} else if err := t.insert(&p, d, isStr, v.n, sval, exp, now); err != nil {
		s.mu.Unlock()
		return false, err
	}
	if t.hasSubs() {
		t.emit(&Change{Op: OpImport, Origin: w.o, Applied: true, Key: key, Value: v, Expire: int64(exp)})
	}
	s.mu.Unlock()
	return true, nil
}

// Replace replaces the whole content of the table (Kamailio's
// htable.reload): fill loads the new content into an empty table with
// the same definition through dst (typically with dst.Import); then the
// content is swapped in slot by slot, each slot locked only for the swap.
// Readers see, per slot, either the old or the new content. If fill
// returns an error the table is left unchanged. Replace returns the
// number of items loaded; subscribers get one OpReplace.
func (w Writer) Replace(fill func(dst Writer) error) (int, error) {
	t := w.t
	tmp, err := newTable(t.def, t.clock, t.seed)
	if err != nil {
		return 0, err
	}
	if err := fill(tmp.As(w.o)); err != nil {
		return 0, err
	}
	loaded, removed := 0, 0
	for i := 0; i < t.nslots; i++ {
		if t.flat == nil && i&(chunkSize-1) == 0 &&
			t.chunks[i>>chunkBits].Load() == nil && tmp.chunks[i>>chunkBits].Load() == nil {
			i += chunkSize - 1
			continue
		}
		var nd slotData
		if src := tmp.slotIfAny(i); src != nil {
			nd.takeFrom(&src.d)
		}
		s := t.slotAt(uint32(i))
		s.mu.Lock()
		removed += int(s.d.n)
		loaded += int(nd.n)
		s.d.takeFrom(&nd)
		s.mu.Unlock()
	}
	if t.maxItems > 0 {
		t.nitems.Add(int64(loaded - removed))
	}
	if t.hasSubs() {
		t.emit(&Change{Op: OpReplace, Origin: w.o, Applied: true, Count: loaded})
	}
	return loaded, nil
}
