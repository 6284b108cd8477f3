package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// replay measures the rules engine alone, with no load beside it: the
// engine's CPU is then not blurred by the webhook path's, which varies
// with the host's contention from round to round. After a no-rules round
// it places the rules cursor before the round's first event, starts the
// receiver with the ten rules on that database, and counts its CPU from
// its start until the engine has caught up and settle has passed; then it
// starts the receiver without rules on the same database for as long and
// counts that (start-up and idle). The difference, per stored event, is
// the engine's CPU per event (result.engine).
func replay(ctx context.Context, cfg config, v variant, dir string, env []string, n int, res *result) error {
	dbPath := ""
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "RECEIVER_STORE=sqlite:"); ok {
			dbPath = p
		}
	}
	if cfg.replayBefore == "" {
		var err error
		res.engine, res.replayLag, err = replayOn(ctx, cfg, v.bin, dir, env, dbPath)
		return err
	}
	// -replay-before: the older binary replays a copy of the same database,
	// the two alternating which goes first round by round.
	// Copied by cp, not read here: closing a descriptor of the database
	// file would drop this process's SQLite locks on it (POSIX locks are
	// per process), and its read-only polls would see a stale WAL index.
	copyPath := dbPath + ".before"
	for _, ext := range []string{"", "-wal", "-shm"} {
		if _, err := os.Stat(dbPath + ext); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if out, err := exec.CommandContext(ctx, "cp", dbPath+ext, copyPath+ext).CombinedOutput(); err != nil {
			return fmt.Errorf("copying the database: %v: %s", err, out)
		}
	}
	copyEnv := append(slices.Clone(env), "RECEIVER_STORE=sqlite:"+copyPath)
	runNew := func() (err error) {
		res.engine, res.replayLag, err = replayOn(ctx, cfg, v.bin, dir, env, dbPath)
		return err
	}
	runOld := func() (err error) {
		res.engineBefore, _, err = replayOn(ctx, cfg, cfg.replayBefore, dir, copyEnv, copyPath)
		return err
	}
	first, second := runNew, runOld
	if n%2 == 0 {
		first, second = runOld, runNew
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// replayOn replays the ten rules with bin over the database at dbPath (see
// replay), returning the engine's CPU and how long it took to catch up.
func replayOn(ctx context.Context, cfg config, bin, dir string, env []string, dbPath string) (time.Duration, time.Duration, error) {
	rw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, 0, err
	}
	_, err = rw.ExecContext(ctx, `INSERT INTO rule_cursor (name, seq) SELECT 'events', coalesce(min(seq), 1) - 1 FROM events WHERE true
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`)
	rw.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("placing the rules cursor: %w", err)
	}
	// Each measured start follows an unmeasured one: the first start after
	// a run recovers and checkpoints the WAL that run left.
	if err := warm(ctx, bin, dir, env); err != nil {
		return 0, 0, err
	}
	start := time.Now()
	srv, err := startServer(ctx, bin, dir, append(env, "RECEIVER_RULES_FILE="+cfg.work+"/rules.yaml"))
	if err != nil {
		return 0, 0, err
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		srv.stop()
		return 0, 0, err
	}
	defer db.Close()
	var r result
	err = drain(ctx, cfg, db, true, start, &r)
	withRules := cpu(srv.pid)
	wall := time.Since(start)
	srv.stop()
	if err != nil {
		return 0, 0, err
	}
	if !r.drained {
		var newest, cursor, due int64
		_ = db.QueryRowContext(ctx, `SELECT (SELECT coalesce(max(seq), 0) FROM events), (SELECT coalesce(max(seq), 0) FROM rule_cursor),
			(SELECT count(*) FROM rule_actions WHERE outcome = 'pending')`).Scan(&newest, &cursor, &due)
		return 0, 0, fmt.Errorf("replay (%s): the engine had not caught up after %s (newest %d, cursor %d, pending %d); log: %s",
			bin, cfg.drainMax, newest, cursor, due, tail(filepath.Join(dir, "serve.log")))
	}
	if err := warm(ctx, bin, dir, env); err != nil {
		return 0, 0, err
	}
	start = time.Now()
	srv, err = startServer(ctx, bin, dir, env)
	if err != nil {
		return 0, 0, err
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(start.Add(wall))):
	}
	idle := cpu(srv.pid)
	srv.stop()
	return withRules - idle, r.lag, nil
}

// warm starts the receiver without rules and stops it.
func warm(ctx context.Context, bin, dir string, env []string) error {
	srv, err := startServer(ctx, bin, dir, env)
	if err != nil {
		return err
	}
	srv.stop()
	return nil
}
