#!/usr/bin/env bash
# bench/profile.sh [sqlite|postgres]: profiles the real webhook handler and
# store (bench/profile) under closed-loop load from wrk replaying pre-signed
# requests (as `make bench` drives it; PROFILE_LOAD=loadgen uses
# `receiver loadgen` instead) and prints the top CPU, mutex and block
# entries. Profiles stay in $PROFILE_OUT (default
# $TMPDIR/receiver-profiles/<store>). Loopback only, bounded.
#
# Environment: PROFILE_DURATION (10s), BENCH_CONNECTIONS (256), PROFILE_LOAD
# (wrk), RECEIVER_TEST_POSTGRES_DSN for postgres, PROFILE_OUTPUTS (an
# outputs file whose workers run beside the handler, as in `receiver serve`;
# PROFILE_OUTPUTS=down attaches one HTTP output whose destination is down,
# as the "+output" runs of `make bench` do).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

KIND=${1:-sqlite}
DURATION=${PROFILE_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-256}
LOAD=${PROFILE_LOAD:-wrk}
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

if [ "$LOAD" = wrk ]; then
  command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk), or set PROFILE_LOAD=loadgen"
  log "pre-signing requests"
  "$RECEIVER" loadgen presign -count "${BENCH_PRESIGNED:-500000}" -files 2 -url http://127.0.0.1/hooks/prolific \
    -out "$WORK/presigned" 2>/dev/null || die "loadgen presign failed"
fi

# GOGC as `receiver serve` sets it unless told otherwise.
OUTPUTS=()
case ${PROFILE_OUTPUTS:-} in
  "") ;;
  down)
    down_output "$WORK/outputs-down.yaml"
    OUTPUTS=(-outputs "$WORK/outputs-down.yaml") ;;
  *) OUTPUTS=(-outputs "$PROFILE_OUTPUTS") ;;
esac
GOGC=${GOGC:-400} "$WORK/profile" -store "$DSN" -secret-file "$WORK/secret" -duration "$DURATION" -out "$OUT" "${OUTPUTS[@]}" >"$WORK/addr" 2>"$WORK/profile.log" &
PIDS+=("$!"); ppid=$!
for _ in $(seq 1 100); do [ -s "$WORK/addr" ] && break; sleep 0.1; done
[ -s "$WORK/addr" ] || die "profile harness did not start: $(cat "$WORK/profile.log")"
addr=$(head -n1 "$WORK/addr")
log "profiling $KIND for $DURATION under $CONNECTIONS connections"
if [ "$LOAD" = wrk ]; then
  wrk -t2 -c"$CONNECTIONS" -d"$(( ${DURATION%s} + 2 ))s" --timeout 10s -s bench/wrk/presigned.lua \
    "http://$addr/hooks/prolific" -- "$WORK/presigned" | tail -n 1 >"$OUT/load.json"
else
  "${LG[@]}" -url "http://$addr/hooks/prolific" -connections "$CONNECTIONS" \
    -duration "$(( ${DURATION%s} + 2 ))s" -json >"$OUT/load.json"
fi
wait "$ppid" || die "profile harness failed: $(cat "$WORK/profile.log")"
forget_pid "$ppid"
answered=$(grep -ho '[0-9]* requests answered during the profile' "$WORK/profile.log" | cut -d' ' -f1)
samples=$(go tool pprof -top -nodecount=1 "$WORK/profile" "$OUT/cpu.pprof" 2>/dev/null | sed -n 's/.*Total samples = \([0-9.]*\)\(m\?s\).*/\1 \2/p')
log "$KIND: ${answered:-?} requests answered during the profile; CPU samples $samples; $(awk -v s="$samples" -v n="${answered:-0}" 'BEGIN { split(s, a, " "); t = a[1] * (a[2] == "ms" ? 0.001 : 1); if (n > 0) printf "%.0f µs of CPU per request", t * 1e6 / n; else printf "no requests" }')"
for p in cpu mutex block; do
  echo "== $p"
  go tool pprof -top -nodecount=25 "$WORK/profile" "$OUT/$p.pprof" 2>/dev/null | sed -n '1,32p'
done
