#!/usr/bin/env bash
# gobench.sh runs the Go benchmarks behind BENCH.md (one collection tick, the
# push fan-out over loopback, the /proc parsers; the probe pipeline beside
# gopacket's NewPacket and a bare DecodingLayerParser, the emulator, capture
# file reading and, as root, live capture over a veth pair) and prints them
# as a table.
#
#   bench/gobench.sh                 # each benchmark for 2s
#   BENCHTIME=5s bench/gobench.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCHTIME=${BENCHTIME:-2s}
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/bench/lib.sh"

printf 'machine: nproc %s, %s, %s, kernel %s\n\n' "$(nproc)" \
	"$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)" "$(go version | cut -d' ' -f3-4)" "$(uname -r)"
printf '| benchmark | ns/op | B/op | allocs/op | extra |\n|---|---|---|---|---|\n'
{
	go test -run '^$' -bench 'Collect' -benchmem -benchtime "$BENCHTIME" ./server/rtstat/
	go test -run '^$' -bench 'Fanout' -benchmem -benchtime 200x ./server/rtstat/
	go test -run '^$' -bench '.' -benchmem -benchtime "$BENCHTIME" ./proc/
	go test -run '^$' -bench 'Mix' -benchmem -benchtime "$BENCHTIME" ./probe/
	go test -run '^$' -bench 'Generate|WritePcap' -benchmem -benchtime "$BENCHTIME" ./probe/emulator/
	go test -run '^$' -bench 'ReadFile|Drain' -benchmem -benchtime "$BENCHTIME" ./probe/capture/
	if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
		go test -run '^$' -bench 'LiveCapture' -benchtime 1000000x ./probe/capture/
	fi
} | bench_table
