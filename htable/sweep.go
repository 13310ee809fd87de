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
	t.sweepMu.Lock()
	defer t.sweepMu.Unlock()
	now := t.clock()
	fnp := t.onExpired.Load()
	total := 0
	var batch []Item
	for i := t.nextSlot(0); i < t.nslots; i = t.nextSlot(i + 1) {
		s := t.slotIfAny(i)
		s.mu.Lock()
		d := &s.d
		if d.n == 0 || d.minExp == 0 || int64(d.minExp) >= now {
			s.mu.Unlock()
			continue
		}
		if fnp == nil {
			total += t.purge(d, now, nil)
			s.mu.Unlock()
			continue
		}
		batch = batch[:0]
		cells := d.tab()
		for j := range cells {
			e := &cells[j]
			if e.used() && t.expired(e, now) {
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
		total += t.purge(d, now, batch)
		s.mu.Unlock()
	}
	return total
}

// purge removes the expired entries of d (all of them, or only those
// named in only) and recomputes d.minExp. d is locked.
func (t *Table) purge(d *slotData, now int64, only []Item) int {
	n := 0
	report := func(e *entry) {
		if t.hasSubs() {
			t.emit(&Change{Op: OpExpired, Origin: OriginLocal, Applied: true, Key: string(d.key(e)), Value: d.value(e), Expire: int64(e.expire)})
		}
		d.ext().expired++
		n++
	}
	if only == nil {
		cells := d.tab()
		for j := range cells {
			if e := &cells[j]; e.used() && t.expired(e, now) {
				report(e)
				d.markDead(j)
			}
		}
		d.purgeDead()
	} else {
		for _, it := range only {
			p := t.probe(sbytes(it.Key))
			if pos := d.find(p.h, p.hh, p.key); pos >= 0 && t.expired(&d.tab()[pos], now) {
				report(&d.tab()[pos])
				d.removeAt(pos)
			}
		}
	}
	t.removed(n)
	d.minExp = 0
	cells := d.tab()
	for j := range cells {
		if e := &cells[j]; e.used() {
			d.noteExpire(e.expire)
		}
	}
	return n
}
