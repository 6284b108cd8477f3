package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prolific-receiver/receiver/internal/ctxwait"
	"github.com/prolific-receiver/receiver/internal/flagset"
	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// studiesOptions are the flags of `receiver studies`.
type studiesOptions struct {
	adminURL, token string
	watch, timeout  time.Duration
	json            bool
}

// clearScreen moves the cursor home and clears the terminal before a redraw.
const clearScreen = "\x1b[H\x1b[2J"

// studiesUsage is `receiver studies -h`.
const studiesUsage = "usage: receiver studies [flags]\n\nShows each study's status, places and submissions from a running receiver's read API.\n\nflags:"

// runStudies is `receiver studies`: it prints the studies a running receiver
// knows, once or (with -watch) redrawn until ctx is done.
func runStudies(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagset.New("studies", studiesUsage, stderr)
	var o studiesOptions
	adminFlags(fs, &o.adminURL, &o.token)
	fs.DurationVar(&o.watch, "watch", 0, "redraw at this interval until interrupted (e.g. 2s); 0 prints once")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "request timeout")
	fs.BoolVar(&o.json, "json", false, "print the studies as JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.watch < 0 {
		return usageError{"studies: -watch must not be negative"}
	}
	o.token = adminToken(o.token)
	client := &http.Client{Timeout: o.timeout}
	for {
		studies, err := fetchStudies(ctx, client, o.adminURL, o.token)
		if err != nil {
			if o.watch > 0 && ctx.Err() != nil {
				return nil
			}
			if o.watch == 0 {
				return err
			}
			// Keep watching through a receiver restart.
			fmt.Fprintln(stderr, "receiver studies:", err)
		} else {
			if o.watch > 0 && !o.json {
				fmt.Fprint(stdout, clearScreen)
				fmt.Fprintf(stdout, "%s  every %s  %d studies\n\n", time.Now().Format(time.TimeOnly), o.watch, len(studies))
			}
			if err := printStudies(stdout, studies, o.json, time.Now()); err != nil {
				return err
			}
		}
		if o.watch == 0 || !ctxwait.Sleep(ctx, o.watch) {
			return nil
		}
	}
}

// fetchStudies reads GET /api/v1/studies.
func fetchStudies(ctx context.Context, c *http.Client, adminURL, token string) ([]handlers.StudyJSON, error) {
	var out handlers.StudiesPage
	if err := getAdminJSON(ctx, c, adminURL, "/api/v1/studies", token, "studies", &out); err != nil {
		return nil, err
	}
	return out.Studies, nil
}

// printStudies writes studies as JSON or as a table.
func printStudies(w io.Writer, studies []handlers.StudyJSON, asJSON bool, now time.Time) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if studies == nil {
			studies = []handlers.StudyJSON{}
		}
		return enc.Encode(handlers.StudiesPage{Studies: studies})
	}
	if len(studies) == 0 {
		_, err := fmt.Fprintln(w, "no studies yet")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tPLACES\tSUBMISSIONS\tLAST EVENT")
	for _, s := range studies {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, orDash(s.Name), orDash(s.Status),
			places(s.PlacesTaken, s.PlacesTotal), submissions(s.SubmissionCounts), age(s.LastEventAt, now))
	}
	return tw.Flush()
}

// barWidth is the number of cells in the places bar.
const barWidth = 10

// places renders e.g. "[###-------] 12/40"; "-" when the total is unknown.
func places(taken, total int) string {
	if total <= 0 {
		if taken > 0 {
			return fmt.Sprintf("%d/?", taken)
		}
		return "-"
	}
	filled := min(barWidth, max(0, taken*barWidth/total))
	return fmt.Sprintf("[%s%s] %d/%d", strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled), taken, total)
}

// submissions renders the non-zero counts in lifecycle order, e.g.
// "ACTIVE 3, AWAITING REVIEW 9".
func submissions(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k, n := range counts {
		if n != 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "-"
	}
	sort.Slice(keys, func(i, j int) bool {
		ri := store.StatusRank(prolific.EventSubmissionStatusChange, keys[i])
		rj := store.StatusRank(prolific.EventSubmissionStatusChange, keys[j])
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ")
}

// age renders how long ago t was, e.g. "42s ago", "5m ago", "3h ago", "2d ago".
func age(t *time.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	d := now.Sub(*t)
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
