package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prolific-receiver/receiver/internal/powerfs"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
	sqlitestore "github.com/prolific-receiver/receiver/internal/store/sqlite"
)

// TestCrashPowerLoss is the power-loss gate (docs/powerloss.md): the
// receiver, a real process, stores webhooks in SQLite on a file system that
// keeps every write not yet covered by an fsync in memory (internal/powerfs)
// while signed load runs, and the test cuts the power again and again:
// cleanly (everything unsynced is lost), torn (a random subset of the
// unsynced pages and directory entries survives), a graceful stop followed
// by a cut, an fsync that fails with EIO, and a disk that fills up and frees
// again. After the last cut it
// proves: every event answered 2xx is stored, PRAGMA integrity_check is ok,
// the projections equal a replay of the stored events, every stored event
// has its outbox row (an output is configured), and no delivery sent after
// the failed fsync was acknowledged before the store reopened. POWER_ROUNDS
// sets the number of faults (`make crash-test` sets it; without it, in `make
// test`, the short form: one fault of each kind), CRASH_RATE (default 300)
// the events per second.
func TestCrashPowerLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("power-loss test: runs without -short")
	}
	if err := powerfs.Available(); err != nil {
		if os.Getenv("RECEIVER_REQUIRE_FUSE") != "" {
			t.Fatalf("RECEIVER_REQUIRE_FUSE is set but FUSE is unavailable: %v", err)
		}
		t.Skipf("FUSE unavailable (%v): the power-loss test runs where /dev/fuse opens (root; CI sets RECEIVER_REQUIRE_FUSE)", err)
	}
	kinds := []string{"cut", "torn", "eio", "stop", "enospc", "torn"}
	rounds := envRounds(t, "POWER_ROUNDS")
	if rounds == 0 {
		rounds = 5 // the first five kinds: each kind once
	}
	rate := envInt(t, "CRASH_RATE", 300)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (CRASH_SEED reruns the same faults)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	model, err := powerfs.New(t.TempDir(), seed)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	pl := &powerLoss{t: t, model: model, mnt: mnt, rng: rng,
		pub: freeAddr(t), adm: freeAddr(t), logPath: filepath.Join(t.TempDir(), "child.log")}
	if p := os.Getenv("CRASH_CHILD_LOG"); p != "" {
		pl.logPath = p
	}
	pl.mount()
	defer pl.cleanup()
	pl.outputs = writeDownOutput(t)
	pl.start()

	ctx, stopLoad := context.WithCancel(context.Background())
	ld := newPowerLoad(pl.pub, rate, seed)
	loadDone := make(chan struct{})
	go func() { ld.run(ctx); close(loadDone) }()

	for round := range rounds {
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		kind := kinds[round%len(kinds)]
		before := ld.okCount()
		switch kind {
		case "cut", "torn":
			pl.powerCut(kind == "torn")
		case "stop":
			// An operator's restart (SIGTERM: SQLite checkpoints and removes
			// its log at close, without syncing the directory), and the
			// power goes before the receiver is back.
			pl.stop()
			pl.powerCut(false)
		case "eio":
			pl.fsyncEIO(ld)
		case "enospc":
			pl.diskFull(ld)
		}
		t.Logf("round %d: %s; %d acknowledged so far (+%d)", round+1, kind, ld.okCount(), ld.okCount()-before)
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()
	<-loadDone
	// The last cut is torn: what is checked is what survives one.
	pl.powerCut(true)
	pl.stop()

	acked := ld.acked()
	if len(acked) < 50 {
		t.Fatalf("only %d events acknowledged: the load did not run (see %s)", len(acked), pl.logPath)
	}
	pl.verify(acked)
	s := model.Stats()
	t.Logf("%d acknowledged IDs, %d requests (%v); file system: %d writes, %d fsyncs, %d directory fsyncs, %d fsync EIO, %d ENOSPC, %d cuts (%d torn), %d pages dropped, %d kept by torn cuts",
		len(acked), ld.requests(), ld.codes(), s.Writes, s.Fsyncs, s.DirFsyncs, s.FsyncEIO, s.ENOSPC, s.Cuts, s.TornCuts, s.PagesDropped, s.PagesKept)
}

// envRounds reads a crash test's number of rounds from the variable name,
// or returns 0 when it is unset: the test's short form, which `make test`
// runs (under -race) so that every crash proof runs at least briefly there;
// `make crash-test` sets the variable and runs the long form.
func envRounds(t *testing.T, name string) int {
	if os.Getenv(name) == "" {
		t.Logf("%s unset: the short form, one round of each kind (make crash-test runs the long form)", name)
		return 0
	}
	return envInt(t, name, 0)
}

func envInt(t *testing.T, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// writeDownOutput writes an outputs file with one HTTP output for every
// event whose destination is down, so each stored event keeps its outbox row.
func writeDownOutput(t *testing.T) string {
	file := `outputs:
  - name: down
    type: http
    filter:
      event_types: ["*"]
    http:
      url: http://` + freeAddr(t) + `/hooks
      secret: whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
      timeout: 2s
`
	path := filepath.Join(t.TempDir(), "outputs.yaml")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// powerLoss is the receiver child on the FUSE mount, and what cuts it.
type powerLoss struct {
	t       *testing.T
	model   *powerfs.Model
	mount_  *powerfs.Mount
	mnt     string
	rng     *rand.Rand
	pub     string
	adm     string
	logPath string
	outputs string

	mu     sync.Mutex
	child  *exec.Cmd
	exited chan struct{} // closed when child exits
}

func (pl *powerLoss) dbPath() string { return filepath.Join(pl.mnt, "receiver.db") }

func (pl *powerLoss) mount() {
	mt, err := pl.model.Mount(pl.mnt)
	if err != nil {
		pl.t.Fatal(err)
	}
	pl.mount_ = mt
}

func (pl *powerLoss) cleanup() {
	pl.kill()
	if pl.mount_ != nil {
		_ = pl.mount_.Unmount()
	}
}

// start runs the receiver (this test binary as TestCrashChild) on the mount
// and waits until it is ready.
func (pl *powerLoss) start() {
	t := pl.t
	logFile, err := os.OpenFile(pl.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1",
		"RECEIVER_LISTEN_ADDR="+pl.pub, "RECEIVER_ADMIN_ADDR="+pl.adm, "RECEIVER_STORE=sqlite:"+pl.dbPath(),
		"PROLIFIC_WEBHOOK_SECRET=crash-secret", "PROLIFIC_API_TOKEN=", "RECEIVER_ADMIN_TOKEN=",
		"RECEIVER_BOOTSTRAP=false", "RECEIVER_OUTPUTS_FILE="+pl.outputs, "RECEIVER_LOG_LEVEL=error")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	logFile.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	pl.mu.Lock()
	pl.child, pl.exited = cmd, exited
	pl.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("receiver exited before it was ready; log:\n%s", pl.logTail())
		default:
		}
		if code, _ := pl.readyz(); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Signal(syscall.SIGQUIT) // its goroutines, into the log
			time.Sleep(time.Second)
			t.Fatalf("receiver not ready within 60 s on the mount; log:\n%s", pl.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (pl *powerLoss) logTail() string {
	b, _ := os.ReadFile(pl.logPath)
	return tail(string(b), 4000)
}

// readyz returns /readyz's status and body.
func (pl *powerLoss) readyz() (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + pl.adm + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// kill SIGKILLs the child (if running) and waits for it.
func (pl *powerLoss) kill() {
	pl.mu.Lock()
	cmd, exited := pl.child, pl.exited
	pl.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop ends the child gracefully (SIGTERM), as an operator would.
func (pl *powerLoss) stop() {
	pl.mu.Lock()
	cmd, exited := pl.child, pl.exited
	pl.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		pl.t.Errorf("receiver did not stop within 30 s of SIGTERM")
		pl.kill()
	}
}

// powerCut kills the receiver, unmounts (the kernel's caches go too), drops
// what was not synced, mounts again and restarts the receiver.
func (pl *powerLoss) powerCut(torn bool) {
	pl.kill()
	if err := pl.mount_.Unmount(); err != nil {
		pl.t.Fatal(err)
	}
	if err := pl.model.PowerCut(torn); err != nil {
		pl.t.Fatal(err)
	}
	pl.mount()
	pl.start()
}

// fsyncEIO fails the next fsync with EIO. The receiver must stop
// acknowledging at once and reopen its store: it exits (fsyncgate: what the
// kernel could not write is gone from the disk but still in the cache) and is
// restarted on the same mount, cache and all. No delivery sent after the
// failed fsync may be answered 2xx before the new process is up.
func (pl *powerLoss) fsyncEIO(ld *powerLoad) {
	t := pl.t
	failed := make(chan time.Time, 1)
	pl.model.OnFsyncError(func(string) {
		select {
		case failed <- time.Now():
		default:
		}
	})
	defer pl.model.OnFsyncError(nil)
	pl.model.FailNextFsync()
	var at time.Time
	select {
	case at = <-failed:
	case <-time.After(20 * time.Second):
		t.Fatal("no fsync within 20 s under load")
	}
	pl.mu.Lock()
	exited := pl.exited
	pl.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		code, body := pl.readyz()
		t.Fatalf("receiver still running 15 s after its fsync failed with EIO (readyz %d %s); it must reopen its store; log:\n%s", code, body, pl.logTail())
	}
	reopened := time.Now()
	pl.start()
	if bad := ld.okBetween(at, reopened); len(bad) > 0 {
		t.Fatalf("%d deliveries sent after the failed fsync (%s) were acknowledged before the store reopened, e.g. %v",
			len(bad), at.Format("15:04:05.000"), bad[:min(5, len(bad))])
	}
	t.Logf("fsync EIO at %s: receiver exited, restarted %s later", at.Format("15:04:05.000"), time.Since(at).Round(time.Millisecond))
}

// diskFull makes writes that need space fail with ENOSPC until the receiver
// answers 503 and /readyz says the disk is full, then frees the space: the
// receiver must become ready and acknowledge again by itself.
func (pl *powerLoss) diskFull(ld *powerLoad) {
	t := pl.t
	pl.model.SetFull(true)
	start := time.Now()
	var body string
	for {
		code, b := pl.readyz()
		body = b
		if code == http.StatusServiceUnavailable && ld.count503Since(start) > 0 {
			break
		}
		if time.Since(start) > 60*time.Second {
			pl.model.SetFull(false)
			t.Fatalf("disk full for 60 s: readyz %d %s, %d answers 503 since; want 503s and an unready /readyz saying why", code, b, ld.count503Since(start))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(strings.ToLower(body), "disk full") {
		t.Errorf("/readyz while the disk is full = %s, want it to say the disk is full", body)
	}
	freed := time.Now()
	pl.model.SetFull(false)
	for {
		code, b := pl.readyz()
		if code == http.StatusOK && ld.okSince(freed) > 0 {
			break
		}
		if time.Since(freed) > 30*time.Second {
			t.Fatalf("space back for 30 s but the receiver has not recovered: readyz %d %s, %d acknowledged since", code, b, ld.okSince(freed))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("disk full: unready (%s) after %s; ready and acknowledging %s after space returned",
		strings.TrimSpace(body), freed.Sub(start).Round(time.Millisecond), time.Since(freed).Round(time.Millisecond))
}

// verify opens the database as the last cut left it (after the receiver
// recovered it once and stopped) and checks the gate's four promises.
func (pl *powerLoss) verify(acked []string) {
	t := pl.t
	// A copy, read with plain reads: this process serves the mount, and
	// SQLite here would map the -shm file; a page fault on a mapping of a
	// FUSE file system the same Go process serves can deadlock it (the
	// faulting thread cannot be stopped for the garbage collector).
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(pl.dbPath() + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "receiver.db"+suffix), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", filepath.Join(dir, "receiver.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("PRAGMA integrity_check = %q, %v", ok, err)
	}

	stored := map[string]bool{}
	for _, q := range []string{`SELECT id FROM events`, `SELECT id FROM event_aliases`} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			stored[id] = true
		}
		rows.Close()
	}
	var missing []string
	for _, id := range acked {
		if !stored[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d acknowledged events are not stored, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
	}

	var noOutbox int
	if err := db.QueryRow(`SELECT count(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_seq = e.seq AND o.output = 'down')`).Scan(&noOutbox); err != nil {
		t.Fatal(err)
	}
	if noOutbox > 0 {
		t.Errorf("%d stored events have no outbox row for the configured output", noOutbox)
	}

	// Replay the stored events, in seq order, into a fresh store and compare
	// the projections.
	events := readEvents(t, db)
	replayDir, err := os.MkdirTemp(shmOrTemp(), "replay")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(replayDir)
	rs, err := sqlitestore.Open(filepath.Join(replayDir, "replay.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, e := range events {
		if o, err := rs.Save(ctx, e); err != nil || o != store.Stored {
			t.Fatalf("replay of event %s: %v, %v", e.ID, o, err)
		}
	}
	rs.Close()
	rdb, err := sql.Open("sqlite", filepath.Join(replayDir, "replay.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	for _, q := range []string{
		`SELECT id, status, status_rank, coalesce(status_at, -1), high_return_rate_events, coalesce(last_event_at, -1) FROM studies ORDER BY id`,
		`SELECT id, study_id, participant_id, status, status_rank, coalesce(status_at, -1) FROM submissions ORDER BY id`,
	} {
		got, want := tableRows(t, db, q), tableRows(t, rdb, q)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("projection differs from a replay of the %d stored events (-replay +stored):\n%s", len(events), diff)
		}
	}
	if !t.Failed() {
		t.Logf("verified: integrity ok, %d acknowledged IDs stored, %d events, projections equal their replay, every event has its outbox row",
			len(acked), len(events))
	}
}

func shmOrTemp() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func readEvents(t *testing.T, db *sql.DB) []*store.Event {
	rows, err := db.Query(`SELECT id, type, resource_id, status, participant_id, study_id, event_time, received_at,
		signature_form, content_hash, body, source FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []*store.Event
	for rows.Next() {
		e := &store.Event{}
		var et, ra int64
		if err := rows.Scan(&e.ID, &e.Type, &e.ResourceID, &e.Status, &e.ParticipantID, &e.StudyID, &et, &ra,
			&e.SignatureForm, &e.ContentHash, &e.Body, &e.Source); err != nil {
			t.Fatal(err)
		}
		e.EventTime, e.ReceivedAt = time.UnixMicro(et).UTC(), time.UnixMicro(ra).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func tableRows(t *testing.T, db *sql.DB, q string) []string {
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(vals)
		out = append(out, string(b))
	}
	return out
}

// powerLoad sends signed webhooks at a steady rate from many goroutines:
// submissions going through their lifecycle, study status changes, and
// repeats of acknowledged IDs, and records every answer with its times.
type powerLoad struct {
	url  string
	rate int
	seed uint64

	mu    sync.Mutex
	log   []powerReq
	okIDs []string
}

type powerReq struct {
	id         string
	sent, done time.Time
	code       int
}

func newPowerLoad(pub string, rate int, seed uint64) *powerLoad {
	return &powerLoad{url: "http://" + pub + "/hooks/prolific", rate: rate, seed: seed}
}

var submissionStatuses = []string{"ACTIVE", "AWAITING REVIEW", "APPROVED", "RETURNED", "REJECTED", "TIMED-OUT"}
var studyStatuses = []string{"UNPUBLISHED", "ACTIVE", "PAUSED", "AWAITING REVIEW", "COMPLETED"}

func (l *powerLoad) run(ctx context.Context) {
	const workers = 32
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	tick := time.NewTicker(time.Second / time.Duration(l.rate))
	defer tick.Stop()
	jobs := make(chan sendOptions, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for o := range jobs {
				sent := time.Now()
				code, _, err := send(ctx, client, &o)
				if err != nil {
					code = 0
				}
				l.record(powerReq{id: o.eventID, sent: sent, done: time.Now(), code: code})
			}
		})
	}
	rng := rand.New(rand.NewPCG(l.seed, 2))
	studies := make([]string, 12)
	for i := range studies {
		studies[i] = fmt.Sprintf("6650a1b2c3d4e5f6bbbb%04d", i)
	}
	submissions := make([]string, 400)
	for i := range submissions {
		submissions[i] = fmt.Sprintf("6650a1b2c3d4e5f6cccc%04d", i)
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
		o := sendOptions{url: l.url, secret: "crash-secret", timeout: 5 * time.Second}
		switch r := rng.IntN(100); {
		case r < 5:
			l.mu.Lock()
			if n := len(l.okIDs); n > 0 {
				o.eventID = l.okIDs[rng.IntN(n)] // a redelivery: must be 200 again
			}
			l.mu.Unlock()
			fallthrough
		case r < 80:
			o.eventType = prolific.EventSubmissionStatusChange
			o.resourceID = submissions[rng.IntN(len(submissions))]
			o.participantID = "p-" + o.resourceID
			o.status = submissionStatuses[rng.IntN(len(submissionStatuses))]
		default:
			o.eventType = prolific.EventStudyStatusChange
			o.resourceID = studies[rng.IntN(len(studies))]
			o.status = studyStatuses[rng.IntN(len(studyStatuses))]
		}
		select {
		case jobs <- o:
		case <-ctx.Done():
			break loop
		}
	}
	close(jobs)
	wg.Wait()
}

func (l *powerLoad) record(r powerReq) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.log = append(l.log, r)
	if r.code >= 200 && r.code < 300 {
		l.okIDs = append(l.okIDs, r.id)
	}
}

func (l *powerLoad) acked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, id := range l.okIDs {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func (l *powerLoad) okCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.okIDs)
}

func (l *powerLoad) requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.log)
}

func (l *powerLoad) codes() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[int]int{}
	for _, r := range l.log {
		m[r.code]++
	}
	return m
}

// okBetween lists the IDs of deliveries sent after from and acknowledged
// before to.
func (l *powerLoad) okBetween(from, to time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.log {
		if r.code >= 200 && r.code < 300 && r.sent.After(from) && r.done.Before(to) {
			out = append(out, r.id)
		}
	}
	return out
}

func (l *powerLoad) okSince(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.log {
		if r.code >= 200 && r.code < 300 && r.sent.After(t) {
			n++
		}
	}
	return n
}

func (l *powerLoad) count503Since(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.log {
		if r.code == http.StatusServiceUnavailable && r.sent.After(t) {
			n++
		}
	}
	return n
}
