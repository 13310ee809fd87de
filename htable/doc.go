// Package htable is an implementation of Kamailio's htable in Go: named
// in-memory hash tables of integer or string items with per-item expiry.
// It has no SIP in it and can be used on its own.
//
// A table is defined in Kamailio's syntax and behaves as Kamailio's does:
//
//	ipban=>size=8;autoexpire=300;initval=0
//
// It has 2^size slots (see SlotCount for Kamailio's exact rule), each with
// its own lock; a key lives in slot Hash(key) & (slots-1), Kamailio's
// case-insensitive core hash, while keys are compared case-sensitively.
// Dumps list the same slot ("entry") numbers as Kamailio, items in the
// same order. Items are int64 or string values; reads of missing keys may
// return the table's initval; Add implements $shtinc/$shtdec; CountNames
// and CountValues implement $shtcn/$shtcv; RemoveNames/RemoveValues and
// HasName/HasStrValue implement sht_rm_* and sht_has_*; Lock/Unlock
// implement sht_lock/sht_unlock; Iterator implements sht_iterator_*.
//
// Items of a table with autoexpire expire autoexpire seconds after their
// creation (or last update with updateexpire). An expired item is
// invisible to every operation until the sweeper (Table.Sweep,
// Registry.Run) removes it and hands it to the table's OnExpired handler.
// The time comes from an injectable Clock.
//
// Every change can be observed (Table.Subscribe, Registry.Subscribe) with
// enough detail to replicate it to a cluster or persist it to a database;
// changes made on behalf of a peer or a database load carry an Origin
// (Table.As) so that such subscribers do not echo them. Export, Import and
// Replace move whole tables in and out.
//
// The engine is built for a SIP server that reads and writes tables on
// every message: Get, Add and Set of existing keys do not allocate, keys
// can be passed as []byte, lookups do not walk crowded slots, 1M items
// with IPv4 keys take about 72 bytes each, and an optional maxitems bound
// keeps memory flat under floods of new keys.
//
// Where Kamailio's behaviour is a trap (expired items still counted and
// dumped, counters that wrap at 32 bits, an expired item that an update
// cannot revive), this package does the right thing; docs/kamailio-differences.md (in
// sipht's repository) lists each case.
package htable
