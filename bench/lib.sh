# Shared helpers for scripts/demo.sh, scripts/run-smoke.sh, bench/profile.sh
# and the A/B scripts bench/ab.sh, bench/abpg.sh and bench/abp99.sh (sourced,
# not run); `make bench` itself runs in Go (internal/bench).
# Every process started here is recorded in PIDS and stopped by stop_all.

PIDS=()

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# free_port prints a loopback TCP port nobody listens on, below the kernel's
# ephemeral range: a port in that range can be taken at any moment by an
# outgoing connection (the load generator's), and a restarted receiver
# would then fail to bind it.
# down_output FILE writes an outputs file (docs/outputs.md) with one HTTP
# output for every event whose destination is down (nothing listens on its
# port): each event gets an outbox row and the worker keeps failing.
down_output() {
  cat >"$1" <<EOF
outputs:
  - name: down
    type: http
    filter:
      event_types: ["*"]
    http:
      url: http://127.0.0.1:$(free_port)/hooks
      secret: whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
      timeout: 2s
EOF
}

free_port() {
  local p lo=32768
  read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  (( lo > 11000 )) || die "ephemeral port range starts at $lo: no room below it"
  for _ in $(seq 1 50); do
    p=$(( 10000 + RANDOM % (lo - 10000) ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  die "no free port found"
}

# wait_ready URL [SECONDS]: poll until URL answers 200.
wait_ready() {
  local url=$1 secs=${2:-30}
  for _ in $(seq 1 $(( secs * 10 ))); do
    curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# rss_kb PID FIELD prints VmRSS or VmHWM of PID in kB.
rss_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# stop_pid PID: SIGTERM, then SIGKILL after 10 s; forget it.
stop_pid() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

forget_pid() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

stop_all() {
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
}

# new_secret prints a random webhook secret (never logged).
new_secret() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# postgres_base_dsn prints a PostgreSQL DSN to use, or nothing: from
# RECEIVER_TEST_POSTGRES_DSN, else a local server on 127.0.0.1:5432 as user postgres.
postgres_base_dsn() {
  command -v psql >/dev/null || return 0
  local dsn=${RECEIVER_TEST_POSTGRES_DSN:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
  psql "$dsn" -tAc 'SELECT 1' >/dev/null 2>&1 && echo "$dsn"
  return 0
}

# with_search_path DSN SCHEMA prints DSN with search_path=SCHEMA added.
with_search_path() {
  case $1 in
    *\?*) echo "$1&search_path=$2" ;;
    *) echo "$1?search_path=$2" ;;
  esac
}

# start_receiver NAME STORE LISTEN ADMIN LOGFILE: starts $RECEIVER serve and
# sets RECEIVER_PID; returns non-zero if it is not ready within 30 s. With
# OUTPUTS_FILE set it runs with that outputs file (RECEIVER_OUTPUTS_FILE),
# else with none.
start_receiver() {
  local name=$1 store=$2 listen=$3 admin=$4 logfile=$5
  env -u PROLIFIC_API_TOKEN -u PROLIFIC_WEBHOOK_SECRET_FILE -u RECEIVER_ADMIN_TOKEN -u RECEIVER_OUTPUTS_FILE \
    ${OUTPUTS_FILE:+RECEIVER_OUTPUTS_FILE="$OUTPUTS_FILE"} \
    RECEIVER_LISTEN_ADDR="$listen" RECEIVER_ADMIN_ADDR="$admin" RECEIVER_STORE="$store" \
    PROLIFIC_WEBHOOK_SECRET="$SECRET" RECEIVER_BOOTSTRAP=false RECEIVER_LOG_LEVEL=warn \
    "$RECEIVER" serve >>"$logfile" 2>&1 &
  RECEIVER_PID=$!
  PIDS+=("$RECEIVER_PID")
  if ! wait_ready "http://$admin/readyz" 30; then
    log "$name: not ready within 30 s; last log lines:"
    tail -n 20 "$logfile" >&2
    return 1
  fi
}

# setup WHAT PKG...: the start the scripts sourcing this file
# share. It makes $WORK (removed on exit, with every started process and the
# PostgreSQL schema in $SCHEMA), builds the receiver and each PKG (e.g.
# ./bench/ceiling) into $WORK, picks the load generator ($LOADGEN or
# `receiver loadgen`) into the array LG, and exports a fresh signing secret.
setup() {
  WORK=$(mktemp -d)
  SCHEMA=""
  PG_BASE=""
  trap _cleanup EXIT
  trap 'exit 130' INT TERM
  command -v jq >/dev/null || die "jq is required"
  log "building $1"
  shift
  go build -o "$WORK/receiver" ./cmd/receiver
  local pkg
  for pkg in "$@"; do
    go build -o "$WORK/$(basename "$pkg")" "$pkg"
  done
  RECEIVER=$WORK/receiver
  if [ -n "${LOADGEN:-}" ]; then
    read -r -a LG <<<"$LOADGEN"
  else
    LG=("$RECEIVER" loadgen)
  fi
  "${LG[@]}" -h >/dev/null 2>&1 || die "'${LG[*]}' does not run: is the loadgen subcommand wired?"
  SECRET=$(new_secret)
  export PROLIFIC_WEBHOOK_SECRET=$SECRET # read by loadgen; never printed
}

# on_cleanup CMD: run CMD (a shell command) first when the script exits.
CLEANUP_HOOKS=()
on_cleanup() { CLEANUP_HOOKS+=("$1"); }

_cleanup() {
  local hook
  for hook in "${CLEANUP_HOOKS[@]}"; do eval "$hook" || true; done
  stop_all
  if [ -n "$SCHEMA" ]; then psql "$PG_BASE" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}

# What bench/ab.sh and bench/abpg.sh share (and abp99.sh, AWK_MEDIAN).

# AWK_MEDIAN defines median(a, n) for the A/B scripts' summaries: put it
# before an awk program (awk "$AWK_MEDIAN"'...'). It sorts a[1..n] in place,
# so a[1] and a[n] are then the range, and returns the middle value (the
# mean of the two middle ones when n is even).
AWK_MEDIAN='
function median(a, n,   i, j, t) {
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
  return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
'

# cpu_ticks PID: utime + stime of PID in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# track_ticks PID FILE: keeps FILE at PID's last CPU ticks seen (every
# 0.1 s) until PID ends, in the background: wrk's own CPU, which cannot be
# read once it has exited (at most 0.1 s of it is missed).
track_ticks() {
  local pid=$1 file=$2
  cpu_ticks "$pid" >"$file"
  ( while [ -e "/proc/$pid/stat" ]; do
      t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat" 2>/dev/null) && [ -n "$t" ] && echo "$t" >"$file.new" && mv "$file.new" "$file"
      sleep 0.1
    done ) &
}

# ceiling ROUND: the bare server ($WORK/ceiling) under the A/B scripts'
# closed loop (wrk, $CONNECTIONS connections for $DURATION, the requests in
# $WORK/presigned); appends "ROUND C rps cpu_us_per_request
# wrk_cpu_us_per_request" to $WORK/ceiling.results (needs HZ).
ceiling() {
  local round=$1 dir addr
  dir=$(mktemp -d -p "$WORK")
  addr=127.0.0.1:$(free_port)
  "$WORK/ceiling" -addr "$addr" >"$dir/log" 2>&1 &
  local cpid=$!
  PIDS+=("$cpid")
  for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "http://$addr/" && break; sleep 0.1; done
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -s bench/wrk/presigned.lua \
    "http://$addr/hooks/prolific" -- "$WORK/presigned" "$dir/ready" >"$dir/wrk.out" 2>&1 &
  local wpid=$! c0 c1 w0 w1
  for _ in $(seq 1 600); do [ -e "$dir/ready.0" ] && [ -e "$dir/ready.1" ] && break; sleep 0.05; done
  c0=$(cpu_ticks "$cpid")
  w0=$(cpu_ticks "$wpid")
  track_ticks "$wpid" "$dir/wrk.ticks"
  wait "$wpid" || die "ceiling: wrk failed: $(tail -n 3 "$dir/wrk.out")"
  c1=$(cpu_ticks "$cpid")
  w1=$(cat "$dir/wrk.ticks")
  stop_pid "$cpid"
  local line
  line=$(tail -n 1 "$dir/wrk.out" | jq -r --argjson t $((c1 - c0)) --argjson hz "$HZ" --argjson w $((w1 - w0)) \
    '"C \(.requests / .elapsed_seconds | floor) \($t / $hz * 1e6 / .requests * 10 | round / 10) \($w / $hz * 1e6 / .requests * 10 | round / 10)"')
  log "round $round: $line"
  echo "$round $line" >>"$WORK/ceiling.results"
  rm -rf "$dir"
}

# ab_rounds: the A/B scripts' ROUNDS rounds, each running `one ROUND A $A`,
# then `one ROUND B $B`, then with AB_CEILING=1 the bare server (built here).
ab_rounds() {
  if [ "${AB_CEILING:-0}" = 1 ]; then
    go build -o "$WORK/ceiling" ./bench/ceiling
  fi
  local r
  for r in $(seq 1 "$ROUNDS"); do
    one "$r" A "$A"
    one "$r" B "$B"
    if [ "${AB_CEILING:-0}" = 1 ]; then ceiling "$r"; fi
  done
}
