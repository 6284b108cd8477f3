#!/usr/bin/env bash
# bench/abpg.sh A_BINARY B_BINARY: compares two builds of the receiver on
# PostgreSQL under the closed loop `make bench` drives (wrk replaying
# pre-signed requests, bench/wrk/presigned.lua), alternating A, B, A, B ...
# for AB_ROUNDS rounds, each run on a fresh schema after a CHECKPOINT. Per
# run it prints the answers per second and, per answered request:
#   - the receiver process's CPU (utime+stime from /proc/PID/stat);
#   - PostgreSQL's CPU: the backends serving the bench's own database (found
#     by their process title, so other clients of a shared server are left
#     out) plus the server's auxiliary processes (WAL writer, checkpointer,
#     background writer), counted apart ("aux"), as they serve everyone;
#   - transactions committed and rows inserted and updated in the bench's
#     database (pg_stat_database), and WAL bytes (the whole server's).
# All counted from the moment wrk has loaded its requests until it stops,
# then the median and range of each, and the medians of the per-round B/A
# ratios. With AB_CEILING=1 each round also runs the bare net/http server
# (bench/ceiling) under the same load, and each build's answers per second
# are also given against that round's ceiling, as `make bench` reports them.
# On a shared host only the ratios mean anything.
# Loopback only, bounded by AB_DURATION per run. The database AB_DATABASE
# (receiver_ab) is created when missing; each run's schema is dropped.
#
# Environment: AB_ROUNDS (3), AB_CEILING (0), AB_DURATION (8s), BENCH_CONNECTIONS (256),
# BENCH_PRESIGNED (300000), AB_DATABASE (receiver_ab),
# RECEIVER_TEST_POSTGRES_DSN (the server; its database part is replaced).
set -euo pipefail
export PGOPTIONS="-c client_min_messages=warning"
cd "$(dirname "$0")/.."
source bench/lib.sh

[ $# -eq 2 ] || die "usage: bench/abpg.sh A_BINARY B_BINARY"
A=$(realpath "$1")
B=$(realpath "$2")
ROUNDS=${AB_ROUNDS:-3}
DURATION=${AB_DURATION:-8s}
CONNECTIONS=${BENCH_CONNECTIONS:-256}
DB=${AB_DATABASE:-receiver_ab}
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
BASE=$(postgres_base_dsn)
[ -n "$BASE" ] || die "no PostgreSQL reachable (set RECEIVER_TEST_POSTGRES_DSN)"
# The same server, database $DB.
PGDSN=$(echo "$BASE" | sed -E "s#^(postgres(ql)?://[^/]*)/[^?]*#\1/$DB#")
psql "$BASE" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 ||
  psql "$BASE" -qc "CREATE DATABASE $DB" >/dev/null

WORK=$(mktemp -d)
SCHEMA=""
trap 'stop_all; [ -z "$SCHEMA" ] || psql "$PGDSN" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
SECRET=$(new_secret)
export PROLIFIC_WEBHOOK_SECRET=$SECRET # read by loadgen presign; never printed
log "pre-signing requests"
"$A" loadgen presign -count "${BENCH_PRESIGNED:-300000}" -files 2 -url http://127.0.0.1/hooks/prolific \
  -out "$WORK/presigned" 2>/dev/null || die "loadgen presign failed"
HZ=$(getconf CLK_TCK)


# pg_ticks: one line per PostgreSQL process, "PID KIND TICKS", KIND being
# "backend" for a backend of $DB, "aux" for the WAL writer, checkpointer and
# background writer; other processes are left out.
pg_ticks() {
  local pid title kind
  for pid in $(pgrep -x postgres || true); do
    title=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
    case $title in
      *": walwriter"* | *": checkpointer"* | *": background writer"*) kind=aux ;;
      *" $DB "*) kind=backend ;;
      *) continue ;;
    esac
    echo "$pid $kind $(cpu_ticks "$pid")"
  done
}

# db_stats: "commits inserted updated wal_lsn_bytes" for $DB.
db_stats() {
  psql "$PGDSN" -tAF' ' -c "SELECT xact_commit, tup_inserted, tup_updated, pg_current_wal_lsn() - '0/0' FROM pg_stat_database WHERE datname = current_database()"
}

# one ROUND NAME BINARY: one run; appends "ROUND NAME rps receiver_us pg_us
# aux_us commits_per_1k_events inserted_per_event updated_per_event
# wal_bytes_per_event" to $WORK/results.
one() {
  local round=$1 name=$2 bin=$3 dir listen admin ready
  dir=$(mktemp -d -p "$WORK")
  SCHEMA=ab_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
  psql "$PGDSN" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
  psql "$PGDSN" -qc "CHECKPOINT" >/dev/null
  listen=127.0.0.1:$(free_port)
  admin=127.0.0.1:$(free_port)
  RECEIVER=$bin start_receiver "$name" "$(with_search_path "$PGDSN" "$SCHEMA")" "$listen" "$admin" "$dir/log" ||
    die "$name did not start"
  sleep 1
  ready=$dir/ready
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s bench/wrk/presigned.lua \
    "http://$listen/hooks/prolific" -- "$WORK/presigned" "$ready" >"$dir/wrk.out" 2>&1 &
  local wpid=$!
  for _ in $(seq 1 600); do [ -e "$ready.0" ] && [ -e "$ready.1" ] && break; sleep 0.05; done
  local c0 c1 s0 s1 w0 w1
  pg_ticks >"$dir/pg0"
  c0=$(cpu_ticks "$RECEIVER_PID")
  w0=$(cpu_ticks "$wpid")
  s0=$(db_stats)
  track_ticks "$wpid" "$dir/wrk.ticks"
  wait "$wpid" || die "$name: wrk failed: $(tail -n 3 "$dir/wrk.out")"
  c1=$(cpu_ticks "$RECEIVER_PID")
  w1=$(cat "$dir/wrk.ticks")
  pg_ticks >"$dir/pg1"
  s1=$(db_stats)
  stop_pid "$RECEIVER_PID"
  psql "$PGDSN" -qc "DROP SCHEMA $SCHEMA CASCADE" >/dev/null
  SCHEMA=""
  # Processes that started during the run count from zero.
  local pgb pga
  read -r pgb pga < <(awk 'NR == FNR { t[$1] = $3; next } { d = $3 - ($1 in t ? t[$1] : 0); s[$2] += d }
    END { printf "%d %d\n", s["backend"], s["aux"] }' "$dir/pg0" "$dir/pg1")
  local line
  line=$(tail -n 1 "$dir/wrk.out" | jq -r --arg n "$name" --argjson t $((c1 - c0)) --argjson hz "$HZ" \
    --argjson pb "$pgb" --argjson pa "$pga" --arg s0 "$s0" --arg s1 "$s1" --argjson w $((w1 - w0)) '
    ($s0 | split(" ") | map(tonumber)) as $a | ($s1 | split(" ") | map(tonumber)) as $b |
    if .failed > 0 then error("\($n): \(.failed) failed answers") else
     (.requests) as $r |
     "\($n) \($r / .elapsed_seconds | floor) \($t / $hz * 1e6 / $r * 10 | round / 10) \($pb / $hz * 1e6 / $r * 10 | round / 10) \($pa / $hz * 1e6 / $r * 10 | round / 10) \(($b[0] - $a[0]) / $r * 1000 * 10 | round / 10) \(($b[1] - $a[1]) / $r * 100 | round / 100) \(($b[2] - $a[2]) / $r * 100 | round / 100) \(($b[3] - $a[3]) / $r | round) \($w / $hz * 1e6 / $r * 10 | round / 10)" end') ||
    die "$name: $(tail -n 1 "$dir/wrk.out")"
  log "round $round: $line"
  echo "$round $line" >>"$WORK/results"
  rm -rf "$dir"
}

log "columns: variant answers/s receiver-µs pg-backend-µs pg-aux-µs (CPU per request) commits-per-1000 inserted updated wal-bytes wrk-µs (per request)"
ab_rounds
if [ -s "$WORK/ceiling.results" ]; then
  awk "$AWK_MEDIAN"'
    FNR == NR { c[$1] = $3; cc[$1] = $4; cw[$1] = $5; next }
    { r[$2, $1] = $3 / c[$1]; n = $1 }
    END {
      for (i = 1; i <= n; i++) { x[i] = c[i]; y[i] = cc[i]; z[i] = cw[i] }
      printf "  ceiling: %d answers/s (median), %.1f µs CPU/request, wrk %.1f µs CPU/request\n", median(x, n), median(y, n), median(z, n)
      for (v = 0; v < 2; v++) {
        name = v ? "B" : "A"
        for (i = 1; i <= n; i++) x[i] = r[name, i]
        m = median(x, n)
        printf "  %s vs its round'"'"'s ceiling: %.3f (%.3f–%.3f)\n", name, m, x[1], x[n]
      }
    }' "$WORK/ceiling.results" "$WORK/results"
fi
cp "$WORK/results" "${AB_RESULTS:-/dev/null}" 2>/dev/null || true
awk "$AWK_MEDIAN"'
  function summary(col, label,   v, i, x, m) {
    for (v = 0; v < 2; v++) {
      name = v ? "B" : "A"
      for (i = 1; i <= n; i++) x[i] = val[name, i, col]
      m = median(x, n)
      printf "  %s %s: %.2f (%.2f–%.2f)\n", name, label, m, x[1], x[n]
    }
    for (i = 1; i <= n; i++) x[i] = val["A", i, col] > 0 ? val["B", i, col] / val["A", i, col] : 0
    m = median(x, n)
    printf "  B/A %s per round: %.3f (%.3f–%.3f)\n", label, m, x[1], x[n]
  }
  { for (c = 3; c <= NF; c++) val[$2, $1, c] = $c; n = $1 }
  END {
    summary(3, "answers/s"); summary(4, "receiver CPU µs/request"); summary(5, "PostgreSQL backend CPU µs/request")
    summary(6, "PostgreSQL aux CPU µs/request"); summary(11, "wrk CPU µs/request"); summary(7, "commits per 1000 requests")
    summary(8, "rows inserted/request"); summary(9, "rows updated/request"); summary(10, "WAL bytes/request")
  }' "$WORK/results"
