// Package pike is sipht's pike module: Kamailio's flood detection per
// source IP address, plus an allow list, an unblock command, bounded
// memory and an early-drop path in front of the SIP parser.
//
// # What Kamailio configs get (as Kamailio 5.6)
//
// Parameters: sampling_time_unit (seconds, default 2),
// reqs_density_per_unit (default 30), remove_latency (seconds, default
// 120), pike_log_level (Kamailio level number, default 0 = L_WARN).
//
// Functions, in request_route, reply_route and onreply_route:
//
//	pike_check_req()      checks the request's source address
//	pike_check_ip(ip)     checks an address given as text (PVs allowed)
//
// Both count one hit for the address and return 1 (not blocked; also for
// internal errors), -1 (blocked, detected earlier) or -2 (blocked, detected
// by this hit: the module logs "PIKE - BLOCKing ip <ip>, node=<ip>/<bits>"
// at pike_log_level). The detection rules, window by window, are those of
// Kamailio 5.6 (see package detector); test/e2e's pike tests run the same
// bursts against Kamailio 5.6.3 and sipht and compare every return code.
//
// RPC: pike.top [ALL|HOT|WARM] and its alias pike.list, with Kamailio's
// argument matching (case-insensitive substring, default HOT, WARM lists
// nothing, anything else is fault 500 "Bad argument. Select: ALL, HOT or
// WARM") and reply: {max_hits, list: [{ip_addr, leaf_hits_prev,
// leaf_hits_curr, expires, status}...], number_of_rows}.
//
// # sipht extensions
//
//   - modparam("pike", "allow", "10.0.0.0/8"): an address or CIDR prefix,
//     IPv4 or IPv6, repeatable. Allowed sources are never counted nor
//     blocked: pike_check_req/pike_check_ip return 1 for them and they
//     create no state; they are also never dropped by early_drop_table.
//   - pike.rm <ip>: lifts a block and resets the source's counters ("Ok.
//     <ip> unblocked."; 404 "IP address not found in pike tree: <ip>" for a
//     source pike.top would not list; 500 "Invalid IP address: <text>"). A
//     ban kept in an htable is separate: htable.delete ipban <ip>.
//   - modparam("pike", "max_nodes", 262144): the address trees never hold
//     more nodes. When they are full, the least recently refreshed node is
//     evicted (blocked sources are kept if possible), so a flood from
//     millions of spoofed one-shot sources cannot exhaust memory and a real
//     attacker inside it, whose every request refreshes its entry, is still
//     detected.
//   - modparam("pike", "early_drop", 1): requests from a source pike blocks
//     now are dropped on the socket's read goroutine, before parsing (counted
//     in sipht_sip_dropped_total{reason="filtered"} and
//     sipht_pike_early_drops_total{reason="hot"}). Each dropped request
//     still counts as a hit, so a source stays blocked while it floods and
//     is let through again once a whole sampling window was below the limit,
//     exactly as if every request had reached `if (!pike_check_req())
//     exit;`. Off by default: a script that does anything else with a
//     blocked source (reply 503, log, ban it in a table) must keep seeing
//     its requests. TCP connections from a blocked source are refused.
//   - modparam("pike", "early_drop_table", "ipban"): requests whose source
//     address (as $si prints it) is a live key of that htable are dropped
//     before parsing (sipht_pike_early_drops_total{reason="ban_table"}).
//     This is the sipht equivalent of Kamailio's WITH_ANTIFLOOD check
//     `if ($sht(ipban=>$si) != $null) exit;` and only gives the same result
//     when that check is the first thing the script does with a request:
//     the script never runs for those requests, so nothing before the check
//     (a counter, an xlog) happens either. The ban table is checked before
//     pike's own blocked set, as the script checks ipban before
//     pike_check_req, so a banned source does not keep pike's counters up.
//     The htable module provides the lookup (BanTableProvider, which
//     *htable.Module implements); an undefined table is a config error.
//
// Metrics: sipht_pike_blocked_total, sipht_pike_blocked_ips,
// sipht_pike_nodes, sipht_pike_nodes_max, sipht_pike_evicted_nodes_total,
// sipht_pike_early_drops_total{reason}.
//
// # Differences from Kamailio
//
// IPv4 and IPv6 sources live in separate trees (Kamailio shares one, so an
// IPv6 address starting with the bytes of an IPv4 address inflates that
// address's counters); pike_check_ip accepts IPv6 (Kamailio 5.6 parses
// only IPv4 there and returns -1, "blocked", for every IPv6 address); an
// unparsable constant argument of pike_check_ip is a config error (Kamailio
// wraps "1.2.3.999" to 1.2.3.231); out-of-range parameters are config
// errors (Kamailio wraps reqs_density_per_unit to 16 bits); the log line
// prints "node=<ip>/<bits>" where Kamailio prints a pointer. All are listed
// in docs/kamailio-differences.md.
package pike
