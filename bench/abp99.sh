#!/usr/bin/env bash
# bench/abp99.sh OLD NEW: the open-loop latency of two receiver builds (git
# revisions) on PostgreSQL, alternating in rounds: each round runs OLD then
# NEW (NEW first in even rounds), each on a fresh schema after a CHECKPOINT,
# under `receiver loadgen` at RATE events/s for DURATION (latency from the
# scheduled send time), and prints p50/p99/p99.9 and late sends per run,
# then the medians. Loopback only, bounded by ROUNDS x 2 x DURATION.
#
# Environment: ROUNDS (4), RATE (1000), DURATION (10s), CONNECTIONS (64, the
# bound on requests in flight), RECEIVER_TEST_POSTGRES_DSN.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
[ $# -eq 2 ] || die "usage: bench/abp99.sh OLD NEW (git revisions)"
ROUNDS=${ROUNDS:-4} RATE=${RATE:-1000} DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-64}
BASE=$(postgres_base_dsn)
[ -n "$BASE" ] || die "no PostgreSQL reachable (RECEIVER_TEST_POSTGRES_DSN)"
WORK=$(mktemp -d)
PIDS=()
trap 'stop_all; psql "$BASE" -qc "DROP SCHEMA IF EXISTS abp99 CASCADE" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

build() { # build REV NAME: the receiver at REV into $WORK/NAME
  local src=$WORK/src-$2
  git worktree add -q --detach "$src" "$1"
  (cd "$src" && CGO_ENABLED=0 go build -o "$WORK/$2" ./cmd/receiver)
  git worktree remove --force "$src"
}
log "building $1 (old) and $2 (new)"
build "$1" old
build "$2" new
SECRET=$(new_secret)
export SECRET PROLIFIC_WEBHOOK_SECRET=$SECRET # read by loadgen; never printed

run() { # run NAME ROUND: one open loop; appends "NAME p50 p99 p999 late" to $WORK/results
  local name=$1 round=$2 listen admin
  PGOPTIONS="-c client_min_messages=warning" psql "$BASE" -qc "DROP SCHEMA IF EXISTS abp99 CASCADE" -c "CREATE SCHEMA abp99" -c "CHECKPOINT" >/dev/null
  listen=127.0.0.1:$(free_port) admin=127.0.0.1:$(free_port)
  RECEIVER=$WORK/$name start_receiver "$name" "$(with_search_path "$BASE" abp99)" "$listen" "$admin" "$WORK/$name.log" ||
    die "$name did not start"
  local line
  line=$("$WORK/new" loadgen -url "http://$listen/hooks/prolific" -connections "$CONNECTIONS" \
    -rate "$RATE" -duration "$DURATION" -json | jq -r '"\(.latency.p50_ms) \(.latency.p99_ms) \(.latency.p99_9_ms) \(.late)"')
  stop_pid "$RECEIVER_PID"
  log "round $round $name: p50 p99 p99.9 ms, late sends: $line"
  echo "$name $line" >>"$WORK/results"
}
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then run old "$r"; run new "$r"; else run new "$r"; run old "$r"; fi
done
for name in old new; do
  awk -v n="$name" "$AWK_MEDIAN"'$1 == n { p50[++k] = $2; p99[k] = $3; p999[k] = $4 }
    END { printf "%s: median p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms over %d runs\n", n, median(p50, k), median(p99, k), median(p999, k), k }' "$WORK/results"
done
echo "all runs (name p50 p99 p99.9 late):"
cat "$WORK/results"
