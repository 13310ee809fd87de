package htable

// Sweep removes the expired items of a table with autoexpire, as
// Kamailio's htable timer does every timer_interval seconds, and returns
// how many it removed. With an OnExpired handler, each slot's expired
// items are copied, the slot is unlocked, the handler runs for each, and
// the items that are still expired afterwards are removed. Subscribers
// get OpExpired for each removed item. Registry.Run calls Sweep
// periodically; tests call it directly.
func (t *Table) Sweep() int {
	if t.autoexp == 0 {
		return 0
	}
	now := t.clock()
	fnp := t.onExpired.Load()
	total := 0
	var batch []Item
	for i := t.nextSlot(0); i < t.nslots; i = t.nextSlot(i + 1) {
		s := t.slotIfAny(i)
		s.mu.Lock()
		d := s.d
		if d == nil || d.live == 0 || d.minExp == 0 || int64(d.minExp) >= now {
			s.mu.Unlock()
			continue
		}
		if fnp == nil {
			total += t.purge(d, now, nil)
			s.mu.Unlock()
			continue
		}
		batch = batch[:0]
		for j := range d.ents {
			e := &d.ents[j]
			if !e.dead() && t.expired(e, now) {
				batch = append(batch, Item{Key: string(d.key(e)), Value: d.value(e), Expire: int64(e.expire)})
			}
		}
		s.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		for _, it := range batch {
			(*fnp)(it)
		}
		s.mu.Lock()
		if d = s.d; d != nil {
			total += t.purge(d, now, batch)
		}
		s.mu.Unlock()
	}
	return total
}

// purge removes the expired entries of d (all of them, or only those
// named in only), recomputes d.minExp and compacts. d is locked.
func (t *Table) purge(d *slotData, now int64, only []Item) int {
	n := 0
	kill := func(id int) {
		e := &d.ents[id]
		if t.hasSubs() {
			t.emit(&Change{Op: OpExpired, Origin: OriginLocal, Applied: true, Key: string(d.key(e)), Value: d.value(e), Expire: int64(e.expire)})
		}
		d.kill(id)
		d.c.expired++
		n++
	}
	if only == nil {
		for j := range d.ents {
			e := &d.ents[j]
			if !e.dead() && t.expired(e, now) {
				kill(j)
			}
		}
	} else {
		for _, it := range only {
			k := sbytes(it.Key)
			id := d.find(Hash(k), k, t.seed)
			if id >= 0 && t.expired(&d.ents[id], now) {
				kill(id)
			}
		}
	}
	t.removed(n)
	d.minExp = 0
	for j := range d.ents {
		if e := &d.ents[j]; !e.dead() {
			d.noteExpire(e.expire)
		}
	}
	d.maybeCompact(t.seed)
	return n
}
