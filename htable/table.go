package htable

import (
	"errors"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Errors returned by table operations.
var (
	// ErrFull is returned when a table with maxitems is full and no item
	// could be evicted to make room (see Table).
	ErrFull = errors.New("htable: table full")
	// ErrKeyTooLong is returned for keys longer than MaxKeyLen.
	ErrKeyTooLong = errors.New("htable: key too long")
	// ErrTooBig is returned when a slot would need more than 4 GiB.
	ErrTooBig = errors.New("htable: slot storage exceeds 4 GiB")
)

// Clock returns the current time in Unix seconds. Tables read it on every
// operation of a table with autoexpire, so it must be cheap and safe for
// concurrent use.
type Clock func() int64

// SystemClock is the Clock reading time.Now.
func SystemClock() int64 { return time.Now().Unix() }

// Slot layout: tables of up to flatMax slots keep them in one slice;
// larger ones (Kamailio allows up to 2^31) allocate chunks on first use.
const (
	chunkBits = 16
	chunkSize = 1 << chunkBits
	flatMax   = 1 << 20
)

type chunk [chunkSize]slot

// Table is one named hash table: Kamailio's htable. It is safe for
// concurrent use.
//
// # Slots and order
//
// A table has Def.Slots() slots, each with its own lock. A key lives in
// slot Hash(key) & (slots-1), exactly as in Kamailio, so dumps list the
// same slot ("entry") numbers; inside a slot items are listed by their
// 32-bit hash, ties in insertion order. Lookups do not walk the slot: a
// crowded slot has its own index.
//
// # Expiry
//
// On a table with autoexpire, an item expires autoexpire seconds after it
// was created, or after its last update when updateexpire is set, or at
// an explicit time (SetWithExpire, SetExpire). An expired item is
// invisible to every operation (reads, counts, matches, iteration, dumps,
// stats, exports) until the sweeper (Sweep, Registry.Run) removes it and
// reports it to the OnExpired handler. Writing an expired item restarts it
// as a new item with a fresh lifetime. Tables without autoexpire ignore
// every expiry operation.
//
// # Bounded memory (maxitems)
//
// When Def.MaxItems is set and the table is full, inserting a new key
// evicts one item of the new key's slot: an expired item if there is
// one, else the item that expires soonest (with updateexpire that is the
// least recently updated), else the oldest item that never expires. If
// that slot is empty the next slots are tried (without waiting for their
// locks); if none can give an item, the insert fails with ErrFull.
// Updates of existing keys never evict. Evictions are counted in Stats
// and reported as OpEvicted.
//
// # Keys as []byte
//
// Methods taking a key string have a twin with the suffix Bytes taking a
// []byte key; the slice is neither retained nor converted, so callers that
// build keys in a reused buffer allocate nothing. Get, Add and Set of an
// existing key allocate nothing (Get of a string item allocates the
// returned string).
type Table struct {
	def      Def
	mask     uint32
	nslots   int
	flat     []slot
	chunks   []atomic.Pointer[chunk]
	seed     maphash.Seed
	clock    Clock
	autoexp  int64
	updexp   bool
	hasInit  bool
	initval  int64
	maxItems int64
	nitems   atomic.Int64 // items incl. expired ones, kept only with maxItems

	subs      atomic.Pointer[[]*subscription]
	subMu     sync.Mutex
	onExpired atomic.Pointer[func(Item)]
	sweepMu   sync.Mutex // one sweep at a time: the handler sees an item once
	re        reCache
}

// Option configures New and NewRegistry.
type Option func(*options)

type options struct {
	clock    Clock
	interval time.Duration
}

// WithClock makes tables read the time from c (tests inject a fake
// clock). The default for New is SystemClock; a Registry uses a coarse
// clock updated every second while Run is active, and SystemClock
// otherwise.
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithTimerInterval sets how often Registry.Run sweeps expired items
// (Kamailio's timer_interval, default 20 seconds).
func WithTimerInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// New returns an empty table for def.
func New(def Def, opts ...Option) (*Table, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.clock == nil {
		o.clock = SystemClock
	}
	return newTable(def, o.clock, maphash.MakeSeed())
}

func newTable(def Def, clock Clock, seed maphash.Seed) (*Table, error) {
	if err := def.validate(); err != nil {
		return nil, err
	}
	n := def.Slots()
	t := &Table{
		def:      def,
		mask:     uint32(n - 1),
		nslots:   n,
		seed:     seed,
		clock:    clock,
		autoexp:  int64(def.AutoExpire),
		updexp:   def.UpdateExpire != 0,
		hasInit:  def.HasInitVal,
		initval:  def.InitVal,
		maxItems: int64(def.MaxItems),
	}
	if n <= flatMax {
		t.flat = make([]slot, n)
	} else {
		t.chunks = make([]atomic.Pointer[chunk], n/chunkSize)
	}
	return t, nil
}

// Name returns the table name.
func (t *Table) Name() string { return t.def.Name }

// Def returns the table definition.
func (t *Table) Def() Def { return t.def }

// Slots returns the number of slots.
func (t *Table) Slots() int { return t.nslots }

// SlotOf returns the slot index of key.
func (t *Table) SlotOf(key string) int { return int(HashString(key) & t.mask) }

// Now returns the table clock's current time in Unix seconds.
func (t *Table) Now() int64 { return t.clock() }

// slotAt returns slot i, allocating its chunk if needed.
func (t *Table) slotAt(i uint32) *slot {
	if t.flat != nil {
		return &t.flat[i]
	}
	return t.chunkSlot(i)
}

func (t *Table) chunkSlot(i uint32) *slot {
	cp := &t.chunks[i>>chunkBits]
	c := cp.Load()
	if c == nil {
		nc := new(chunk)
		if cp.CompareAndSwap(nil, nc) {
			c = nc
		} else {
			c = cp.Load()
		}
	}
	return &c[i&(chunkSize-1)]
}

// slotIfAny returns slot i or nil when its chunk was never allocated.
func (t *Table) slotIfAny(i int) *slot {
	if t.flat != nil {
		return &t.flat[i]
	}
	c := t.chunks[i>>chunkBits].Load()
	if c == nil {
		return nil
	}
	return &c[i&(chunkSize-1)]
}

// nextSlot returns the first slot index >= i whose chunk exists, or
// t.nslots.
func (t *Table) nextSlot(i int) int {
	if t.flat != nil || i >= t.nslots {
		return i
	}
	for i < t.nslots && t.chunks[i>>chunkBits].Load() == nil {
		i = (i>>chunkBits + 1) << chunkBits
	}
	return i
}

// now returns the time for expiry checks: 0 on tables without autoexpire
// (which never look at it).
func (t *Table) now() int64 {
	if t.autoexp == 0 {
		return 0
	}
	return t.clock()
}

func (t *Table) expired(e *entry, now int64) bool {
	return t.autoexp > 0 && e.expire != 0 && int64(e.expire) < now
}

func clampExp(x int64) uint32 {
	switch {
	case x <= 0:
		return 1
	case x > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(x)
}

// freshExpire is the expiry of a new (or restarted) item: now+ttl when
// ttl > 0, else now+autoexpire; 0 on tables without autoexpire.
func (t *Table) freshExpire(now, ttl int64) uint32 {
	if t.autoexp == 0 {
		return 0
	}
	if ttl > 0 {
		return clampExp(now + ttl)
	}
	return clampExp(now + t.autoexp)
}

// hasSubs reports whether changes must be built.
func (t *Table) hasSubs() bool { return t.subs.Load() != nil }

func (t *Table) emit(c *Change) {
	subs := t.subs.Load()
	if subs == nil {
		return
	}
	c.Table = t
	for _, s := range *subs {
		s.fn(c)
	}
}

// Subscribe registers fn to receive every change of t (see Subscriber for
// the rules fn must follow). The returned function cancels the
// subscription.
func (t *Table) Subscribe(fn Subscriber) (cancel func()) {
	s := &subscription{fn: fn}
	t.addSub(s)
	return func() { t.removeSub(s) }
}

func (t *Table) addSub(s *subscription) {
	t.subMu.Lock()
	defer t.subMu.Unlock()
	var list []*subscription
	if p := t.subs.Load(); p != nil {
		list = append(list, *p...)
	}
	list = append(list, s)
	t.subs.Store(&list)
}

func (t *Table) removeSub(s *subscription) {
	t.subMu.Lock()
	defer t.subMu.Unlock()
	p := t.subs.Load()
	if p == nil {
		return
	}
	var list []*subscription
	for _, x := range *p {
		if x != s {
			list = append(list, x)
		}
	}
	if len(list) == 0 {
		t.subs.Store(nil)
	} else {
		t.subs.Store(&list)
	}
}

// OnExpired registers fn to be called by the sweeper with each expired
// item before it is removed (Kamailio's event_route[htable:expired:<t>]).
// fn runs without any lock held and may use the table; if it refreshes
// the item (sets it again, changes its expiry) the item is kept. fn must
// not call Sweep (sweeps of a table are serialised). nil removes the
// handler.
func (t *Table) OnExpired(fn func(Item)) {
	if fn == nil {
		t.onExpired.Store(nil)
		return
	}
	t.onExpired.Store(&fn)
}

// ---------------------------------------------------------------------
// Reads

// probe holds the hashes of a key.
type probe struct {
	key []byte
	h   uint32 // Kamailio hash
	hh  uint32 // position hash
	si  uint32 // slot index
}

func (t *Table) probe(key []byte) probe {
	h := Hash(key)
	return probe{key: key, h: h, hh: h2(t.seed, key), si: h & t.mask}
}

// Get returns the value of key and true, or the null Value and false when
// key is missing or expired. It ignores initval (see GetInit).
func (t *Table) Get(key string) (Value, bool) { return t.get(sbytes(key)) }

// GetBytes is Get with a []byte key.
func (t *Table) GetBytes(key []byte) (Value, bool) { return t.get(key) }

func (t *Table) get(key []byte) (Value, bool) {
	p := t.probe(key)
	now := t.now()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.gets++
	pos := d.find(p.h, p.hh, key)
	if pos < 0 {
		s.mu.Unlock()
		return Value{}, false
	}
	e := &d.tab()[pos]
	if t.expired(e, now) {
		s.mu.Unlock()
		return Value{}, false
	}
	v := d.value(e)
	s.mu.Unlock()
	return v, true
}

// GetInit reads key as Kamailio's $sht(table=>key) does: the value of a
// live item, else the table's initval when it has one, else null.
func (t *Table) GetInit(key string) Value { return t.getInit(sbytes(key)) }

// GetInitBytes is GetInit with a []byte key.
func (t *Table) GetInitBytes(key []byte) Value { return t.getInit(key) }

func (t *Table) getInit(key []byte) Value {
	v, ok := t.get(key)
	if !ok && t.hasInit {
		return Int(t.initval)
	}
	return v
}

// AppendGet appends the string value of key to dst without allocating;
// for an integer item it returns dst unchanged and the integer. kind is
// KindNull when key is missing or expired.
func (t *Table) AppendGet(dst []byte, key []byte) (out []byte, kind Kind, n int64) {
	p := t.probe(key)
	now := t.now()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.gets++
	pos := d.find(p.h, p.hh, key)
	if pos < 0 || t.expired(&d.tab()[pos], now) {
		s.mu.Unlock()
		return dst, KindNull, 0
	}
	e := &d.tab()[pos]
	if e.isStr() {
		dst = append(dst, d.str(e)...)
		s.mu.Unlock()
		return dst, KindStr, 0
	}
	n = e.num
	s.mu.Unlock()
	return dst, KindInt, n
}

// Lookup returns a copy of the live item key, with its absolute expiry
// (what htable.get shows).
func (t *Table) Lookup(key string) (Item, bool) {
	p := t.probe(sbytes(key))
	now := t.now()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.gets++
	pos := d.find(p.h, p.hh, p.key)
	if pos < 0 || t.expired(&d.tab()[pos], now) {
		s.mu.Unlock()
		return Item{}, false
	}
	e := &d.tab()[pos]
	it := Item{Key: key, Value: d.value(e), Expire: int64(e.expire)}
	s.mu.Unlock()
	return it, true
}

// Has reports whether key has a live item.
func (t *Table) Has(key string) bool {
	_, k, _ := t.AppendGet(nil, sbytes(key))
	return k != KindNull
}

// TTL returns the number of seconds until key expires, as Kamailio's
// $shtex(table=>key) reads it: 0 when the key is missing or expired, when
// it never expires, or when the table has no autoexpire.
func (t *Table) TTL(key string) int64 { return t.ttl(sbytes(key)) }

// TTLBytes is TTL with a []byte key.
func (t *Table) TTLBytes(key []byte) int64 { return t.ttl(key) }

func (t *Table) ttl(key []byte) int64 {
	if t.autoexp == 0 {
		return 0
	}
	p := t.probe(key)
	now := t.clock()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.gets++
	var r int64
	if pos := d.find(p.h, p.hh, key); pos >= 0 {
		e := &d.tab()[pos]
		if e.expire != 0 && !t.expired(e, now) {
			r = int64(e.expire) - now
		}
	}
	s.mu.Unlock()
	return r
}

// ---------------------------------------------------------------------
// Writes

// Writer performs changes marked with an Origin other than OriginLocal
// (the Table methods use OriginLocal). Get one from Table.As.
type Writer struct {
	t *Table
	o Origin
}

// As returns a Writer whose changes carry origin o, so that subscribers
// can recognise them (a DMQ receiver applies peer changes with
// t.As(OriginRemote) and its replicator skips them).
func (t *Table) As(o Origin) Writer { return Writer{t: t, o: o} }

// Set stores v under key; a null v deletes key. See Table for expiry.
func (t *Table) Set(key string, v Value) error { return t.set(OriginLocal, sbytes(key), v, nil, 0) }

// SetInt stores the integer n under key.
func (t *Table) SetInt(key string, n int64) error {
	return t.set(OriginLocal, sbytes(key), Int(n), nil, 0)
}

// SetStr stores the string s under key.
func (t *Table) SetStr(key, s string) error {
	return t.set(OriginLocal, sbytes(key), Value{k: KindStr}, sbytes(s), 0)
}

// SetIntBytes is SetInt with a []byte key.
func (t *Table) SetIntBytes(key []byte, n int64) error {
	return t.set(OriginLocal, key, Int(n), nil, 0)
}

// SetStrBytes is SetStr with []byte key and value (both are copied).
func (t *Table) SetStrBytes(key, s []byte) error {
	return t.set(OriginLocal, key, Value{k: KindStr}, s, 0)
}

// SetWithExpire stores v under key with a lifetime of ttl seconds
// (Kamailio's sht_setxs/sht_setxi, htable.setxs/setxi). ttl <= 0 behaves
// as Set. On a table without autoexpire the lifetime is ignored: the item
// never expires (Kamailio stores the raw number there but never acts on
// it).
func (t *Table) SetWithExpire(key string, v Value, ttl int64) error {
	return t.set(OriginLocal, sbytes(key), v, nil, ttl)
}

// Set is Table.Set with w's origin.
func (w Writer) Set(key string, v Value) error { return w.t.set(w.o, sbytes(key), v, nil, 0) }

// SetWithExpire is Table.SetWithExpire with w's origin.
func (w Writer) SetWithExpire(key string, v Value, ttl int64) error {
	return w.t.set(w.o, sbytes(key), v, nil, ttl)
}

// set stores v (or, when v is a string and sval != nil, the string sval).
func (t *Table) set(o Origin, key []byte, v Value, sval []byte, ttl int64) error {
	if v.k == KindNull {
		t.del(o, key)
		return nil
	}
	if len(key) > MaxKeyLen {
		return ErrKeyTooLong
	}
	isStr := v.k == KindStr
	if isStr && sval == nil {
		sval = sbytes(v.s)
	}
	p := t.probe(key)
	now := t.now()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.sets++
	pos := d.find(p.h, p.hh, key)
	var exp uint32
	if pos < 0 {
		exp = t.freshExpire(now, ttl)
		if err := t.insert(&p, d, isStr, v.n, sval, exp, now); err != nil {
			s.mu.Unlock()
			return err
		}
	} else {
		e := &d.tab()[pos]
		switch {
		case t.autoexp == 0:
		case ttl > 0 || t.expired(e, now):
			e.expire = t.freshExpire(now, ttl)
		case t.updexp:
			e.expire = clampExp(now + t.autoexp)
		}
		exp = e.expire
		d.noteExpire(exp)
		if isStr {
			if !d.setStr(pos, sval) {
				s.mu.Unlock()
				return ErrTooBig
			}
		} else {
			d.setInt(pos, v.n)
		}
	}
	if t.hasSubs() {
		if isStr {
			v = Str(string(sval))
		}
		t.emit(&Change{Op: OpSet, Origin: o, Applied: true, Key: string(key), Value: v, Expire: int64(exp), TTL: max(ttl, 0)})
	}
	s.mu.Unlock()
	return nil
}

// insert adds a new entry to d (slot p.si, locked), evicting first when
// the table is full.
func (t *Table) insert(p *probe, d *slotData, isStr bool, n int64, sval []byte, exp uint32, now int64) error {
	if t.maxItems > 0 && t.nitems.Add(1) > t.maxItems {
		if !t.evict(p.si, d, now) {
			t.nitems.Add(-1)
			return ErrFull
		}
	}
	if !d.add(p.h, p.hh, p.key, isStr, n, sval, exp) {
		if t.maxItems > 0 {
			t.nitems.Add(-1)
		}
		return ErrTooBig
	}
	return nil
}

// evictSpan is how many slots after a full slot evict looks at.
const evictSpan = 16

// evict removes one item to make room for an insert into slot si (whose
// data d is locked).
//
// An item that expires is preferred, first from slot si, then from the
// next evictSpan slots (without waiting for their locks); only then an
// item that never expires, from si or the next slots.
func (t *Table) evict(si uint32, d *slotData, now int64) bool {
	pos := d.victim(t.autoexp > 0, now)
	if pos >= 0 && (t.autoexp == 0 || d.tab()[pos].expire != 0) {
		t.evictAt(d, pos)
		return true
	}
	if t.autoexp > 0 && t.evictNear(si, now, true) {
		return true
	}
	if pos >= 0 {
		t.evictAt(d, pos)
		return true
	}
	return t.evictNear(si, now, false)
}

// evictNear evicts from one of the slots after si, only an item that
// expires when expiring is set.
func (t *Table) evictNear(si uint32, now int64, expiring bool) bool {
	for k := uint32(1); k <= evictSpan && int(k) < t.nslots; k++ {
		s2 := t.slotAt((si + k) & t.mask)
		if !s2.mu.TryLock() {
			continue
		}
		ok := false
		d2 := &s2.d
		if pos := d2.victim(t.autoexp > 0, now); pos >= 0 && (!expiring || d2.tab()[pos].expire != 0) {
			t.evictAt(d2, pos)
			ok = true
		}
		s2.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}

func (t *Table) evictAt(d *slotData, pos int) {
	e := &d.tab()[pos]
	if t.hasSubs() {
		t.emit(&Change{Op: OpEvicted, Origin: OriginLocal, Applied: true, Key: string(d.key(e)), Value: d.value(e), Expire: int64(e.expire)})
	}
	d.removeAt(pos)
	d.ext().evicted++
	t.nitems.Add(-1)
}

// removed accounts for n items leaving the table.
func (t *Table) removed(n int) {
	if t.maxItems > 0 && n > 0 {
		t.nitems.Add(-int64(n))
	}
}

// Delete removes key. It reports whether a live item was removed (an
// expired item is removed too, but reported as missing).
func (t *Table) Delete(key string) bool { return t.del(OriginLocal, sbytes(key)) }

// DeleteBytes is Delete with a []byte key.
func (t *Table) DeleteBytes(key []byte) bool { return t.del(OriginLocal, key) }

// Delete is Table.Delete with w's origin.
func (w Writer) Delete(key string) bool { return w.t.del(w.o, sbytes(key)) }

func (t *Table) del(o Origin, key []byte) bool {
	p := t.probe(key)
	now := t.now()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.ext().deletes++
	pos := d.find(p.h, p.hh, key)
	found := false
	var old Value
	if pos >= 0 {
		e := &d.tab()[pos]
		found = !t.expired(e, now)
		if found && t.hasSubs() {
			old = d.value(e)
		}
		d.removeAt(pos)
		t.removed(1)
	}
	if t.hasSubs() {
		t.emit(&Change{Op: OpDelete, Origin: o, Applied: found, Key: string(key), Value: old})
	}
	s.mu.Unlock()
	return found
}

// Add adds delta to the integer item key and returns the result, as
// Kamailio's $shtinc/$shtdec do, atomically:
//
//   - a live integer item: value += delta; its lifetime restarts when the
//     table has updateexpire;
//   - a missing or expired key: created (or restarted) as initval+delta
//     with a fresh lifetime when the table has initval; otherwise nothing
//     happens and ok is false;
//   - a string item: nothing happens and ok is false.
//
// Integers are 64-bit; they wrap around only at the int64 limits.
func (t *Table) Add(key string, delta int64) (n int64, ok bool) {
	return t.add(OriginLocal, sbytes(key), delta)
}

// AddBytes is Add with a []byte key.
func (t *Table) AddBytes(key []byte, delta int64) (n int64, ok bool) {
	return t.add(OriginLocal, key, delta)
}

// Inc is Add(key, 1) ($shtinc).
func (t *Table) Inc(key string) (int64, bool) { return t.add(OriginLocal, sbytes(key), 1) }

// Dec is Add(key, -1) ($shtdec).
func (t *Table) Dec(key string) (int64, bool) { return t.add(OriginLocal, sbytes(key), -1) }

// Add is Table.Add with w's origin.
func (w Writer) Add(key string, delta int64) (int64, bool) {
	return w.t.add(w.o, sbytes(key), delta)
}

func (t *Table) add(o Origin, key []byte, delta int64) (int64, bool) {
	if len(key) > MaxKeyLen {
		return 0, false
	}
	p := t.probe(key)
	now := t.now()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.incs++
	pos := d.find(p.h, p.hh, key)
	var n int64
	var exp uint32
	if pos < 0 {
		if !t.hasInit {
			s.mu.Unlock()
			return 0, false
		}
		n = t.initval + delta
		exp = t.freshExpire(now, 0)
		if t.insert(&p, d, false, n, nil, exp, now) != nil {
			s.mu.Unlock()
			return 0, false
		}
	} else {
		e := &d.tab()[pos]
		switch {
		case t.expired(e, now):
			if !t.hasInit {
				s.mu.Unlock()
				return 0, false
			}
			n = t.initval + delta
			d.setInt(pos, n)
			e.expire = t.freshExpire(now, 0)
		case e.isStr():
			s.mu.Unlock()
			return 0, false
		default:
			e.num += delta
			n = e.num
			if t.updexp && t.autoexp > 0 {
				e.expire = clampExp(now + t.autoexp)
			}
		}
		exp = e.expire
		d.noteExpire(exp)
	}
	if t.hasSubs() {
		t.emit(&Change{Op: OpAdd, Origin: o, Applied: true, Key: string(key), Value: Int(n), Delta: delta, Expire: int64(exp)})
	}
	s.mu.Unlock()
	return n, true
}

// SetExpire sets the lifetime of the live item key to ttl seconds from
// now, or makes it never expire when ttl <= 0 (Kamailio's
// $shtex(table=>key) = ttl, htable.setex). It does nothing on a table
// without autoexpire or when key is missing or expired, and reports
// whether it changed an item.
func (t *Table) SetExpire(key string, ttl int64) bool {
	return t.setExpire(OriginLocal, sbytes(key), ttl)
}

// SetExpireBytes is SetExpire with a []byte key.
func (t *Table) SetExpireBytes(key []byte, ttl int64) bool {
	return t.setExpire(OriginLocal, key, ttl)
}

// SetExpire is Table.SetExpire with w's origin.
func (w Writer) SetExpire(key string, ttl int64) bool { return w.t.setExpire(w.o, sbytes(key), ttl) }

func (t *Table) setExpire(o Origin, key []byte, ttl int64) bool {
	ttl = max(ttl, 0)
	if t.autoexp == 0 {
		if t.hasSubs() {
			t.emit(&Change{Op: OpSetExpire, Origin: o, Key: string(key), TTL: ttl})
		}
		return false
	}
	p := t.probe(key)
	now := t.clock()
	s := t.slotAt(p.si)
	s.mu.Lock()
	d := &s.d
	d.sets++
	applied := false
	var exp uint32
	if pos := d.find(p.h, p.hh, key); pos >= 0 && !t.expired(&d.tab()[pos], now) {
		if ttl > 0 {
			exp = clampExp(now + ttl)
		}
		d.tab()[pos].expire = exp
		d.noteExpire(exp)
		applied = true
	}
	if t.hasSubs() {
		t.emit(&Change{Op: OpSetExpire, Origin: o, Applied: applied, Key: string(key), Expire: int64(exp), TTL: ttl})
	}
	s.mu.Unlock()
	return applied
}

// Reset removes every item (Kamailio's sht_reset, htable.flush) and
// returns how many live items were removed. Subscribers get one OpReset.
func (t *Table) Reset() int { return t.reset(OriginLocal) }

// Reset is Table.Reset with w's origin.
func (w Writer) Reset() int { return w.t.reset(w.o) }

func (t *Table) reset(o Origin) int {
	now := t.now()
	total := 0
	for i := t.nextSlot(0); i < t.nslots; i = t.nextSlot(i + 1) {
		s := t.slotIfAny(i)
		s.mu.Lock()
		if d := &s.d; d.n > 0 {
			cells := d.tab()
			for j := range cells {
				if e := &cells[j]; e.used() && !t.expired(e, now) {
					total++
				}
			}
			t.removed(int(d.n))
			d.ext().deletes += uint64(d.n)
			d.clear()
		}
		s.mu.Unlock()
	}
	if t.hasSubs() {
		t.emit(&Change{Op: OpReset, Origin: o, Applied: total > 0, Count: total})
	}
	return total
}

// ---------------------------------------------------------------------
// Stats

// Stats describes a table's content and activity.
type Stats struct {
	Slots int
	// Items is the number of live items; MinSlot and MaxSlot are the
	// smallest and largest number of live items in one slot (Kamailio's
	// htable.stats all/min/max).
	Items, MinSlot, MaxSlot int
	// MemBytes approximates the memory the table holds.
	MemBytes int64
	// Operation counters since the table was created.
	Gets, Sets, Incs, Deletes, Expired, Evicted uint64
}

// Stats scans the table and returns its statistics. It locks one slot at a
// time.
func (t *Table) Stats() Stats {
	now := t.now()
	st := Stats{Slots: t.nslots, MinSlot: math.MaxInt}
	st.MemBytes = int64(unsafe.Sizeof(*t)) + int64(cap(t.flat))*int64(unsafe.Sizeof(slot{})) +
		int64(len(t.chunks))*8
	var c counters
	visited := 0
	for i := t.nextSlot(0); i < t.nslots; i = t.nextSlot(i + 1) {
		if t.flat == nil && i&(chunkSize-1) == 0 {
			st.MemBytes += int64(unsafe.Sizeof(chunk{}))
		}
		visited++
		s := t.slotIfAny(i)
		s.mu.Lock()
		d := &s.d
		n := 0
		cells := d.tab()
		for j := range cells {
			if e := &cells[j]; e.used() && !t.expired(e, now) {
				n++
			}
		}
		st.MemBytes += d.memBytes()
		c.addSlot(d)
		s.mu.Unlock()
		st.Items += n
		st.MinSlot = min(st.MinSlot, n)
		st.MaxSlot = max(st.MaxSlot, n)
	}
	if visited < t.nslots || st.MinSlot == math.MaxInt {
		st.MinSlot = 0
	}
	st.Gets, st.Sets, st.Incs, st.Deletes, st.Expired, st.Evicted = c.gets, c.sets, c.incs, c.deletes, c.expired, c.evicted
	return st
}

// Len returns the number of live items.
func (t *Table) Len() int {
	now := t.now()
	n := 0
	for i := t.nextSlot(0); i < t.nslots; i = t.nextSlot(i + 1) {
		s := t.slotIfAny(i)
		s.mu.Lock()
		if d := &s.d; d.n > 0 {
			if t.autoexp == 0 {
				n += int(d.n)
			} else {
				cells := d.tab()
				for j := range cells {
					if e := &cells[j]; e.used() && !t.expired(e, now) {
						n++
					}
				}
			}
		}
		s.mu.Unlock()
	}
	return n
}
