package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prolific-receiver/receiver/internal/ctxwait"
	"github.com/prolific-receiver/receiver/internal/flagset"
	"github.com/prolific-receiver/receiver/internal/handlers"
)

// eventsOptions are the flags of `receiver events`.
type eventsOptions struct {
	adminURL, token                string
	after                          int64
	cursorFile                     string
	follow                         bool
	interval, timeout              time.Duration
	limit                          int
	bodies                         bool
	eventType, resourceID, studyID string
}

// eventsUsage is `receiver events -h`.
const eventsUsage = "usage: receiver events [flags]\n\nPrints a running receiver's stored events as JSON lines, oldest first, from its change feed.\n\nflags:"

// runEvents is `receiver events`: it prints a running receiver's stored
// events as JSON lines, oldest first, from its change feed
// (GET /api/v1/events?after=SEQ), and with -follow keeps printing new ones
// until ctx is done. With -cursor-file it resumes after the last event it
// printed, so a restart neither skips nor (unless it died between printing
// and saving) repeats events.
func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagset.New("events", eventsUsage, stderr)
	var o eventsOptions
	adminFlags(fs, &o.adminURL, &o.token)
	fs.Int64Var(&o.after, "after", 0, "print events after this seq (0: from the oldest stored)")
	fs.StringVar(&o.cursorFile, "cursor-file", "", "file holding the last seq printed: read at start (instead of -after), rewritten after each page")
	fs.BoolVar(&o.follow, "follow", false, "keep printing new events until interrupted")
	fs.DurationVar(&o.interval, "interval", time.Second, "with -follow, how often to ask once caught up")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "request timeout")
	fs.IntVar(&o.limit, "limit", 1000, "events per request (1 to 1000)")
	fs.BoolVar(&o.bodies, "body", true, "include each event's body (the webhook's JSON)")
	fs.StringVar(&o.eventType, "event-type", "", "only events of this type")
	fs.StringVar(&o.resourceID, "resource-id", "", "only events about this study or submission")
	fs.StringVar(&o.studyID, "study-id", "", "only events about this study and its submissions")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case o.after < 0:
		return usageError{"events: -after must not be negative"}
	case o.limit < 1 || o.limit > 1000:
		return usageError{"events: -limit must be between 1 and 1000"}
	case o.interval <= 0:
		return usageError{"events: -interval must be positive"}
	}
	o.token = adminToken(o.token)
	if o.cursorFile != "" {
		seq, ok, err := readCursor(o.cursorFile)
		if err != nil {
			return err
		}
		if ok {
			o.after = seq
		}
	}
	client := &http.Client{Timeout: o.timeout}
	out := json.NewEncoder(stdout)
	after := o.after
	for {
		page, err := fetchEventPage(ctx, client, o, after)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !o.follow {
				return err
			}
			// Keep following through a receiver restart.
			fmt.Fprintln(stderr, "receiver events:", err)
		}
		for _, e := range page.Events {
			if err := out.Encode(e); err != nil {
				return fmt.Errorf("events: write: %w", err)
			}
		}
		if len(page.Events) > 0 {
			after = page.Events[len(page.Events)-1].Seq
			if o.cursorFile != "" {
				if err := writeCursor(o.cursorFile, after); err != nil {
					return err
				}
			}
			if len(page.Events) == o.limit || page.More {
				continue // more may be waiting: ask again at once
			}
		}
		if (!o.follow && err == nil) || !ctxwait.Sleep(ctx, o.interval) {
			return nil
		}
	}
}

// eventPage is one answer of the change feed.
type eventPage = handlers.EventsPage

// fetchEventPage reads the events after seq after.
func fetchEventPage(ctx context.Context, c *http.Client, o eventsOptions, after int64) (eventPage, error) {
	q := url.Values{}
	q.Set("after", strconv.FormatInt(after, 10))
	q.Set("limit", strconv.Itoa(o.limit))
	q.Set("body", strconv.FormatBool(o.bodies))
	for k, v := range map[string]string{"event_type": o.eventType, "resource_id": o.resourceID, "study_id": o.studyID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var p eventPage
	if err := getAdminJSON(ctx, c, o.adminURL, "/api/v1/events?"+q.Encode(), o.token, "events", &p); err != nil {
		return eventPage{}, err
	}
	if p.NextAfter == nil {
		return eventPage{}, errors.New("events: the receiver's answer has no next_after: it predates the change feed")
	}
	return p, nil
}

// readCursor returns the seq saved in path; ok is false when the file does
// not exist yet.
func readCursor(path string) (seq int64, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("events: read cursor: %w", err)
	}
	seq, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || seq < 0 {
		return 0, false, fmt.Errorf("events: cursor file %s holds %q, not an event seq", path, strings.TrimSpace(string(b)))
	}
	return seq, true, nil
}

// writeCursor replaces path with seq durably: a temporary file in the same
// directory, fsynced, renamed over it.
func writeCursor(path string, seq int64) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("events: save cursor: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	_, err = fmt.Fprintf(tmp, "%d\n", seq)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("events: save cursor: %w", err)
	}
	return nil
}
