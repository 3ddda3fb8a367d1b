#!/usr/bin/env bash
# packaging/release.sh VERSION: the release builds of edgestat.
#
# For every target of README.md's "Targets" table it builds a static,
# stripped binary (CGO_ENABLED=0) stamped with VERSION, and a tarball with
# that binary, the systemd unit and its environment file, the OpenWrt init
# script and config, and README.md. Then dist/SHA256SUMS lists them all, so
# `cd dist && sha256sum -c SHA256SUMS` checks a download.
#
#   dist/edgestat-VERSION-linux-ARCH          the binary
#   dist/edgestat-VERSION-linux-ARCH.tar.gz   edgestat-VERSION-linux-ARCH/{edgestat,...}
#   dist/SHA256SUMS
#
# ARCH is amd64, arm64, armv6, armv7, riscv64 or 386.
#
# Reproducible: the same source and Go toolchain give the same bytes, on
# any machine and in any directory (-trimpath, no VCS stamp, the
# architecture levels pinned, tar entries sorted with fixed owners, modes and
# times, gzip without a name or time). Entries are dated SOURCE_DATE_EPOCH,
# else the last commit's time.
#
# Environment:
#   EDGESTAT_RELEASE_TARGETS  a subset of the targets, e.g. "linux/amd64 linux/arm/7"
#                             (the tests build one target only)
#   EDGESTAT_RELEASE_DIR      output directory (default: dist; relative to the repository)
#   SOURCE_DATE_EPOCH         time of the tarballs' entries
set -euo pipefail
# The order of globbed names (SHA256SUMS, the table) must not depend on the
# builder's locale.
export LC_ALL=C

# The targets of README.md's "Targets" table (a test keeps the two the same):
# GOOS/GOARCH, with /N for GOARM.
ALL_TARGETS="linux/amd64 linux/arm64 linux/arm/6 linux/arm/7 linux/riscv64 linux/386"

usage() {
	echo "usage: $0 VERSION   (e.g. 0.2.0, 1.0.0-rc1, ci)" >&2
	exit 2
}

[ $# -eq 1 ] || usage
VERSION=$1
# The version lands in file names and in the binary: letters, digits and
# . _ + - only, starting with a letter or digit (no "/", no spaces, no "..").
if ! [[ $VERSION =~ ^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}$ ]] || [[ $VERSION == *..* ]]; then
	echo "release.sh: bad VERSION '$VERSION': want letters, digits and . _ + -, e.g. 0.2.0" >&2
	usage
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${EDGESTAT_RELEASE_DIR:-dist}
targets=${EDGESTAT_RELEASE_TARGETS:-$ALL_TARGETS}
for t in $targets; do
	case " $ALL_TARGETS " in
	*" $t "*) ;;
	*) echo "release.sh: unknown target '$t' (known: $ALL_TARGETS)" >&2; exit 2 ;;
	esac
done

# GNU tar: its --sort, --mtime, --owner options make the tarballs
# reproducible; busybox or BSD tar lack some of them.
if ! tar --version 2>/dev/null | grep -q 'GNU tar'; then
	echo "release.sh: needs GNU tar" >&2
	exit 1
fi
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || echo 0)
fi

# Only our own files are removed: the directory may be shared.
mkdir -p "$out"
rm -rf "$out"/edgestat-* "$out"/SHA256SUMS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for t in $targets; do
	IFS=/ read -r os arch arm <<<"$t"
	name="edgestat-$VERSION-$os-$arch${arm:+v$arm}"
	echo "building $name"
	# Each architecture level is pinned to Go's default, so a GOAMD64=v3 (or
	# the like) in the builder's environment cannot change the output.
	# -buildvcs=false: the binary depends on the source alone, not on the
	# state of a git checkout (VERSION says which release it is).
	CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" GOARM="$arm" \
		GOAMD64=v1 GOARM64=v8.0 GO386=sse2 GORISCV64=rva20u64 \
		go build -trimpath -buildvcs=false \
		-ldflags "-s -w -X main.version=$VERSION" \
		-o "$out/$name" .

	stage="$work/$name"
	mkdir -p "$stage"
	install -m 755 "$out/$name" "$stage/edgestat"
	install -m 644 packaging/systemd/edgestat.service packaging/systemd/edgestat.default \
		packaging/openwrt/edgestat.config README.md "$stage/"
	install -m 755 packaging/openwrt/edgestat.init "$stage/"
	if [ -f LICENSE ]; then install -m 644 LICENSE "$stage/"; fi
	tar -C "$work" --format=gnu --sort=name --mtime="@$SOURCE_DATE_EPOCH" \
		--owner=0 --group=0 --numeric-owner --mode='u=rwX,go=rX' \
		-cf - "$name" | gzip -n -9 >"$out/$name.tar.gz"
done

(cd "$out" && sha256sum -- edgestat-* >SHA256SUMS)

printf '\n| file | size |\n|---|---|\n'
for f in "$out"/edgestat-* "$out"/SHA256SUMS; do
	printf '| %s | %s |\n' "$(basename "$f")" \
		"$(awk -v b="$(stat -c %s "$f")" 'BEGIN { if (b >= 1048576) printf "%.1f MB", b/1048576; else printf "%d B", b }')"
done
