#!/usr/bin/env bash
# bench/profile.sh [sqlite|postgres]: profiles the real webhook handler and
# store (bench/profile) under closed-loop load from `receiver loadgen` and
# prints the top CPU, mutex and block entries. Profiles stay in
# $PROFILE_OUT (default $TMPDIR/receiver-profiles/<store>). Loopback only, bounded.
#
# Environment: PROFILE_DURATION (10s), BENCH_CONNECTIONS (64),
# RECEIVER_TEST_POSTGRES_DSN for postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

KIND=${1:-sqlite}
DURATION=${PROFILE_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
OUT=${PROFILE_OUT:-${TMPDIR:-/tmp}/receiver-profiles/$KIND}
mkdir -p "$OUT"
setup "receiver and the profiling harness" ./bench/profile
(umask 077; printf '%s' "$SECRET" >"$WORK/secret")

case $KIND in
  sqlite) DSN="sqlite:$WORK/profile.db" ;;
  postgres)
    PG_BASE=$(postgres_base_dsn)
    [ -n "$PG_BASE" ] || die "no PostgreSQL reachable (set RECEIVER_TEST_POSTGRES_DSN)"
    SCHEMA=prof_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    psql "$PG_BASE" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
    DSN=$(with_search_path "$PG_BASE" "$SCHEMA") ;;
  *) die "usage: bench/profile.sh [sqlite|postgres]" ;;
esac

"$WORK/profile" -store "$DSN" -secret-file "$WORK/secret" -duration "$DURATION" -out "$OUT" >"$WORK/addr" 2>"$WORK/profile.log" &
PIDS+=("$!"); ppid=$!
for _ in $(seq 1 100); do [ -s "$WORK/addr" ] && break; sleep 0.1; done
[ -s "$WORK/addr" ] || die "profile harness did not start: $(cat "$WORK/profile.log")"
addr=$(head -n1 "$WORK/addr")
log "profiling $KIND for $DURATION under $CONNECTIONS connections"
"${LG[@]}" -url "http://$addr/hooks/prolific" -connections "$CONNECTIONS" \
  -duration "$(( ${DURATION%s} + 2 ))s" -json >"$OUT/loadgen.json"
wait "$ppid" || die "profile harness failed: $(cat "$WORK/profile.log")"
forget_pid "$ppid"
log "$KIND: $(jq -r '"\(.ok) ok in \(.elapsed_seconds) s, p99 \(.latency.p99_ms) ms"' "$OUT/loadgen.json")"
for p in cpu mutex block; do
  echo "== $p"
  go tool pprof -top -nodecount=25 "$WORK/profile" "$OUT/$p.pprof" 2>/dev/null | sed -n '1,32p'
done
