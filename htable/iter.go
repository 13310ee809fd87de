package htable

import "bytes"

// ItemView is an item as seen by Dump and Iterator: its byte slices point
// into a buffer that is reused for the next slot, so copy what you keep
// (Item and Value copy).
type ItemView struct {
	Key []byte
	// Kind is KindInt or KindStr.
	Kind Kind
	Int  int64
	Str  []byte
	// Expire is the absolute expiry in Unix seconds, 0 = never.
	Expire int64
}

// Value returns the item value (copying a string).
func (v *ItemView) Value() Value {
	if v.Kind == KindStr {
		return Str(string(v.Str))
	}
	return Int(v.Int)
}

// Item returns a copy of the item.
func (v *ItemView) Item() Item {
	return Item{Key: string(v.Key), Value: v.Value(), Expire: v.Expire}
}

// SlotView is the content of one non-empty slot, in Kamailio's order.
type SlotView struct {
	// Index is the slot number (htable.dump's "entry").
	Index int
	Items []ItemView
}

// snapshot holds a copy of one slot.
type snapshot struct {
	slot  int
	buf   []byte
	items []ItemView
	ids   []int32
	offs  []spanOff
}

// spanOff locates an item's key and string value in snapshot.buf.
type spanOff struct{ k, v, end uint32 }

// loadSlot copies the live items of slot i, sorted, into sn. It reports
// false when the slot has none. It holds the slot lock only while copying.
func (t *Table) loadSlot(i int, sn *snapshot) bool {
	s := t.slotIfAny(i)
	if s == nil {
		return false
	}
	now := t.now()
	s.mu.Lock()
	d := &s.d
	if d.n == 0 {
		s.mu.Unlock()
		return false
	}
	sn.ids = d.sortedLive(sn.ids, func(e *entry) bool { return !t.expired(e, now) })
	if len(sn.ids) == 0 {
		s.mu.Unlock()
		return false
	}
	sn.buf, sn.offs, sn.items = sn.buf[:0], sn.offs[:0], sn.items[:0]
	cells := d.tab()
	for _, id := range sn.ids {
		e := &cells[id]
		var o spanOff
		o.k = uint32(len(sn.buf))
		sn.buf = append(sn.buf, d.key(e)...)
		o.v = uint32(len(sn.buf))
		v := ItemView{Kind: KindInt, Int: e.num, Expire: int64(e.expire)}
		if e.isStr() {
			sn.buf = append(sn.buf, d.str(e)...)
			v.Kind, v.Int = KindStr, 0
		}
		o.end = uint32(len(sn.buf))
		sn.offs = append(sn.offs, o)
		sn.items = append(sn.items, v)
	}
	s.mu.Unlock()
	// Point the views into buf now that it no longer moves.
	for j := range sn.items {
		v, o := &sn.items[j], sn.offs[j]
		v.Key = sn.buf[o.k:o.v:o.v]
		if v.Kind == KindStr {
			v.Str = sn.buf[o.v:o.end:o.end]
		} else {
			v.Str = nil
		}
	}
	sn.slot = i
	return true
}

// Dump calls fn with each non-empty slot in ascending order, its items in
// Kamailio's order (htable.dump). It locks one slot at a time and only
// while copying it, never while fn runs; fn may write the slot to the wire
// before the next one is read. The views are valid only during the call.
// Dump stops at and returns the first error of fn.
func (t *Table) Dump(fn func(SlotView) error) error {
	var sn snapshot
	for i := t.nextSlot(0); i < t.nslots; i = t.nextSlot(i + 1) {
		if !t.loadSlot(i, &sn) {
			continue
		}
		if err := fn(SlotView{Index: i, Items: sn.items}); err != nil {
			return err
		}
	}
	return nil
}

// Export calls fn with a copy of every live item (name, value, absolute
// expiry), slot by slot, for a database save or a DMQ bulk sync. It stops
// at and returns the first error of fn.
func (t *Table) Export(fn func(Item) error) error {
	return t.Dump(func(sv SlotView) error {
		for j := range sv.Items {
			if err := fn(sv.Items[j].Item()); err != nil {
				return err
			}
		}
		return nil
	})
}

// Iterator walks a table slot by slot in Kamailio's order (the
// sht_iterator_* functions). It keeps a copy of one slot and holds no
// lock between calls, so the table may be written during the walk,
// through the iterator or not. Items added or removed during the walk may
// or may not be seen. An Iterator is not safe for concurrent use.
type Iterator struct {
	t    *Table
	next int
	pos  int
	sn   snapshot
}

// Iter returns an iterator positioned before the first item.
func (t *Table) Iter() *Iterator { return &Iterator{t: t, pos: -1} }

// Next moves to the next item and reports whether there is one.
func (it *Iterator) Next() bool {
	it.pos++
	if it.pos < len(it.sn.items) {
		return true
	}
	t := it.t
	for i := t.nextSlot(it.next); i < t.nslots; i = t.nextSlot(i + 1) {
		if t.loadSlot(i, &it.sn) {
			it.next, it.pos = i+1, 0
			return true
		}
	}
	it.next = t.nslots
	it.sn.items = it.sn.items[:0]
	it.pos = 0
	return false
}

func (it *Iterator) cur() *ItemView {
	if it.pos < 0 || it.pos >= len(it.sn.items) {
		return nil
	}
	return &it.sn.items[it.pos]
}

// Valid reports whether the iterator is positioned on an item.
func (it *Iterator) Valid() bool { return it.cur() != nil }

// Slot returns the slot of the current item.
func (it *Iterator) Slot() int { return it.sn.slot }

// View returns the current item; its slices are valid until the iterator
// moves to another slot. It returns nil when not positioned on an item.
func (it *Iterator) View() *ItemView { return it.cur() }

// Key returns the current item's name ($shtitkey), "" when not positioned.
func (it *Iterator) Key() string {
	if v := it.cur(); v != nil {
		return string(v.Key)
	}
	return ""
}

// Value returns the current item's value ($shtitval) as it was when its
// slot was read.
func (it *Iterator) Value() Value {
	if v := it.cur(); v != nil {
		return v.Value()
	}
	return Value{}
}

// Item returns a copy of the current item.
func (it *Iterator) Item() Item {
	if v := it.cur(); v != nil {
		return v.Item()
	}
	return Item{}
}

// Remove deletes the current item from the table (sht_iterator_rm; call
// Next to move on). It reports whether the item still existed.
func (it *Iterator) Remove() bool {
	v := it.cur()
	if v == nil {
		return false
	}
	return it.t.DeleteBytes(v.Key)
}

// Set stores a new value for the current item (sht_iterator_sets/seti),
// with Set's expiry rules.
func (it *Iterator) Set(val Value) error {
	v := it.cur()
	if v == nil || val.IsNull() {
		return nil
	}
	return it.t.set(OriginLocal, v.Key, val, nil, 0)
}

// SetExpire changes the current item's lifetime (sht_iterator_setex),
// with SetExpire's rules.
func (it *Iterator) SetExpire(ttl int64) bool {
	v := it.cur()
	if v == nil {
		return false
	}
	return it.t.SetExpireBytes(v.Key, ttl)
}

// Cursor is a position for List: a slot and the number of that slot's
// items (in Kamailio order) already returned.
type Cursor struct {
	Slot int
	Pos  int
}

// List returns up to limit live items from cursor from on, in dump order,
// keeping only names containing nameContains (all when empty), and the
// cursor to continue with. more is false when the end of the table was
// reached. It is meant for paging a user interface: items changed between
// calls may be skipped or repeated.
func (t *Table) List(from Cursor, limit int, nameContains string) (items []Item, next Cursor, more bool) {
	if limit <= 0 {
		return nil, from, true
	}
	sub := []byte(nameContains)
	var sn snapshot
	for i := t.nextSlot(max(from.Slot, 0)); i < t.nslots; i = t.nextSlot(i + 1) {
		if !t.loadSlot(i, &sn) {
			continue
		}
		j := 0
		if i == from.Slot {
			j = max(from.Pos, 0)
		}
		for ; j < len(sn.items); j++ {
			v := &sn.items[j]
			if len(sub) > 0 && !bytes.Contains(v.Key, sub) {
				continue
			}
			items = append(items, v.Item())
			if len(items) == limit {
				return items, Cursor{Slot: i, Pos: j + 1}, true
			}
		}
	}
	return items, Cursor{Slot: t.nslots}, false
}
