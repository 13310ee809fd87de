package htable

import (
	"bytes"
	"hash/maphash"
	"math"
	"math/bits"
	"slices"
	"unsafe"
)

// Storage layout
//
// Each slot owns three pointer-free slices, so 1M items cost the garbage
// collector nothing to scan:
//
//   - ents: fixed-size entries in creation order (an entry id is its index);
//   - arena: the key bytes of every entry, each followed by its string
//     value if it has one;
//   - index: an open-addressing table of entry ids (id+1, 0 = empty) keyed
//     by a seeded maphash of the key, built once the slot holds more than
//     smallMax entries. Kamailio's hash clusters similar keys (1M keys
//     "10.a.b.c" share only 63,724 distinct 32-bit hashes, up to 558 keys on
//     one), so the index cannot rely on it.
//
// A removed entry is only marked dead (its index cell becomes a tombstone);
// compact rebuilds the slot when dead entries or dead arena bytes reach
// half. Compaction keeps the creation order, so "ordered by hash, ties in
// insertion order" is a stable sort of the live entries by hash.

const (
	klenMask = 1<<24 - 1
	flagStr  = 1 << 30
	flagDead = 1 << 31

	// MaxKeyLen is the longest key a table accepts.
	MaxKeyLen = klenMask

	// smallMax is the number of entries a slot scans linearly before it
	// builds an index.
	smallMax = 8
)

// entry is one item. 24 bytes.
type entry struct {
	khash  uint32 // Kamailio hash of the key
	expire uint32 // absolute Unix seconds, 0 = never
	koff   uint32 // key offset in arena; a string value follows the key
	klenf  uint32 // key length | flagStr | flagDead
	num    int64  // integer value, or string value length
}

func (e *entry) klen() uint32 { return e.klenf & klenMask }
func (e *entry) isStr() bool  { return e.klenf&flagStr != 0 }
func (e *entry) dead() bool   { return e.klenf&flagDead != 0 }

// size is the number of arena bytes the entry uses.
func (e *entry) size() uint32 {
	n := e.klen()
	if e.isStr() {
		n += uint32(e.num)
	}
	return n
}

// counters are per-slot operation counters, updated under the slot lock.
type counters struct {
	gets, sets, incs, deletes, expired, evicted uint64
}

func (c *counters) add(o counters) {
	c.gets += o.gets
	c.sets += o.sets
	c.incs += o.incs
	c.deletes += o.deletes
	c.expired += o.expired
	c.evicted += o.evicted
}

// slotData is the content of a slot; it is only touched with the slot
// lock held.
type slotData struct {
	ents    []entry
	arena   []byte
	index   []uint32
	indexed int    // non-empty cells of index (live ids and tombstones)
	live    int    // entries not dead (expired ones included)
	garbage int    // dead bytes in arena
	minExp  uint32 // lower bound of the non-zero expires of live entries, 0 = none
	ulock   *userLock
	c       counters
}

func h2(seed maphash.Seed, key []byte) uint32 {
	h := maphash.Bytes(seed, key)
	return uint32(h ^ h>>32)
}

func (d *slotData) key(e *entry) []byte {
	return d.arena[e.koff : e.koff+e.klen()]
}

func (d *slotData) str(e *entry) []byte {
	o := e.koff + e.klen()
	return d.arena[o : o+uint32(e.num)]
}

func (d *slotData) value(e *entry) Value {
	if e.isStr() {
		return Str(string(d.str(e)))
	}
	return Int(e.num)
}

// find returns the id of the live (not dead) entry with key, or -1.
func (d *slotData) find(h uint32, key []byte, seed maphash.Seed) int {
	want := uint32(len(key))
	if d.index == nil {
		for i := range d.ents {
			e := &d.ents[i]
			if e.khash == h && e.klenf&(klenMask|flagDead) == want && bytes.Equal(d.arena[e.koff:e.koff+want], key) {
				return i
			}
		}
		return -1
	}
	mask := uint32(len(d.index) - 1)
	for p := h2(seed, key) & mask; ; p = (p + 1) & mask {
		v := d.index[p]
		if v == 0 {
			return -1
		}
		e := &d.ents[v-1]
		if e.khash == h && e.klenf&(klenMask|flagDead) == want && bytes.Equal(d.arena[e.koff:e.koff+want], key) {
			return int(v - 1)
		}
	}
}

// growCap returns a capacity for n elements when cap is exhausted:
// 1.5x growth keeps the average slack of many small slices near 20%.
func growCap(cur, need int) int {
	c := cur + cur/2 + 2
	if c < need {
		c = need
	}
	return c
}

func (d *slotData) appendArena(parts ...[]byte) (uint32, bool) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	off := len(d.arena)
	if uint64(off)+uint64(n) > math.MaxUint32 {
		return 0, false
	}
	if off+n > cap(d.arena) {
		na := make([]byte, off, growCap(cap(d.arena), off+n))
		copy(na, d.arena)
		d.arena = na
	}
	for _, p := range parts {
		d.arena = append(d.arena, p...)
	}
	return uint32(off), true
}

// add appends a new entry; the caller checked that key is absent.
func (d *slotData) add(h uint32, key []byte, isStr bool, num int64, sval []byte, expire uint32, seed maphash.Seed) bool {
	if len(d.arena)+len(key)+len(sval) > math.MaxUint32/2 && d.garbage > 0 {
		d.compact(seed)
	}
	off, ok := d.appendArena(key, sval)
	if !ok {
		return false
	}
	e := entry{khash: h, expire: expire, koff: off, klenf: uint32(len(key)), num: num}
	if isStr {
		e.klenf |= flagStr
		e.num = int64(len(sval))
	}
	if len(d.ents) == cap(d.ents) {
		ne := make([]entry, len(d.ents), growCap(cap(d.ents), len(d.ents)+1))
		copy(ne, d.ents)
		d.ents = ne
	}
	d.ents = append(d.ents, e)
	d.live++
	d.noteExpire(expire)
	id := uint32(len(d.ents) - 1)
	switch {
	case d.index != nil:
		if (d.indexed+1)*8 > len(d.index)*5 {
			d.rebuildIndex(seed)
		} else {
			d.indexPut(id, h2(seed, key))
		}
	case len(d.ents) > smallMax:
		if len(d.ents)-d.live > len(d.ents)/4 {
			d.compact(seed)
		} else {
			d.rebuildIndex(seed)
		}
	}
	return true
}

func (d *slotData) noteExpire(x uint32) {
	if x != 0 && (d.minExp == 0 || x < d.minExp) {
		d.minExp = x
	}
}

func (d *slotData) indexPut(id, hh uint32) {
	mask := uint32(len(d.index) - 1)
	p := hh & mask
	for d.index[p] != 0 {
		p = (p + 1) & mask
	}
	d.index[p] = id + 1
	d.indexed++
}

// rebuildIndex indexes the live entries (dropping tombstones), or drops
// the index when the slot is small again.
func (d *slotData) rebuildIndex(seed maphash.Seed) {
	if d.live <= smallMax && len(d.ents) <= 2*smallMax {
		d.index, d.indexed = nil, 0
		return
	}
	n := 1 << bits.Len(uint(d.live*2))
	if n < 16 {
		n = 16
	}
	if cap(d.index) >= n && cap(d.index) <= 2*n {
		d.index = d.index[:n]
		clear(d.index)
	} else {
		d.index = make([]uint32, n)
	}
	d.indexed = 0
	for i := range d.ents {
		e := &d.ents[i]
		if !e.dead() {
			d.indexPut(uint32(i), h2(seed, d.key(e)))
		}
	}
}

// setInt makes entry id an integer.
func (d *slotData) setInt(id int, n int64) {
	e := &d.ents[id]
	if e.isStr() {
		d.garbage += int(e.num)
		e.klenf &^= flagStr
	}
	e.num = n
}

// setStr makes entry id a string. It fails only if the arena would
// exceed 4 GiB.
func (d *slotData) setStr(id int, s []byte) bool {
	e := &d.ents[id]
	if e.isStr() && len(s) <= int(e.num) {
		copy(d.arena[e.koff+e.klen():], s)
		d.garbage += int(e.num) - len(s)
		e.num = int64(len(s))
		return true
	}
	old := e.size()
	koff, klen := e.koff, e.klen()
	// The key is copied from the arena itself; appendArena copies from the
	// old backing array when it grows, which stays valid.
	off, ok := d.appendArena(d.arena[koff:koff+klen], s)
	if !ok {
		return false
	}
	e = &d.ents[id]
	d.garbage += int(old)
	e.koff = off
	e.klenf |= flagStr
	e.num = int64(len(s))
	return true
}

// kill marks entry id dead. Ids stay valid until maybeCompact.
func (d *slotData) kill(id int) {
	e := &d.ents[id]
	d.garbage += int(e.size())
	e.klenf |= flagDead
	d.live--
}

// maybeCompact compacts the slot when dead entries or dead bytes reach
// half of it. It invalidates entry ids.
func (d *slotData) maybeCompact(seed maphash.Seed) {
	dead := len(d.ents) - d.live
	if d.live == 0 {
		if dead > 0 || len(d.arena) > 0 {
			d.clear()
		}
		return
	}
	if (dead >= 4 && dead*2 > len(d.ents)) || (d.garbage >= 256 && d.garbage*2 > len(d.arena)) {
		d.compact(seed)
	}
}

// clear drops all entries, keeping small buffers for reuse.
func (d *slotData) clear() {
	if cap(d.ents) > 4*smallMax {
		d.ents = nil
	} else {
		d.ents = d.ents[:0]
	}
	if cap(d.arena) > 512 {
		d.arena = nil
	} else {
		d.arena = d.arena[:0]
	}
	d.index, d.indexed = nil, 0
	d.live, d.garbage, d.minExp = 0, 0, 0
}

// compact rewrites the slot without dead entries or dead bytes, keeping
// the creation order.
func (d *slotData) compact(seed maphash.Seed) {
	if d.live == 0 {
		d.clear()
		return
	}
	ents := make([]entry, 0, d.live+d.live/8+1)
	need := len(d.arena) - d.garbage
	arena := make([]byte, 0, need+need/8+8)
	for i := range d.ents {
		e := d.ents[i]
		if e.dead() {
			continue
		}
		n := e.size()
		off := uint32(len(arena))
		arena = append(arena, d.arena[e.koff:e.koff+n]...)
		e.koff = off
		ents = append(ents, e)
	}
	d.ents, d.arena, d.garbage = ents, arena, 0
	d.index, d.indexed = nil, 0
	d.rebuildIndex(seed)
}

// victim picks the entry to evict: an expired one first, then the one
// that expires soonest, then the oldest never-expiring one. It returns -1
// if the slot has no live entry.
func (d *slotData) victim(autoexp bool, now int64) int {
	best, bestExp := -1, uint64(math.MaxUint64)
	for i := range d.ents {
		e := &d.ents[i]
		if e.dead() {
			continue
		}
		if autoexp && e.expire != 0 && int64(e.expire) < now {
			return i
		}
		x := uint64(e.expire)
		if x == 0 {
			x = math.MaxUint32 + 1 // never-expiring items go last
		}
		if x < bestExp {
			best, bestExp = i, x
		}
	}
	return best
}

// memBytes approximates the memory the slot holds.
func (d *slotData) memBytes() int64 {
	return int64(unsafe.Sizeof(*d)) + int64(cap(d.ents))*int64(unsafe.Sizeof(entry{})) +
		int64(cap(d.arena)) + int64(cap(d.index))*4
}

// sortedLive returns the ids of the entries visible at now in Kamailio's
// order: by hash, ties in creation order.
func (d *slotData) sortedLive(ids []int32, visible func(*entry) bool) []int32 {
	ids = ids[:0]
	for i := range d.ents {
		e := &d.ents[i]
		if !e.dead() && visible(e) {
			ids = append(ids, int32(i))
		}
	}
	slices.SortStableFunc(ids, func(a, b int32) int {
		ha, hb := d.ents[a].khash, d.ents[b].khash
		switch {
		case ha < hb:
			return -1
		case ha > hb:
			return 1
		}
		return 0
	})
	return ids
}
