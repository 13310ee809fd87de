#!/usr/bin/env bash
# bench/sipp.sh -- sipp at fixed rates against Kamailio 5.6 and/or sipht on
# the same config (examples/seed.cfg), for two paths:
#   options   OPTIONS to the server            -> 200 Keepalive
#   register  REGISTER without credentials     -> 401 (digest challenge)
#
# For every server, path and rate it reports: the rate reached (successful
# calls per second), the failure ratio, the server's CPU seconds per 10,000
# requests (utime+stime of all its processes, from /proc, before and after)
# and the response time p50/p99 (from sipp's -trace_shortmsg timestamps,
# microsecond resolution). The summary gives, per server and path, the
# highest rate with under 1% failures.
#
# Usage:
#   bench/sipp.sh                          # Kamailio only
#   SIPHT_BIN=./bin/sipht bench/sipp.sh    # sipht only
#   SIPHT_BIN=./bin/sipht bench/sipp.sh -s both
# Options:
#   -s kamailio|sipht|both   servers to measure (default: sipht when
#                            SIPHT_BIN is set, else kamailio)
#   -p options|register|both paths (default both)
#   -r "1000 5000 10000 20000"  rates in requests/s (default)
#   -d SECONDS               duration of each rate step (default 5)
#   -c CONFIG                config file (default examples/seed.cfg)
#   -D NAME=VALUE            one more -A define for the server (repeatable),
#                            e.g. -D 'AUTHCOUNT_HTABLE="AuthCount=>size=12;initval=0;autoexpire=360;dbtable=htable;dbmode=2"'
#   -k                       keep the work directory (logs, sipp files)
#
# The server runs in a temporary directory with a fresh SQLite database in
# Kamailio's schema. It is started with -A AUTH_MAX_FAILURES=1000000000 so
# that the benchmark's REGISTERs keep getting 401 instead of the seed's 429,
# and it logs (the seed's per-request "MessageCount is N" line) to a file.
# Everything stays on 127.0.0.1; every process started is stopped at exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

servers=""
paths="both"
rates="1000 5000 10000 20000"
duration=5
config="$root/examples/seed.cfg"
keep=0
defines=()
while getopts "s:p:r:d:c:D:kh" opt; do
	case $opt in
	s) servers=$OPTARG ;;
	p) paths=$OPTARG ;;
	r) rates=$OPTARG ;;
	d) duration=$OPTARG ;;
	c) config=$(cd "$(dirname "$OPTARG")" && pwd)/$(basename "$OPTARG") ;;
	D) defines+=(-A "$OPTARG") ;;
	k) keep=1 ;;
	h | *)
		sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 2
		;;
	esac
done
if [[ -z $servers ]]; then
	if [[ -n ${SIPHT_BIN:-} ]]; then servers=sipht; else servers=kamailio; fi
fi
[[ $servers == both ]] && servers="kamailio sipht"
[[ $paths == both ]] && paths="options register"

kamailio_bin=${KAMAILIO_BIN:-$(command -v kamailio || echo /usr/sbin/kamailio)}
sipp_bin=${SIPP_BIN:-$(command -v sipp || echo /usr/bin/sipp)}
sqlite_bin=$(command -v sqlite3 || true)
schema_dir=/usr/share/kamailio/db_sqlite
clk_tck=$(getconf CLK_TCK)

die() { echo "bench/sipp.sh: $*" >&2; exit 1; }
[[ -x $sipp_bin ]] || die "sipp not found (install sip-tester or set SIPP_BIN)"
[[ -n $sqlite_bin ]] || die "sqlite3 not found (needed to create the test database)"
for s in $servers; do
	case $s in
	kamailio) [[ -x $kamailio_bin ]] || die "kamailio not found (set KAMAILIO_BIN)" ;;
	sipht) [[ -x ${SIPHT_BIN:-} ]] || die "set SIPHT_BIN to the sipht binary to measure sipht" ;;
	*) die "unknown server $s" ;;
	esac
done

work=$(mktemp -d /tmp/sipht-bench.XXXXXX)
server_pid=""
cleanup() {
	stop_server
	if [[ $keep == 1 ]]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { # udp|tcp
	python3 -c 'import socket,sys
t = socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, t); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1" 2>/dev/null ||
		shuf -i 20000-60000 -n 1
}

create_db() { # path
	local f
	if [[ -d $schema_dir ]]; then
		for f in standard auth_db htable usrloc; do
			"$sqlite_bin" "$1" <"$schema_dir/$f-create.sql"
		done
	else
		"$sqlite_bin" "$1" <<-'EOF'
			CREATE TABLE version (id INTEGER PRIMARY KEY NOT NULL, table_name VARCHAR(32) NOT NULL,
			  table_version INTEGER DEFAULT 0 NOT NULL, CONSTRAINT version_table_name_idx UNIQUE (table_name));
			INSERT INTO version (table_name, table_version) VALUES ('version', 1);
			CREATE TABLE subscriber (id INTEGER PRIMARY KEY NOT NULL, username VARCHAR(64) DEFAULT '' NOT NULL,
			  domain VARCHAR(64) DEFAULT '' NOT NULL, password VARCHAR(64) DEFAULT '' NOT NULL,
			  ha1 VARCHAR(128) DEFAULT '' NOT NULL, ha1b VARCHAR(128) DEFAULT '' NOT NULL,
			  CONSTRAINT subscriber_account_idx UNIQUE (username, domain));
			INSERT INTO version (table_name, table_version) VALUES ('subscriber', 7);
			CREATE TABLE htable (id INTEGER PRIMARY KEY NOT NULL, key_name VARCHAR(64) DEFAULT '' NOT NULL,
			  key_type INTEGER DEFAULT 0 NOT NULL, value_type INTEGER DEFAULT 0 NOT NULL,
			  key_value VARCHAR(128) DEFAULT '' NOT NULL, expires INTEGER DEFAULT 0 NOT NULL);
			INSERT INTO version (table_name, table_version) VALUES ('htable', 2);
		EOF
	fi
	"$sqlite_bin" "$1" "INSERT INTO subscriber (username, domain, password) VALUES ('alice', '127.0.0.1', 'secret')"
}

# cpu_ticks PGID: utime+stime (clock ticks) of all live processes in the
# process group (Kamailio forks its workers; sipht is one process).
cpu_ticks() {
	local p
	for p in $(pgrep -g "$1"); do
		cat "/proc/$p/stat" 2>/dev/null || true
	done | awk '{ s = $0; sub(/^.*\) /, "", s); split(s, a, " "); t += a[12] + a[13] } END { print t + 0 }'
}

start_server() { # kind
	local kind=$1 bin args dir
	dir=$(mktemp -d "$work/$kind.XXXX")
	server_dir=$dir
	mkdir -p "$dir/data"
	create_db "$dir/data/sipht.db"
	sip_port=$(free_port udp)
	http_port=$(free_port tcp)
	args=()
	if [[ $kind == kamailio ]]; then bin=$kamailio_bin; args+=(-DD); else bin=$SIPHT_BIN; fi
	args+=(-f "$config" -A LISTEN_IP=127.0.0.1 -A "SIP_PORT=$sip_port" -A "HTTP_PORT=$http_port"
		-A AUTH_MAX_FAILURES=1000000000 "${defines[@]}")
	# setsid: the server leads its own process group (for CPU accounting
	# and for stopping every worker)
	(cd "$dir" && exec setsid "$bin" "${args[@]}" >"$dir/server.log" 2>&1) &
	server_pid=$!
	local i
	for i in $(seq 1 100); do
		if ! kill -0 "$server_pid" 2>/dev/null; then
			tail -20 "$dir/server.log" >&2
			die "$kind exited during start-up"
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$http_port") 2>/dev/null; then
			# let start-up work (database, timers, sipht's scheduler
			# settling on its idle parallelism) finish before measuring
			sleep 3
			return 0
		fi
		sleep 0.1
	done
	die "$kind did not open 127.0.0.1:$http_port within 10 s"
}

stop_server() {
	[[ -n $server_pid ]] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	local i
	for i in $(seq 1 100); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=""
}

# run_step KIND PATH RATE: one fixed-rate sipp run; prints one result row
# and records it in $results.
run_step() {
	local kind=$1 path=$2 rate=$3
	local calls=$((rate * duration))
	local d="$server_dir/$path-$rate"
	mkdir -p "$d"
	local t0 t1
	t0=$(cpu_ticks "$server_pid")
	(cd "$d" && "$sipp_bin" -sf "$root/test/e2e/sipp/bench_$path.xml" -s alice \
		-r "$rate" -m "$calls" -nr -nostdin -recv_timeout 2000 -timeout "$((duration * 4 + 10))s" \
		-i 127.0.0.1 -p "$(free_port udp)" \
		-trace_stat -stf stat.csv -fd 1 \
		-trace_shortmsg -shortmessage_file short.csv \
		"127.0.0.1:$sip_port" >sipp.out 2>&1) || true
	t1=$(cpu_ticks "$server_pid")
	kill -0 "$server_pid" 2>/dev/null || die "$kind died during $path at $rate/s"
	[[ -s $d/stat.csv ]] || { tail -20 "$d/sipp.out" >&2; die "sipp wrote no statistics ($kind $path $rate/s)"; }

	# last statistics row: successful and failed calls
	local ok failed elapsed
	read -r ok failed < <(tail -1 "$d/stat.csv" | awk -F';' '{ printf "%d %d\n", $16, $18 }')
	# the rate reached: answers over the time from the first request sent to
	# the last answer received
	elapsed=$(awk -F'\t' 'NR == 1 { first = $3 } $4 == "R" { last = $3 } END { printf "%.6f\n", (last > first) ? last - first : 0 }' "$d/short.csv")
	# response times: receive time minus send time per Call-ID
	local p50 p99
	read -r p50 p99 < <(awk -F'\t' '$4 == "S" { s[$5] = $3 } $4 == "R" && ($5 in s) { printf "%.3f\n", ($3 - s[$5]) * 1000; delete s[$5] }' \
		"$d/short.csv" | sort -n | awk '{ v[NR] = $1 } END {
			if (NR == 0) { print "- -"; exit }
			i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
			print v[i50], v[i99] }')
	awk -v kind="$kind" -v path="$path" -v rate="$rate" -v calls="$calls" -v ok="$ok" -v failed="$failed" \
		-v el="$elapsed" -v ticks="$((t1 - t0))" -v hz="$clk_tck" -v p50="$p50" -v p99="$p99" 'BEGIN {
		reached = (el > 0) ? ok / el : 0
		fail = (calls > 0) ? 100 * (calls - ok) / calls : 0
		cpu = (calls > 0) ? (ticks / hz) * 10000 / calls : 0
		printf "%-9s %-9s %8d %10.0f %8.2f %11.3f %9s %9s\n", kind, path, rate, reached, fail, cpu, p50, p99
	}' | tee -a "$results"
	sleep 1
}

results="$work/results.txt"
: >"$results"
echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) CPUs; config $config; ${duration}s per step"
echo "# kamailio: $("$kamailio_bin" -v 2>/dev/null | head -1 || echo -)"
[[ -n ${SIPHT_BIN:-} ]] && echo "# sipht: $SIPHT_BIN"
echo "# sipp: $("$sipp_bin" -v 2>/dev/null | grep -o 'SIPp v[^ ]*' | head -1)"
printf "%-9s %-9s %8s %10s %8s %11s %9s %9s\n" server path "rate/s" "reached/s" "fail%" "cpu_s/10k" "p50_ms" "p99_ms"
for kind in $servers; do
	for path in $paths; do
		start_server "$kind"
		for rate in $rates; do
			run_step "$kind" "$path" "$rate"
		done
		stop_server
	done
done

echo
echo "# highest rate with under 1% failures (cpu_s/10k, p50/p99 ms at that rate)"
awk '$5 < 1 { k = $1 " " $2; if (!(k in best) || $4 > bestr[k]) { best[k] = $0; bestr[k] = $4 } }
	END { for (k in best) print best[k] }' "$results" | sort
