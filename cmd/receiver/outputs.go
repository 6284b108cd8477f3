package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/prolific-receiver/receiver/internal/flagset"
	"github.com/prolific-receiver/receiver/internal/handlers"
)

const outputsUsage = `usage: receiver outputs [flags] [list]
       receiver outputs [flags] retry NAME [-dead-letters]
       receiver outputs [flags] pause NAME | resume NAME
       receiver outputs [flags] dead-letters NAME

Shows and steers a running receiver's outputs (docs/outputs.md):
  list          each output's pending events, oldest pending age and dead letters
  retry         make NAME's waiting events due now; with -dead-letters, queue its
                dead letters again (their maximum age starts afresh)
  pause/resume  stop or restart NAME's deliveries on every replica; resume also
                re-enables an output its destination disabled with 410 Gone
  dead-letters  print NAME's dead letters as JSON lines

flags:`

// runOutputs is `receiver outputs`.
func runOutputs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flagset.New("outputs", outputsUsage, stderr)
	var adminURL, token string
	adminFlags(fs, &adminURL, &token)
	timeout := fs.Duration("timeout", 10*time.Second, "request timeout")
	asJSON := fs.Bool("json", false, "list: print the outputs as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	token = adminToken(token)
	c := &http.Client{Timeout: *timeout}
	verb, rest := "list", fs.Args()
	if len(rest) > 0 {
		verb, rest = rest[0], rest[1:]
	}
	call := func(method, path string, out any) error {
		return adminJSON(ctx, c, method, adminURL, path, token, "outputs "+verb, out)
	}
	switch verb {
	case "list":
		if len(rest) > 0 {
			return usageError{fmt.Sprintf("outputs list: unexpected argument %q", rest[0])}
		}
		var out handlers.OutputsPage
		if err := call(http.MethodGet, "/api/v1/outputs", &out); err != nil {
			return err
		}
		return printOutputs(stdout, out.Outputs, *asJSON)
	case "retry":
		vs, deadFlag := newRetryFlags()
		vs.SetOutput(stderr)
		name, err := oneName(verb, rest, vs)
		dead := *deadFlag
		if err != nil {
			return err
		}
		var out handlers.RetryOutputResponse
		if err := call(http.MethodPost, "/api/v1/outputs/"+url.PathEscape(name)+fmt.Sprintf("/retry?dead_letters=%t", dead), &out); err != nil {
			return err
		}
		what := "waiting events made due now"
		if dead {
			what = "dead letters queued again"
		}
		fmt.Fprintf(stdout, "%s: %d %s\n", name, out.Retried, what)
		return nil
	case "pause", "resume":
		name, err := oneName(verb, rest, nil)
		if err != nil {
			return err
		}
		if err := call(http.MethodPost, "/api/v1/outputs/"+url.PathEscape(name)+"/"+verb, &handlers.PauseOutputResponse{}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %sd\n", name, verb)
		return nil
	case "dead-letters":
		name, err := oneName(verb, rest, nil)
		if err != nil {
			return err
		}
		return printDeadLetters(stdout, func(after int64) ([]handlers.DeadLetterJSON, int64, error) {
			var page handlers.DeadLettersPage
			err := call(http.MethodGet, fmt.Sprintf("/api/v1/outputs/%s/dead-letters?limit=1000&after=%d", url.PathEscape(name), after), &page)
			return page.DeadLetters, page.NextAfter, err
		})
	}
	return usageError{fmt.Sprintf("outputs: unknown command %q (list, retry, pause, resume, dead-letters)", verb)}
}

// newRetryFlags is the flag set of `receiver outputs retry`.
func newRetryFlags() (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet("outputs retry", flag.ContinueOnError)
	return fs, fs.Bool("dead-letters", false, "queue the dead letters again")
}

// oneName reads NAME (and, with fs, its flags before or after it) from rest.
func oneName(verb string, rest []string, fs *flag.FlagSet) (string, error) {
	if fs != nil {
		if err := fs.Parse(rest); err != nil {
			return "", err
		}
		rest = fs.Args()
	}
	if len(rest) == 0 || rest[0] == "" || rest[0][0] == '-' {
		return "", usageError{fmt.Sprintf("outputs %s: name the output: receiver outputs %s NAME", verb, verb)}
	}
	name := rest[0]
	rest = rest[1:]
	if fs != nil {
		if err := fs.Parse(rest); err != nil {
			return "", err
		}
		rest = fs.Args()
	}
	if len(rest) > 0 {
		return "", usageError{fmt.Sprintf("outputs %s: unexpected argument %q", verb, rest[0])}
	}
	return name, nil
}

// printOutputs writes outputs as JSON or as a table.
func printOutputs(w io.Writer, outs []handlers.OutputJSON, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(outs)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATE\tPENDING\tOLDEST\tDEAD\tDESTINATION")
	for _, o := range outs {
		state := "running"
		switch {
		case !o.Configured:
			state = "not configured"
		case o.Disabled != "":
			state = "disabled (" + o.Disabled + ")"
		case o.Paused:
			state = "paused"
		}
		oldest := "-"
		if o.OldestPendingAt != nil {
			oldest = (time.Duration(o.OldestPendingAgeS) * time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%s\n", o.Name, orDash(o.Type), state, o.Pending, oldest, o.DeadLetters, orDash(o.Destination))
	}
	return tw.Flush()
}

// printDeadLetters writes every dead letter as a JSON line, page by page.
func printDeadLetters(w io.Writer, page func(after int64) ([]handlers.DeadLetterJSON, int64, error)) error {
	enc := json.NewEncoder(w)
	for after := int64(0); ; {
		items, next, err := page(after)
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		if len(items) == 0 || next == after {
			return nil
		}
		after = next
	}
}
