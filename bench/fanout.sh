#!/usr/bin/env bash
# fanout.sh measures edgestat's push fan-out to many WebSocket clients: the
# server's CPU (% of one core) and memory per connection, and whether every
# client got its pushes. For each N a fresh server starts on a free loopback
# port; wsload opens N clients at INTERVAL; after WARMUP seconds the server's
# CPU time is measured over WINDOW seconds and its RSS read at the end.
#
#   bench/fanout.sh                      # N = 1000 and 10000
#   NS="100 1000" WINDOW=10 bench/fanout.sh
#
# Settings (environment): NS, INTERVAL (1), WARMUP (10), WINDOW (30),
# IDLE_WAIT (3, seconds before the idle RSS sample), RAMP (20 dials in
# flight), EDGESTAT_BIN (measure this binary instead of building one),
# KEEP_WORK=1 (keep logs in the printed work directory).
set -euo pipefail

NS=${NS:-"1000 10000"}
INTERVAL=${INTERVAL:-1}
WARMUP=${WARMUP:-10}
WINDOW=${WINDOW:-30}
IDLE_WAIT=${IDLE_WAIT:-3}
RAMP=${RAMP:-20}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

build_server
LOAD=$WORK/wsload
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$LOAD" ./bench/wsload)

# Each side holds one descriptor per connection; wsload raises its own limit,
# the server inherits this one.
max_n=0
for n in $NS; do
	if ((n > max_n)); then max_n=$n; fi
done
need=$((max_n + 1000))
if (($(ulimit -n) < need)); then
	ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
fi
if (($(ulimit -n) < need)); then
	echo "warning: open files limited to $(ulimit -n), $need wanted" >&2
fi
if [[ -n ${KEEP_WORK:-} ]]; then echo "logs in $WORK" >&2; fi

rows=()
notes=()
for n in $NS; do
	echo "N=$n: starting server" >&2
	start_server "n$n"
	sleep "$IDLE_WAIT"
	rss_idle=$(status_kb "$SERVER_PID" VmRSS)

	out=$WORK/n$n.load.out
	: >"$out"
	"$LOAD" -url "ws://127.0.0.1:$SERVER_PORT/" -n "$n" -interval "$INTERVAL" \
		-ramp "$RAMP" -report 5s >"$out" 2>"$WORK/n$n.load.err" &
	load_pid=$!
	PIDS+=("$load_pid")
	# Dialing 10,000 takes seconds; allow a minute per thousand.
	wait_line "$out" '"event":"connected"' 1 $((60 + n * 60 / 1000)) "$load_pid"
	connected_line=$(grep '"event":"connected"' "$out")
	connected=$(field "$connected_line" connected)
	echo "N=$n: $connected connected in $(field "$connected_line" dial_seconds) s, warming up ${WARMUP} s" >&2

	sleep "$WARMUP"
	# The first mark closes wsload's warm-up window, the second the measured one.
	c0=$(cpu_ticks "$SERVER_PID")
	l0=$(cpu_ticks "$load_pid")
	t0=$(now)
	kill -USR1 "$load_pid"
	echo "N=$n: measuring ${WINDOW} s" >&2
	sleep "$WINDOW"
	c1=$(cpu_ticks "$SERVER_PID")
	l1=$(cpu_ticks "$load_pid")
	t1=$(now)
	kill -USR1 "$load_pid"
	rss=$(status_kb "$SERVER_PID" VmRSS)
	hwm=$(status_kb "$SERVER_PID" VmHWM)
	nthreads=$(threads "$SERVER_PID")
	wait_line "$out" '"event":"mark"' 2 10 "$load_pid"
	mark=$(grep '"event":"mark"' "$out" | tail -n1)
	server_clients=$(curl -fsS "http://127.0.0.1:$SERVER_PORT/healthz" | sed -n 's/.*"rtstat_clients":\([0-9]*\).*/\1/p' || echo "?")

	stop "$load_pid"
	summary=$(grep '"event":"summary"' "$out" || true)
	stop "$SERVER_PID"

	cpu=$(cpu_pct "$c0" "$c1" "$t0" "$t1")
	per_conn=$(((rss - rss_idle) * 1024 / n))
	clients=$n
	((connected == n)) || clients="$connected of $n"
	rows+=("| $clients | $cpu | $(mb "$rss") | $(mb "$rss_idle") | $per_conn | $(field "$mark" pushes_per_s) ($(field "$mark" expected_per_s)) |")
	note="- N=$n: dial $(field "$connected_line" dial_seconds) s (slowest connect $(field "$connected_line" max_connect_ms) ms),"
	note+=" failed $(field "$connected_line" failed), retried $(field "$connected_line" retried);"
	note+=" window $(field "$mark" window_seconds) s: pushes per client min $(field "$mark" min_pushes_per_client)"
	note+=" max $(field "$mark" max_pushes_per_client) (expected $(field "$mark" expected_per_client)),"
	note+=" clients without a push $(field "$mark" clients_without_push), open $(field "$mark" open),"
	note+=" closed during run $(field "$summary" closed), server-side clients $server_clients;"
	note+=" server VmHWM $(mb "$hwm") MB, threads $nthreads, server log lines $(wc -l <"$WORK/n$n.server.err");"
	note+=" wsload CPU $(cpu_pct "$l0" "$l1" "$t0" "$t1") %, pings answered $(field "$summary" pings)"
	notes+=("$note")
	if [[ $(field "$summary" closed) != 0 || $(field "$connected_line" failed) != 0 ]]; then
		notes+=("  errors: $(sed -n 's/.*"errors":\({[^}]*}\).*/\1/p' <<<"$summary")")
	fi
	while IFS= read -r line; do notes+=("  $line"); done < <(grep '^wsload:' "$WORK/n$n.load.err" || true)
done

echo
machine_line
echo "interval ${INTERVAL} s, warm-up ${WARMUP} s, window ${WINDOW} s, CLK_TCK $CLK_TCK, somaxconn $(cat /proc/sys/net/core/somaxconn), loadavg at end $(cut -d" " -f1-3 /proc/loadavg)"
echo
echo "| clients | server CPU % of one core | server RSS MB | RSS idle MB | bytes/conn | pushes/s received (expected) |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${notes[@]}"
