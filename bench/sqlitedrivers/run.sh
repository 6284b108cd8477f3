#!/usr/bin/env bash
# bench/sqlitedrivers/run.sh [ROUNDS]: builds the comparison once per driver
# and runs them in ROUNDS (default 5) interleaved rounds, printing each
# round's CPU-µs per stored event and each driver's median.
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
for r in $(seq 1 "$ROUNDS"); do
  for d in modernc mattn ncruces; do
    read -r _ us < <("$out/$d" -events "$EVENTS" -batch "$BATCH")
    echo "round $r $d $us CPU-µs per event"
    all[$d]+="$us "
  done
done
for d in modernc mattn ncruces; do
  echo "median $d $(printf '%s\n' ${all[$d]} | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }') (${all[$d]% })"
done
