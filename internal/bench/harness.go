package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/prolific-receiver/receiver/internal/loadgen"
)

// harness is one benchmark run: its work directory (removed at the end),
// the binaries it built, the signing secret, the servers it started.
type harness struct {
	cfg      Config
	log      io.Writer
	work     string
	receiver string // the built receiver
	ceiling  string // the built bench/ceiling
	loadgen  []string
	secret   string
	hz       float64
	outputs  string // the down output's outputs file
	pg       *postgres
	servers  []*server
	runs     []*Run
}

// server is a process the harness started; done closes when it has exited.
type server struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (h *harness) logf(format string, a ...any) {
	fmt.Fprintf(h.log, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
}

// newHarness makes the work directory, builds the receiver and the
// ceiling, draws a signing secret and pre-signs the closed loops' requests.
func newHarness(ctx context.Context, cfg Config, log io.Writer) (*harness, error) {
	work, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, log: log, work: work, hz: clockTicks()}
	h.receiver, h.ceiling = filepath.Join(work, "receiver"), filepath.Join(work, "ceiling")
	h.logf("building receiver and ceiling")
	for pkg, out := range map[string]string{"./cmd/receiver": h.receiver, "./bench/ceiling": h.ceiling} {
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			return h, fmt.Errorf("go build %s: %v: %s", pkg, err, out)
		}
	}
	h.loadgen = cfg.Loadgen
	if len(h.loadgen) == 0 {
		h.loadgen = []string{h.receiver, "loadgen"}
	}
	var key [24]byte
	_, _ = rand.Read(key[:])
	h.secret = hex.EncodeToString(key[:]) // never logged
	h.outputs = filepath.Join(work, "outputs-down.yaml")
	if err := h.writeDownOutput(); err != nil {
		return h, err
	}
	h.logf("pre-signing 2 x %d requests", cfg.Presigned)
	for _, set := range []string{"a", "b"} {
		if err := h.presign(filepath.Join(work, "presigned-"+set)); err != nil {
			return h, fmt.Errorf("pre-signing: %w", err)
		}
	}
	return h, nil
}

// presign writes one set of unique pre-signed requests, a file per wrk
// thread. Each receiver starts on an empty database, so every round
// replays the same sets; the second closed loop has its own set, so it
// does not replay the first's events as duplicates.
func (h *harness) presign(prefix string) error {
	ws := make([]io.Writer, h.cfg.WrkThreads)
	var files []*os.File
	var bufs []*bufio.Writer
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for i := range ws {
		f, err := os.Create(fmt.Sprintf("%s.%d", prefix, i))
		if err != nil {
			return err
		}
		files = append(files, f)
		bufs = append(bufs, bufio.NewWriterSize(f, 1<<20))
		ws[i] = bufs[i]
	}
	err := loadgen.Presign(ws, loadgen.PresignConfig{Target: "http://127.0.0.1/hooks/prolific",
		Secret: h.secret, Count: h.cfg.Presigned, End: time.Now()})
	for _, b := range bufs {
		if err == nil {
			err = b.Flush()
		}
	}
	return err
}

// writeDownOutput writes an outputs file (docs/outputs.md) with one HTTP
// output for every event whose destination is down (nothing listens on its
// port): each event gets an outbox row and the worker keeps failing.
func (h *harness) writeDownOutput() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	yaml := fmt.Sprintf(`outputs:
  - name: down
    type: http
    filter:
      event_types: ["*"]
    http:
      url: http://127.0.0.1:%d/hooks
      secret: whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
      timeout: 2s
`, port)
	return os.WriteFile(h.outputs, []byte(yaml), 0o600)
}

// start starts cmd with its output appended to logfile and records it.
func (h *harness) start(cmd *exec.Cmd, logfile string) (*server, error) {
	f, err := os.OpenFile(logfile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	s := &server{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(s.done)
	}()
	h.servers = append(h.servers, s)
	return s, nil
}

// stop stops s (SIGTERM, then SIGKILL after 10 s) and forgets it.
func (h *harness) stop(s *server) {
	stopProcess(s.cmd, s.done)
	for i, o := range h.servers {
		if o == s {
			h.servers = append(h.servers[:i], h.servers[i+1:]...)
			break
		}
	}
}

// cleanup stops every server still running, drops the PostgreSQL schema
// and removes the work directory.
func (h *harness) cleanup() {
	for len(h.servers) > 0 {
		h.stop(h.servers[len(h.servers)-1])
	}
	if h.pg != nil {
		h.pg.close()
	}
	os.RemoveAll(h.work)
}
