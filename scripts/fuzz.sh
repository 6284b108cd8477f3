#!/usr/bin/env bash
# scripts/fuzz.sh DURATION: runs every fuzz target in the module (each
# `func FuzzXxx` in a *_test.go file), one at a time, for DURATION each
# (a Go duration such as 30s or 5m, or an iteration count such as 10000x;
# default 30s). A failing input is written by `go test` to the package's
# testdata/fuzz/FuzzXxx/ directory, where it becomes a regression test: read
# it, fix the bug, commit it.
#
# Environment: FUZZ_PARALLEL (fuzzing workers per target, default 2: the
# machines this runs on are small), FUZZ_BOUND (seconds one target may take
# in all, build included, before it is killed; default DURATION + 300, or
# 1800 for an iteration count).
# Exits non-zero if any target fails, is killed at its bound, or none is found.
# A target that ends on Go 1.26's fuzz-deadline race with nothing found
# (deadline_flake below) runs once more instead of failing the run.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-30s}
PARALLEL=${FUZZ_PARALLEL:-2}

# bound_seconds prints how long one target may run in all.
bound_seconds() {
	if [[ -n "${FUZZ_BOUND:-}" ]]; then
		echo "$FUZZ_BOUND"
		return
	fi
	local d=$1 total=0 n unit
	if [[ $d =~ ^[0-9]+x$ ]]; then
		echo 1800
		return
	fi
	while [[ $d =~ ^([0-9]+)(h|m|s)(.*)$ ]]; do
		n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
		case $unit in
		h) total=$((total + n * 3600)) ;;
		m) total=$((total + n * 60)) ;;
		s) total=$((total + n)) ;;
		esac
	done
	if [[ -n $d ]]; then
		echo "fuzz.sh: DURATION must look like 30s, 5m, 1h30m or 10000x, got '$1'" >&2
		exit 2
	fi
	echo $((total + 300))
}
BOUND=$(bound_seconds "$DURATION")

# Every fuzz target as "./package/dir FuzzName", sorted.
mapfile -t TARGETS < <(
	grep -rn --include='*_test.go' --exclude-dir=.git --exclude-dir=vendor '^func Fuzz' . |
		sed -E 's|^(.*)/[^/]+_test\.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*)\(.*$|\1 \2|' |
		sort -u
)
if [[ ${#TARGETS[@]} -eq 0 ]]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi

# fuzz_one PKG NAME LOG: one run of one target, its output also in LOG.
# -fuzzminimizetime: minimising a new deep input can take the default
# minute, which would leave a short run with nothing fuzzed.
fuzz_one() {
	timeout --kill-after=10s "$BOUND" \
		go test -run '^$' -fuzz "^${2}\$" -fuzztime "$DURATION" -fuzzminimizetime 5s -parallel "$PARALLEL" "$1" 2>&1 | tee "$3"
	return "${PIPESTATUS[0]}"
}

# deadline_flake LOG: the run ended with Go's own "context deadline
# exceeded" as -fuzztime ran out, and found nothing: no failing input
# written, no panic, no test error. That is a race in the fuzz coordinator
# of Go 1.26 (go.dev/issue/75804, fixed in Go 1.27), not a finding.
deadline_flake() {
	grep -q 'context deadline exceeded' "$1" &&
		! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$1"
}

echo "fuzz.sh: ${#TARGETS[@]} targets, $DURATION each (bound ${BOUND}s, $PARALLEL workers)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
for target in "${TARGETS[@]}"; do
	read -r pkg name <<<"$target"
	echo "=== $name ($pkg)"
	if fuzz_one "$pkg" "$name" "$log"; then
		continue
	fi
	if deadline_flake "$log"; then
		# Once, and only for that: any other failure counts at once.
		echo "fuzz.sh: $name stopped on the fuzz coordinator's deadline race with nothing found; running it again"
		fuzz_one "$pkg" "$name" "$log" && continue
	fi
	failed+=("$name ($pkg)")
done

if [[ ${#failed[@]} -gt 0 ]]; then
	echo "fuzz.sh: FAILED: ${failed[*]}" >&2
	echo "fuzz.sh: failing inputs are under the packages' testdata/fuzz/ directories" >&2
	exit 1
fi
echo "fuzz.sh: all ${#TARGETS[@]} targets passed"
