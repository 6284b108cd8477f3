package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgres is the database the PostgreSQL runs use: a schema of their own,
// emptied before each run and dropped at the end.
type postgres struct {
	dsn    string
	schema string
	conn   *pgx.Conn
}

// errNoPostgres is returned when no PostgreSQL answers at the DSN.
var errNoPostgres = errors.New("no PostgreSQL reachable")

// openPostgres connects to dsn, or returns errNoPostgres.
func openPostgres(ctx context.Context, dsn string) (*postgres, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dsn)
	if err == nil {
		err = conn.Ping(cctx)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoPostgres, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &postgres{dsn: dsn, schema: "bench_" + hex.EncodeToString(b[:]), conn: conn}, nil
}

// storeDSN is the receiver's RECEIVER_STORE: dsn with search_path set to
// the bench's schema.
func (p *postgres) storeDSN() string {
	sep := "?"
	if strings.Contains(p.dsn, "?") {
		sep = "&"
	}
	return p.dsn + sep + "search_path=" + p.schema
}

// reset empties the schema and checkpoints, so that no run inherits the
// dirty buffers and WAL of the run (or pgbench) before it.
func (p *postgres) reset(ctx context.Context) (checkpointed bool, err error) {
	_, err = p.conn.Exec(ctx, fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", p.schema, p.schema))
	if err != nil {
		return false, err
	}
	_, cerr := p.conn.Exec(ctx, "CHECKPOINT")
	return cerr == nil, nil
}

// count returns the events the schema holds, or -1.
func (p *postgres) count(ctx context.Context) int64 {
	var n int64
	if err := p.conn.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s.events", p.schema)).Scan(&n); err != nil {
		return -1
	}
	return n
}

func (p *postgres) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = p.conn.Exec(ctx, fmt.Sprintf("DROP SCHEMA IF EXISTS %s CASCADE", p.schema))
	_ = p.conn.Close(ctx)
}

// floor measures PostgreSQL's own latency for the least a durable write per
// event costs there: one transaction inserting one 1 KiB row under a random
// text key, driven by pgbench at the open loop's rate for its duration from
// four clients (as many as the receiver's committers), right after the
// receiver's runs of the round. A receiver that commits before it answers
// cannot be much faster than one commit. Latency includes pgbench's
// schedule lag, as the loadgen's does. Skipped without pgbench.
func (h *harness) floor(ctx context.Context, name string) {
	if _, err := exec.LookPath("pgbench"); err != nil {
		return
	}
	d, _ := time.ParseDuration(h.cfg.Duration)
	secs := max(int(d.Seconds()), 1)
	if _, err := h.pg.conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s.floor (id text PRIMARY KEY, body bytea NOT NULL)", h.pg.schema)); err != nil {
		h.logf("%s: could not create the table: skipped", name)
		return
	}
	script := filepath.Join(h.work, "floor-script.sql")
	sql := fmt.Sprintf("INSERT INTO %s.floor (id, body) VALUES (md5(random()::text), convert_to(repeat('x', 1024), 'UTF8'));\n", h.pg.schema)
	prefix := filepath.Join(h.work, "floor-log")
	old, _ := filepath.Glob(prefix + ".*")
	for _, f := range old {
		os.Remove(f)
	}
	if err := os.WriteFile(script, []byte(sql), 0o600); err != nil {
		h.logf("%s: %v", name, err)
		return
	}
	h.logf("%s: pgbench, one-row inserts at %d/s, %ds", name, h.cfg.Rate, secs)
	out, err := exec.CommandContext(ctx, "pgbench", "-n", "-f", script, "-R", strconv.Itoa(h.cfg.Rate), "-T", strconv.Itoa(secs),
		"-c", "4", "-j", "1", "-l", "--log-prefix="+prefix, h.pg.dsn).CombinedOutput()
	if err != nil {
		h.logf("%s: pgbench failed: %s", name, lastLines(string(out), 3))
		return
	}
	lat := pgbenchLatencies(prefix)
	if len(lat) == 0 {
		h.logf("%s: pgbench logged no transactions", name)
		return
	}
	r := &Run{Name: name, Floor: []float64{quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 0.999)}}
	h.runs = append(h.runs, r)
	h.logf("%s: p99 %.2f ms", name, r.Floor[1])
}

// pgbenchLatencies reads pgbench's transaction logs PREFIX.*: per
// transaction its latency plus its schedule lag, in ms, sorted. Columns:
// client, transaction, latency µs, script, epoch s, µs, schedule lag µs.
func pgbenchLatencies(prefix string) []float64 {
	files, _ := filepath.Glob(prefix + ".*")
	var out []float64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			fs := strings.Fields(line)
			if len(fs) < 7 {
				continue
			}
			lat, err1 := strconv.ParseFloat(fs[2], 64)
			lag, err2 := strconv.ParseFloat(fs[6], 64)
			if err1 == nil && err2 == nil {
				out = append(out, (lat+lag)/1000)
			}
		}
	}
	slices.Sort(out)
	return out
}
