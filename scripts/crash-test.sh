#!/usr/bin/env bash
# scripts/crash-test.sh (`make crash-test`): proves that no acknowledged
# webhook is lost and none is stored twice when the receiver dies abruptly.
#
# For each store (SQLite in a temp dir; PostgreSQL in a fresh schema when
# RECEIVER_TEST_POSTGRES_DSN is set or a server answers on 127.0.0.1:5432):
# CRASH_ROUNDS times, drive signed load with `receiver loadgen -acked`,
# `kill -9` the receiver at a random moment within CRASH_SECONDS, restart it
# on the same database while the load goes on. Then `receiver loadgen check`
# asks the read API for every acknowledged event ID, and the event listing is
# checked for repeats and counted: acked <= stored <= requests sent.
# On PostgreSQL every second round cuts the database connection for a second
# instead (through bench/tcpproxy, so the shared server is left alone): the
# receiver must answer 503, not 200, for what it could not store.
#
# Environment: CRASH_ROUNDS (10), CRASH_SECONDS (3), CRASH_RATE (500 events/s),
# CRASH_DUPLICATES (0.05), LOADGEN (command instead of "<built receiver> loadgen").
# Loopback only; every load run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

ROUNDS=${CRASH_ROUNDS:-10}
SECONDS_MAX=${CRASH_SECONDS:-3}
RATE=${CRASH_RATE:-500}
DUPLICATES=${CRASH_DUPLICATES:-0.05}

setup "receiver" ./bench/tcpproxy

# crash_rounds NAME STORE [PROXY_PID]: the whole test against one store; with
# a proxy PID, even rounds cut the database connection instead of killing.
crash_rounds() {
  local name=$1 store=$2 proxy=${3:-}
  local listen=127.0.0.1:$(free_port) admin=127.0.0.1:$(free_port)
  local logfile=$WORK/$name.log acked=() sent=0 round
  start_receiver "$name" "$store" "$listen" "$admin" "$logfile" || die "$name: receiver did not start"
  for round in $(seq 1 "$ROUNDS"); do
    local ackfile=$WORK/$name-acked-$round.txt report=$WORK/$name-load-$round.json
    # Load runs past the kill and the restart, so requests also meet a dead
    # and a starting receiver.
    "${LG[@]}" -url "http://$listen/hooks/prolific" -rate "$RATE" -connections 32 \
      -duration "$(( SECONDS_MAX * 2 + 1 ))s" -timeout 5s -duplicates "$DUPLICATES" \
      -acked "$ackfile" -json >"$report" 2>>"$WORK/$name-loadgen.log" &
    local lg_pid=$!
    PIDS+=("$lg_pid")
    local ms=$(( 300 + RANDOM % (SECONDS_MAX * 1000 - 300 + 1) )) what
    sleep "$(awk -v ms="$ms" 'BEGIN { printf "%.3f", ms / 1000 }')"
    if [ -n "$proxy" ] && [ $(( round % 2 )) -eq 0 ]; then
      what="database connection cut for 1 s"
      kill -USR1 "$proxy"
      sleep 1
      kill -USR2 "$proxy"
    else
      what="killed -9"
      kill -9 "$RECEIVER_PID"
      wait "$RECEIVER_PID" 2>/dev/null || true
      forget_pid "$RECEIVER_PID"
      start_receiver "$name" "$store" "$listen" "$admin" "$logfile" || die "$name: receiver did not restart after kill -9 in round $round"
    fi
    wait "$lg_pid" || die "$name: loadgen failed in round $round (see its log)"
    forget_pid "$lg_pid"
    acked+=("$ackfile")
    sent=$(( sent + $(jq -r '.requests - .duplicates' "$report") ))
    log "$name: round $round: $what after ${ms} ms; $(jq -r '"\(.requests) requests, \(.ok) 2xx, \(.duplicates) duplicates, status \(.status_codes | tostring), errors \(.errors | tostring)"' "$report")"
  done

  local files; files=$(IFS=,; echo "${acked[*]}")
  local result=$WORK/$name-check.json
  if ! "${LG[@]}" check -admin "http://$admin" -acked "$files" -json >"$result" 2>>"$WORK/$name-loadgen.log"; then
    log "$name: FAILED: $(jq -c '{acked, found, missing_count, repeated_count, stored, missing: .missing[:5], repeated: .repeated[:5]}' "$result" 2>/dev/null || cat "$WORK/$name-loadgen.log")"
    return 1
  fi
  local stored; stored=$(jq -r '.stored' "$result")
  # Distinct events sent bounds what may be stored (a duplicate re-sends an ID).
  if [ "$stored" -gt "$sent" ]; then
    log "$name: FAILED: $stored events stored but only $sent distinct events sent"
    return 1
  fi
  log "$name: OK: $(jq -r '"\(.acked) acknowledged events all stored once; \(.stored) stored"' "$result") of $sent sent ($ROUNDS rounds)"
  stop_pid "$RECEIVER_PID"
}

failed=0
crash_rounds sqlite "sqlite:$WORK/crash.db" || failed=1

PG_BASE=$(postgres_base_dsn)
if [ -n "$PG_BASE" ]; then
  SCHEMA=crash_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
  psql "$PG_BASE" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
  pg_addr=$(sed -E 's#^postgres(ql)?://([^@/]*@)?([^/?]*).*#\3#' <<<"$PG_BASE")
  case $pg_addr in *:*) ;; *) pg_addr=$pg_addr:5432 ;; esac
  proxy_port=$(free_port)
  "$WORK/tcpproxy" -listen "127.0.0.1:$proxy_port" -target "$pg_addr" >/dev/null 2>>"$WORK/tcpproxy.log" &
  proxy_pid=$!
  PIDS+=("$proxy_pid")
  proxied=$(sed -E "s#^(postgres(ql)?://([^@/]*@)?)[^/?]*#\1127.0.0.1:$proxy_port#" <<<"$PG_BASE")
  crash_rounds postgres "$(with_search_path "$proxied" "$SCHEMA")" "$proxy_pid" || failed=1
else
  log "postgres: none reachable (set RECEIVER_TEST_POSTGRES_DSN): skipped"
fi

if [ "$failed" -ne 0 ]; then
  log "crash test FAILED"
  exit 1
fi
log "crash test passed"
