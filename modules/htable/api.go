package htable

import (
	"fmt"
	"net/netip"

	ht "github.com/sipht/sipht/htable"
)

// This file is the module's API for other Go code in the server (pike's
// early drop, the DMQ replication). Reach the module with
//
//	mod, ok := h.Loaded("htable")
//	hm, ok := mod.(*htable.Module)
//
// Everything here is safe for concurrent use. Tables are created from the
// "htable" modparams the first time Registry (or any method below) is
// called, so other modules may use them from their own Init.
//
// # Changes and origins (for DMQ)
//
// Every change of a table is observable with Subscribe (engine
// ht.Change, with its Op and Origin). The module writes with these
// origins:
//
//   - ht.OriginLocal: the script ($sht, $shtinc, $shtex, sht_rm*,
//     sht_setx*, sht_reset), the RPC commands, the expiry sweeper.
//     Kamailio replicates these (for tables with dmqreplicate=1) except
//     the ops OpReset (sht_reset, htable.flush), OpExpired, OpEvicted,
//     and OpRemoved (per-item part of a pattern removal, which Kamailio
//     replicates as one RM_CELL_RE/SW: OpRemoveMatch).
//   - OriginUnreplicated: sht_iterator_rm/sets/seti/setex, which Kamailio
//     does not replicate.
//   - ht.OriginLoad: database loads (start-up, htable.reload): never
//     replicated, never written back by write-behind.
//   - ht.OriginRemote: reserved for changes applied on behalf of a DMQ
//     peer (Table.As(ht.OriginRemote)); the replicator must skip them so
//     that nothing echoes. Write-behind (dbmode=2) persists them.
//
// Bulk: Table.Export walks live items (name, value, absolute expiry) for a
// sync reply; Table.As(ht.OriginRemote).Import applies a received cell
// with Kamailio's expiry rule.

// Registry returns the tables (see the method's doc in module.go).

// Table returns the table called name, or nil.
func (m *Module) Table(name string) *ht.Table { return m.Registry().Table(name) }

// Defs returns the table definitions in config order.
func (m *Module) Defs() []ht.Def { return append([]ht.Def(nil), m.p.defs...) }

// Subscribe registers fn for every change of every table (see
// ht.Subscriber for the rules fn must follow: it runs under the key's slot
// lock, must not block and must not call the same table). The returned
// function cancels it.
func (m *Module) Subscribe(fn ht.Subscriber) (cancel func()) { return m.Registry().Subscribe(fn) }

// DMQEnabled reports the enable_dmq modparam.
func (m *Module) DMQEnabled() bool { return m.p.enableDMQ != 0 }

// DMQInitSync reports the dmq_init_sync modparam.
func (m *Module) DMQInitSync() bool { return m.p.dmqInitSync != 0 }

// BanChecker returns a function that reports whether an address has a
// live item in table (its key being the address as $si prints it:
// "192.0.2.7", "2001:db8::1"), for pike's early drop of banned sources. It
// does not allocate (for values up to 64 bytes): the key is formatted into
// a stack buffer and looked up as []byte. IPv4-mapped IPv6 addresses are checked in their IPv4
// form. A table that is not defined is an error.
func (m *Module) BanChecker(table string) (func(netip.Addr) bool, error) {
	t := m.Table(table)
	if t == nil {
		return nil, fmt.Errorf("htable %q is not defined (tables: %s)", table, m.tableNames())
	}
	return func(a netip.Addr) bool {
		var buf [64]byte
		k := a.Unmap().WithZone("").AppendTo(buf[:0])
		return exists(t, k)
	}, nil
}

// Contains reports whether table has a live item named key (false for an
// undefined table). It does not allocate.
func (m *Module) Contains(table string, key []byte) bool {
	t := m.Registry().Table(table)
	if t == nil {
		return false
	}
	return exists(t, key)
}

// exists reports whether t has a live item key; string values up to 64
// bytes are copied into a stack buffer, so nothing is allocated.
func exists(t *ht.Table, key []byte) bool {
	var vb [64]byte
	_, kind, _ := t.AppendGet(vb[:0], key)
	return kind != ht.KindNull
}
