#!/bin/sh
# Runs the htable benchmarks side by side (htable, sync.Map, otter v2,
# ttlcache v3, go-cache) and prints medians and ratios.
#
#   bench/htable.sh            # 5 rounds of every benchmark, 1s each
#   COUNT=3 BENCHTIME=2s bench/htable.sh
#   CPU=1 bench/htable.sh      # GOMAXPROCS for the parallel benchmarks
#
# Ratios are "competitor ns/op / htable ns/op": above 1 means htable is
# faster. The machine should be otherwise idle; numbers from a loaded
# machine are noisy (the medians help, the ratios more than the absolute
# values).
set -eu
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-1s}
CPU=${CPU:-}
OUT=${OUT:-$(mktemp)}
cpuflag=""
[ -n "$CPU" ] && cpuflag="-cpu $CPU"

# Each round runs every benchmark once, so that load changes on the
# machine hit all implementations alike; the summary takes medians.
: > "$OUT"
cmd="go test ./htable/ -run ^\$ -bench ^(BenchmarkParallel|BenchmarkCrowdedGet|BenchmarkZeroAlloc)\$ -benchmem -benchtime $BENCHTIME -count 1 -timeout 30m $cpuflag"
i=1
while [ "$i" -le "$COUNT" ]; do
	echo "# round $i/$COUNT: $cmd" >&2
	$cmd | tee -a "$OUT" >&2
	i=$((i + 1))
done
memcmd="go test ./htable/ -run ^\$ -bench ^BenchmarkMemoryPerItem\$ -benchtime 1x -count 1 -timeout 30m"
echo "# $memcmd" >&2
$memcmd | tee -a "$OUT" >&2

awk '
function median(name,   n, i, j, t, a) {
	n = cnt[name]
	for (i = 1; i <= n; i++) a[i] = val[name, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 2; i <= NF; i++) {
		if ($(i) == "ns/op" && name !~ /MemoryPerItem/) { v = $(i - 1) }
		if ($(i) == "bytes/item") { v = $(i - 1) }
		if ($(i) == "allocs/op") { allocs[name] = $(i - 1) }
	}
	cnt[name]++; val[name, cnt[name]] = v
	if (!(name in seen)) { seen[name] = 1; order[++no] = name }
}
END {
	split("Get Set IncExpire", ops, " ")
	split("syncmap otter ttlcache gocache", others, " ")
	print ""
	print "== Parallel, 1M keys: median ns/op (ratio = other / htable) =="
	for (o = 1; o <= 3; o++) {
		op = ops[o]; h = "BenchmarkParallel/" op "/htable"
		if (!(h in cnt)) continue
		hv = median(h)
		printf "%-10s htable %8.1f", op, hv
		hs = "BenchmarkParallel/" op "/htable-sysclock"
		if (hs in cnt) printf "  htable-sysclock %8.1f", median(hs)
		best = 0
		for (k = 1; k <= 4; k++) {
			n = "BenchmarkParallel/" op "/" others[k]
			if (!(n in cnt)) continue
			m = median(n); printf "  %s %8.1f (%.2fx)", others[k], m, m / hv
			if (others[k] != "syncmap" && (best == 0 || m < best)) { best = m; bestn = others[k] }
		}
		printf "\n%-10s best TTL cache: %s, htable is %.2fx faster\n", "", bestn, best / hv
	}
	print ""
	print "== Memory, 1M keys \"10.a.b.c\" with int values: bytes/item after GC (Kamailio 5.6.3: 192) =="
	for (i = 1; i <= no; i++) if (order[i] ~ /MemoryPerItem/) { n = order[i]; sub(/.*\//, "", n); printf "  %-10s %6.1f\n", n, median(order[i]) }
	print ""
	print "== Crowded slots (1M IPv4 keys, size=16, fullest slot 661 items): Get ns/op =="
	split("fullest-slots random", sets, " ")
	for (s = 1; s <= 2; s++) {
		a = "BenchmarkCrowdedGet/" sets[s] "/htable"; b = "BenchmarkCrowdedGet/" sets[s] "/kamailio-chain"
		if ((a in cnt) && (b in cnt)) printf "  %-14s htable %8.1f  kamailio-chain %8.1f  (%.1fx)\n", sets[s], median(a), median(b), median(b) / median(a)
	}
	print ""
	print "== Allocations per op (hot path) =="
	for (i = 1; i <= no; i++) if (order[i] ~ /ZeroAlloc|Parallel\/.*\/htable$/) printf "  %-40s %s allocs/op\n", order[i], allocs[order[i]]
}' "$OUT"
