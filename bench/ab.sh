#!/usr/bin/env bash
# bench/ab.sh A_BINARY B_BINARY: compares two builds of the receiver on
# SQLite under the closed loop `make bench` drives (wrk replaying pre-signed
# requests, bench/wrk/presigned.lua), alternating A, B, A, B ... for
# AB_ROUNDS rounds, each run on a fresh database. Per run it prints the
# answers per second and the server process's CPU per request (utime+stime
# from /proc/PID/stat, counted from the moment wrk has loaded its requests
# until it stops), then the median and range of each and the median of the
# per-round B/A ratios. It also counts the receiver's heap allocations per
# request (go_memstats_mallocs_total on /metrics over the same span). On a shared host only the ratios mean anything.
# With AB_CEILING=1 each round also runs the bare net/http server
# (bench/ceiling) under the same load, and each build's answers per second
# are also given against that round's ceiling, as `make bench` reports them.
# Loopback only, bounded by AB_DURATION per run.
#
# Environment: AB_ROUNDS (3), AB_CEILING (0), AB_DURATION (8s),
# BENCH_CONNECTIONS (256), BENCH_PRESIGNED (300000).
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

[ $# -eq 2 ] || die "usage: bench/ab.sh A_BINARY B_BINARY"
A=$(realpath "$1")
B=$(realpath "$2")
ROUNDS=${AB_ROUNDS:-3}
DURATION=${AB_DURATION:-8s}
CONNECTIONS=${BENCH_CONNECTIONS:-256}
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"

WORK=$(mktemp -d)
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
SECRET=$(new_secret)
export PROLIFIC_WEBHOOK_SECRET=$SECRET # read by loadgen presign; never printed
log "pre-signing requests"
"$A" loadgen presign -count "${BENCH_PRESIGNED:-300000}" -files 2 -url http://127.0.0.1/hooks/prolific \
  -out "$WORK/presigned" 2>/dev/null || die "loadgen presign failed"
HZ=$(getconf CLK_TCK)

# mallocs ADMIN: the receiver's heap allocations so far (go_memstats_mallocs_total).
mallocs() { curl -fsS --max-time 5 "http://$1/metrics" | awk '$1 == "go_memstats_mallocs_total" { printf "%d", $2 }'; }


# one ROUND NAME BINARY: one run; appends "ROUND NAME rps cpu_us_per_request
# allocations_per_request" to $WORK/results.
one() {
  local round=$1 name=$2 bin=$3 dir listen admin ready line
  dir=$(mktemp -d -p "$WORK")
  listen=127.0.0.1:$(free_port)
  admin=127.0.0.1:$(free_port)
  RECEIVER=$bin start_receiver "$name" "sqlite:$dir/receiver.db" "$listen" "$admin" "$dir/log" || die "$name did not start"
  sleep 1
  ready=$dir/ready
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s bench/wrk/presigned.lua \
    "http://$listen/hooks/prolific" -- "$WORK/presigned" "$ready" >"$dir/wrk.out" 2>&1 &
  local wpid=$!
  for _ in $(seq 1 600); do [ -e "$ready.0" ] && [ -e "$ready.1" ] && break; sleep 0.05; done
  local c0 c1 m0 m1
  c0=$(cpu_ticks "$RECEIVER_PID")
  m0=$(mallocs "$admin")
  wait "$wpid" || die "$name: wrk failed: $(tail -n 3 "$dir/wrk.out")"
  c1=$(cpu_ticks "$RECEIVER_PID")
  m1=$(mallocs "$admin")
  stop_pid "$RECEIVER_PID"
  line=$(tail -n 1 "$dir/wrk.out" | jq -r --arg n "$name" --argjson t $((c1 - c0)) --argjson hz "$HZ" \
    --argjson m $((m1 - m0)) 'if .failed > 0 then error("\($n): \(.failed) failed answers") else
     "\($n) \(.requests / .elapsed_seconds | floor) \($t / $hz * 1e6 / .requests * 10 | round / 10) \($m / .requests * 10 | round / 10)" end') ||
    die "$name: $(tail -n 1 "$dir/wrk.out")"
  log "round $round: $line"
  echo "$round $line" >>"$WORK/results"
  rm -rf "$dir"
}

ab_rounds
if [ -s "$WORK/ceiling.results" ]; then
  awk "$AWK_MEDIAN"'
    FNR == NR { c[$1] = $3; cc[$1] = $4; next }
    { r[$2, $1] = $3 / c[$1]; n = $1 }
    END {
      for (i = 1; i <= n; i++) { x[i] = c[i]; y[i] = cc[i] }
      printf "  ceiling: %d answers/s (median), %.1f µs CPU/request\n", median(x, n), median(y, n)
      for (v = 0; v < 2; v++) {
        name = v ? "B" : "A"
        for (i = 1; i <= n; i++) x[i] = r[name, i]
        m = median(x, n)
        printf "  %s vs its round'"'"'s ceiling: %.3f (%.3f–%.3f)\n", name, m, x[1], x[n]
      }
    }' "$WORK/ceiling.results" "$WORK/results"
fi
awk "$AWK_MEDIAN"'
  { rps[$2, $1] = $3; cpu[$2, $1] = $4; al[$2, $1] = $5; n = $1 }
  END {
    for (v = 0; v < 2; v++) {
      name = v ? "B" : "A"
      for (i = 1; i <= n; i++) { x[i] = rps[name, i]; y[i] = cpu[name, i]; z[i] = al[name, i] }
      mr = median(x, n); lo = x[1]; hi = x[n]
      mc = median(y, n); clo = y[1]; chi = y[n]
      ma = median(z, n); alo = z[1]; ahi = z[n]
      printf "%s: %d answers/s (%d–%d), server %.1f µs CPU/request (%.1f–%.1f), %.1f allocations/request (%.1f–%.1f)\n",
        name, mr, lo, hi, mc, clo, chi, ma, alo, ahi
    }
    for (i = 1; i <= n; i++) { p[i] = rps["B", i] / rps["A", i]; q[i] = cpu["B", i] / cpu["A", i] }
    mp = median(p, n); plo = p[1]; phi = p[n]
    mq = median(q, n); qlo = q[1]; qhi = q[n]
    printf "B/A per round: throughput %.3f (%.3f–%.3f), CPU per request %.3f (%.3f–%.3f)\n", mp, plo, phi, mq, qlo, qhi
  }' "$WORK/results"
