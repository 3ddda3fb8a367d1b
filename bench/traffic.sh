#!/usr/bin/env bash
# traffic.sh runs the traffic store's benchmarks behind BENCH.md (issue 4)
# and prints them as a table:
#   - ingest: 5-second reports of 100 paths stored with the rollups
#     maintained, beside plain batched INSERTs of the same reports (the
#     baseline, same run);
#   - /traffic/data for each period over 30 days of 5-second reports for
#     100 paths (the database is built once, through the real write path;
#     about a minute);
#   - bytes the database writes per day at the default emulator load (two
#     simulated days, the second measured), for flush intervals FLUSHES.
#
#   bench/traffic.sh
#   FLUSHES="5m" bench/traffic.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
FLUSHES=${FLUSHES:-"1m 5m 10m"}
cd "$ROOT"
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/bench/lib.sh"

printf 'machine: nproc %s, %s, %s, kernel %s\n\n' "$(nproc)" \
	"$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)" "$(go version | cut -d' ' -f3-4)" "$(uname -r)"
printf '| benchmark | ns/op | B/op | allocs/op | extra |\n|---|---|---|---|---|\n'
{
	go test -run '^$' -bench 'Ingest' -benchmem -benchtime 20x ./server/traffic/
	go test -run '^$' -bench 'QueryMonthDB' -benchmem -benchtime 20x ./server/traffic/
	for f in $FLUSHES; do
		FLUSH=$f go test -run '^$' -bench 'WearPerDay' -benchtime 1x ./server/traffic/ | sed "s/^BenchmarkWearPerDay/BenchmarkWearPerDay\/flush=$f/"
	done
} | bench_table
