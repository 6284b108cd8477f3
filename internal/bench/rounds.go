package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // counts the events a SQLite receiver stored
)

// rounds measures ceiling 0, then in round r the receiver on SQLite and on
// PostgreSQL (each without and with the down output, see pair), the
// PostgreSQL floor, and ceiling r. A receiver's ratio in round r is against
// the mean of ceilings r-1 and r, so a machine that got faster or slower
// during the run favours neither side; the targets take the median over
// the rounds.
func (h *harness) rounds(ctx context.Context) error {
	if err := h.ceilingRun(ctx, "ceiling 0"); err != nil {
		return err
	}
	for r := 1; r <= h.cfg.Rounds; r++ {
		if err := h.pair(ctx, "sqlite", r); err != nil {
			return err
		}
		if h.pg != nil {
			if err := h.pair(ctx, "postgres", r); err != nil {
				return err
			}
			h.floor(ctx, fmt.Sprintf("postgres floor %d", r))
		}
		if err := h.ceilingRun(ctx, fmt.Sprintf("ceiling %d", r)); err != nil {
			return err
		}
	}
	if h.pg == nil {
		h.runs = append(h.runs, &Run{Name: "receiver postgres", Failed: "skipped: no PostgreSQL reachable"})
	}
	return nil
}

// pair measures the receiver on store without and with the down output in
// round r: odd rounds run the plain receiver first and even rounds the
// +output one, so neither always follows the heavier run.
func (h *harness) pair(ctx context.Context, store string, r int) error {
	plain := func() error { return h.receiverRun(ctx, store, fmt.Sprintf("receiver %s %d", store, r), "") }
	output := func() error {
		return h.receiverRun(ctx, store, fmt.Sprintf("receiver %s+output %d", store, r), h.outputs)
	}
	first, second := plain, output
	if r%2 == 0 {
		first, second = output, plain
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// ceilingRun measures the bare server.
func (h *harness) ceilingRun(ctx context.Context, name string) error {
	addr, err := loopbackAddr()
	if err != nil {
		return err
	}
	s, err := h.start(exec.Command(h.ceiling, "-addr", addr), filepath.Join(h.work, "ceiling.log"))
	if err != nil {
		return err
	}
	defer h.stop(s)
	if err := waitReady(ctx, "http://"+addr+"/", 10*time.Second); err != nil {
		return fmt.Errorf("ceiling did not start: %w", err)
	}
	run, err := h.measure(ctx, name, "http://"+addr+"/hooks/prolific", s.cmd.Process.Pid, "", "")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	h.runs = append(h.runs, run)
	return nil
}

// receiverRun measures the receiver on store ("sqlite": a new file;
// "postgres": the bench's schema, emptied first) with the outputs file
// outputs (none when empty), then counts the events its database holds.
func (h *harness) receiverRun(ctx context.Context, store, name, outputs string) error {
	var dsn, db string
	switch store {
	case "sqlite":
		db = filepath.Join(h.work, fmt.Sprintf("bench-%d.db", time.Now().UnixNano()))
		dsn = "sqlite:" + db
		defer func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(db + suffix)
			}
		}()
	default:
		ok, err := h.pg.reset(ctx)
		if err != nil {
			return fmt.Errorf("%s: emptying the schema: %w", name, err)
		}
		if !ok {
			h.logf("%s: CHECKPOINT failed (needs superuser or pg_checkpoint): runs may inherit the previous run's WAL", name)
		}
		dsn = h.pg.storeDSN()
	}
	s, listen, admin, err := h.startReceiver(ctx, store, dsn, outputs)
	if err != nil {
		if store == "sqlite" {
			return err
		}
		h.logf("%s: %v", name, err)
		h.runs = append(h.runs, &Run{Name: name, Failed: "did not start"})
		return nil
	}
	dbComm := ""
	if store == "postgres" {
		dbComm = "postgres" // every PostgreSQL server process's command name
	}
	run, err := h.measure(ctx, name, "http://"+listen+"/hooks/prolific", s.cmd.Process.Pid, admin, dbComm)
	h.stop(s)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if store == "sqlite" {
		run.Stored = countSQLite(db)
	} else {
		run.Stored = h.pg.count(ctx)
	}
	h.logStored(run)
	h.runs = append(h.runs, run)
	settle()
	return nil
}

// startReceiver starts `receiver serve` on store and waits until it is
// ready (30 s at most), with outputs as RECEIVER_OUTPUTS_FILE when set.
func (h *harness) startReceiver(ctx context.Context, kind, store, outputs string) (*server, string, string, error) {
	listen, err := loopbackAddr()
	if err != nil {
		return nil, "", "", err
	}
	admin, err := loopbackAddr()
	if err != nil {
		return nil, "", "", err
	}
	cmd := exec.Command(h.receiver, "serve")
	for _, kv := range os.Environ() {
		switch name, _, _ := strings.Cut(kv, "="); name {
		case "PROLIFIC_API_TOKEN", "PROLIFIC_WEBHOOK_SECRET_FILE", "RECEIVER_ADMIN_TOKEN", "RECEIVER_OUTPUTS_FILE":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "RECEIVER_LISTEN_ADDR="+listen, "RECEIVER_ADMIN_ADDR="+admin, "RECEIVER_STORE="+store,
		"PROLIFIC_WEBHOOK_SECRET="+h.secret, "RECEIVER_BOOTSTRAP=false", "RECEIVER_LOG_LEVEL=warn")
	if outputs != "" {
		cmd.Env = append(cmd.Env, "RECEIVER_OUTPUTS_FILE="+outputs)
	}
	logfile := filepath.Join(h.work, kind+".log")
	s, err := h.start(cmd, logfile)
	if err != nil {
		return nil, "", "", err
	}
	if err := waitReady(ctx, "http://"+admin+"/readyz", 30*time.Second); err != nil {
		h.stop(s)
		b, _ := os.ReadFile(logfile)
		return nil, "", "", fmt.Errorf("receiver (%s) not ready within 30 s; last log lines:\n%s", kind, lastLines(string(b), 20))
	}
	return s, listen, admin, nil
}

// countSQLite returns the events the SQLite file holds, or -1.
func countSQLite(path string) int64 {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return -1
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT count(*) FROM events").Scan(&n); err != nil {
		return -1
	}
	return n
}

func (h *harness) logStored(r *Run) {
	if r.Stored < 0 {
		h.logf("%s: stored events could not be counted", r.Name)
		return
	}
	h.logf("%s: %d answered 2xx, %d events in the database", r.Name, r.Acked(), r.Stored)
}

// settle writes back what the last run left dirty in the page cache, so
// that the kernel's delayed write-back does not land in the next run and
// stall its fsyncs (a PostgreSQL run after a SQLite one saw 100-200 ms
// stalls in its open loop before this).
func settle() {
	syscall.Sync()
	time.Sleep(time.Second)
}
