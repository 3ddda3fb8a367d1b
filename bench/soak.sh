#!/usr/bin/env bash
# soak.sh runs edgestat under a mixed load for SOAK_SECONDS (10 minutes) and
# watches whether it stays flat: RSS, live heap, goroutines, open files.
#
# The load, all on loopback:
# - the emulator at EMULATOR_RATE packets/s (5000);
# - WS_CLIENTS Rt-Stat WebSocket clients at 1 s (200; bench/wsload);
# - SSH monitoring of SSH_HOSTS in-process SSH servers (20; bench/sshhosts,
#   one /monitor client, bench/monclient);
# - bench/soak: SESSIONS operator sessions (5) started by POST /post/,
#   segmented, their streams read and the sessions deleted and restarted as
#   they end; CHURN Rt-Stat clients connecting per second (20), raw or
#   WebSocket, staying 1-5 s; and GARBAGE bytes of random garbage (1 GiB)
#   spread over the run, to the raw side, HTTP, and WebSocket upgrades to
#   /, /monitor and /traffic/live (bench/garbage).
#
# Every SAMPLE seconds (10) it reads edgestat's RSS (VmRSS), live heap after
# the last GC (GODEBUG=gctrace=1), goroutines (go_goroutines of /metrics,
# when that route exists), open files (/proc/PID/fd) and CPU. At the end it
# prints the table and the least-squares slopes after WARMUP seconds (120),
# in units per 10 minutes; the goal is an RSS slope within 1 MB per 10
# minutes. The traffic store's pending reports make RSS a sawtooth (a batch
# is written every 20,000 reports, about 90 s at this load), so the live heap
# right after each batch write is given too: the same point of every cycle.
#
#   bench/soak.sh                                   # 10 minutes
#   SOAK_SECONDS=120 WARMUP=30 GARBAGE=$((200<<20)) bench/soak.sh
#
# Settings (environment): SOAK_SECONDS, WARMUP, SAMPLE, EMULATOR_RATE,
# WS_CLIENTS, SSH_HOSTS, SESSIONS, SESSION_COUNT (60000 packets, about a
# minute each), SESSION_RATE (bytes/s each stream is read at, 524288: a
# session goes at its reader's pace), CHURN, GARBAGE,
# EXTRA_ARGS (more edgestat flags), EDGESTAT_BIN (measure this binary instead
# of building one), LOG_LEVEL (info), KEEP_WORK=1 (keep logs, the samples and
# the gctrace in the printed work directory).
set -euo pipefail

SOAK_SECONDS=${SOAK_SECONDS:-600}
WARMUP=${WARMUP:-120}
SAMPLE=${SAMPLE:-10}
EMULATOR_RATE=${EMULATOR_RATE:-5000}
WS_CLIENTS=${WS_CLIENTS:-200}
SSH_HOSTS=${SSH_HOSTS:-20}
SESSIONS=${SESSIONS:-5}
SESSION_COUNT=${SESSION_COUNT:-60000}
SESSION_RATE=${SESSION_RATE:-524288}
CHURN=${CHURN:-20}
GARBAGE=${GARBAGE:-$((1 << 30))}
EXTRA_ARGS=${EXTRA_ARGS:-}
LOG_LEVEL=${LOG_LEVEL:-info}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SSH_ROOT=$ROOT/server/sshmon/testdata/x86-server
WORK=$(mktemp -d)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

build_server
for tool in wsload sshhosts monclient soak; do
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$WORK/$tool" "./bench/$tool")
done
if [[ -n ${KEEP_WORK:-} ]]; then echo "logs in $WORK" >&2; fi
need=$((WS_CLIENTS + 2000))
if (($(ulimit -n) < need)); then ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; fi

echo "starting $SSH_HOSTS SSH hosts" >&2
"$WORK/sshhosts" -n "$SSH_HOSTS" -root "$SSH_ROOT" -max-conns 4 >"$WORK/ports" 2>"$WORK/sshhosts.err" &
hosts_pid=$!
PIDS+=("$hosts_pid")
wait_line "$WORK/ports" '^[0-9]' "$SSH_HOSTS" 30 "$hosts_pid"

t_server=$(now)
# shellcheck disable=SC2086 # EXTRA_ARGS is a list of flags
GODEBUG=gctrace=1 start_server soak --emulator-rate "$EMULATOR_RATE" --session-max-cpu 0 $EXTRA_ARGS || exit 1
base=http://127.0.0.1:$SERVER_PORT
echo "edgestat pid $SERVER_PID on port $SERVER_PORT" >&2

"$WORK/monclient" -url "ws://127.0.0.1:$SERVER_PORT/monitor" -ports-file "$WORK/ports" >"$WORK/mon.out" 2>"$WORK/mon.err" &
mon_pid=$!
PIDS+=("$mon_pid")
wait_line "$WORK/mon.out" '"event":"started"' 1 150 "$mon_pid"
"$WORK/wsload" -url "ws://127.0.0.1:$SERVER_PORT/" -n "$WS_CLIENTS" -interval 1 >"$WORK/wsload.out" 2>"$WORK/wsload.err" &
load_pid=$!
PIDS+=("$load_pid")
wait_line "$WORK/wsload.out" '"event":"connected"' 1 60 "$load_pid"
# The driver outlives the sampling (it is stopped after the last sample), so
# the load is whole in every sample; the garbage is spread over 95 % of the
# sampling (its pacing loses a little to dials and closes).
"$WORK/soak" -addr "127.0.0.1:$SERVER_PORT" -duration "$((SOAK_SECONDS + 120))s" -sessions "$SESSIONS" \
	-session-count "$SESSION_COUNT" -session-rate "$SESSION_RATE" -churn "$CHURN" \
	-garbage "$GARBAGE" -garbage-over "$((SOAK_SECONDS * 95 / 100))s" \
	-report "${SAMPLE}s" >"$WORK/soak.out" 2>"$WORK/soak.err" &
soak_pid=$!
PIDS+=("$soak_pid")
echo "load running for ${SOAK_SECONDS} s, a sample every ${SAMPLE} s" >&2

# goroutines: go_goroutines of /metrics, or "-" without the route.
goroutines() {
	curl -fsS --max-time 5 "$base/metrics" 2>/dev/null | awk '$1 == "go_goroutines" {printf "%d", $2; found = 1} END {if (!found) printf "-"}' || echo "-"
}
# heap_live: the live heap after the last GC, in MB, from gctrace's
# "A->B->C MB" (C is what survived).
heap_live() {
	grep '^gc ' "$WORK/soak.server.err" | tail -n1 | sed -n 's/.* [0-9]*->[0-9]*->\([0-9]*\) MB.*/\1/p'
}
# listen_drops: the kernel's TcpExt ListenOverflows and ListenDrops (SYNs
# dropped because an accept queue was full), machine-wide.
listen_drops() {
	awk '$1 == "TcpExt:" && !h {for (i = 2; i <= NF; i++) n[$i] = i; h = 1; next}
		$1 == "TcpExt:" {print $n["ListenOverflows"], $n["ListenDrops"]}' /proc/net/netstat
}
fds() { find "/proc/$SERVER_PID/fd" -mindepth 1 -maxdepth 1 | wc -l; }

samples=$WORK/samples # t rss_kb heap_mb goroutines fds cpu% clients garbage_mib
: >"$samples"
t_start=$(now)
c_prev=$(cpu_ticks "$SERVER_PID")
t_prev=$t_start
read -r busy0 total0 < <(awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat)
listen0=$(listen_drops)
end=$((SECONDS + SOAK_SECONDS))
while :; do
	left=$((end - SECONDS))
	((left > 0)) || break
	sleep $((left < SAMPLE ? left : SAMPLE))
	kill -0 "$SERVER_PID" 2>/dev/null || {
		echo "edgestat died:" >&2
		tail -n 50 "$WORK/soak.server.err" >&2
		exit 1
	}
	t=$(now)
	c=$(cpu_ticks "$SERVER_PID")
	clients=$(curl -fsS --max-time 5 "$base/healthz" 2>/dev/null | sed -n 's/.*"rtstat_clients":\([0-9]*\).*/\1/p' || true)
	progress=$(grep '"event":"progress"' "$WORK/soak.out" | tail -n1 || true)
	echo "$(awk -v a="$t_start" -v b="$t" 'BEGIN {printf "%.0f", b - a}') $(status_kb "$SERVER_PID" VmRSS) $(heap_live) $(goroutines) $(fds) $(cpu_pct "$c_prev" "$c" "$t_prev" "$t") ${clients:--} $(field "$progress" garbage_mib)" >>"$samples"
	tail -n1 "$samples" >&2
	c_prev=$c
	t_prev=$t
done
t_end=$(now)
read -r busy1 total1 < <(awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat)
listen1=$(listen_drops)
hwm=$(status_kb "$SERVER_PID" VmHWM)
nthreads=$(threads "$SERVER_PID")
load=$(cut -d" " -f1-3 /proc/loadavg)

# The drivers' summaries, then edgestat's shutdown.
stop "$soak_pid"
kill -USR1 "$load_pid"
wait_line "$WORK/wsload.out" '"event":"mark"' 1 10 "$load_pid" || true
stop "$load_pid"
stop "$mon_pid"
stop_start=$(now)
stop "$SERVER_PID"
stop_s=$(awk -v a="$stop_start" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}')
stop "$hosts_pid"

# slope COLUMN: least squares over the samples after WARMUP, per 10 minutes
# ("-" when the column has no numbers).
slope() {
	awk -v col="$1" -v w="$WARMUP" -v div="${2:-1}" '
		$1 >= w && $col != "-" && $col != "" { x = $1 / 600; y = $col / div; n++; sx += x; sy += y; sxx += x * x; sxy += x * y }
		END {
			if (n < 2 || n * sxx == sx * sx) { print "-"; exit }
			printf "%+.2f", (n * sxy - sx * sy) / (n * sxx - sx * sx)
		}' "$samples"
}
range() {
	awk -v col="$1" -v w="$WARMUP" -v div="${2:-1}" '
		$1 >= w && $col != "-" && $col != "" { y = $col / div; if (n == 0 || y < lo) lo = y; if (n == 0 || y > hi) hi = y; n++ }
		END { if (n) printf "%.1f–%.1f", lo, hi; else printf "-" }' "$samples"
}

# The traffic store writes a batch when 20,000 reports wait and then
# forces a GC (debug.FreeOSMemory): the live heap right after it is the same
# point of the batch cycle each time, so its trend is not blurred by the
# pending reports' sawtooth (edgestat's gctrace times count from its start).
batches=$WORK/batches # t live_heap_mb
# Only batches before the last sample: the shutdown writes one more.
grep '^gc .*(forced)' "$WORK/soak.server.err" | awk -v off="$(awk -v a="$t_server" -v b="$t_start" 'BEGIN {print b - a}')" \
	-v end="$(awk -v a="$t_start" -v b="$t_end" 'BEGIN {print b - a - 1}')" \
	'{t = $3; gsub(/[@s]/, "", t); t -= off; split($11, h, "->"); if (t >= 0 && t < end) printf "%.0f %s\n", t, h[3]}' >"$batches"
batch_slope() {
	awk -v w="$WARMUP" '$1 >= w { x = $1 / 600; n++; sx += x; sy += $2; sxx += x * x; sxy += x * $2 }
		END { if (n < 2 || n * sxx == sx * sx) print "-"; else printf "%+.2f", (n * sxy - sx * sy) / (n * sxx - sx * sx) }' "$batches"
}

echo
machine_line
echo "SOAK_SECONDS=$SOAK_SECONDS WARMUP=$WARMUP SAMPLE=$SAMPLE EMULATOR_RATE=$EMULATOR_RATE WS_CLIENTS=$WS_CLIENTS SSH_HOSTS=$SSH_HOSTS SESSIONS=$SESSIONS SESSION_COUNT=$SESSION_COUNT SESSION_RATE=$SESSION_RATE CHURN=$CHURN GARBAGE=$GARBAGE ${EXTRA_ARGS:+EXTRA_ARGS=\"$EXTRA_ARGS\"}"
echo "kernel, machine-wide over the run: ListenOverflows $(($(cut -d" " -f1 <<<"$listen1") - $(cut -d" " -f1 <<<"$listen0"))), ListenDrops $(($(cut -d" " -f2 <<<"$listen1") - $(cut -d" " -f2 <<<"$listen0")))"
echo "machine busy $(awk -v b="$((busy1 - busy0))" -v t="$((total1 - total0))" -v n="$(nproc)" 'BEGIN {printf "%.0f", b / t * n * 100}') % of one core over the run (of $(nproc)00 %), loadavg at end $load"
echo
echo "| t s | RSS MB | live heap MB (gctrace) | goroutines | open files | CPU % of one core | Rt-Stat clients | garbage MiB sent |"
echo "|---|---|---|---|---|---|---|---|"
awk '{printf "| %s | %.1f | %s | %s | %s | %s | %s | %s |\n", $1, $2 / 1024, $3, $4, $5, $6, $7, $8}' "$samples"
echo
echo "After the ${WARMUP} s warm-up, least-squares slope per 10 minutes (and range):"
echo "- RSS: $(slope 2 1024) MB ($(range 2 1024) MB); goal within ±1 MB"
echo "- live heap: $(slope 3) MB ($(range 3) MB)"
echo "- live heap right after each batch write: $(batch_slope) MB ($(awk '{printf "%s%s s: %s MB", sep, $1, $2; sep = ", "}' "$batches"))"
echo "- goroutines: $(slope 4) ($(range 4))"
echo "- open files: $(slope 5) ($(range 5))"
echo "- edgestat: VmHWM $(mb "$hwm") MB, threads $nthreads, GCs $(grep -c '^gc ' "$WORK/soak.server.err" || true), stopped in $stop_s s after SIGTERM"
echo
echo "Drivers:"
echo "- soak: $(grep '"event":"summary"' "$WORK/soak.out" || echo '(no summary)')"
echo "- wsload, from its connect to the end: $(grep '"event":"mark"' "$WORK/wsload.out" | tail -n1 || true)"
echo "- wsload errors: $(sed -n 's/.*"errors":\({[^}]*}\).*/\1/p' "$WORK/wsload.out")"
echo "- monclient summary: $(grep '"event":"summary"' "$WORK/mon.out" || true)"
echo "- edgestat log: $(grep -vc '^gc ' "$WORK/soak.server.err" || true) lines besides gctrace, $(grep -c 'level=WARN' "$WORK/soak.server.err" || true) WARN, $(grep -c 'level=ERROR' "$WORK/soak.server.err" || true) ERROR"
{ grep -o 'level=\(WARN\|ERROR\) msg="[^"]*"' "$WORK/soak.server.err" || true; grep -m 3 '^panic' "$WORK/soak.server.err" || true; } | sort | uniq -c | sort -rn | head -n 10 | sed 's/^/    /'
