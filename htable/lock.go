package htable

import "sync"

// userLock is the per-slot lock of sht_lock/sht_unlock: re-entrant for
// one owner, independent of the lock that guards the slot's data.
type userLock struct {
	mu    sync.Mutex
	owner any
	depth int
	sem   chan struct{}
}

// userLockOf returns key's slot user lock, creating it.
func (t *Table) userLockOf(key string) *userLock {
	s := t.slotAt(HashString(key) & t.mask)
	s.mu.Lock()
	d := &s.d
	x := d.ext()
	if x.ulock == nil {
		x.ulock = &userLock{sem: make(chan struct{}, 1)}
	}
	ul := x.ulock
	s.mu.Unlock()
	return ul
}

// Lock acquires the user lock of key's slot for owner (Kamailio's
// sht_lock("table=>key")). It is re-entrant: an owner already holding the
// lock only increments a count. owner must be comparable (a pointer to
// the caller's per-message context is typical); nil is not an owner and
// never re-enters.
//
// The user lock is separate from the lock that guards the slot's data:
// Get, Set, Add ... by the holder (or anyone else) proceed while it is
// held, so a goroutine cannot deadlock itself by reading or writing a key
// it locked. The lock only excludes other Lock callers: code that reads,
// computes and writes a key under Lock is atomic with respect to other
// code that does the same, not to plain writes (use Add for counters).
func (t *Table) Lock(key string, owner any) {
	ul := t.userLockOf(key)
	if owner != nil {
		ul.mu.Lock()
		if ul.depth > 0 && ul.owner == owner {
			ul.depth++
			ul.mu.Unlock()
			return
		}
		ul.mu.Unlock()
	}
	ul.sem <- struct{}{}
	ul.mu.Lock()
	ul.owner, ul.depth = owner, 1
	ul.mu.Unlock()
}

// Unlock releases one Lock of key's slot by owner (sht_unlock). It
// reports false, and does nothing, when owner does not hold the lock.
func (t *Table) Unlock(key string, owner any) bool {
	ul := t.userLockOf(key)
	ul.mu.Lock()
	if ul.depth == 0 || ul.owner != owner {
		ul.mu.Unlock()
		return false
	}
	ul.depth--
	if ul.depth > 0 {
		ul.mu.Unlock()
		return true
	}
	ul.owner = nil
	ul.mu.Unlock()
	<-ul.sem
	return true
}
