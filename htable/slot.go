package htable

import (
	"bytes"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"unsafe"
)

// Storage layout
//
// The slots of a table are one array of 64-byte slots (one cache line),
// each with its lock and the header of its content. A slot's items live in
// its own open-addressing table (Robin Hood hashing, backward-shift
// deletion) whose cells are the entries themselves, positioned by a seeded
// maphash of the key: a lookup touches the slot and then, nearly always,
// one cache line of cells. Kamailio's hash cannot serve here: it clusters
// similar keys (1M keys "10.a.b.c" share only 63,724 distinct 32-bit
// hashes, up to 558 keys on one), and only 18% of those keys land in
// slots of 16 items or fewer.
//
// A key of up to inlineMax bytes, with its string value when both fit, is
// stored in the entry; other keys and values go to the slot's arena. Cells
// and arena are pointer-free, so 1M items cost the garbage collector
// nothing to scan.
//
// Kamailio orders the items of a slot by hash, ties in insertion order:
// every entry records its creation sequence number in the slot, and dumps
// sort by (hash, sequence).

const (
	klenMask   = 1<<24 - 1
	flagUsed   = 1 << 28
	flagInline = 1 << 29
	flagStr    = 1 << 30
	flagDead   = 1 << 31 // marked for removal by a bulk operation

	// MaxKeyLen is the longest key a table accepts.
	MaxKeyLen = klenMask

	// inlineMax is the room for key+string value inside an entry.
	inlineMax = 16
)

// entry is one item (or an empty cell). 48 bytes.
type entry struct {
	khash  uint32 // Kamailio hash of the key
	h2     uint32 // position hash
	expire uint32 // absolute Unix seconds, 0 = never
	klenf  uint32 // key length | flags
	koff   uint32 // key offset in the arena unless inline; a string value follows the key
	seq    uint32 // creation sequence in the slot
	num    int64  // integer value, or string value length
	inl    [inlineMax]byte
}

func (e *entry) used() bool   { return e.klenf&flagUsed != 0 }
func (e *entry) klen() uint32 { return e.klenf & klenMask }
func (e *entry) isStr() bool  { return e.klenf&flagStr != 0 }
func (e *entry) dead() bool   { return e.klenf&flagDead != 0 }
func (e *entry) inline() bool { return e.klenf&flagInline != 0 }

// arenaSize is the number of arena bytes the entry uses.
func (e *entry) arenaSize() uint32 {
	if e.inline() {
		return 0
	}
	n := e.klen()
	if e.isStr() {
		n += uint32(e.num)
	}
	return n
}

// slotExt holds the rarely used part of a slot.
type slotExt struct {
	arena                     []byte
	garbage                   uint32 // dead bytes in arena
	ulock                     *userLock
	deletes, expired, evicted uint64
}

// slotData is the content of a slot; it is only touched with the slot
// lock held.
type slotData struct {
	cells  *entry // cap cells, nil when cap is 0
	cap    uint32
	n      uint32 // used cells
	seq    uint32 // next creation sequence
	minExp uint32 // lower bound of the non-zero expires, 0 = none
	gets   uint64
	sets   uint64
	incs   uint64
	x      *slotExt
}

type slot struct {
	mu sync.Mutex
	d  slotData
}

// A slot is one cache line.
var _ [64 - unsafe.Sizeof(slot{})]byte
var _ [unsafe.Sizeof(slot{}) - 64]byte

func (d *slotData) ext() *slotExt {
	if d.x == nil {
		d.x = new(slotExt)
	}
	return d.x
}

func (d *slotData) tab() []entry {
	if d.cells == nil {
		return nil
	}
	return unsafe.Slice(d.cells, d.cap)
}

// counters are operation counters summed over slots.
type counters struct {
	gets, sets, incs, deletes, expired, evicted uint64
}

func (c *counters) addSlot(d *slotData) {
	c.gets += d.gets
	c.sets += d.sets
	c.incs += d.incs
	if d.x != nil {
		c.deletes += d.x.deletes
		c.expired += d.x.expired
		c.evicted += d.x.evicted
	}
}

func h2(seed maphash.Seed, key []byte) uint32 {
	h := maphash.Bytes(seed, key)
	return uint32(h ^ h>>32)
}

// home is the preferred cell of position hash hh in a table of c cells.
func home(hh, c uint32) uint32 { return uint32(uint64(hh) * uint64(c) >> 32) }

// dist is how far cell pos is from the home of the entry in it.
func dist(hh, pos, c uint32) uint32 {
	h := home(hh, c)
	if pos >= h {
		return pos - h
	}
	return pos + c - h
}

func (d *slotData) key(e *entry) []byte {
	if e.inline() {
		return e.inl[:e.klen()]
	}
	return d.x.arena[e.koff : e.koff+e.klen()]
}

func (d *slotData) str(e *entry) []byte {
	if e.inline() {
		k := e.klen()
		return e.inl[k : k+uint32(e.num)]
	}
	o := e.koff + e.klen()
	return d.x.arena[o : o+uint32(e.num)]
}

func (d *slotData) value(e *entry) Value {
	if e.isStr() {
		return Str(string(d.str(e)))
	}
	return Int(e.num)
}

// find returns the cell of key (Kamailio hash h, position hash hh), or -1.
func (d *slotData) find(h, hh uint32, key []byte) int {
	if d.n == 0 {
		return -1
	}
	cells, c := d.tab(), d.cap
	want := uint32(len(key)) | flagUsed
	pos := home(hh, c)
	for k := uint32(0); ; k++ {
		e := &cells[pos]
		if !e.used() || dist(e.h2, pos, c) < k {
			return -1
		}
		if e.h2 == hh && e.khash == h && e.klenf&(klenMask|flagUsed|flagDead) == want && bytes.Equal(d.key(e), key) {
			return int(pos)
		}
		if pos++; pos == c {
			pos = 0
		}
	}
}

// capFor is the table size for n entries right after a resize.
func capFor(n uint32) uint32 { return max(4, n+n/2+1) }

// put places e (its key already stored) by Robin Hood insertion. The
// table has room.
func (d *slotData) put(e entry) {
	cells, c := d.tab(), d.cap
	pos := home(e.h2, c)
	for k := uint32(0); ; k++ {
		cur := &cells[pos]
		if !cur.used() {
			*cur = e
			d.n++
			return
		}
		if ck := dist(cur.h2, pos, c); ck < k {
			e, *cur = *cur, e
			k = ck
		}
		if pos++; pos == c {
			pos = 0
		}
	}
}

// resize rebuilds the table with c cells, dropping entries marked dead.
func (d *slotData) resize(c uint32) {
	old := d.tab()
	d.n = 0
	if c == 0 {
		d.cells, d.cap = nil, 0
		return
	}
	nc := make([]entry, c)
	d.cells, d.cap = &nc[0], c
	for i := range old {
		if e := &old[i]; e.used() && !e.dead() {
			d.put(*e)
		}
	}
}

// appendArena appends key and val to the arena and returns the offset.
func (d *slotData) appendArena(key, val []byte) (uint32, bool) {
	x := d.ext()
	n := len(key) + len(val)
	off := len(x.arena)
	if uint64(off)+uint64(n) > math.MaxUint32 {
		d.compactArena()
		off = len(x.arena)
		if uint64(off)+uint64(n) > math.MaxUint32 {
			return 0, false
		}
	}
	if off+n > cap(x.arena) {
		na := make([]byte, off, max(off+n, cap(x.arena)+cap(x.arena)/2+16))
		copy(na, x.arena)
		x.arena = na
	}
	x.arena = append(x.arena, key...)
	x.arena = append(x.arena, val...)
	return uint32(off), true
}

// place stores key and string value sval (nil for an integer) in e,
// inline when they fit, else in the arena.
func (d *slotData) place(e *entry, key, sval []byte) bool {
	if len(key)+len(sval) <= inlineMax {
		copy(e.inl[:], key)
		copy(e.inl[len(key):], sval)
		e.klenf |= flagInline
		e.koff = 0
		return true
	}
	off, ok := d.appendArena(key, sval)
	if !ok {
		return false
	}
	e.klenf &^= flagInline
	e.koff = off
	return true
}

// add inserts a new entry; the caller checked that key is absent.
func (d *slotData) add(h, hh uint32, key []byte, isStr bool, num int64, sval []byte, expire uint32) bool {
	e := entry{khash: h, h2: hh, expire: expire, klenf: uint32(len(key)) | flagUsed, num: num}
	if isStr {
		e.klenf |= flagStr
		e.num = int64(len(sval))
	}
	if !d.place(&e, key, sval) {
		return false
	}
	if d.seq == math.MaxUint32 {
		d.renumber()
	}
	e.seq = d.seq
	d.seq++
	if (d.n+1)*8 > d.cap*7 {
		d.resize(capFor(d.n + 1))
	}
	d.put(e)
	d.noteExpire(expire)
	return true
}

// renumber reassigns creation sequences 0..n-1 keeping their order.
func (d *slotData) renumber() {
	cells := d.tab()
	var ps []int
	for i := range cells {
		if cells[i].used() {
			ps = append(ps, i)
		}
	}
	slices.SortFunc(ps, func(a, b int) int { return int64cmp(int64(cells[a].seq), int64(cells[b].seq)) })
	for i, p := range ps {
		cells[p].seq = uint32(i)
	}
	d.seq = uint32(len(ps))
}

func int64cmp(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (d *slotData) noteExpire(x uint32) {
	if x != 0 && (d.minExp == 0 || x < d.minExp) {
		d.minExp = x
	}
}

// setInt makes the entry at pos an integer.
func (d *slotData) setInt(pos int, n int64) {
	e := &d.tab()[pos]
	if e.isStr() {
		if !e.inline() {
			d.x.garbage += uint32(e.num)
		}
		e.klenf &^= flagStr
	}
	e.num = n
}

// setStr makes the entry at pos a string. It fails only if the arena
// would exceed 4 GiB.
func (d *slotData) setStr(pos int, s []byte) bool {
	e := &d.tab()[pos]
	klen := e.klen()
	switch {
	case e.inline() && int(klen)+len(s) <= inlineMax:
		copy(e.inl[klen:], s)
	case !e.inline() && e.isStr() && len(s) <= int(e.num):
		copy(d.x.arena[e.koff+klen:], s)
		d.x.garbage += uint32(int(e.num) - len(s))
	default:
		var kb [inlineMax]byte
		var key []byte
		if e.inline() {
			key = append(kb[:0], e.inl[:klen]...)
		} else {
			key = d.x.arena[e.koff : e.koff+klen] // appendArena copies from the old array
		}
		old := e.arenaSize()
		if !d.place(e, key, s) {
			return false
		}
		if old > 0 {
			d.x.garbage += old
		}
	}
	e.klenf |= flagStr
	e.num = int64(len(s))
	d.maybeCompactArena()
	return true
}

// removeAt removes the entry at pos (backward-shift deletion: entries
// after it move back, so positions change).
func (d *slotData) removeAt(pos int) {
	cells, c := d.tab(), d.cap
	if n := cells[pos].arenaSize(); n > 0 {
		d.x.garbage += n
	}
	p := uint32(pos)
	for {
		next := p + 1
		if next == c {
			next = 0
		}
		ne := &cells[next]
		if !ne.used() || dist(ne.h2, next, c) == 0 {
			cells[p] = entry{}
			break
		}
		cells[p] = *ne
		p = next
	}
	d.n--
	d.afterRemove()
}

// markDead marks the entry at pos for removal by purgeDead; positions
// stay valid until then.
func (d *slotData) markDead(pos int) {
	e := &d.tab()[pos]
	if n := e.arenaSize(); n > 0 {
		d.x.garbage += n
	}
	e.klenf |= flagDead
}

// purgeDead removes the entries marked dead.
func (d *slotData) purgeDead() {
	live := uint32(0)
	for i, cells := 0, d.tab(); i < len(cells); i++ {
		if cells[i].used() && !cells[i].dead() {
			live++
		}
	}
	if live == d.n {
		return
	}
	if live == 0 {
		d.clear()
		return
	}
	d.resize(capFor(live))
	d.maybeCompactArena()
}

// afterRemove shrinks the table and the arena when they are mostly empty.
func (d *slotData) afterRemove() {
	switch {
	case d.n == 0:
		d.clear()
	case d.cap > 8 && d.n*4 < d.cap:
		d.resize(capFor(d.n))
		d.maybeCompactArena()
	default:
		d.maybeCompactArena()
	}
}

// clear drops all entries.
func (d *slotData) clear() {
	d.cells, d.cap, d.n, d.minExp = nil, 0, 0, 0
	if d.x != nil {
		d.x.arena, d.x.garbage = nil, 0
	}
}

func (d *slotData) maybeCompactArena() {
	if x := d.x; x != nil && x.garbage >= 256 && int(x.garbage)*2 > len(x.arena) {
		d.compactArena()
	}
}

// compactArena rewrites the arena without dead bytes.
func (d *slotData) compactArena() {
	x := d.x
	if x == nil || x.garbage == 0 {
		return
	}
	need := len(x.arena) - int(x.garbage)
	var arena []byte
	if need > 0 {
		arena = make([]byte, 0, need+need/8+8)
	}
	cells := d.tab()
	for i := range cells {
		e := &cells[i]
		if !e.used() || e.inline() || e.dead() {
			continue
		}
		n := e.arenaSize()
		off := uint32(len(arena))
		arena = append(arena, x.arena[e.koff:e.koff+n]...)
		e.koff = off
	}
	x.arena, x.garbage = arena, 0
}

// takeFrom moves the content of src into d, keeping d's counters and user
// lock.
func (d *slotData) takeFrom(src *slotData) {
	d.cells, d.cap, d.n, d.seq, d.minExp = src.cells, src.cap, src.n, src.seq, src.minExp
	var arena []byte
	var garbage uint32
	if src.x != nil {
		arena, garbage = src.x.arena, src.x.garbage
	}
	if d.x != nil || arena != nil {
		x := d.ext()
		x.arena, x.garbage = arena, garbage
	}
	*src = slotData{}
}

// victim picks the entry to evict: an expired one first, then the one
// that expires soonest, then the oldest never-expiring one. It returns -1
// if the slot is empty.
func (d *slotData) victim(autoexp bool, now int64) int {
	best := -1
	var bestExp uint64 = math.MaxUint64
	var bestSeq uint32
	cells := d.tab()
	for i := range cells {
		e := &cells[i]
		if !e.used() {
			continue
		}
		if autoexp && e.expire != 0 && int64(e.expire) < now {
			return i
		}
		x := uint64(e.expire)
		if x == 0 {
			x = math.MaxUint32 + 1 // never-expiring items go last
		}
		if x < bestExp || (x == bestExp && e.seq < bestSeq) {
			best, bestExp, bestSeq = i, x, e.seq
		}
	}
	return best
}

// memBytes approximates the memory the slot content holds outside the
// slot array.
func (d *slotData) memBytes() int64 {
	n := int64(d.cap) * int64(unsafe.Sizeof(entry{}))
	if d.x != nil {
		n += int64(unsafe.Sizeof(*d.x)) + int64(cap(d.x.arena))
	}
	return n
}

// sortedLive returns the cells of the entries for which visible is true,
// in Kamailio's order: by hash, ties in creation order.
func (d *slotData) sortedLive(ps []int32, visible func(*entry) bool) []int32 {
	ps = ps[:0]
	cells := d.tab()
	for i := range cells {
		if e := &cells[i]; e.used() && !e.dead() && visible(e) {
			ps = append(ps, int32(i))
		}
	}
	slices.SortFunc(ps, func(a, b int32) int {
		ea, eb := &cells[a], &cells[b]
		if ea.khash != eb.khash {
			return int64cmp(int64(ea.khash), int64(eb.khash))
		}
		return int64cmp(int64(ea.seq), int64(eb.seq))
	})
	return ps
}
