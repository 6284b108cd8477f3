package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/delivery"
	"github.com/prolific-receiver/receiver/internal/flagset"
	"github.com/prolific-receiver/receiver/internal/prolific"
)

// sendOptions are the flags of `receiver send`.
type sendOptions struct {
	url, secret, eventType, resourceID, status, participantID, eventID string
	timeout                                                            time.Duration
}

// sendUsage is `receiver send -h`.
const sendUsage = "usage: receiver send [flags]\n\nSigns a sample event exactly as Prolific does and posts it to a receiver.\n\nflags:"

func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagset.New("send", sendUsage, stderr)
	var o sendOptions
	var secretFile string
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8080/hooks/prolific", "receiver webhook URL")
	fs.StringVar(&o.secret, "secret", "", "signing secret (default: $PROLIFIC_WEBHOOK_SECRET)")
	fs.StringVar(&secretFile, "secret-file", "", "read the signing secret from this file")
	fs.StringVar(&o.eventType, "type", prolific.EventSubmissionStatusChange, "event type: "+strings.Join(prolific.EventTypes, ", "))
	fs.StringVar(&o.resourceID, "resource-id", "", "resource ID (default: random)")
	fs.StringVar(&o.status, "status", "", "new status (default: AWAITING REVIEW for submissions, ACTIVE for studies)")
	fs.StringVar(&o.participantID, "participant-id", "", "participant ID for submission events (default: random)")
	fs.StringVar(&o.eventID, "event-id", "", "X-Event-ID (default: random; reuse one to test deduplication)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "request timeout")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.secret == "" && secretFile != "" {
		b, err := os.ReadFile(secretFile)
		if err != nil {
			return fmt.Errorf("send: -secret-file: %w", err)
		}
		o.secret = strings.TrimRight(string(b), "\r\n")
	}
	if o.secret == "" {
		o.secret = os.Getenv("PROLIFIC_WEBHOOK_SECRET")
	}
	if o.secret == "" {
		return usageError{"send: no secret: pass -secret, -secret-file or set PROLIFIC_WEBHOOK_SECRET"}
	}
	status, body, err := send(ctx, http.DefaultClient, &o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s -> %d %s\n", o.eventType, o.eventID, status, strings.TrimSpace(string(body)))
	if status < 200 || status > 299 {
		return fmt.Errorf("send: receiver answered %d", status)
	}
	return nil
}

// send fills defaults in o, posts one signed event and returns the answer.
func send(ctx context.Context, c *http.Client, o *sendOptions) (int, []byte, error) {
	if o.resourceID == "" {
		o.resourceID = delivery.NewID()
	}
	if o.participantID == "" {
		o.participantID = delivery.NewID()
	}
	if o.eventID == "" {
		o.eventID = delivery.NewID()
	}
	if o.status == "" {
		o.status = "ACTIVE"
		if o.eventType == prolific.EventSubmissionStatusChange {
			o.status = "AWAITING REVIEW"
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	now := time.Now()
	body := delivery.Sample(o.eventType, o.resourceID, o.status, o.participantID)
	req, err := delivery.NewRequest(ctx, o.url, o.secret, body, delivery.Headers{EventID: o.eventID, EventTime: now, SentAt: now})
	if err != nil {
		return 0, nil, fmt.Errorf("send: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("send: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, answer, nil
}
