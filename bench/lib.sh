# Shared helpers for scripts/demo.sh, scripts/run-smoke.sh and
# bench/profile.sh (sourced, not run); `make bench` itself runs in Go (internal/bench).
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
