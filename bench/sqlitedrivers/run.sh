#!/usr/bin/env bash
# bench/sqlitedrivers/run.sh [ROUNDS]: builds the comparison once per driver
# and runs them in ROUNDS (default 5) interleaved rounds, printing each
# round's CPU-µs per stored event and each driver's median. EVENTS (100000)
# events per run, BATCH (64) per transaction.
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${1:-5}
EVENTS=${EVENTS:-100000}
BATCH=${BATCH:-64}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/modernc" .
CGO_ENABLED=1 go build -tags mattn -o "$out/mattn" .
go build -tags ncruces -o "$out/ncruces" .
declare -A all
# modernc-multi: the receiver's driver with one multi-row INSERT per
# transaction instead of one INSERT per event.
runs=(modernc mattn ncruces modernc-multi)
for r in $(seq 1 "$ROUNDS"); do
  for d in "${runs[@]}"; do
    flags=()
    [ "$d" != modernc-multi ] || flags=(-multi)
    read -r _ us < <("$out/${d%-multi}" -events "$EVENTS" -batch "$BATCH" "${flags[@]}")
    echo "round $r $d $us CPU-µs per event"
    all[$d]+="$us "
  done
done
for d in "${runs[@]}"; do
  echo "median $d $(printf '%s\n' ${all[$d]} | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') (${all[$d]% })"
done
