#!/usr/bin/env bash
# offline.sh: `edgestat report` against darkstat, tshark and a bare Go
# read+decode loop, on two captures made by `edgestat emulate`: a
# flow-heavy one (--scan: 90 % of the packets open a new flow) and the
# realistic mix. Prints one table: wall time, CPU time (user+system) and
# peak RSS of each, the median of REPEAT runs by CPU time, and each one's
# CPU as a share of darkstat's on the same capture.
#
#   bench/offline.sh                       # 1,000,000 packets each, 3 runs
#   COUNT=100000 REPEAT=1 bench/offline.sh
#
# Needs darkstat, tshark and /usr/bin/time (Debian: darkstat tshark time).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${COUNT:-1000000}
REPEAT=${REPEAT:-3}
WORK=$(mktemp -d)
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$ROOT/bench/lib.sh"
trap cleanup EXIT
for tool in darkstat tshark /usr/bin/time; do
	command -v "$tool" >/dev/null || { echo "offline.sh: $tool is missing (apt-get install darkstat tshark time)" >&2; exit 1; }
done

# The release build: static and stripped, as users run it.
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$WORK/edgestat" . &&
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$WORK/readfloor" ./bench/readfloor)
"$WORK/edgestat" emulate --scan --count "$COUNT" --seed 1 --out "$WORK/flow-heavy.pcap"
"$WORK/edgestat" emulate --count "$COUNT" --seed 1 --out "$WORK/realistic.pcap"

# measure NAME CMD...: REPEAT runs; prints "wall cpu rss_kb" of the median
# run by CPU time. Output goes to /dev/null; a failing command fails it.
measure() {
	local i
	for ((i = 0; i < REPEAT; i++)); do
		/usr/bin/time -f '%e %U %S %M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/stderr" ||
			{ echo "offline.sh: $* failed:" >&2; cat "$WORK/stderr" >&2; exit 1; }
		awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$WORK/time"
	done | sort -k2,2n | awk -v m=$(((REPEAT + 1) / 2)) 'NR == m'
}

machine_line
echo "packets per capture: $COUNT; median of $REPEAT runs by CPU time"
echo
printf '| capture | program | wall s | CPU s | peak RSS MB | CPU / darkstat |\n|---|---|---|---|---|---|\n'
for cap in flow-heavy realistic; do
	f=$WORK/$cap.pcap
	ds=$(measure darkstat -r "$f" --no-daemon --no-dns -b 127.0.0.1 -p 0)
	dcpu=$(echo "$ds" | cut -d' ' -f2)
	row() { # row PROGRAM "wall cpu rss"
		echo "$2" | awk -v c="$cap" -v p="$1" -v d="$dcpu" \
			'{printf "| %s | %s | %.2f | %.2f | %.1f | %.2f |\n", c, p, $1, $2, $3 / 1024, $2 / d}'
	}
	row "edgestat report" "$(measure "$WORK/edgestat" report "$f")"
	row "darkstat -r (--no-daemon --no-dns)" "$ds"
	row "tshark -q -z io,phs" "$(measure tshark -q -z io,phs -r "$f")"
	row "Go read + DecodingLayerParser (floor)" "$(measure "$WORK/readfloor" "$f")"
done
