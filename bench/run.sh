#!/usr/bin/env bash
# bench/run.sh (`make bench`): measures, in one run on this machine and under
# the same load, (a) a bare net/http server that only reads the body (the
# ceiling), (b) the receiver on SQLite and (c) the receiver on PostgreSQL when
# one is reachable, in BENCH_ROUNDS interleaved rounds (ceiling, then per
# round SQLite, PostgreSQL, ceiling). For each run: closed-loop throughput
# from wrk replaying pre-signed requests (BENCH_CONNECTIONS connections for
# BENCH_DURATION, the targets' load, and again with BENCH_ALSO_CONNECTIONS,
# reported beside it), p99 at a fixed open-loop rate from `receiver loadgen`
# (BENCH_RATE events/s for BENCH_DURATION), idle RSS after start and peak
# RSS (VmHWM), the CPU time the server and wrk each spent per request in the
# closed loop (steadier than throughput on a shared machine), and for a
# receiver the events its database holds afterwards against its 2xx answers. After each PostgreSQL run, pgbench (when
# installed) measures PostgreSQL's own latency for one single-row commit per
# event at the same rate: the floor under the receiver's p99 there. A
# receiver's ratio is against the ceiling runs on either side of it; the
# targets take the median over the rounds.
# Prints a markdown table and writes bench/results.md. Loopback only; every
# run is bounded by its duration.
#
# Environment: BENCH_ROUNDS (3), BENCH_DURATION (10s), BENCH_CONNECTIONS (256),
# BENCH_ALSO_CONNECTIONS (64; empty: skipped), BENCH_RATE (1000), BENCH_WRK_THREADS (2),
# BENCH_PRESIGNED (500000 requests per closed-loop set), BENCH_NOTE (a remark for the
# report, e.g. what else ran on the host), RECEIVER_TEST_POSTGRES_DSN (else a local server on
# 127.0.0.1:5432 is tried), LOADGEN (command to run instead of "<built
# receiver> loadgen" for the open loop). wrk is installed from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-256}
ALSO=${BENCH_ALSO_CONNECTIONS-64}
OPEN_CONNECTIONS=64 # the open loop's bound on requests in flight
RATE=${BENCH_RATE:-1000}
ROUNDS=${BENCH_ROUNDS:-3}
OUT=${BENCH_OUT:-bench/results.md}

setup "receiver and ceiling" ./bench/ceiling
if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian's package), the closed loops' load generator"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; } >/dev/null 2>&1 \
    || die "wrk is not installed and could not be installed: apt-get install wrk"
fi
python3 -c 'import sqlite3' 2>/dev/null || die "python3 with its sqlite3 module is needed to count the stored events"
WRK_THREADS=${BENCH_WRK_THREADS:-2}
PRESIGNED=${BENCH_PRESIGNED:-500000}
# Two sets of unique pre-signed requests: one for the closed loop with
# $CONNECTIONS connections and one for the loop with $ALSO, so the second
# loop on a receiver does not replay the first's events as duplicates. Each
# receiver starts on an empty database, so every round replays the same sets.
log "pre-signing 2 x $PRESIGNED requests"
for set in a b; do
  "$RECEIVER" loadgen presign -count "$PRESIGNED" -files "$WRK_THREADS" -url http://127.0.0.1/hooks/prolific \
    -out "$WORK/presigned-$set" 2>/dev/null || die "loadgen presign failed"
done

ROWS=()
declare -A RPS RPS_ALSO RATIO OPEN_P99 IDLE_MIB ACKED STORED SERVER_CPU LOAD_CPU WRAPS MACHINE_CPU
FLOOR_P99S=()
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

CLK_TCK=$(getconf CLK_TCK)
# cpu_ticks PID prints the user+system CPU time of PID in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# machine_ticks prints the busy CPU time of the whole machine so far (all
# CPUs, idle and iowait left out), in clock ticks: the receiver, PostgreSQL
# and wrk together (and whatever else runs on the host).
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# batch_mean ADMIN prints the mean events per group commit a receiver
# reports on ADMIN/metrics so far (receiver_store_batch_events), or "–".
batch_mean() {
  curl -fsS --max-time 5 "$1/metrics" 2>/dev/null | awk '
    $1 == "receiver_store_batch_events_sum" { s = $2 }
    $1 == "receiver_store_batch_events_count" { c = $2 }
    END { if (c > 0) printf "%.1f", s / c; else printf "–" }'
}

# closed_loop PID URL CONNS SET OUT: wrk, $WRK_THREADS threads and CONNS
# connections for $DURATION, replaying the pre-signed requests SET.* once
# each. Writes wrk's JSON report (bench/wrk/presigned.lua) to OUT and to
# OUT.cpu the CPU ticks the server (PID) spent during the run and wrk spent
# reading its requests before it (taken off wrk's CPU per request).
closed_loop() {
  local pid=$1 url=$2 conns=$3 set=$4 out=$5
  local ready=$WORK/ready-$RANDOM
  local TIMEFORMAT='%U %S'
  { time wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" --timeout 10s -s bench/wrk/presigned.lua "$url" -- "$set" "$ready" \
      >"$out.txt" 2>"$out.err"; } 2>"$out.time" &
  local job=$! wpid="" n k
  for _ in $(seq 1 1200); do
    n=0
    for k in $(seq 0 $(( WRK_THREADS - 1 ))); do [ -e "$ready.$k" ] && n=$(( n + 1 )); done
    [ "$n" -lt "$WRK_THREADS" ] || break
    sleep 0.05
  done
  [ "$n" -eq "$WRK_THREADS" ] || die "wrk did not load its requests within 60 s: $(tail -n 5 "$out.err")"
  wpid=$(pgrep -P "$job" -x wrk || true)
  local w0=0 s0 s1
  [ -z "$wpid" ] || w0=$(cpu_ticks "$wpid")
  s0=$(cpu_ticks "$pid")
  local m0; m0=$(machine_ticks)
  wait "$job" || die "wrk failed: $(tail -n 5 "$out.err")"
  s1=$(cpu_ticks "$pid")
  local m1; m1=$(machine_ticks)
  tail -n 1 "$out.txt" | jq -e . >"$out" || die "wrk printed no report: $(tail -n 5 "$out.txt")"
  echo "$(( s1 - s0 )) $w0 $(( m1 - m0 ))" >"$out.cpu"
}

# per_request_us TICKS REQUESTS prints TICKS of CPU time per request in µs.
per_request_us() { awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.0f", (n > 0 ? t / hz * 1e6 / n : 0) }'; }

# wrk_cpu_us OUT prints wrk's CPU per request in µs for closed_loop's OUT:
# its user+system time less what it spent loading its requests.
wrk_cpu_us() {
  local out=$1 reqs load user sys
  reqs=$(jq -r '.requests' "$out")
  read -r _ load <"$out.cpu"
  read -r user sys <"$out.time"
  awk -v u="$user" -v s="$sys" -v l="$load" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.0f", (n > 0 ? (u + s - l / hz) * 1e6 / n : 0) }'
}

# measure NAME URL PID [ADMIN]: idle RSS, closed loops (wrk), open loop
# (loadgen), peak RSS; appends a row. With a receiver's ADMIN URL the row
# also gets the mean events per commit in the closed loop. Sets ACKED[NAME]
# to the 2xx answers of all three loops together.
measure() {
  local name=$1 url=$2 pid=$3 admin=${4:-}
  sleep 1
  local idle; idle=$(rss_kb "$pid" VmRSS)
  log "$name: closed loop (wrk), $CONNECTIONS connections, $DURATION"
  local c="$WORK/$name-closed.json" o="$WORK/$name-open.json"
  closed_loop "$pid" "$url" "$CONNECTIONS" "$WORK/presigned-a" "$c"
  local batch="–"
  [ -z "$admin" ] || batch=$(batch_mean "$admin")
  local also="–" also_ok=0
  if [ -n "$ALSO" ]; then
    sleep 1
    log "$name: closed loop (wrk), $ALSO connections, $DURATION"
    closed_loop "$pid" "$url" "$ALSO" "$WORK/presigned-b" "$WORK/$name-also.json"
    also=$(jq -r '(.ok / .elapsed_seconds) | floor' "$WORK/$name-also.json")
    also_ok=$(jq -r '.ok' "$WORK/$name-also.json")
    RPS_ALSO[$name]=$also
  fi
  sleep 1
  log "$name: open loop (loadgen) at $RATE/s, $DURATION"
  "${LG[@]}" -url "$url" -connections "$OPEN_CONNECTIONS" -rate "$RATE" -duration "$DURATION" -json >"$o"
  local peak; peak=$(rss_kb "$pid" VmHWM)
  local rps; rps=$(jq -r '(.ok / .elapsed_seconds) | floor' "$c")
  RPS[$name]=$rps
  ACKED[$name]=$(( $(jq -r '.ok' "$c") + also_ok + $(jq -r '.ok' "$o") ))
  local fails; fails=$(jq -r '.failed' "$c")
  local ofails; ofails=$(jq -r '.requests - .ok' "$o")
  local wraps; wraps=$(( $(jq -r '.wraps' "$c") + $( [ -z "$ALSO" ] && echo 0 || jq -r '.wraps' "$WORK/$name-also.json") ))
  WRAPS[$name]=$wraps
  local reqs; reqs=$(jq -r '.requests' "$c")
  local sticks mticks; read -r sticks _ mticks <"$c.cpu"
  local scpu; scpu=$(per_request_us "$sticks" "$reqs")
  MACHINE_CPU[$name]=$(per_request_us "$mticks" "$reqs")
  local lcpu; lcpu=$(wrk_cpu_us "$c")
  SERVER_CPU[$name]=$scpu LOAD_CPU[$name]=$lcpu
  ROWS+=("| $name | $rps | @ratio:$name@ | $also | @also:$name@ | $scpu | $lcpu | $batch | $(jq -r '.latency.p50_ms' "$c" | xargs printf '%.2f') | $(jq -r '.latency.p99_ms' "$c" | xargs printf '%.2f') | $(jq -r '.latency.p50_ms' "$o" | xargs printf '%.2f') | $(jq -r '.latency.p99_ms' "$o" | xargs printf '%.2f') | $(jq -r '.latency.p99_9_ms' "$o" | xargs printf '%.2f') | $(jq -r '.late' "$o") | $fails / $ofails | $wraps | @stored:$name@ | $(( idle / 1024 )) MiB | $(( peak / 1024 )) MiB |")
  # For the targets section: open-loop p99, idle RSS in MiB (ratios once the
  # ceiling has been measured twice).
  OPEN_P99[$name]=$(jq -r '.latency.p99_ms' "$o" | xargs printf '%.2f')
  IDLE_MIB[$name]=$(( idle / 1024 ))
  log "$name: ${rps}/s, server ${scpu} µs CPU/request, wrk ${lcpu} µs CPU/request, open-loop p99 $(jq -r '.latency.p99_ms' "$o") ms, idle $(( idle / 1024 )) MiB, peak $(( peak / 1024 )) MiB"
}

# stored NAME COUNT: records that NAME's database holds COUNT events after
# its run (or "?" when it could not be counted), against its 2xx answers.
stored() {
  STORED[$1]=$2
  if [ "$2" = "?" ]; then log "$1: stored events could not be counted"; return; fi
  log "$1: ${ACKED[$1]} answered 2xx, $2 events in the database"
}

# ceiling NAME: measures the bare server.
ceiling() {
  local port; port=$(free_port)
  "$WORK/ceiling" -addr "127.0.0.1:$port" >"$WORK/ceiling.log" 2>&1 &
  PIDS+=("$!"); local pid=$!
  wait_ready "http://127.0.0.1:$port/" 10 || die "ceiling did not start"
  measure "$1" "http://127.0.0.1:$port/hooks/prolific" "$pid"
  stop_pid "$pid"
}

# settle: writes back what the last run left dirty in the page cache, so
# that the kernel's delayed write-back does not land in the next run and
# stall its fsyncs (a PostgreSQL run after a SQLite one saw 100-200 ms
# stalls in its open loop before this).
settle() {
  sync
  sleep 1
}

# receiver_sqlite NAME: the receiver on a new SQLite file.
receiver_sqlite() {
  local listen=127.0.0.1:$(free_port) admin=127.0.0.1:$(free_port) db=$WORK/bench-$RANDOM.db
  start_receiver sqlite "sqlite:$db" "$listen" "$admin" "$WORK/sqlite.log" || die "receiver (sqlite) did not start"
  measure "$1" "http://$listen/hooks/prolific" "$RECEIVER_PID" "http://$admin"
  stop_pid "$RECEIVER_PID"
  stored "$1" "$(python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM events").fetchone()[0])' "$db" 2>/dev/null || echo "?")"
  rm -f "$db" "$db-wal" "$db-shm"
  settle
}

# receiver_postgres NAME: the receiver on PostgreSQL, in a schema emptied first.
receiver_postgres() {
  psql "$PG_BASE" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA" >/dev/null
  # Every PostgreSQL run starts from a checkpoint, so none inherits the
  # dirty buffers and WAL of the run (or pgbench) before it.
  psql "$PG_BASE" -qc "CHECKPOINT" >/dev/null 2>&1 || log "$1: CHECKPOINT failed (needs superuser or pg_checkpoint): runs may inherit the previous run's WAL"
  local listen=127.0.0.1:$(free_port) admin=127.0.0.1:$(free_port)
  if start_receiver postgres "$(with_search_path "$PG_BASE" "$SCHEMA")" "$listen" "$admin" "$WORK/postgres.log"; then
    measure "$1" "http://$listen/hooks/prolific" "$RECEIVER_PID" "http://$admin"
    stop_pid "$RECEIVER_PID"
    stored "$1" "$(psql "$PG_BASE" -tAc "SELECT count(*) FROM $SCHEMA.events" 2>/dev/null || echo "?")"
    settle
  else
    ROWS+=("| $1 | did not start | | | | | | | | | | | | | | | | | |")
  fi
}

PG_BASE=$(postgres_base_dsn)
if [ -n "$PG_BASE" ]; then
  SCHEMA=bench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
else
  log "PostgreSQL: none reachable (set RECEIVER_TEST_POSTGRES_DSN): skipped"
fi

# postgres_floor NAME: PostgreSQL's own latency for the least a durable write
# per event costs there, one transaction inserting one 1 KiB row under a
# random text key, driven by pgbench at $RATE/s for $DURATION from four
# clients (as many as the receiver's committers) right after the receiver's
# runs of the round (the database in the same state). It is the floor under the receiver's
# p99 on PostgreSQL on this host: a receiver that commits before it answers
# cannot be much faster than one commit. Latency includes pgbench's
# schedule lag, as the loadgen's does; pgbench spaces transactions as a
# Poisson process, a little burstier than the loadgen's even schedule.
# Skipped without pgbench.
postgres_floor() {
  command -v pgbench >/dev/null || return 0
  local secs
  secs=$(awk -v d="$DURATION" 'BEGIN { n = d + 0; if (d ~ /ms$/) n /= 1000; else if (d ~ /m$/) n *= 60; else if (d ~ /h$/) n *= 3600; printf "%d", (n < 1 ? 1 : n) }')
  if ! psql "$PG_BASE" -qc "CREATE TABLE $SCHEMA.floor (id text PRIMARY KEY, body bytea NOT NULL)" >/dev/null; then
    log "$1: could not create the table: skipped"
    return 0
  fi
  printf "INSERT INTO %s.floor (id, body) VALUES (md5(random()::text), convert_to(repeat('x', 1024), 'UTF8'));\n" "$SCHEMA" >"$WORK/floor-script.sql"
  rm -f "$WORK"/floor-log.*
  log "$1: pgbench, one-row inserts at $RATE/s, ${secs}s"
  if ! pgbench -n -f "$WORK/floor-script.sql" -R "$RATE" -T "$secs" -c 4 -j 1 -l --log-prefix="$WORK/floor-log" "$PG_BASE" >"$WORK/floor-out.txt" 2>&1; then
    log "$1: pgbench failed: $(tail -n 3 "$WORK/floor-out.txt")"
    return 0
  fi
  # Log columns: client, transaction, latency µs, script, epoch s, µs, schedule lag µs.
  local p50 p99 p999
  read -r p50 p99 p999 < <(cat "$WORK"/floor-log.* | awk '{ print ($3 + $7) / 1000 }' | sort -g | awk '
    { v[NR] = $1 }
    function at(q,  i) { i = int(q * NR + 0.999999); if (i < 1) i = 1; return v[i] }
    END { if (NR) printf "%.2f %.2f %.2f\n", at(0.5), at(0.99), at(0.999); else print "– – –" }')
  [ "$p99" = "–" ] || FLOOR_P99S+=("$p99")
  ROWS+=("| $1 | – | – | – | – | – | – | – | – | – | $p50 | $p99 | $p999 | – | – | – | – | – | – |")
  log "$1: p99 $p99 ms"
}

# The rounds: ceiling 0, then in round r the receiver on SQLite, on
# PostgreSQL (each without and with the down output, see pair), and
# ceiling r. Each receiver's ratio in round r is against the
# mean of the ceiling runs just before and after it (r-1 and r), so a machine
# that got faster or slower during the run favours neither side; the targets
# use the median over the rounds.
# An output whose destination is down (nothing listens on its port): every
# event also gets an outbox row, and the output's worker keeps failing and
# rescheduling in the background (docs/outputs.md). The "+output" runs
# measure the webhook path with it attached, in the same round as the runs
# without.
down_output "$WORK/outputs-down.yaml"

# pair KIND R: the receiver on KIND without and with the down output, in
# round R; odd rounds run the plain receiver first and even rounds the
# +output one, so neither always follows the heavier run.
pair() {
  local kind=$1 r=$2
  if (( r % 2 )); then
    "receiver_$kind" "receiver $kind $r"
    OUTPUTS_FILE="$WORK/outputs-down.yaml" "receiver_$kind" "receiver $kind+output $r"
  else
    OUTPUTS_FILE="$WORK/outputs-down.yaml" "receiver_$kind" "receiver $kind+output $r"
    "receiver_$kind" "receiver $kind $r"
  fi
}

ceiling "ceiling 0"
for r in $(seq 1 "$ROUNDS"); do
  pair sqlite "$r"
  if [ -n "$PG_BASE" ]; then
    pair postgres "$r"
    postgres_floor "postgres floor $r"
  fi
  ceiling "ceiling $r"
done
if [ -z "$PG_BASE" ]; then
  ROWS+=("| receiver postgres | skipped: no PostgreSQL reachable | | | | | | | | | | | | | | | | | |")
fi

# median prints the median of its numeric arguments (nothing if none).
median() {
  printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR) printf "%g", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}
# joined ARGS... prints its arguments separated by ", ".
joined() { local out; printf -v out '%s, ' "$@"; echo "${out%, }"; }
# ratio A B prints 100 * A / B rounded.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b > 0 ? 100 * a / b : 0) }'; }

# ratios SRC RAT PER MED CEIL: from SRC (closed-loop 2xx/s by run name) fills
# RAT (by run name) with each ceiling's throughput against the ceilings'
# median (stored in CEIL) and each receiver's against the mean of the ceiling
# runs just before and after it (r-1 and r), and PER / MED (by store kind)
# with the receivers' per-round list and its median.
ratios() {
  local -n src=$1 rat=$2 per=$3 med=$4 ceil=$5
  local r kind name around vals=() ceilings=()
  for r in $(seq 0 "$ROUNDS"); do ceilings+=("${src["ceiling $r"]}"); done
  ceil=$(median "${ceilings[@]}" | xargs printf "%.0f")
  for r in $(seq 0 "$ROUNDS"); do rat["ceiling $r"]=$(ratio "${src["ceiling $r"]}" "$ceil"); done
  for kind in sqlite sqlite+output postgres postgres+output; do
    vals=()
    for r in $(seq 1 "$ROUNDS"); do
      name="receiver $kind $r"
      [ -n "${src[$name]:-}" ] || continue
      around=$(( (src["ceiling $(( r - 1 ))"] + src["ceiling $r"]) / 2 ))
      rat[$name]=$(ratio "${src[$name]}" "$around")
      vals+=("${rat[$name]}")
    done
    [ ${#vals[@]} -gt 0 ] || continue
    per[$kind]=$(joined "${vals[@]}")
    med[$kind]=$(median "${vals[@]}")
  done
}

declare -A PER_ROUND MEDIAN_RATIO RATIO_ALSO PER_ROUND_ALSO MEDIAN_RATIO_ALSO PER_ROUND_P99 MEDIAN_P99 MAX_IDLE
CEILING_RPS="" CEILING_ALSO_RPS=""
ratios RPS RATIO PER_ROUND MEDIAN_RATIO CEILING_RPS
[ -z "$ALSO" ] || ratios RPS_ALSO RATIO_ALSO PER_ROUND_ALSO MEDIAN_RATIO_ALSO CEILING_ALSO_RPS
for kind in sqlite sqlite+output postgres postgres+output; do
  p99s=() idles=()
  for r in $(seq 1 "$ROUNDS"); do
    name="receiver $kind $r"
    [ -n "${RPS[$name]:-}" ] || continue
    p99s+=("${OPEN_P99[$name]}") idles+=("${IDLE_MIB[$name]}")
  done
  [ ${#p99s[@]} -gt 0 ] || continue
  MEDIAN_P99[$kind]=$(median "${p99s[@]}")
  MAX_IDLE[$kind]=$(printf '%s\n' "${idles[@]}" | sort -n | tail -n1)
  PER_ROUND_P99[$kind]=$(joined "${p99s[@]}")
done
# The generator's CPU per request against the ceiling's, per ceiling run; and
# whether every receiver's database holds at least its 2xx answers.
shares=()
for r in $(seq 0 "$ROUNDS"); do
  shares+=("$(ratio "${LOAD_CPU["ceiling $r"]}" "${SERVER_CPU["ceiling $r"]}")")
done
GEN_SHARE=$(median "${shares[@]}") GEN_ROUNDS=$(joined "${shares[@]}")
ALL_STORED=yes stored_list=()
while IFS= read -r name; do
  [[ $name == receiver* ]] || continue
  st=${STORED[$name]:-?}
  if [ "${WRAPS[$name]:-0}" -gt 0 ]; then
    # wrk replayed requests: some 2xx answered duplicates, so the count
    # cannot be checked against the database. Raise BENCH_PRESIGNED.
    stored_list+=("$name ${ACKED[$name]}/$st (not checked: wrk replayed requests)")
    [ "$ALL_STORED" = no ] || ALL_STORED="not checked"
    continue
  fi
  stored_list+=("$name ${ACKED[$name]}/$st")
  if [ "$st" = "?" ] || [ "$st" -lt "${ACKED[$name]}" ]; then ALL_STORED=no; fi
done < <(printf '%s\n' "${!ACKED[@]}" | sort)
STORED_ROUNDS=$(joined "${stored_list[@]}")
FLOOR_MEDIAN="" FLOOR_ROUNDS=""
if [ ${#FLOOR_P99S[@]} -gt 0 ]; then
  FLOOR_MEDIAN=$(median "${FLOOR_P99S[@]}")
  FLOOR_ROUNDS=$(joined "${FLOOR_P99S[@]}")
fi
for i in "${!ROWS[@]}"; do
  for name in "${!RATIO[@]}"; do
    ROWS[i]=${ROWS[i]//"@ratio:$name@"/"${RATIO[$name]} %"}
    also="–"
    [ -z "${RATIO_ALSO[$name]:-}" ] || also="${RATIO_ALSO[$name]} %"
    ROWS[i]=${ROWS[i]//"@also:$name@"/"$also"}
    st="–"
    [ -z "${STORED[$name]:-}" ] || st="${ACKED[$name]} / ${STORED[$name]}"
    ROWS[i]=${ROWS[i]//"@stored:$name@"/"$st"}
  done
done
# with_output KIND SRC: per round, the closed-loop throughput with the
# down output attached against the run without it in the same round (in %),
# into OUT_PER[KIND] and its median into OUT_MED[KIND].
declare -A OUT_PER OUT_MED OUT_P99_PER OUT_CPU_PER OUT_MCPU_PER
with_output() {
  local kind=$1 r vals=() p99s=() cpus=() mcpus=()
  local -n src=$2
  for r in $(seq 1 "$ROUNDS"); do
    [ -n "${src["receiver $kind+output $r"]:-}" ] && [ -n "${src["receiver $kind $r"]:-}" ] || continue
    vals+=("$(ratio "${src["receiver $kind+output $r"]}" "${src["receiver $kind $r"]}")")
    p99s+=("${OPEN_P99["receiver $kind $r"]} → ${OPEN_P99["receiver $kind+output $r"]}")
    cpus+=("${SERVER_CPU["receiver $kind $r"]} → ${SERVER_CPU["receiver $kind+output $r"]}")
    mcpus+=("${MACHINE_CPU["receiver $kind $r"]} → ${MACHINE_CPU["receiver $kind+output $r"]}")
  done
  [ ${#vals[@]} -gt 0 ] || return 0
  OUT_PER[$kind]=$(joined "${vals[@]}")
  OUT_MED[$kind]=$(median "${vals[@]}")
  OUT_P99_PER[$kind]=$(joined "${p99s[@]}")
  OUT_CPU_PER[$kind]=$(joined "${cpus[@]}")
  OUT_MCPU_PER[$kind]=$(joined "${mcpus[@]}")
}
with_output sqlite RPS
with_output postgres RPS
log "with an output whose destination is down, vs without: SQLite ${OUT_PER[sqlite]:-–} % (median ${OUT_MED[sqlite]:-–}), PostgreSQL ${OUT_PER[postgres]:-–} % (median ${OUT_MED[postgres]:-–})"
log "ceiling median ${CEILING_RPS}/s; SQLite ${PER_ROUND[sqlite]:-–} % (median ${MEDIAN_RATIO[sqlite]:-–}), PostgreSQL ${PER_ROUND[postgres]:-–} % (median ${MEDIAN_RATIO[postgres]:-–})"
[ -z "$ALSO" ] || log "with $ALSO connections: SQLite ${PER_ROUND_ALSO[sqlite]:-–} % (median ${MEDIAN_RATIO_ALSO[sqlite]:-–}), PostgreSQL ${PER_ROUND_ALSO[postgres]:-–} % (median ${MEDIAN_RATIO_ALSO[postgres]:-–})"

# Go micro-benchmarks: verification (internal/verify) and decoding (internal/prolific).
log "go test -bench: verification and decoding"
go test -run '^$' -bench . -benchmem -benchtime "${BENCH_GO_TIME:-1s}" ./internal/verify ./internal/prolific >"$WORK/gobench.txt" 2>&1 || die "go benchmarks failed: $(tail -n 20 "$WORK/gobench.txt")"
VERIFY_NS=$(awk '$1 ~ /^BenchmarkVerifyRaw1KiB/ { print $3 }' "$WORK/gobench.txt")

# The stores alone, without HTTP: CPU per durably stored event (SQLite: the
# whole test process; PostgreSQL: the whole machine, its server included).
log "go test -bench: the stores alone"
go test -run '^$' -bench 'SaveConcurrent(Ungathered|Output)?/callers=64' -benchtime "${BENCH_STORE_EVENTS:-50000}x" ./internal/store/sqlite >"$WORK/storebench.txt" 2>&1 || die "store benchmark failed: $(tail -n 20 "$WORK/storebench.txt")"
if [ -n "$PG_BASE" ]; then
  RECEIVER_TEST_POSTGRES_DSN=$PG_BASE go test -run '^$' -bench 'SaveParallel' -benchtime "${BENCH_STORE_EVENTS:-50000}x" ./internal/store/postgres >>"$WORK/storebench.txt" 2>&1 || die "store benchmark failed: $(tail -n 20 "$WORK/storebench.txt")"
fi

# check LABEL VALUE OP LIMIT UNIT [ROUNDS]: one row of the targets table.
check() {
  local verdict="not met"
  if [ -z "$2" ]; then verdict="not measured"
  elif awk -v v="$2" -v l="$4" -v op="$3" 'BEGIN { exit !((op == ">=" && v >= l) || (op == "<" && v < l)) }'; then verdict="met"; fi
  echo "| $1 | ${2:-–} $5 | ${6:-} | $3 $4 $5 | $verdict |"
}

# Report.
mem_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
  echo "# Benchmark results"
  echo
  echo "Written by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo "- Machine: $(nproc) CPUs ($model), $mem_gib GiB RAM, $(uname -sr); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- $(go version)"
  echo "- Load, on the same machine and competing for the same CPUs: closed loops from \`wrk\` ($WRK_THREADS threads)"
  echo "  replaying requests signed before the run (\`receiver loadgen presign\`, bench/wrk/presigned.lua: each a new"
  echo "  X-Event-ID; traffic shaped like Prolific's: rising ObjectIds, 50 studies, 78 % submission events (each"
  echo "  submission created once, then 1-3 status changes), 19 % progress pings, 3 % study status changes, bodies"
  echo "  as Python's json.dumps writes them; no Lua response hook), with $CONNECTIONS connections for $DURATION (the targets' load)$([ -n "$ALSO" ] && echo ",")"
  [ -z "$ALSO" ] || echo "  then with $ALSO connections from a second set;"
  echo "  the open loop from \`receiver loadgen\` at $RATE events/s for"
  echo "  $DURATION, at most $OPEN_CONNECTIONS in flight (latency measured from the scheduled send time, so queueing is not"
  echo "  hidden, which wrk's closed loop would)."
  echo "- Why $CONNECTIONS connections for throughput: a durable receiver answers a request only after the fsync of"
  echo "  its batch, so it needs more requests in flight than a bare server to keep the CPUs busy (Little's law:"
  echo "  in flight = rate × latency); with fewer its CPUs idle while the disk syncs and the run measures the"
  echo "  disk's latency more than the receiver's capacity. The run with ${ALSO:-fewer} connections shows that regime."
  echo "- The ceiling is a bare net/http server that reads the body and answers 200 (bench/ceiling)."
  echo "  $ROUNDS interleaved rounds: ceiling 0, then in round r the receiver on SQLite, on PostgreSQL, and ceiling r."
  echo "  Each store runs without and with the down output (below) in a round, the plain run first in odd rounds and"
  echo "  second in even ones; every PostgreSQL run starts from a CHECKPOINT on an emptied schema."
  echo "  Throughput counts 2xx answers per second; a receiver's \"vs ceiling\" is that divided by the mean of the"
  echo "  ceiling runs just before and after it (r-1 and r); a ceiling's is against the ceilings' median ($CEILING_RPS/s)."
  echo "- Server / wrk CPU = user+system CPU time each process spent per request in the closed loop with $CONNECTIONS"
  echo "  connections, in µs (wrk's without the reading of its requests before the run). With both on the same CPUs,"
  echo "  throughput vs ceiling is roughly (wrk + ceiling CPU) / (wrk + server CPU): the dearer the generator, the"
  echo "  flatter the ratio."
  echo "  Events per commit: the receiver's mean group-commit size in the closed loop (receiver_store_batch_events)."
  echo "- Failed = requests without a 2xx (non-2xx status or network error), closed / open loop. wrk wraps: how often"
  echo "  a wrk thread ran out of unique requests and replayed them (duplicates; 0 for a clean receiver row; a row"
  echo "  with wraps is not checked against its database, as some of its 2xx answered duplicates)."
  echo "  2xx / stored: the 2xx answers of the receiver's three loops together, and the events its database holds"
  echo "  when it has stopped (counted there; at least the 2xx, as every 2xx is durable)."
  echo "- \"postgres floor r\" (when pgbench is installed): PostgreSQL's own latency, right after the receiver's run,"
  echo "  for one transaction per event that inserts one 1 KiB row under a random key, from pgbench (four clients) at the same rate"
  echo "  (schedule lag included). A receiver that answers after its commit cannot beat one commit by much, so this is"
  echo "  the floor under the PostgreSQL p99 on this host."
  echo "- Compare rows of one run, not runs: on a shared machine the absolute numbers move from run to run."
  echo "- \"+output\" runs: the same receiver with an HTTP output (every event type) whose destination is down"
  echo "  (nothing listens on its port), so each event also gets an outbox row and the worker keeps probing;"
  echo "  compared with the run without it in the same round (docs/outputs.md). Their machine CPU per request is"
  echo "  the whole machine's busy CPU time during the closed loop with $CONNECTIONS connections, per request: it counts"
  echo "  PostgreSQL's own work, which the server CPU column leaves out."
  [ -z "${BENCH_NOTE:-}" ] || echo "- Note: $BENCH_NOTE"
  echo
  echo "| target | closed 2xx/s | vs ceiling | closed 2xx/s, ${ALSO:-–} conns | vs ceiling | server CPU µs/req | wrk CPU µs/req | events per commit | closed p50 ms | closed p99 ms | open p50 ms | open p99 ms | open p99.9 ms | open late sends | failed | wrk wraps | 2xx / stored | idle RSS | peak RSS |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "## Targets (medians over the $ROUNDS rounds of this run; idle RSS: the largest)"
  echo
  echo "| target | measured | rounds | wanted | verdict |"
  echo "|---|---:|---|---:|---|"
  check "SQLite throughput vs ceiling, $CONNECTIONS connections" "${MEDIAN_RATIO[sqlite]:-}" ">=" 50 "%" "${PER_ROUND[sqlite]:-}"
  check "PostgreSQL throughput vs ceiling, $CONNECTIONS connections" "${MEDIAN_RATIO[postgres]:-}" ">=" 35 "%" "${PER_ROUND[postgres]:-}"
  if [ -n "$ALSO" ]; then
    check "SQLite throughput vs ceiling, $ALSO connections" "${MEDIAN_RATIO_ALSO[sqlite]:-}" ">=" 50 "%" "${PER_ROUND_ALSO[sqlite]:-}"
    check "PostgreSQL throughput vs ceiling, $ALSO connections" "${MEDIAN_RATIO_ALSO[postgres]:-}" ">=" 35 "%" "${PER_ROUND_ALSO[postgres]:-}"
  fi
  check "SQLite p99 at $RATE events/s" "${MEDIAN_P99[sqlite]:-}" "<" 10 "ms" "${PER_ROUND_P99[sqlite]:-}"
  check "PostgreSQL p99 at $RATE events/s" "${MEDIAN_P99[postgres]:-}" "<" 10 "ms" "${PER_ROUND_P99[postgres]:-}"
  if [ -n "$FLOOR_MEDIAN" ]; then
    echo "| PostgreSQL's own p99 at $RATE one-row commits/s (pgbench; the floor, informational) | $FLOOR_MEDIAN ms | $FLOOR_ROUNDS | – | – |"
  fi
  check "load generator's CPU vs the bare server's, per request (wrk / ceiling)" "$GEN_SHARE" "<" 20 "%" "$GEN_ROUNDS"
  echo "| every 2xx stored (events counted in each receiver's database afterwards) | $ALL_STORED | $STORED_ROUNDS | yes | $(case $ALL_STORED in yes) echo met ;; no) echo "not met" ;; *) echo "not checked" ;; esac) |"
  check "SQLite throughput with an output whose destination is down, vs without (same round)" "${OUT_MED[sqlite]:-}" ">=" 90 "%" "${OUT_PER[sqlite]:-}"
  check "PostgreSQL throughput with an output whose destination is down, vs without (same round)" "${OUT_MED[postgres]:-}" ">=" 90 "%" "${OUT_PER[postgres]:-}"
  [ -z "${OUT_P99_PER[sqlite]:-}" ] || echo "| SQLite p99 at $RATE events/s without → with the down output (informational) | – | ${OUT_P99_PER[sqlite]} ms | – | – |"
  [ -z "${OUT_P99_PER[postgres]:-}" ] || echo "| PostgreSQL p99 at $RATE events/s without → with the down output (informational) | – | ${OUT_P99_PER[postgres]} ms | – | – |"
  [ -z "${OUT_CPU_PER[sqlite]:-}" ] || echo "| SQLite server CPU per request without → with the down output (informational; steadier than throughput) | – | ${OUT_CPU_PER[sqlite]} µs | – | – |"
  [ -z "${OUT_CPU_PER[postgres]:-}" ] || echo "| PostgreSQL server CPU per request without → with the down output (informational) | – | ${OUT_CPU_PER[postgres]} µs | – | – |"
  [ -z "${OUT_MCPU_PER[sqlite]:-}" ] || echo "| SQLite machine CPU per request (receiver + wrk + the rest of the host) without → with the down output (informational) | – | ${OUT_MCPU_PER[sqlite]} µs | – | – |"
  [ -z "${OUT_MCPU_PER[postgres]:-}" ] || echo "| PostgreSQL machine CPU per request (receiver + PostgreSQL + wrk + the rest of the host) without → with the down output (informational; counts PostgreSQL's own work for the outbox row) | – | ${OUT_MCPU_PER[postgres]} µs | – | – |"
  check "idle RSS (SQLite)" "${MAX_IDLE[sqlite]:-}" "<" 40 "MiB"
  check "idle RSS (PostgreSQL)" "${MAX_IDLE[postgres]:-}" "<" 40 "MiB"
  check "verification, 1 KiB body (raw form)" "$(awk -v n="$VERIFY_NS" 'BEGIN { if (n != "") printf "%.2f", n / 1000 }')" "<" 5 "µs"
  echo
  echo "On this shared host a single run's ratio moves by 10 points and more between runs of one"
  echo "binary (bench/profiling.md lists them); the median of interleaved rounds is the number to quote."
  echo
  echo "Load average at the start: $LOAD_START."
  echo
  echo "## Go benchmarks (\`go test -bench . -benchmem ./internal/verify ./internal/prolific\`)"
  echo
  echo '```'
  grep -E '^(Benchmark|cpu:)' "$WORK/gobench.txt"
  echo '```'
  echo
  echo "## The stores alone (\`BenchmarkSaveConcurrent/callers=64\` on SQLite, \`BenchmarkSaveParallel\` on PostgreSQL)"
  echo
  echo "Durable saves from concurrent callers, no HTTP; CPU per event is the test process's for"
  echo "SQLite and the whole machine's (PostgreSQL's server included) for PostgreSQL."
  echo "\`BenchmarkSaveConcurrentUngathered\` is SQLite's writer without the WAL-gathering VFS"
  echo "(docs/store.md), each WAL frame written as two system calls, for comparison."
  echo "\`BenchmarkSaveConcurrentOutput\` and \`BenchmarkSaveParallelOutput\` are the same with one output every event passes (an outbox row per event)."
  echo
  echo '```'
  grep -E '^Benchmark' "$WORK/storebench.txt"
  echo '```'
  if [ -f bench/profiling.md ]; then
    echo
    cat bench/profiling.md
  fi
} >"$WORK/results.md"
cp "$WORK/results.md" "$OUT"
cat "$OUT"
