// Command lab-consumer is the worked example of a lab's own endpoint for
// the receiver's HTTP outputs (README.md "Acting on events"): it verifies
// each delivery's Standard Webhooks signature with the off-the-shelf
// library, ignores a redelivery of an event it already handled (delivery
// is at least once, always under the event's own webhook-id), and prints
// each new event as a JSON line.
//
//	FORWARD_SECRET=whsec_... lab-consumer -addr :8088
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lab-consumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab-consumer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", ":8088", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := getenv("FORWARD_SECRET")
	if path := getenv("FORWARD_SECRET_FILE"); path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("FORWARD_SECRET_FILE: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	h, err := newHandler(secret, stdout)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(stderr, "lab-consumer listening on %s\n", *addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// event is the part of the receiver's message this consumer reads; the
// whole message is in docs/outputs.md.
type event struct {
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	StudyID   string          `json:"study_id"`
	Status    string          `json:"status"`
	Body      json.RawMessage `json:"body"`
}

// handler verifies, deduplicates and prints deliveries.
type handler struct {
	hook *standardwebhooks.Webhook
	mu   sync.Mutex
	seen map[string]bool // a real consumer keeps this in its database
	out  io.Writer
}

func newHandler(secret string, out io.Writer) (*handler, error) {
	hook, err := standardwebhooks.NewWebhook(secret)
	if err != nil || secret == "" {
		return nil, errors.New("set FORWARD_SECRET (or FORWARD_SECRET_FILE) to the output's whsec_ secret")
	}
	return &handler{hook: hook, seen: map[string]bool{}, out: out}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20))
	if err != nil {
		http.Error(w, "cannot read body", http.StatusBadRequest)
		return
	}
	// Checks the signature and that webhook-timestamp is within 5 minutes.
	if err := h.hook.Verify(body, r.Header); err != nil {
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var e event
	if err := json.Unmarshal(body, &e); err != nil {
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	dup := h.seen[e.EventID]
	h.seen[e.EventID] = true
	h.mu.Unlock()
	if !dup {
		// Act on the event here: e.g. when a submission is AWAITING REVIEW,
		// queue it for review in the lab's app.
		line, _ := json.Marshal(e)
		fmt.Fprintln(h.out, string(line))
	}
	w.WriteHeader(http.StatusNoContent) // 2xx: delivered, also for a duplicate
}
