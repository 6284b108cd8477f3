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
# PostgreSQL runs as a throwaway cluster of the test's own (initdb and
# pg_ctl, as the postgres user when run as root), so the test can stop it:
# round 1 of every 3 kills the receiver, round 2 cuts its database
# connection for a second (through bench/tcpproxy), round 3 crashes
# PostgreSQL itself (`pg_ctl stop -m immediate`, no shutdown checkpoint) and
# starts it again a second later, through crash recovery. During an outage
# the receiver must answer 503, not 200, for what it could not store; each
# outage round must see 503s and no other status than 200 or 503 is
# accepted. Without the PostgreSQL programs the test falls back to the
# shared server (RECEIVER_TEST_POSTGRES_DSN or 127.0.0.1:5432) in a fresh
# schema, with kill and cut rounds only.
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

# pg_bin NAME prints the path of a PostgreSQL server program, or nothing.
pg_bin() {
  command -v "$1" 2>/dev/null && return 0
  ls /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n1
}

# as_pg CMD...: runs CMD as the postgres user when this script runs as root
# (PostgreSQL refuses to run as root), else as the current user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# private_postgres: initdb and start a cluster in $WORK/pg on a free port;
# sets PRIV_PORT. Returns non-zero when it cannot (no programs, no user).
PG_DIR=""
private_postgres() {
  INITDB=$(pg_bin initdb) PG_CTL=$(pg_bin pg_ctl)
  [ -n "$INITDB" ] && [ -n "$PG_CTL" ] || return 1
  if [ "$(id -u)" -eq 0 ]; then id postgres >/dev/null 2>&1 || return 1; fi
  PG_DIR=$WORK/pg
  mkdir -p "$PG_DIR/data" "$PG_DIR/run"
  chmod 711 "$WORK" # traversable by the postgres user; nothing else changes
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_DIR/data" "$PG_DIR/run"; fi
  as_pg "$INITDB" -D "$PG_DIR/data" -A trust -U postgres --no-sync >"$WORK/initdb.log" 2>&1 || { PG_DIR=""; return 1; }
  PRIV_PORT=$(free_port)
  pg_start || { PG_DIR=""; return 1; }
}

pg_start() {
  as_pg "$PG_CTL" -D "$PG_DIR/data" -l "$PG_DIR/run/server.log" -w -t 60 \
    -o "-p $PRIV_PORT -k $PG_DIR/run -c listen_addresses=127.0.0.1" start >/dev/null
}

# pg_crash: stops the cluster the way a crash would (no checkpoint, no
# goodbye to clients); the next start replays the WAL.
pg_crash() { as_pg "$PG_CTL" -D "$PG_DIR/data" -m immediate -w stop >/dev/null; }

on_cleanup '[ -z "$PG_DIR" ] || pg_crash 2>/dev/null'

# crash_rounds NAME STORE [PROXY_PID [PRIVATE]]: the whole test against one
# store. The rounds cycle through what can fail: the receiver is killed;
# with a proxy PID its database connection is also cut; with PRIVATE (the
# test's own cluster) PostgreSQL also crashes. CRASHES counts the crashes.
CRASHES=0
crash_rounds() {
  local name=$1 store=$2 proxy=${3:-} private=${4:-}
  local kinds=(kill)
  [ -z "$proxy" ] || kinds+=(cut)
  [ -z "$private" ] || kinds+=(crash)
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
    local outage="" kind=${kinds[(round - 1) % ${#kinds[@]}]}
    if [ "$kind" = cut ]; then
      what="database connection cut for 1 s" outage=1
      kill -USR1 "$proxy"
      sleep 1
      kill -USR2 "$proxy"
    elif [ "$kind" = crash ]; then
      what="PostgreSQL crashed (stop -m immediate), restarted after 1 s" outage=1
      pg_crash || die "$name: could not stop PostgreSQL in round $round"
      CRASHES=$(( CRASHES + 1 ))
      sleep 1
      pg_start || die "$name: PostgreSQL did not start again after the crash in round $round (see $PG_DIR/run/server.log)"
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
    # A stored event is 200 and one that could not be stored 503; any other
    # status means the receiver misjudged a delivery under failure.
    local odd; odd=$(jq -r '[.status_codes | keys[] | select(. != "200" and . != "503")] | join(",")' "$report")
    if [ -n "$odd" ]; then
      log "$name: FAILED: round $round answered status $odd"
      return 1
    fi
    if [ -n "$outage" ] && [ "$(jq -r '.status_codes["503"] // 0' "$report")" -eq 0 ]; then
      log "$name: FAILED: round $round ($what) saw no 503: the outage went unnoticed"
      return 1
    fi
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

# start_proxy ADDR: a bench/tcpproxy in front of ADDR; sets PROXY_PID and PROXY_PORT.
start_proxy() {
  PROXY_PORT=$(free_port)
  "$WORK/tcpproxy" -listen "127.0.0.1:$PROXY_PORT" -target "$1" >/dev/null 2>>"$WORK/tcpproxy.log" &
  PROXY_PID=$!
  PIDS+=("$PROXY_PID")
}

if private_postgres; then
  log "postgres: a private cluster on 127.0.0.1:$PRIV_PORT ($("$PG_CTL" --version))"
  start_proxy "127.0.0.1:$PRIV_PORT"
  crash_rounds postgres "postgres://postgres@127.0.0.1:$PROXY_PORT/postgres?sslmode=disable" "$PROXY_PID" private || failed=1
  # Each crash round must have made PostgreSQL recover from its WAL.
  recoveries=$(grep -c 'database system was interrupted' "$PG_DIR/run/server.log" 2>/dev/null || true)
  if [ "${recoveries:-0}" -lt "$CRASHES" ]; then
    log "postgres: FAILED: $CRASHES crash round(s) but PostgreSQL recovered ${recoveries:-0} time(s) (see its log)"
    failed=1
  else
    log "postgres: crash recovery ran $recoveries time(s)"
  fi
else
  PG_BASE=$(postgres_base_dsn)
  if [ -n "$PG_BASE" ]; then
    log "postgres: no private cluster possible (initdb/pg_ctl or the postgres user missing): the shared server, without crash rounds"
    SCHEMA=crash_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
    psql "$PG_BASE" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
    pg_addr=$(sed -E 's#^postgres(ql)?://([^@/]*@)?([^/?]*).*#\3#' <<<"$PG_BASE")
    case $pg_addr in *:*) ;; *) pg_addr=$pg_addr:5432 ;; esac
    start_proxy "$pg_addr"
    proxied=$(sed -E "s#^(postgres(ql)?://([^@/]*@)?)[^/?]*#\1127.0.0.1:$PROXY_PORT#" <<<"$PG_BASE")
    crash_rounds postgres "$(with_search_path "$proxied" "$SCHEMA")" "$PROXY_PID" || failed=1
  elif [ -n "${RECEIVER_REQUIRE_POSTGRES:-}" ]; then
    log "postgres: FAILED: RECEIVER_REQUIRE_POSTGRES is set but no PostgreSQL is reachable and no private cluster possible"
    failed=1
  else
    log "postgres: none reachable and no private cluster possible: skipped"
  fi
fi

if [ "$failed" -ne 0 ]; then
  log "crash test FAILED"
  exit 1
fi
log "crash test passed"
