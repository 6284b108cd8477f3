package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/prolific-receiver/receiver/internal/handlers"
	"github.com/prolific-receiver/receiver/internal/outputs"
	"github.com/prolific-receiver/receiver/internal/rules"
	"github.com/prolific-receiver/receiver/internal/store"
)

const rulesUsage = `usage: receiver rules check FILE
       receiver rules test FILE -event EVENT.json
       receiver rules history [flags]

Works with rules files (docs/rules.md):
  check    validate FILE without starting: every mistake named with its line
           (${VAR} are read from the environment, as the receiver would)
  test     print what the event in EVENT.json (Prolific's webhook body; a
           "study_id" field may say which study a submission belongs to) would
           trigger: each rule, its decision key, whether it would be sent under
           RECEIVER_ACTIONS, the request or message
  history  list a running receiver's rule actions, newest first (the audit)

flags:`

// runRules is `receiver rules`.
func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var adminURL, token string
	adminFlags(fs, &adminURL, &token)
	eventFile := fs.String("event", "", "test: the event to try (JSON)")
	rule := fs.String("rule", "", "history: only this rule's actions")
	study := fs.String("study", "", "history: only actions about this study")
	outcome := fs.String("outcome", "", "history: only this outcome (pending, dry-run, done, failed, skipped)")
	limit := fs.Int("limit", 50, "history: at most this many (1-1000)")
	before := fs.Int64("before", 0, "history: only actions with an id below this (paging)")
	asJSON := fs.Bool("json", false, "history: print JSON lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, rulesUsage)
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return usageError{"rules: name a command: check, test or history"}
	}
	verb := args[0]
	// Flags may come before or after FILE.
	var rest []string
	for list := args[1:]; ; {
		if err := fs.Parse(list); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		list = fs.Args()[1:]
	}
	switch verb {
	case "check":
		if len(rest) != 1 {
			return usageError{"rules check: name the rules file"}
		}
		cfg, err := loadRulesFile(rest[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d rule(s), %d notifier(s): ok\n", rest[0], len(cfg.Rules), len(cfg.Notifiers))
		return nil
	case "test":
		return rulesTest(ctx, rest, *eventFile, stdout)
	case "history":
		if len(rest) > 0 {
			return usageError{fmt.Sprintf("rules history: unexpected argument %q", rest[0])}
		}
		q := url.Values{}
		for k, v := range map[string]string{"rule": *rule, "study_id": *study, "outcome": *outcome} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", strconv.Itoa(*limit))
		if *before > 0 {
			q.Set("before", strconv.FormatInt(*before, 10))
		}
		return rulesHistory(ctx, adminURL, adminToken(token), q, *asJSON, stdout)
	}
	fs.Usage()
	return usageError{fmt.Sprintf("rules: unknown command %q (check, test or history)", verb)}
}

// loadRulesFile validates a rules file against the environment's outputs
// file (forward actions name its outputs).
func loadRulesFile(path string) (*rules.Config, error) {
	var names []string
	if f := os.Getenv("RECEIVER_OUTPUTS_FILE"); f != "" {
		outs, err := outputs.Load(f, os.Getenv)
		if err != nil {
			return nil, fmt.Errorf("RECEIVER_OUTPUTS_FILE: %w", err)
		}
		for _, o := range outs {
			names = append(names, o.Name)
		}
	}
	return rules.Load(path, os.Getenv, names)
}

// readTestEvent reads an event for `rules test`: Prolific's webhook body,
// with optional event_id, study_id and source.
func readTestEvent(path string) (*store.Event, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules test: %w", err)
	}
	var in struct {
		EventID       string `json:"event_id"`
		EventType     string `json:"event_type"`
		ResourceID    string `json:"resource_id"`
		Status        string `json:"status"`
		ParticipantID string `json:"participant_id"`
		StudyID       string `json:"study_id"`
		Source        string `json:"source"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return nil, fmt.Errorf("rules test: %s: %w", path, err)
	}
	if in.EventType == "" || in.ResourceID == "" {
		return nil, errors.New("rules test: the event needs event_type and resource_id (Prolific's webhook body)")
	}
	if in.EventID == "" {
		in.EventID = "test-event"
	}
	now := time.Now().UTC()
	return &store.Event{ID: in.EventID, Type: in.EventType, ResourceID: in.ResourceID, Status: in.Status,
		ParticipantID: in.ParticipantID, StudyID: in.StudyID, Source: in.Source, EventTime: now, ReceivedAt: now, Body: b}, nil
}

// rulesTest is `receiver rules test FILE -event EVENT.json`: what the rules
// would decide for the event, and why.
func rulesTest(ctx context.Context, rest []string, eventFile string, stdout io.Writer) error {
	if len(rest) != 1 || eventFile == "" {
		return usageError{"rules test: usage: receiver rules test FILE -event EVENT.json"}
	}
	cfg, err := loadRulesFile(rest[0])
	if err != nil {
		return err
	}
	e, err := readTestEvent(eventFile)
	if err != nil {
		return err
	}
	mode, err := rules.ParseMode(os.Getenv("RECEIVER_ACTIONS"))
	if err != nil {
		return fmt.Errorf("RECEIVER_ACTIONS: %w", err)
	}
	out, err := rules.Explain(ctx, cfg, mode, os.Getenv("RECEIVER_ACTIONS_APPROVE") == "live", e)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, out)
	return nil
}

// rulesHistory is `receiver rules history`: the actions the admin API lists
// for q, as a table or JSON lines.
func rulesHistory(ctx context.Context, adminURL, token string, q url.Values, asJSON bool, stdout io.Writer) error {
	var page handlers.ActionsPage
	c := &http.Client{Timeout: 10 * time.Second}
	if err := getAdminJSON(ctx, c, adminURL, "/api/v1/actions?"+q.Encode(), token, "rules history", &page); err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, a := range page.Actions {
			if err := enc.Encode(a); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDECIDED\tRULE\tACTION\tOUTCOME\tSTUDY\tTARGET\tEVENTS\tREASON / ANSWER")
	for _, a := range page.Actions {
		note := a.Reason
		if a.Outcome == store.ActionDone {
			note = a.Response
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.ID, a.DecidedAt.Format(time.RFC3339), a.Rule, a.Action,
			a.Outcome, a.StudyID, a.Target, a.EventsCount, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.NextBefore > 0 {
		fmt.Fprintf(stdout, "more: receiver rules history -before %d\n", page.NextBefore)
	}
	return nil
}
