package detector

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"
)

// hotEntry is one blocked source. pending counts the hits DropHot took for
// it since the tree last folded them in.
type hotEntry struct {
	pending atomic.Uint64
	ip      netip.Addr
	idx     int // position in Detector.red, guarded by Detector.mu
}

const hotShards = 64

// hotSet maps blocked addresses to their entries. Readers take one shard's
// read lock; writers (the tree, under Detector.mu) hold a shard's lock for
// one map insert or delete.
type hotSet struct {
	count  atomic.Int64
	shards [hotShards]hotShard
}

type hotShard struct {
	mu sync.RWMutex
	m  map[netip.Addr]*hotEntry
	_  [32]byte // keep shards on separate cache lines
}

func (h *hotSet) init() {
	for i := range h.shards {
		h.shards[i].m = make(map[netip.Addr]*hotEntry)
	}
}

func (h *hotSet) shard(ip netip.Addr) *hotShard {
	a := ip.As16()
	x := (binary.LittleEndian.Uint64(a[:8]) ^ binary.LittleEndian.Uint64(a[8:])) * 0x9E3779B97F4A7C15
	return &h.shards[x>>(64-6)]
}

func (h *hotSet) get(ip netip.Addr) *hotEntry {
	s := h.shard(ip)
	s.mu.RLock()
	e := s.m[ip]
	s.mu.RUnlock()
	return e
}

func (h *hotSet) add(ip netip.Addr, e *hotEntry) {
	s := h.shard(ip)
	s.mu.Lock()
	if _, dup := s.m[ip]; !dup {
		h.count.Add(1)
	}
	s.m[ip] = e
	s.mu.Unlock()
}

func (h *hotSet) remove(ip netip.Addr) {
	s := h.shard(ip)
	s.mu.Lock()
	if _, ok := s.m[ip]; ok {
		delete(s.m, ip)
		h.count.Add(-1)
	}
	s.mu.Unlock()
}
