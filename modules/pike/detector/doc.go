// Package detector is the flood detector behind sipht's pike module: the
// algorithm of Kamailio's pike module, rebuilt from its documented and
// observed behaviour, with a bound on memory and a lock-free "is this
// source blocked" test for the transport's pre-parse filter. It knows
// nothing about SIP.
//
// # The algorithm (as Kamailio 5.6 does it)
//
// Source addresses are kept in a tree keyed by their bytes: an IPv4
// address is a path of 4 nodes, an IPv6 address a path of 16. Every node
// counts hits in two sampling windows, the previous one and the current
// one; a window lasts SamplingUnit seconds and at its end the current
// counts become the previous ones and the current ones start at zero.
//
// A hit (Check) walks the tree along the address as far as nodes exist:
//
//   - No node for the first byte: one is created with one hit.
//   - The walk stops inside the address: the deepest node found gets a hit.
//     If that node is "hot" for an inner node (previous or current hits, or
//     their average, reach MaxHits/4, integer division) a child for the
//     next byte is created, inheriting the parent's current hits minus
//     one; otherwise nothing else happens.
//   - The whole address exists: the leaf gets a "leaf hit". The leaf is hot
//     (blocked) when its previous or current leaf hits, or their average,
//     reach MaxHits. The hit that makes it hot returns NewlyBlocked (-2);
//     while it stays blocked every hit returns Blocked (-1); otherwise Pass
//     (1).
//
// So a source is only judged once the path to its address has been grown
// by earlier hits (its own or its neighbours'): a fresh IPv4 address is
// blocked after between MaxHits and about 3*MaxHits rapid hits, an IPv6
// address after up to about 9*MaxHits. With MaxHits=3 (MaxHits/4 = 0, so
// every hit grows the path by one node) 14 rapid hits from a fresh
// 127.0.0.1 give 1 six times, then -2, then -1: four hits build the path,
// the leaf then needs three leaf hits.
//
// A blocked leaf is re-examined only at window boundaries: it is unblocked
// at the first boundary where it is no longer hot, i.e. once a whole window
// had fewer than MaxHits hits.
//
// Nodes that end a path (leaves and not yet expanded prefixes) are kept on
// a timer list and removed RemoveLatency seconds after they were created
// or last refreshed. A full-address leaf is refreshed by every hit; a
// prefix is refreshed only when it grows a child (it then leaves the list:
// inner nodes do not expire on their own). When a node's last child is
// removed, the node goes back on the list with a fresh RemoveLatency. The
// tree therefore shrinks from the leaves up.
//
// pike.top lists the full-address leaves: status HOT when the leaf's
// counters are hot now, WARM when its current inner-node hits reach
// MaxHits/4, "" otherwise.
//
// # Time
//
// Time is counted in whole seconds since New, as Kamailio counts ticks. The
// owner calls Tick about once a second (the pike module does it from a
// goroutine); Tick reads the clock (Config.Now, injectable for tests),
// shifts the windows when a SamplingUnit boundary has passed and removes
// the nodes whose time is up. Check never reads the clock: it uses the
// second of the last Tick, as Kamailio's functions use the timer's ticks.
// Windows are shifted lazily, per node, when a node is next touched, so a
// boundary costs work proportional to the number of blocked sources, not
// to the size of the tree.
//
// # Differences from Kamailio
//
//   - IPv4 and IPv6 addresses live in two separate trees. Kamailio keeps one
//     tree, so an IPv6 address whose first bytes spell an IPv4 address
//     (7f00:1::/32 and 127.0.0.1) shares and inflates that address's prefix
//     counters.
//   - Bounded memory: at most MaxNodes nodes. When the tree is full and a
//     hit needs a new node, the node that was refreshed longest ago is
//     evicted first: the head of the timer list (the oldest entries,
//     skipping up to 64 blocked leaves to keep known attackers). Under a
//     flood from many spoofed one-shot sources those are the one-shot
//     sources' nodes, while a real attacker's leaf, refreshed by its every
//     hit, stays at the tail and is still detected. Kamailio has no bound:
//     the tree grows until shared memory runs out, after which every new
//     source passes unchecked.
//   - Sources in Config.Allow are never counted (Check returns Pass and no
//     node is created).
//   - Unblock resets a source's counters and lifts its block (pike.rm).
//
// # Early drop
//
// DropHot is meant for the transport's pre-parse filter: it reports whether
// a source is blocked right now without taking the tree lock (an atomic
// load when nothing is blocked, one read-locked map lookup otherwise) and,
// when it is, counts the dropped message as a hit of that source, folded
// into the tree at the next Tick. A flood that is dropped early therefore
// keeps its source blocked exactly as if every message had reached
// pike_check_req and been dropped by the script.
package detector
