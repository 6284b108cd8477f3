package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/prolific-receiver/receiver/internal/flagset"
	"github.com/prolific-receiver/receiver/internal/handlers"
)

// reconcileUsage is `receiver reconcile -h`.
const reconcileUsage = "usage: receiver reconcile [flags]\n\nRuns one reconciliation pass in a running receiver (docs/reconcile.md): stores the\nevents of Prolific's delivery log it does not hold and corrects submissions from\nProlific's listing. Exits 1 when Prolific could not be read.\n\nflags:"

// runReconcile is `receiver reconcile`: it asks a running receiver (its
// admin API, POST /api/v1/reconcile) to run one reconciliation pass now and
// prints the summary. It goes through the receiver rather than opening
// RECEIVER_STORE itself because an embedded SQLite file admits one
// receiver only, and because the receiver holds the API token, the rate
// limit shared with enrichment and the list of managed subscriptions. It
// exits non-zero when the pass could not read Prolific (or write the
// store), after printing what it did.
func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagset.New("reconcile", reconcileUsage, stderr)
	var adminURL, token string
	adminFlags(fs, &adminURL, &token)
	study := fs.String("study", "", "reconcile only this study: its events in the delivery log and its submissions")
	subscription := fs.String("subscription", "", "backfill only this subscription's delivery log")
	since := fs.Duration("since", 0, "read the delivery logs from this long ago (e.g. 72h) instead of the cursors, and reconcile every study seen since")
	all := fs.Bool("all-statuses", false, "backfill SUCCEEDED deliveries too, not only FAILED and PENDING ones")
	dryRun := fs.Bool("dry-run", false, "show what would change without writing anything")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	timeout := fs.Duration("timeout", 30*time.Minute, "how long the pass may take")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *study != "" && *subscription != "":
		return usageError{"reconcile: give -study or -subscription, not both"}
	case *since < 0:
		return usageError{"reconcile: -since must not be negative"}
	}
	token = adminToken(token)
	q := url.Values{}
	if *study != "" {
		q.Set("study", *study)
	}
	if *subscription != "" {
		q.Set("subscription", *subscription)
	}
	if *since > 0 {
		q.Set("since", since.String())
	}
	if *all {
		q.Set("all_statuses", "true")
	}
	if *dryRun {
		q.Set("dry_run", "true")
	}
	res, err := postReconcile(ctx, &http.Client{Timeout: *timeout}, adminURL, token, q)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printReconcile(stdout, res)
	}
	if res.Error != "" {
		return errors.New("reconcile: " + res.Error)
	}
	return nil
}

// postReconcile calls POST /api/v1/reconcile; a 502 still carries a summary.
func postReconcile(ctx context.Context, c *http.Client, adminURL, token string, q url.Values) (handlers.ReconcileResponse, error) {
	var out handlers.ReconcileResponse
	path := "/api/v1/reconcile"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	err := adminJSON(ctx, c, http.MethodPost, adminURL, path, token, "reconcile", &out, http.StatusOK, http.StatusBadGateway)
	return out, err
}

// printReconcile writes the summary as a few aligned lines.
func printReconcile(w io.Writer, res handlers.ReconcileResponse) {
	s := res.Summary
	verb := "stored"
	fix := "corrections"
	if s.DryRun {
		verb, fix = "would store", "would correct"
	}
	fmt.Fprintf(w, "pages read       %d\n", s.Pages)
	fmt.Fprintf(w, "events found     %d\n", s.Found)
	fmt.Fprintf(w, "%-16s %d\n", verb, s.Stored)
	fmt.Fprintf(w, "already present  %d\n", s.Present)
	if s.Invalid > 0 {
		fmt.Fprintf(w, "unreadable       %d\n", s.Invalid)
	}
	fmt.Fprintf(w, "studies checked  %d\n", s.Studies)
	fmt.Fprintf(w, "%-16s %s\n", fix, strconv.Itoa(s.Corrections))
	for _, e := range s.Errors {
		fmt.Fprintf(w, "error            %s\n", e)
	}
}
