package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"math/bits"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Extra checks a nonce can be bound to (auth's auth_checks_register,
// auth_checks_no_dlg and auth_checks_in_dlg modparams; same bits as
// Kamailio).
const (
	CheckRURI    = 1 << 0 // the Request-URI
	CheckCallID  = 1 << 1 // the Call-ID
	CheckFromTag = 1 << 2 // the From tag
	CheckSrcIP   = 1 << 3 // the source IP address
)

// NonceStatus is the outcome of checking a nonce.
type NonceStatus int8

// Nonce check outcomes.
const (
	NonceOK      NonceStatus = iota // valid, not expired
	NonceInvalid                    // not ours: bad encoding, bad signature, truncated
	NonceStale                      // ours but expired, from before this start, from the future, replayed nc, or bound to other message data
	NonceReused                     // one-time nonce used again (one_time_nonce)
	NonceBadNC                      // nonce_count: the nc parameter is not 8 hex digits
)

// String names the status.
func (s NonceStatus) String() string {
	switch s {
	case NonceOK:
		return "ok"
	case NonceInvalid:
		return "invalid"
	case NonceStale:
		return "stale"
	case NonceReused:
		return "reused"
	case NonceBadNC:
		return "bad nc"
	}
	return "unknown"
}

// NonceOptions configure Nonces.
type NonceOptions struct {
	// Secret signs the nonces. Empty means 32 random bytes (nonces then
	// become stale at restart); several servers given the same secret
	// accept each other's nonces.
	Secret []byte
	// Expire is the nonce lifetime (nonce_expire, default 300 s).
	Expire time.Duration
	// MaxDrift is how far in the future a nonce's creation time may be
	// (nonce_auth_max_drift, default 3 s).
	MaxDrift time.Duration
	// NonceCount enables nc replay protection (nonce_count) with a table
	// of NCArraySize entries (nc_array_size, default 1M, rounded down to a
	// power of two; one byte each).
	NonceCount  bool
	NCArraySize int
	// OneTime makes each nonce valid once (one_time_nonce), tracking
	// OTNInFlight nonces (otn_in_flight_no, default 1M, one bit each).
	OneTime     bool
	OTNInFlight int
	// Now replaces the clock (tests).
	Now func() time.Time
}

// Nonces creates and checks the nonces of digest challenges. A nonce is
// opaque to clients: base64 (RFC 4648, no padding) of
//
//	since (4 bytes, big-endian Unix seconds) | expire (4 bytes)
//	[ nonce id (4 bytes) | flags (1 byte) ]   when nonce_count or one_time_nonce is on
//	HMAC-SHA-256(key1, the bytes above), first 16 bytes
//	[ HMAC-SHA-256(key2, the message data of auth_checks_*), first 16 bytes ]
//
// key1 and key2 are derived from the secret. Checking decodes into a stack
// buffer and compares MACs in constant time; it does not allocate. The nc
// and one-time tables are fixed-size arrays indexed by nonce id, updated
// with atomic compare-and-swap, so memory stays bounded whatever the load.
type Nonces struct {
	mac1, mac2 sync.Pool
	expire     int64
	drift      int64
	upSince    atomic.Int64
	now        func() time.Time

	nid     atomic.Uint32
	ids     bool
	nc      []atomic.Uint32 // nc values, 4 bytes per word
	ncMask  uint32
	otn     []atomic.Uint64 // one bit per nonce id
	otnMask uint32
}

// Flags byte of a nonce with an id.
const (
	nfNC  = 0x80 // nc tracked for this nonce
	nfOTN = 0x40 // one-time use tracked
)

const macLen = 16

type macState struct {
	h   hash.Hash
	in  [32]byte
	out [sha256.Size]byte
}

// NewNonces returns a nonce generator/checker.
func NewNonces(o NonceOptions) (*Nonces, error) {
	secret := o.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, err
		}
	}
	k1 := deriveKey(secret, "sipht auth nonce v1")
	k2 := deriveKey(secret, "sipht auth nonce checks v1")
	n := &Nonces{now: o.Now}
	if n.now == nil {
		n.now = time.Now
	}
	n.mac1.New = func() any { return &macState{h: hmac.New(sha256.New, k1)} }
	n.mac2.New = func() any { return &macState{h: hmac.New(sha256.New, k2)} }
	if o.Expire <= 0 {
		o.Expire = 300 * time.Second
	}
	if o.MaxDrift < 0 {
		return nil, errors.New("nonce_auth_max_drift must not be negative")
	}
	n.expire = int64(o.Expire / time.Second)
	if n.expire < 1 {
		n.expire = 1
	}
	n.drift = int64(o.MaxDrift / time.Second)
	n.upSince.Store(n.now().Unix())
	if o.NonceCount {
		size := pow2Floor(o.NCArraySize, 1<<20)
		if size < 4 {
			size = 4
		}
		n.nc = make([]atomic.Uint32, size/4)
		n.ncMask = uint32(size - 1)
		n.ids = true
	}
	if o.OneTime {
		size := pow2Floor(o.OTNInFlight, 1<<20)
		if size < 64 {
			size = 64
		}
		n.otn = make([]atomic.Uint64, size/64)
		n.otnMask = uint32(size - 1)
		n.ids = true
	}
	return n, nil
}

func deriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// pow2Floor rounds n down to a power of two (def when n <= 0), at most 2^30.
func pow2Floor(n, def int) int {
	if n <= 0 {
		n = def
	}
	if n > 1<<30 {
		n = 1 << 30
	}
	return 1 << (bits.Len(uint(n)) - 1)
}

// CheckData is the message data a nonce is bound to by the auth_checks_*
// modparams.
type CheckData struct {
	Flags   int // CheckRURI | CheckCallID | ...
	RURI    string
	CallID  string
	FromTag string
	SrcIP   netip.Addr
}

func (n *Nonces) layout(extra bool) (withIDs bool, size int) {
	size = 8 + macLen
	if n.ids {
		size += 5
	}
	if extra {
		size += macLen
	}
	return n.ids, size
}

// MaxLen is the longest nonce Append produces (base64 text).
const MaxLen = (8 + 5 + 2*macLen + 2) / 3 * 4

// Append appends a new nonce, bound to d's data when d.Flags != 0, to dst.
func (n *Nonces) Append(dst []byte, d *CheckData) []byte {
	now := n.now().Unix()
	var raw [8 + 5 + 2*macLen]byte
	binary.BigEndian.PutUint32(raw[0:], uint32(now))
	binary.BigEndian.PutUint32(raw[4:], uint32(now+n.expire))
	p := 8
	if n.ids {
		id := n.nid.Add(1)
		var flags byte
		if n.nc != nil {
			n.ncReset(id)
			flags |= nfNC
		}
		if n.otn != nil {
			n.otnReset(id)
			flags |= nfOTN
		}
		binary.BigEndian.PutUint32(raw[8:], id)
		raw[12] = flags
		p = 13
	}
	n.sign1(raw[p:p+macLen], raw[:p])
	p += macLen
	if d != nil && d.Flags != 0 {
		n.sign2(raw[p:p+macLen], d)
		p += macLen
	}
	return base64.RawStdEncoding.AppendEncode(dst, raw[:p])
}

// New returns a new nonce as a string.
func (n *Nonces) New(d *CheckData) string {
	var b [MaxLen]byte
	return string(n.Append(b[:0], d))
}

func (n *Nonces) sign1(dst, data []byte) {
	m := n.mac1.Get().(*macState)
	m.h.Reset()
	c := copy(m.in[:], data)
	m.h.Write(m.in[:c])
	copy(dst, m.h.Sum(m.out[:0]))
	n.mac1.Put(m)
}

func (n *Nonces) sign2(dst []byte, d *CheckData) {
	m := n.mac2.Get().(*macState)
	m.h.Reset()
	writeField := func(flag int, s string) {
		var l [5]byte
		l[0] = byte(flag)
		binary.BigEndian.PutUint32(l[1:], uint32(len(s)))
		copy(m.in[:], l[:])
		m.h.Write(m.in[:5])
		m.h.Write(unsafeBytes(s))
	}
	if d.Flags&CheckRURI != 0 {
		writeField(CheckRURI, d.RURI)
	}
	if d.Flags&CheckCallID != 0 {
		writeField(CheckCallID, d.CallID)
	}
	if d.Flags&CheckFromTag != 0 {
		writeField(CheckFromTag, d.FromTag)
	}
	if d.Flags&CheckSrcIP != 0 {
		ip := d.SrcIP.Unmap().As16()
		m.in[0] = CheckSrcIP
		copy(m.in[1:], ip[:])
		m.h.Write(m.in[:17])
	}
	copy(dst, m.h.Sum(m.out[:0]))
	n.mac2.Put(m)
}

// Check validates a nonce received in credentials, in the order Kamailio's
// check_nonce uses: a nonce created before this Nonces was (a previous run)
// or too far in the future is stale before its signature is looked at; a
// bad signature or length makes it invalid; then nc replay (nonce_count)
// makes it stale, a second use (one_time_nonce) reused, a mismatch of the
// bound message data stale, and expiry stale. nc is the credentials' nc
// parameter ("" when absent).
func (n *Nonces) Check(nonce string, d *CheckData, nc string) NonceStatus {
	extra := d != nil && d.Flags != 0
	withIDs, size := n.layout(extra)
	if len(nonce) < base64.RawStdEncoding.EncodedLen(8+macLen) || len(nonce) > MaxLen+4 {
		return NonceInvalid
	}
	var raw [MaxLen]byte
	got, err := base64.RawStdEncoding.Decode(raw[:], unsafeBytes(nonce))
	if err != nil || got < 8+macLen {
		return NonceInvalid
	}
	now := n.now().Unix()
	since := int64(binary.BigEndian.Uint32(raw[0:]))
	expire := int64(binary.BigEndian.Uint32(raw[4:]))
	if up := n.upSince.Load(); since < up {
		if now < up {
			// the clock went back after start: restart the window
			n.upSince.Store(now)
		}
		if since < now {
			return NonceStale
		}
	}
	if since > now && since-now > n.drift {
		return NonceStale
	}
	if got != size {
		return NonceInvalid
	}
	p := 8
	var id uint32
	var flags byte
	if withIDs {
		id = binary.BigEndian.Uint32(raw[8:])
		flags = raw[12]
		p = 13
	}
	var want [macLen]byte
	n.sign1(want[:], raw[:p])
	if subtle.ConstantTimeCompare(want[:], raw[p:p+macLen]) != 1 {
		return NonceInvalid
	}
	p += macLen
	if n.otn != nil && flags&nfOTN == 0 {
		return NonceStale
	}
	if n.nc != nil && flags&nfNC != 0 && nc != "" {
		v, ok := parseNC(nc)
		if !ok {
			return NonceBadNC
		}
		if !n.ncCheck(id, v) {
			return NonceStale
		}
		// with a valid nc, one-time and extra checks are not done (as
		// Kamailio)
		goto expiry
	}
	if n.otn != nil && flags&nfOTN != 0 {
		if !n.otnCheck(id) {
			return NonceReused
		}
	}
	if extra {
		n.sign2(want[:], d)
		if subtle.ConstantTimeCompare(want[:], raw[p:p+macLen]) != 1 {
			return NonceStale
		}
	}
expiry:
	if expire < now {
		return NonceStale
	}
	return NonceOK
}

// parseNC reads an nc value: exactly 8 hex digits.
func parseNC(s string) (uint32, bool) {
	if len(s) != 8 {
		return 0, false
	}
	var v uint32
	for i := 0; i < 8; i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}

// ncWindow reports whether id is recent enough to still own its slot.
func (n *Nonces) inWindow(id uint32, mask uint32) bool {
	return n.nid.Load()-id <= mask
}

func (n *Nonces) ncReset(id uint32) {
	slot := id & n.ncMask
	w, shift := &n.nc[slot/4], (slot%4)*8
	for {
		v := w.Load()
		nv := v &^ (0xff << shift)
		if w.CompareAndSwap(v, nv) {
			return
		}
	}
}

// ncCheck records nc for nonce id; false means a replay (nc not greater
// than the last one seen), an nc above 255 or an id too old for the table:
// all answered as stale, so the client gets a fresh nonce.
func (n *Nonces) ncCheck(id, nc uint32) bool {
	if !n.inWindow(id, n.ncMask) || nc > 0xff {
		return false
	}
	slot := id & n.ncMask
	w, shift := &n.nc[slot/4], (slot%4)*8
	for {
		v := w.Load()
		if (v>>shift)&0xff >= nc {
			return false
		}
		nv := v&^(0xff<<shift) | nc<<shift
		if w.CompareAndSwap(v, nv) {
			return true
		}
	}
}

func (n *Nonces) otnReset(id uint32) {
	slot := id & n.otnMask
	n.otn[slot/64].And(^(uint64(1) << (slot % 64)))
}

// otnCheck marks nonce id used; false when it was used already or is too
// old for the table.
func (n *Nonces) otnCheck(id uint32) bool {
	if !n.inWindow(id, n.otnMask) {
		return false
	}
	slot := id & n.otnMask
	bit := uint64(1) << (slot % 64)
	old := n.otn[slot/64].Or(bit)
	return old&bit == 0
}
