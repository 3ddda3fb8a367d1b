#!/usr/bin/env bash
# idle.sh measures the footprint of a running edgestat with no client: RSS
# sampled every SAMPLE seconds and CPU (% of one core) over IDLE_SECONDS,
# starting SETTLE seconds after the server listens.
#
#   bench/idle.sh
#   IDLE_SECONDS=300 bench/idle.sh
#
# Settings (environment): IDLE_SECONDS (60), SAMPLE (5), SETTLE (3),
# EDGESTAT_BIN (measure this binary instead of building one).
set -euo pipefail

IDLE_SECONDS=${IDLE_SECONDS:-60}
SAMPLE=${SAMPLE:-5}
SETTLE=${SETTLE:-3}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

build_server
start_server idle
rss_start=$(status_kb "$SERVER_PID" VmRSS)
sleep "$SETTLE"

echo "measuring ${IDLE_SECONDS} s" >&2
rss_min=""
rss_max=0
c0=$(cpu_ticks "$SERVER_PID")
t0=$(now)
end=$((SECONDS + IDLE_SECONDS))
while :; do
	rss=$(status_kb "$SERVER_PID" VmRSS)
	if [[ -z $rss_min ]] || ((rss < rss_min)); then rss_min=$rss; fi
	if ((rss > rss_max)); then rss_max=$rss; fi
	left=$((end - SECONDS))
	((left > 0)) || break
	sleep $((left < SAMPLE ? left : SAMPLE))
done
c1=$(cpu_ticks "$SERVER_PID")
t1=$(now)
nthreads=$(threads "$SERVER_PID")
hwm=$(status_kb "$SERVER_PID" VmHWM)
stop "$SERVER_PID"

echo
machine_line
echo "binary $(stat -c %s "$BIN") bytes; RSS right after start $(mb "$rss_start") MB, peak (VmHWM) $(mb "$hwm") MB, threads $nthreads, CLK_TCK $CLK_TCK, loadavg at end $(cut -d" " -f1-3 /proc/loadavg)"
echo
echo "CPU: $((c1 - c0)) clock ticks over the window (one tick = $(cpu_pct 0 1 "$t0" "$t1") % here)"
echo
echo "| idle window s | RSS min MB | RSS max MB | CPU % of one core |"
echo "|---|---|---|---|"
echo "| $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') | $(mb "$rss_min") | $(mb "$rss_max") | $(cpu_pct "$c0" "$c1" "$t0" "$t1") |"
