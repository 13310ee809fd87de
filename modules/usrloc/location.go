package usrloc

import (
	"sync"
	"sync/atomic"
)

// QUnspecified is the q value of a contact registered without one.
const QUnspecified = -1

// AllMethods is the Methods value of a contact that accepts every method
// (Kamailio prints it as -1: all bits set).
const AllMethods = ^uint32(0)

// Contact is one binding of an address of record (Kamailio's ucontact_t).
// Fields are read and changed only with the record's slot locked (inside
// Domain.With, Domain.View and Domain.Range callbacks).
type Contact struct {
	// URI is the contact URI as the Contact header carried it (without
	// <> and header parameters).
	URI string
	// Expires is the absolute expiry in Unix seconds; 0 means permanent
	// (a contact added by ul.add with expires 0).
	Expires int64
	// Q is 0..1000 (q=1 is 1000) or QUnspecified.
	Q         int
	CallID    string
	CSeq      int
	UserAgent string
	Received  string
	Path      string
	// Socket is the local socket the REGISTER came in on, as Kamailio
	// prints it ("udp:127.0.0.1:5060").
	Socket   string
	Methods  uint32
	Instance string
	RegID    int
	RUID     string
	Flags    uint32
	CFlags   uint32
	ServerID int
	// TCPConnID is the TCP connection id (-1 for UDP).
	TCPConnID     int
	Keepalive     int
	LastKeepalive int64
	LastModified  int64
}

// Valid reports whether the contact is usable at time now (Unix seconds):
// not expired, or permanent (Kamailio's VALID_CONTACT).
func (c *Contact) Valid(now int64) bool { return c.Expires > now || c.Expires == 0 }

// Record is an address of record and its contacts (urecord_t), in
// Kamailio's order: by descending q, or newest first with desc_time_order.
type Record struct {
	AOR      string
	Hash     uint32
	Contacts []*Contact

	prev, next *Record // slot list, in insertion order (ul.dump order)
}

// slot is one hash slot of a domain: its records by AoR and in insertion
// order, under one lock.
type slot struct {
	mu    sync.Mutex
	recs  map[string]*Record
	first *Record
	last  *Record
	n     int
}

// Domain is one location table (Kamailio's udomain: "location").
type Domain struct {
	name          string
	slots         []slot
	mask          uint32
	descTimeOrder bool
	records       atomic.Int64
	contacts      atomic.Int64
	now           func() int64
}

func newDomain(name string, hashSizeBits int, descTimeOrder bool, now func() int64) *Domain {
	n := 1 << hashSizeBits
	d := &Domain{name: name, slots: make([]slot, n), mask: uint32(n - 1), descTimeOrder: descTimeOrder, now: now}
	for i := range d.slots {
		d.slots[i].recs = map[string]*Record{}
	}
	return d
}

// Name returns the table name.
func (d *Domain) Name() string { return d.name }

// Size returns the number of hash slots.
func (d *Domain) Size() int { return len(d.slots) }

// Records returns the number of records held.
func (d *Domain) Records() int64 { return d.records.Load() }

// Contacts returns the number of contacts held.
func (d *Domain) ContactCount() int64 { return d.contacts.Load() }

// Txn is the locked view of one AoR inside Domain.With.
type Txn struct {
	d    *Domain
	s    *slot
	aor  string
	hash uint32
	rec  *Record
}

// Record returns the AoR's record, or nil when it has none.
func (t *Txn) Record() *Record { return t.rec }

// AOR returns the address of record.
func (t *Txn) AOR() string { return t.aor }

// Create returns the record, creating an empty one when missing.
func (t *Txn) Create() *Record {
	if t.rec == nil {
		r := &Record{AOR: t.aor, Hash: t.hash}
		t.s.recs[t.aor] = r
		if t.s.last == nil {
			t.s.first, t.s.last = r, r
		} else {
			r.prev = t.s.last
			t.s.last.next = r
			t.s.last = r
		}
		t.s.n++
		t.d.records.Add(1)
		t.rec = r
	}
	return t.rec
}

// DeleteRecord removes the record and all its contacts.
func (t *Txn) DeleteRecord() {
	if t.rec == nil {
		return
	}
	t.d.contacts.Add(-int64(len(t.rec.Contacts)))
	t.rec.Contacts = nil
	t.d.unlink(t.s, t.rec)
	t.rec = nil
}

func (d *Domain) unlink(s *slot, r *Record) {
	delete(s.recs, r.AOR)
	if r.prev != nil {
		r.prev.next = r.next
	} else {
		s.first = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	} else {
		s.last = r.prev
	}
	r.prev, r.next = nil, nil
	s.n--
	d.records.Add(-1)
}

// Insert adds a contact in Kamailio's position: before the first contact
// with a lower q (q order), or first (desc_time_order).
func (t *Txn) Insert(c *Contact) {
	r := t.Create()
	i := 0
	if !t.d.descTimeOrder {
		for i < len(r.Contacts) && r.Contacts[i].Q >= c.Q {
			i++
		}
	}
	r.Contacts = append(r.Contacts, nil)
	copy(r.Contacts[i+1:], r.Contacts[i:])
	r.Contacts[i] = c
	t.d.contacts.Add(1)
}

// Delete removes a contact of the record.
func (t *Txn) Delete(c *Contact) {
	r := t.rec
	if r == nil {
		return
	}
	for i, o := range r.Contacts {
		if o == c {
			r.Contacts = append(r.Contacts[:i], r.Contacts[i+1:]...)
			r.Contacts[len(r.Contacts):cap(r.Contacts)][0] = nil
			t.d.contacts.Add(-1)
			return
		}
	}
}

// Moved repositions c after its q changed, exactly as Kamailio's
// update_contact_pos does (newest first with desc_time_order).
func (t *Txn) Moved(c *Contact) {
	r := t.rec
	if r == nil {
		return
	}
	idx := -1
	for i, o := range r.Contacts {
		if o == c {
			idx = i
			break
		}
	}
	if idx < 0 {
		return
	}
	if t.d.descTimeOrder {
		if idx == 0 {
			return
		}
		copy(r.Contacts[1:idx+1], r.Contacts[:idx])
		r.Contacts[0] = c
		return
	}
	if (idx == 0 || c.Q <= r.Contacts[idx-1].Q) && (idx == len(r.Contacts)-1 || c.Q >= r.Contacts[idx+1].Q) {
		return
	}
	rest := append(r.Contacts[:idx:idx], r.Contacts[idx+1:]...)
	pos := 0
	for pos < len(rest) && rest[pos].Q < c.Q {
		pos++
	}
	out := make([]*Contact, 0, len(r.Contacts))
	out = append(out, rest[:pos]...)
	out = append(out, c)
	out = append(out, rest[pos:]...)
	r.Contacts = out
}

// With locks the AoR's slot and runs fn. A record left without contacts is
// removed when fn returns.
func (d *Domain) With(aor string, fn func(t *Txn)) {
	h := CoreHash(aor)
	s := &d.slots[h&d.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	t := Txn{d: d, s: s, aor: aor, hash: h, rec: s.recs[aor]}
	fn(&t)
	if t.rec != nil && len(t.rec.Contacts) == 0 {
		d.unlink(s, t.rec)
	}
}

// View runs fn with the AoR's record (nil when absent) and its slot
// locked; fn must not change it.
func (d *Domain) View(aor string, fn func(r *Record)) {
	h := CoreHash(aor)
	s := &d.slots[h&d.mask]
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.recs[aor])
}

// Range calls fn for every record, slot by slot in slot order and within a
// slot in insertion order (Kamailio's ul.dump order), with the slot
// locked. slotStart is called before each slot's records with the slot's
// record count. fn returning false stops the walk.
func (d *Domain) Range(fn func(r *Record) bool, slotStart func(n int)) {
	for i := range d.slots {
		s := &d.slots[i]
		s.mu.Lock()
		if slotStart != nil {
			slotStart(s.n)
		}
		for r := s.first; r != nil; r = r.next {
			if !fn(r) {
				s.mu.Unlock()
				return
			}
		}
		s.mu.Unlock()
	}
}

// Expire removes the contacts that expired before now (Unix seconds) and
// the records left empty, slot by slot (usrloc's timer in db_mode 0). It
// returns how many contacts it removed.
func (d *Domain) Expire(now int64) int {
	removed := 0
	for i := range d.slots {
		s := &d.slots[i]
		s.mu.Lock()
		for r := s.first; r != nil; {
			next := r.next
			kept := r.Contacts[:0]
			for _, c := range r.Contacts {
				if c.Valid(now) {
					kept = append(kept, c)
				} else {
					removed++
				}
			}
			for j := len(kept); j < len(r.Contacts); j++ {
				r.Contacts[j] = nil
			}
			r.Contacts = kept
			if len(kept) == 0 {
				d.unlink(s, r)
			}
			r = next
		}
		s.mu.Unlock()
	}
	d.contacts.Add(-int64(removed))
	return removed
}

// CoreHash is Kamailio's core_hash of one string (usrloc's aorhash), with
// C's signed-char arithmetic, so slot order and HashID match Kamailio's.
func CoreHash(s string) uint32 {
	var h, v uint32
	sc := func(b byte) uint32 { return uint32(int32(int8(b))) }
	i := 0
	for ; i+4 <= len(s); i += 4 {
		v = sc(s[i])<<24 + sc(s[i+1])<<16 + sc(s[i+2])<<8 + sc(s[i+3])
		h += v ^ (v >> 3)
	}
	v = 0
	for ; i < len(s); i++ {
		v <<= 8
		v += sc(s[i])
	}
	h += v ^ (v >> 3)
	return (h + (h >> 11)) + ((h >> 13) + (h >> 23))
}

// Now returns the domain's clock in Unix seconds.
func (d *Domain) Now() int64 { return d.now() }

// DeleteByRUID removes the contact with the given ruid from whichever
// record holds it; false when none does.
func (d *Domain) DeleteByRUID(ruid string) bool {
	for i := range d.slots {
		s := &d.slots[i]
		s.mu.Lock()
		for r := s.first; r != nil; r = r.next {
			for j, c := range r.Contacts {
				if c.RUID != ruid {
					continue
				}
				r.Contacts = append(r.Contacts[:j], r.Contacts[j+1:]...)
				r.Contacts[len(r.Contacts):cap(r.Contacts)][0] = nil
				d.contacts.Add(-1)
				if len(r.Contacts) == 0 {
					d.unlink(s, r)
				}
				s.mu.Unlock()
				return true
			}
		}
		s.mu.Unlock()
	}
	return false
}
