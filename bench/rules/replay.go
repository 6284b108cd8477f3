package main

import (
	"context"
	"database/sql"
	"fmt"
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
func replay(ctx context.Context, cfg config, v variant, dir string, env []string, res *result) error {
	dbPath := ""
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "RECEIVER_STORE=sqlite:"); ok {
			dbPath = p
		}
	}
	rw, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	_, err = rw.ExecContext(ctx, `INSERT INTO rule_cursor (name, seq) SELECT 'events', coalesce(min(seq), 1) - 1 FROM events WHERE true
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`)
	rw.Close()
	if err != nil {
		return fmt.Errorf("placing the rules cursor: %w", err)
	}
	// Each measured start follows an unmeasured one: the first start after
	// a run recovers and checkpoints the WAL that run left.
	if err := warm(ctx, v.bin, dir, env); err != nil {
		return err
	}
	start := time.Now()
	srv, err := startServer(ctx, v.bin, dir, append(env, "RECEIVER_RULES_FILE="+cfg.work+"/rules.yaml"))
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		srv.stop()
		return err
	}
	defer db.Close()
	var r result
	err = drain(ctx, cfg, db, true, start, &r)
	withRules := cpu(srv.pid)
	wall := time.Since(start)
	srv.stop()
	if err != nil {
		return err
	}
	if !r.drained {
		return fmt.Errorf("replay: the engine had not caught up after %s", cfg.drainMax)
	}
	if err := warm(ctx, v.bin, dir, env); err != nil {
		return err
	}
	start = time.Now()
	srv, err = startServer(ctx, v.bin, dir, env)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(start.Add(wall))):
	}
	idle := cpu(srv.pid)
	srv.stop()
	res.engine = withRules - idle
	res.replayLag = r.lag
	return nil
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
