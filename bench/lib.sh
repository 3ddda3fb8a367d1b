# shellcheck shell=bash
# Helpers shared by bench/fanout.sh and bench/idle.sh; sourced, not run.
# Needs: ROOT (the repository) and WORK (a scratch directory) set by the caller.

PIDS=()        # processes to stop on exit, in start order
SERVER_PID=""  # set by start_server
SERVER_PORT="" # set by start_server
CLK_TCK=$(getconf CLK_TCK)

# cleanup stops whatever is still running (newest first) and removes WORK.
cleanup() {
	local i pid
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		pid=${PIDS[i]}
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	if [[ -n ${WORK:-} && -d $WORK && -z ${KEEP_WORK:-} ]]; then
		rm -rf "$WORK"
	fi
}

# machine_line describes the box the numbers come from.
machine_line() {
	local model
	model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
	echo "machine: nproc $(nproc), ${model:-unknown CPU}, $(go version | cut -d' ' -f3-), kernel $(uname -r)"
}

# build_server sets BIN: $EDGESTAT_BIN when given, else a fresh static build.
build_server() {
	if [[ -n ${EDGESTAT_BIN:-} ]]; then
		BIN=$EDGESTAT_BIN
		return
	fi
	BIN=$WORK/edgestat
	(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -o "$BIN" .)
}

# start_server NAME [FLAG...] starts the server, with the extra flags, on a
# free loopback port (port 0: the kernel picks one, the greeting tells
# which) and waits until it listens. Its output is in $WORK/NAME.server.out
# and .err, its data in $WORK/NAME.data; the environment passes through
# (GODEBUG=gctrace=1 start_server ...).
start_server() {
	local name=$1 out=$WORK/$1.server.out i
	shift
	mkdir -p "$WORK/$name.data"
	: >"$out" # the background child opens it later: it must exist for sed
	"$BIN" --interface 127.0.0.1 --port 0 --max-clients 0 --data "$WORK/$name.data" \
		--log-level "${LOG_LEVEL:-warn}" "$@" >"$out" 2>"$WORK/$name.server.err" &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	for ((i = 0; i < 100; i++)); do
		SERVER_PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$out" | head -n1)
		[[ -n $SERVER_PORT ]] && return
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "server did not start:" >&2
	cat "$out" "$WORK/$name.server.err" >&2
	return 1
}

# stop PID: SIGTERM and wait (the server drains its clients for up to 5 s).
stop() {
	kill -TERM "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# cpu_ticks PID: user + system time of every thread, in clock ticks.
cpu_ticks() {
	# Fields after "(comm)": state is $1, utime $12, stime $13.
	sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}

# status_kb PID FIELD: a kB field of /proc/PID/status (VmRSS, VmHWM).
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

threads() { awk '$1 == "Threads:" {print $2}' "/proc/$1/status"; }

now() { date +%s.%N; }

# cpu_pct TICKS0 TICKS1 T0 T1: CPU time over wall time, in % of one core.
cpu_pct() {
	awk -v c0="$1" -v c1="$2" -v t0="$3" -v t1="$4" -v hz="$CLK_TCK" \
		'BEGIN {printf "%.2f", (c1 - c0) / hz / (t1 - t0) * 100}'
}

mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# field LINE KEY: a number from one of wsload's JSON lines.
field() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }

# wait_line FILE PATTERN COUNT TIMEOUT PID: wait until FILE has COUNT lines
# matching PATTERN, failing if PID exits or TIMEOUT seconds pass.
wait_line() {
	local deadline=$((SECONDS + $4))
	until (($(grep -c -- "$2" "$1" || true) >= $3)); do
		if ! kill -0 "$5" 2>/dev/null || ((SECONDS > deadline)); then
			echo "timed out waiting for $2 in $1" >&2
			return 1
		fi
		sleep 0.1
	done
}

# bench_table turns `go test -bench` output into the markdown rows of
# BENCH.md (name, ns/op, B/op, allocs/op, the custom metrics), and fails on
# a FAIL or panic line.
bench_table() {
	awk '
		/^Benchmark/ {
			name = $1; sub(/-[0-9]+$/, "", name)
			ns = ""; b = ""; a = ""; extra = ""
			for (i = 3; i < NF; i += 2) {
				if ($(i+1) == "ns/op") ns = $i
				else if ($(i+1) == "B/op") b = $i
				else if ($(i+1) == "allocs/op") a = $i
				else extra = extra $i " " $(i+1) " "
			}
			printf "| %s | %s | %s | %s | %s |\n", name, ns, b, a, extra
		}
		/^(FAIL|panic)/ { print; failed = 1 }
		END { exit failed }'
}
