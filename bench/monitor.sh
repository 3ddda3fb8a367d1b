#!/usr/bin/env bash
# monitor.sh measures edgestat's SSH monitor (issue 6): one edgestat watching
# N hosts over SSH at a 1 s interval through /monitor. The hosts are real SSH
# servers (bench/sshhosts, x/crypto/ssh) on loopback in a separate process,
# serving a fixture /proc; bench/monclient asks edgestat to watch them all
# with one ssh.start_monitor and counts the notifications. After WARMUP
# seconds the edgestat process alone is measured over WINDOW seconds: CPU
# from utime+stime, RSS (VmRSS) every SAMPLE seconds, and VmHWM.
#
#   bench/monitor.sh                    # N = 100
#   N="10 100" WINDOW=30 bench/monitor.sh
#
# Settings (environment): N (100; at most 256, the targets of one request;
# several, space-separated, run one after the other, each with a fresh
# edgestat and fresh hosts), INTERVAL (1s), WARMUP (10), WINDOW (60), SAMPLE
# (5), IDLE (10, seconds edgestat is measured before monitoring starts),
# SSH_ROOT (the fixture tree, default server/sshmon/testdata/x86-server),
# EDGESTAT_BIN (measure this binary instead of building one), LOG_LEVEL
# (info), KEEP_WORK=1 (keep logs in the printed work directory).
#
# sshhosts forks sh, head and df for every host every interval: at N = 100
# that is most of a core, on the same machine as edgestat. The notes give
# the machine's busy time and load average so the numbers can be read.
set -euo pipefail

N=${N:-100}
INTERVAL=${INTERVAL:-1s}
WARMUP=${WARMUP:-10}
WINDOW=${WINDOW:-60}
SAMPLE=${SAMPLE:-5}
IDLE=${IDLE:-10}
LOG_LEVEL=${LOG_LEVEL:-info}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SSH_ROOT=${SSH_ROOT:-$ROOT/server/sshmon/testdata/x86-server}
WORK=$(mktemp -d)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

build_server
SSHHOSTS=$WORK/sshhosts
MONCLIENT=$WORK/monclient
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$SSHHOSTS" ./bench/sshhosts &&
	CGO_ENABLED=0 go build -trimpath -o "$MONCLIENT" ./bench/monclient)
if [[ -n ${KEEP_WORK:-} ]]; then echo "logs in $WORK" >&2; fi


# all_ticks PID: CPU of a process and of the children it has waited for
# (sshhosts reaps its shells, head and df), in clock ticks.
all_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'; }

# machine_ticks: "busy total" jiffies of all CPUs, from /proc/stat.
machine_ticks() { awk '$1 == "cpu" {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t}' /proc/stat; }

rows=()
notes=()
for n in $N; do
	echo "N=$n: starting $n SSH hosts" >&2
	ports=$WORK/n$n.ports
	: >"$ports"
	"$SSHHOSTS" -n "$n" -root "$SSH_ROOT" -max-conns 4 >"$ports" 2>"$WORK/n$n.sshhosts.err" &
	hosts_pid=$!
	PIDS+=("$hosts_pid")
	wait_line "$ports" '^[0-9]' "$n" 30 "$hosts_pid"

	start_server "n$n" --monitor-interval "$INTERVAL" --max-monitor-targets "$n"
	echo "N=$n: edgestat on port $SERVER_PORT, idle ${IDLE} s" >&2
	c0=$(cpu_ticks "$SERVER_PID")
	t0=$(now)
	sleep "$IDLE"
	cpu_idle=$(cpu_pct "$c0" "$(cpu_ticks "$SERVER_PID")" "$t0" "$(now)")
	rss_idle=$(status_kb "$SERVER_PID" VmRSS)

	out=$WORK/n$n.mon.out
	: >"$out"
	"$MONCLIENT" -url "ws://127.0.0.1:$SERVER_PORT/monitor" -ports-file "$ports" >"$out" 2>"$WORK/n$n.mon.err" &
	mon_pid=$!
	PIDS+=("$mon_pid")
	if ! wait_line "$out" '"event":"started"' 1 150 "$mon_pid"; then
		cat "$out" "$WORK/n$n.mon.err" >&2
		exit 1
	fi
	started=$(grep '"event":"started"' "$out")
	echo "N=$n: monitoring started in $(field "$started" answer_seconds) s, warming up ${WARMUP} s" >&2
	sleep "$WARMUP"

	# The first mark closes monclient's warm-up window, the second the
	# measured one; sshhosts's marks give its counts at both ends.
	kill -USR1 "$mon_pid"
	kill -USR1 "$hosts_pid"
	c0=$(cpu_ticks "$SERVER_PID")
	h0=$(all_ticks "$hosts_pid")
	m0=$(cpu_ticks "$mon_pid")
	read -r busy0 total0 < <(machine_ticks)
	t0=$(now)
	echo "N=$n: measuring ${WINDOW} s" >&2
	rss_start=$(status_kb "$SERVER_PID" VmRSS)
	rss_min=""
	rss_max=0
	end=$((SECONDS + WINDOW))
	while :; do
		rss=$(status_kb "$SERVER_PID" VmRSS)
		if [[ -z $rss_min ]] || ((rss < rss_min)); then rss_min=$rss; fi
		if ((rss > rss_max)); then rss_max=$rss; fi
		left=$((end - SECONDS))
		((left > 0)) || break
		sleep $((left < SAMPLE ? left : SAMPLE))
	done
	c1=$(cpu_ticks "$SERVER_PID")
	h1=$(all_ticks "$hosts_pid")
	m1=$(cpu_ticks "$mon_pid")
	read -r busy1 total1 < <(machine_ticks)
	t1=$(now)
	kill -USR1 "$mon_pid"
	kill -USR1 "$hosts_pid"
	rss_end=$(status_kb "$SERVER_PID" VmRSS)
	hwm=$(status_kb "$SERVER_PID" VmHWM)
	nthreads=$(threads "$SERVER_PID")
	load=$(cut -d" " -f1-3 /proc/loadavg)
	wait_line "$out" '"event":"mark"' 2 10 "$mon_pid"
	mark=$(grep '"event":"mark"' "$out" | tail -n1)
	wait_line "$WORK/n$n.sshhosts.err" '"event":"mark"' 2 10 "$hosts_pid"
	hosts0=$(grep '"event":"mark"' "$WORK/n$n.sshhosts.err" | head -n1)
	hosts1=$(grep '"event":"mark"' "$WORK/n$n.sshhosts.err" | tail -n1)
	told=$(grep -h -e '^monclient:' -e '^sshhosts:' "$WORK/n$n.mon.err" "$WORK/n$n.sshhosts.err" || true) # before the shutdown's

	stop "$mon_pid"
	stop "$SERVER_PID"
	stop "$hosts_pid"
	errlog=$WORK/n$n.server.err

	cpu=$(cpu_pct "$c0" "$c1" "$t0" "$t1")
	mem=$(awk -v a="$(field "$mark" mem_per_host_mean)" -v b="$(field "$mark" mem_per_host_min)" -v c="$(field "$mark" mem_per_host_max)" \
		'BEGIN {printf "%.2f (%.2f–%.2f)", a, b, c}')
	rows+=("| $n | $cpu | $(mb "$rss_min") | $(mb "$rss_max") | $mem |")
	note="- N=$n: ssh.start_monitor answered in $(field "$started" answer_seconds) s;"
	note+=" before monitoring: edgestat CPU $cpu_idle %, RSS $(mb "$rss_idle") MB;"
	note+=" window $(field "$mark" window_seconds) s: RSS at start $(mb "$rss_start") MB, at end $(mb "$rss_end") MB,"
	note+=" VmHWM $(mb "$hwm") MB, threads $nthreads;"
	note+=" hosts without a memory event $(field "$mark" hosts_without_memory), longest gap between two memory events of a host $(field "$mark" mem_max_gap_ms) ms,"
	note+=" disconnected $(field "$mark" disconnected), notifications $(field "$mark" notifications_per_s)/s"
	note+=" $(sed -n 's/.*"events_per_s":\({[^}]*}\).*/\1/p' <<<"$mark")"
	notes+=("$note")
	note="  machine: busy $(awk -v b="$((busy1 - busy0))" -v t="$((total1 - total0))" -v n="$(nproc)" 'BEGIN {printf "%.0f", b / t * n * 100}') % of one core over the window"
	note+=" (of $(nproc)00 %), loadavg at end $load; sshhosts with its shells $(cpu_pct "$h0" "$h1" "$t0" "$t1") %,"
	note+=" monclient $(cpu_pct "$m0" "$m1" "$t0" "$t1") %; sshhosts in the window: $(($(field "$hosts1" execs) - $(field "$hosts0" execs))) commands,"
	note+=" $(($(field "$hosts1" exec_errors) - $(field "$hosts0" exec_errors))) failed, $(($(field "$hosts1" accepted) - $(field "$hosts0" accepted))) connections accepted"
	notes+=("$note")
	note="  edgestat log: $(wc -l <"$errlog") lines, $(grep -c 'level=WARN' "$errlog" || true) WARN, $(grep -c 'level=ERROR' "$errlog" || true) ERROR,"
	note+=" $(grep -c 'host lost' "$errlog" || true) 'host lost'"
	notes+=("$note")
	while IFS= read -r line; do notes+=("    $line"); done < <(grep -E 'level=(WARN|ERROR)|host lost' "$errlog" | head -n 5 || true)
	if [[ -n $told ]]; then
		while IFS= read -r line; do notes+=("    $line"); done <<<"$told"
	fi
done

echo
machine_line
echo "interval $INTERVAL, warm-up ${WARMUP} s, window ${WINDOW} s, RSS sampled every ${SAMPLE} s, CLK_TCK $CLK_TCK, fixture $SSH_ROOT"
echo
echo "| hosts | edgestat CPU % of one core | RSS min MB | RSS max MB | memory events/host/s (min–max) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${notes[@]}"
