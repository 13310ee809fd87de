// Package htable is Kamailio's htable module on sipht's table engine
// (package github.com/sipht/sipht/htable, imported here as ht): named
// in-memory hash tables with per-item expiry that the routing script reads
// and writes per message, managed over RPC and kept in a database.
//
//	loadmodule "htable.so"
//	modparam("htable", "htable", "ipban=>size=8;autoexpire=300;initval=0")
//	modparam("htable", "db_url", "sqlite:///./data/sipht.db")
//	...
//	if ($shtinc(ipban=>$si) > 10) { sl_send_reply("403", "Banned"); exit; }
//
// # What it provides
//
//   - Modparams: htable (repeatable, ht.ParseDef syntax; errors name the
//     attribute), db_url, key_name_column, key_type_column,
//     value_type_column, key_value_column, expires_column,
//     array_size_suffix, fetch_rows, timer_interval, db_expires,
//     enable_dmq, dmq_init_sync, timer_procs (ignored), event_callback
//     (rejected: no KEMI), event_callback_mode, and sipht's
//     write_behind_interval and write_behind_max_pending (dbmode=2).
//   - Pseudo-variables: $sht(t=>k), $shtex, $shtcn, $shtcv, $shtinc,
//     $shtdec, $shtitkey(it), $shtitval(it), $shtrecord(key|value). The
//     table name is resolved when the script is compiled; the key is a
//     format printed into the context's scratch buffer and looked up as
//     []byte, so reads of integer items, increments and integer writes of
//     existing keys allocate nothing.
//   - Functions with Kamailio 5.6's arguments and return codes: sht_print,
//     sht_rm, sht_rm_name_re, sht_rm_value_re, sht_rm_name, sht_rm_value,
//     sht_has_name/sht_match_name, sht_has_str_value/sht_match_str_value,
//     sht_setxs, sht_setxi, sht_reset, sht_lock, sht_unlock,
//     sht_iterator_start/next/end/rm/sets/seti/setex, and 6.1's sht_inc,
//     sht_dec, sht_is_null.
//   - Event routes: event_route[htable:mod-init] once at start (after the
//     database load; a drop aborts start-up) and
//     event_route[htable:expired:<table>] from the expiry sweeper, on a
//     script context of its own, with $shtrecord set.
//   - RPC: htable.get, delete, sets, seti, setex, setxs, setxi, dump
//     (streamed slot by slot), reload, store, flush, listTables, stats,
//     dmqsync, dmqresync (5.8; they use the hook set with SetDMQSync), and
//     sipht's htable.list (paging).
//   - Database: load at start, dbmode=1 save at stop, htable.reload and
//     htable.store as Kamailio, and dbmode=2 write-behind (see
//     docs/persistence.md).
//   - Prometheus metrics read from the engine at scrape time.
//
// Differences from Kamailio are listed in docs/kamailio-differences.md.
//
// # For other modules
//
// api.go: Registry, Table, Defs, Subscribe (changes with their Origin),
// BanChecker (pike's early drop), Contains, SetDMQSync, DMQEnabled,
// DMQInitSync, Started; OriginUnreplicated marks writes Kamailio does not
// replicate. The DMQ replication can live in this package (dmq*.go) and join
// the module's life cycle through the extensions hooks (module.go).
package htable
