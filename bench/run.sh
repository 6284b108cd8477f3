#!/usr/bin/env bash
# bench/run.sh (`make bench`): installs wrk when it is missing, starts the
# local PostgreSQL when one is installed but not running, and runs the
# harness (bench/harness, internal/bench), which measures, in one run on
# this machine and under the same load, a bare net/http server (the
# ceiling), the receiver on SQLite and the receiver on PostgreSQL when one
# is reachable, in interleaved rounds, and writes bench/results.md (the
# report and its verdicts; internal/bench's package comment says how).
# Loopback only; every run is bounded by its duration.
#
# Environment: BENCH_ROUNDS (3), BENCH_DURATION (10s), BENCH_CONNECTIONS (256),
# BENCH_ALSO_CONNECTIONS (64; empty: skipped), BENCH_RATE (1000), BENCH_WRK_THREADS (2),
# BENCH_PRESIGNED (500000 requests per closed-loop set), BENCH_NOTE (a remark for the
# report, e.g. what else ran on the host), BENCH_GO_TIME (1s) and BENCH_STORE_EVENTS
# (50000) for the Go benchmarks, BENCH_OUT (bench/results.md), RECEIVER_TEST_POSTGRES_DSN
# (else a local server on 127.0.0.1:5432 is tried), LOADGEN (command to run instead of
# "<built receiver> loadgen" for the open loop).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian's package), the closed loops' load generator"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; } >/dev/null 2>&1 \
    || { log "error: wrk is not installed and could not be installed: apt-get install wrk"; exit 1; }
fi

# A local PostgreSQL that is installed but stopped is started (as .ci/run
# does); without one the PostgreSQL runs are skipped.
if [ -z "${RECEIVER_TEST_POSTGRES_DSN:-}" ] && command -v pg_ctlcluster >/dev/null && command -v pg_isready >/dev/null \
  && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  log "starting the local PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi

go build -o "${TMPDIR:-/tmp}/bench-harness.$$" ./bench/harness
trap 'rm -f "${TMPDIR:-/tmp}/bench-harness.$$"' EXIT
"${TMPDIR:-/tmp}/bench-harness.$$"
