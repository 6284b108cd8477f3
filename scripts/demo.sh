#!/usr/bin/env bash
# scripts/demo.sh (`make demo`): the whole receiver against the fake Prolific
# on this machine, in one command.
#
# Starts cmd/fake-prolific (built into bin/) on a free loopback port with a
# demo token and workspace, then `bin/receiver serve` pointed at it with no
# webhook secret: bootstrap fetches the secret and registers one confirmed
# subscription per event type, which starts the fake's simulated study
# (DEMO_PLACES participants' places over about DEMO_SECONDS seconds).
# Every few seconds it prints Prolific's progress and the receiver's view.
# A third of the way in (or once the rules paused the study, below) the
# receiver is stopped for DEMO_OUTAGE seconds:
# Prolific's deliveries fail and, with few retries, are given up on; started
# again, the receiver recovers them from Prolific's delivery log (its
# start-up reconciliation pass, docs/reconcile.md) and says how many.
# At the end it compares the receiver's study (GET /api/v1/studies/{id})
# with the fake's final result and prints MATCH, or MISMATCH and exits 1.
# The receiver runs deploy/rules.example.yaml live (docs/rules.md): the
# return rate spikes (DEMO_RETURN_RATE), Prolific sends
# study.has_high_return_rate and the rule pauses the study through the API
# (the simulation then recruits nobody new); approved participants are added
# to the follow-up participant group; the review digest goes to the fake's
# notification sink, which prints it. The demo shows the fake's record of
# those calls, the messages and `receiver rules history`, and checks that the
# study was paused by exactly one call and that every approved participant
# is in the group (RULES OK, or RULES WRONG and exit 1).
# Processes are stopped on exit and on Ctrl-C; the work directory (SQLite
# store, logs) is removed unless DEMO_KEEP=1.
#
# Environment: DEMO_PLACES (300), DEMO_SECONDS (60), DEMO_OUTAGE (15; 0 for
# none), DEMO_RETURN_RATE (0.22: late in the study the returned share passes
# the fake's 20 % and it reports a high return rate), DEMO_KEEP (unset).
# Needs curl and jq. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

PLACES=${DEMO_PLACES:-300}
SIM_SECONDS=${DEMO_SECONDS:-60}
OUTAGE=${DEMO_OUTAGE:-15}
RETURN_RATE=${DEMO_RETURN_RATE:-0.22}
GROUP=0000000000000000000000f1 # the fake's participant group (cmd/fake-prolific -groups)
# A study of SIM_SECONDS minutes, run SCALE times faster: the fake divides
# the simulated duration and its retry back-off by the time scale.
SCALE=60
TOKEN=demo-token-not-secret
WORKSPACE=00000000000000000000dem0
EVENT_TYPES=study.status.change,study.progress.change,submission.status.change,study.has_high_return_rate

command -v jq >/dev/null || die "jq is required"
command -v curl >/dev/null || die "curl is required"

WORK=$(mktemp -d)
cleanup() {
  stop_all
  if [ -n "${DEMO_KEEP:-}" ]; then log "kept logs and store in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -x bin/receiver ] || { log "building bin/receiver"; make -s build; }
log "building bin/fake-prolific"
go build -o bin/fake-prolific ./cmd/fake-prolific

FAKE_ADDR=127.0.0.1:$(free_port)
PUBLIC_ADDR=127.0.0.1:$(free_port)
ADMIN_ADDR=127.0.0.1:$(free_port)
FAKE_URL=http://$FAKE_ADDR
ADMIN_URL=http://$ADMIN_ADDR
FAKE_LOG=$WORK/fake-prolific.log
RECEIVER_LOG=$WORK/receiver.log

log "starting the fake Prolific on $FAKE_URL (study of $PLACES places over ~${SIM_SECONDS}s)"
bin/fake-prolific -addr "$FAKE_ADDR" -token "$TOKEN" -workspace "$WORKSPACE" -allow-http-targets \
  -time-scale "$SCALE" -simulate "$PLACES" -duration "${SIM_SECONDS}m" -return-rate "$RETURN_RATE" \
  -groups "$GROUP" -max-retries 3 >"$FAKE_LOG" 2>&1 &
PIDS+=("$!")
FAKE_PID=$!
fake_api() { curl -fsS --max-time 5 -H "Authorization: Token $TOKEN" "$FAKE_URL$1"; }
for _ in $(seq 1 100); do
  fake_api /api/v1/hooks/event-types/ >/dev/null 2>&1 && break
  kill -0 "$FAKE_PID" 2>/dev/null || { cat "$FAKE_LOG" >&2; die "the fake Prolific exited"; }
  sleep 0.1
done
fake_api /api/v1/hooks/event-types/ >/dev/null || die "the fake Prolific did not start (log: $FAKE_LOG)"

log "starting the receiver: webhooks on http://$PUBLIC_ADDR/hooks/prolific, admin on $ADMIN_URL/"
start_receiver() {
env -u PROLIFIC_WEBHOOK_SECRET -u PROLIFIC_WEBHOOK_SECRET_FILE -u PROLIFIC_WEBHOOK_PREVIOUS_SECRETS \
  -u PROLIFIC_API_TOKEN_FILE -u RECEIVER_ADMIN_TOKEN -u RECEIVER_ADMIN_TOKEN_FILE \
  -u RECEIVER_TLS_CERT_FILE -u RECEIVER_TLS_KEY_FILE \
  PROLIFIC_API_URL="$FAKE_URL" PROLIFIC_API_TOKEN="$TOKEN" PROLIFIC_WORKSPACE_ID="$WORKSPACE" \
  RECEIVER_PUBLIC_URL="http://$PUBLIC_ADDR/hooks/prolific" RECEIVER_ALLOW_INSECURE_PUBLIC_URL=true \
  RECEIVER_LISTEN_ADDR="$PUBLIC_ADDR" RECEIVER_ADMIN_ADDR="$ADMIN_ADDR" RECEIVER_STORE="sqlite:$WORK/receiver.db" \
  RECEIVER_EVENT_TYPES="$EVENT_TYPES" RECEIVER_BOOTSTRAP=true RECEIVER_LOG_FORMAT=console \
  RECEIVER_ENRICH_DEBOUNCE=500ms RECEIVER_PROLIFIC_RATE_LIMIT=20 RECEIVER_RECONCILE_SETTLE=2s \
  RECEIVER_RULES_FILE=deploy/rules.example.yaml RECEIVER_ACTIONS=live RECEIVER_DASHBOARD_URL="$ADMIN_URL/" \
  SLACK_WEBHOOK_URL="$FAKE_URL/_sink/slack/demo" FOLLOWUP_GROUP_ID="$GROUP" \
  bin/receiver serve >>"$RECEIVER_LOG" 2>&1 &
RECEIVER_PID=$!
PIDS+=("$RECEIVER_PID")
if ! wait_ready "$ADMIN_URL/readyz" 30; then
  tail -n 20 "$RECEIVER_LOG" >&2
  die "the receiver did not become ready (log: $RECEIVER_LOG)"
fi
}
start_receiver
subs=$(fake_api "/api/v1/hooks/subscriptions/?workspace_id=$WORKSPACE" | jq -r '[.results[].event_type] | join(", ")')
log "bootstrap registered and confirmed: $subs"
log "dashboard: $ADMIN_URL/   (also $ADMIN_URL/metrics, $ADMIN_URL/api/v1/studies)"
log "receiver log: $RECEIVER_LOG"

# Progress until the fake prints its final JSON line (deliveries done).
deadline=$(( $(date +%s) + SIM_SECONDS + 180 ))
final=""
while :; do
  final=$(grep '^{' "$FAKE_LOG" | tail -n 1 || true)
  [ -n "$final" ] && break
  kill -0 "$FAKE_PID" 2>/dev/null || { tail -n 5 "$FAKE_LOG" >&2; die "the fake Prolific exited early"; }
  kill -0 "$RECEIVER_PID" 2>/dev/null || { tail -n 20 "$RECEIVER_LOG" >&2; die "the receiver exited"; }
  [ "$(date +%s)" -lt "$deadline" ] || die "the simulation did not finish in time (log: $FAKE_LOG)"
  progress=$(grep '^progress:' "$FAKE_LOG" | tail -n 1 | sed 's/^progress: //' || true)
  [ -n "$progress" ] && log "prolific: $progress"
  taken=$(sed -n 's/.* places \([0-9]*\)\/.*/\1/p' <<<"$progress")
  # The outage comes a third of the way in, or as soon as the rule paused the
  # study (the return-rate spike often comes first): the reviews still to come
  # are then what Prolific cannot deliver.
  if [ "$OUTAGE" -gt 0 ] && [ -z "${outage_done:-}" ] && { [ "${taken:-0}" -ge $(( PLACES / 3 )) ] || grep -q '^study PAUSED' <<<"$progress"; }; then
    outage_done=1
    log "OUTAGE: stopping the receiver for ${OUTAGE}s; Prolific's deliveries fail and its retries run out"
    kill -TERM "$RECEIVER_PID"; wait "$RECEIVER_PID" 2>/dev/null || true
    outage_end=$(( $(date +%s) + OUTAGE ))
    while [ "$(date +%s)" -lt "$outage_end" ]; do
      sleep 5
      log "prolific: $(grep '^progress:' "$FAKE_LOG" | tail -n 1 | sed 's/^progress: //')"
    done
    restarted=$(date +%s)
    log "OUTAGE over: starting the receiver again on the same store"
    start_receiver
    for _ in $(seq 1 120); do
      last=$(curl -fsS --max-time 5 "$ADMIN_URL/metrics" | awk '/^receiver_reconcile_last_success_timestamp_seconds / { print int($NF) }')
      [ "${last:-0}" -ge "$restarted" ] && break
      sleep 0.5
    done
    recovered=$(curl -fsS --max-time 5 "$ADMIN_URL/metrics" | awk '/^receiver_reconcile_events_total\{/ && /source="api"/ && /outcome="stored"/ { n += $NF } END { print n + 0 }')
    log "reconciled: $recovered events Prolific could not deliver recovered from its delivery log (source \"api\")"
    continue
  fi
  { bin/receiver studies -admin-url "$ADMIN_URL" 2>/dev/null || true; } | tail -n +2 | while IFS= read -r row; do log "receiver: $row"; done
  sleep 5
done
study=$(jq -r .StudyID <<<"$final")
log "prolific: study $study completed and every webhook delivered: $(jq -c .Deliveries <<<"$final")"
if [ "$OUTAGE" -gt 0 ]; then
  # Deliveries given up on after the start-up pass (their last retry failed
  # while the receiver was starting) are recovered by the next pass; run it now.
  log "receiver reconcile (one pass on demand, as an operator would after an outage):"
  bin/receiver reconcile -admin-url "$ADMIN_URL" 2>&1 | while IFS= read -r line; do log "  $line"; done
fi

# The two views, normalised: status, places and non-zero counts by status.
prolific_view() {
  local api; api=$(fake_api "/api/v1/studies/$study/")
  jq -cS --argjson api "$api" '{status: $api.status, places_taken: .PlacesTaken, places_total: .PlacesTotal,
    submissions: (.Submissions | with_entries(select(.value > 0)))}' <<<"$final"
}
receiver_view() {
  curl -fsS --max-time 5 "$ADMIN_URL/api/v1/studies" | jq -cS --arg id "$study" \
    '.studies[] | select(.id == $id) | {status, places_taken, places_total,
      submissions: (.submission_counts | with_entries(select(.value > 0)))}'
}
want=$(prolific_view) || die "could not read study $study from the fake Prolific"
got=""
# Enrichment runs a little behind the webhooks: give it up to 30 s.
for _ in $(seq 1 60); do
  got=$(receiver_view || true)
  [ "$got" = "$want" ] && break
  sleep 0.5
done

printf '\n%-22s %12s %12s\n' "" prolific receiver
row() { printf '%-22s %12s %12s\n' "$1" "$(jq -r "$2 // \"-\"" <<<"$want")" "$(jq -r "$2 // \"-\"" <<<"${got:-null}")"; }
row status .status
row "places taken" .places_taken
row "places total" .places_total
while IFS= read -r s; do
  row "$s" ".submissions[\"$s\"]"
done < <(jq -rn --argjson a "$want" --argjson b "${got:-null}" \
  '[($a.submissions // {} | keys[]), ($b.submissions // {} | keys[])] | unique[]')
# Informational: deliveries Prolific saw answered 2xx, and the receiver's 2xx
# answers (stored + duplicate: equal signed content counts as a duplicate).
accepted=$(curl -fsS --max-time 5 "$ADMIN_URL/metrics" | awk '/^receiver_webhooks_total\{/ && /outcome="(stored|duplicate)"/ { n += $NF } END { print n + 0 }')
printf '%-22s %12s %12s\n' "webhooks answered 2xx" "$(jq -r .Deliveries.Successes <<<"$final")" "$accepted"
# The outage: deliveries Prolific gave up on, and the events the receiver
# recovered from its delivery log; the pass also stores deliveries still
# being retried, whose retry then arrives as a duplicate, so it may recover more.
recovered=$(curl -fsS --max-time 5 "$ADMIN_URL/metrics" | awk '/^receiver_reconcile_events_total\{/ && /source="api"/ && /outcome="stored"/ { n += $NF } END { print n + 0 }')
printf '%-22s %12s %12s\n' "given up / recovered" "$(jq -r .Deliveries.Exhausted <<<"$final")" "$recovered"
[ "$OUTAGE" -gt 0 ] && printf '%s\n' "(the receiver's counters start again at its restart)"
echo

# The rules (deploy/rules.example.yaml, live). Approvals come at the end of
# the simulation: wait until the receiver has no action left to carry out.
# (A digest's next message, due up to 10 minutes later, is not waited for.)
for _ in $(seq 1 90); do
  pending=$(curl -fsS --max-time 5 "$ADMIN_URL/api/v1/actions?outcome=pending&limit=1000" |
    jq '[.actions[] | select((.due_at | sub("\\.[0-9]+"; "") | fromdateiso8601) <= now)] | length')
  [ "$pending" = 0 ] && break
  sleep 1
done
log "rules: what the fake Prolific was asked to do (its call record):"
curl -fsS --max-time 5 "$FAKE_URL/_fake/calls?route=publish-study&route=add-to-participant-group" |
  jq -r '.[] | "  \(.method) \(.path) \(.body | tostring | .[0:120]) -> \(.status)"' | head -n 12
log "rules: messages the notification sink received:"
grep -A4 '^--- slack message' "$FAKE_LOG" | sed 's/^/  /' | head -n 20
log "rules: receiver rules history (newest first):"
bin/receiver rules history -admin-url "$ADMIN_URL" -limit 8 | sed 's/^/  /'
rules_ok=1
pauses=$(curl -fsS --max-time 5 "$FAKE_URL/_fake/calls?route=publish-study" | jq '[.[] | select(.status < 300)] | length')
high=$(curl -fsS --max-time 5 "$ADMIN_URL/api/v1/studies/$study" | jq '.high_return_rate_events // 0')
if [ "${high:-0}" -gt 0 ]; then
  if [ "$pauses" = 1 ]; then log "rules: Prolific reported a high return rate; the study was paused by one call"
  else log "rules: high return rate reported, but $pauses successful pause calls (want 1)"; rules_ok=0; fi
else
  log "rules: Prolific never reported a high return rate in this run (DEMO_RETURN_RATE=$RETURN_RATE); nothing to pause"
fi
approved=$(jq -r '.Submissions.APPROVED // 0' <<<"$final")
members=$(fake_api "/api/v1/participant-groups/$GROUP/participants/" | jq '.results | length')
if [ "$members" = "$approved" ]; then log "rules: all $approved approved participants are in the follow-up group"
else log "rules: $members participants in the follow-up group, $approved approved (want equal)"; rules_ok=0; fi
digests=$(grep -c '^--- slack message' "$FAKE_LOG" || true)
if [ "${digests:-0}" -ge 1 ]; then log "rules: $digests review digest(s) printed by the sink"
else log "rules: no review digest reached the sink"; rules_ok=0; fi
if [ "$rules_ok" = 1 ]; then log "RULES OK"; else log "RULES WRONG"; fi

if [ "$got" = "$want" ] && [ "$rules_ok" = 1 ]; then
  log "MATCH: the receiver's view of study $study equals Prolific's"
  exit 0
fi
[ "$got" = "$want" ] && log "MATCH: the receiver's view of study $study equals Prolific's" && exit 1
log "MISMATCH: prolific $want"
log "MISMATCH: receiver ${got:-(study not found)}"
exit 1
