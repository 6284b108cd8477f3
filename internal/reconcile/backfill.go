package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prolific-receiver/receiver/internal/prolific"
	"github.com/prolific-receiver/receiver/internal/store"
)

// maxLogPages bounds one subscription's paging, whatever Prolific answers.
const maxLogPages = 1000

// backfill reads the delivery log of every subscription req covers and
// stores each event the store does not hold.
func (r *Reconciler) backfill(ctx context.Context, req Request, sum *Summary) error {
	if r.opts.Subscriptions == nil {
		return nil
	}
	subs, err := r.opts.Subscriptions(ctx)
	if err != nil {
		return fmt.Errorf("list subscriptions: %w", err)
	}
	var cursors map[string]time.Time
	if req.Since.IsZero() {
		if cursors, err = r.st.ReconcileMarks(ctx, store.MarkSubscription); err != nil {
			return fmt.Errorf("read cursors: %w", err)
		}
	}
	var errs []error
	found := req.SubscriptionID == ""
	for _, sub := range subs {
		if req.SubscriptionID != "" && sub.ID != req.SubscriptionID {
			continue
		}
		found = true
		if req.StudyID != "" && !store.IsStudyEvent(sub.EventType) {
			continue // submission events name no study; the listing covers them
		}
		since := req.Since
		if since.IsZero() {
			if since, err = r.start(ctx, cursors[sub.ID]); err != nil {
				return err
			}
		}
		if err := r.backfillSubscription(ctx, req, sub, since, sum); err != nil {
			errs = append(errs, fmt.Errorf("subscription %s (%s): %w", sub.ID, sub.EventType, err))
			if ctx.Err() != nil {
				break
			}
		}
	}
	if !found {
		errs = append(errs, fmt.Errorf("subscription %s is not one the receiver manages", req.SubscriptionID))
	}
	return errors.Join(errs...)
}

// start is where a subscription's log is read from: its cursor minus the
// margin; without a cursor (a subscription never read to the end, or a
// store that has never been reconciled), Lookback ago or the arrival of the
// newest event stored before this process started minus the margin,
// whichever is earlier. Nothing stored after the start moves it: a webhook
// arriving just before the first pass says nothing about the deliveries
// that failed while the receiver was down (docs/reconcile.md).
func (r *Reconciler) start(ctx context.Context, cursor time.Time) (time.Time, error) {
	if !cursor.IsZero() {
		return cursor.Add(-r.opts.Margin), nil
	}
	since := r.opts.Now().Add(-r.opts.Lookback)
	before, err := r.newestBeforeStart(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if !before.IsZero() && before.Add(-r.opts.Margin).Before(since) {
		since = before.Add(-r.opts.Margin)
	}
	return since, nil
}

// newestBeforeStart returns the arrival of the newest event stored before
// Options.Started (zero when there is none), read once per Reconciler: the
// answer cannot change, as everything stored later arrived after Started.
// The read walks back from the newest event past those stored since, which
// are few when the first pass runs at start-up, as serve's does.
func (r *Reconciler) newestBeforeStart(ctx context.Context) (time.Time, error) {
	r.baseMu.Lock()
	defer r.baseMu.Unlock()
	if r.baseRead {
		return r.base, nil
	}
	// The stores keep arrival times to the microsecond: an event that
	// arrived after Started but in its microsecond is stored as arriving
	// before it. Comparing with Started cut to the microsecond counts such
	// an event (and one from just before the start) as arriving after, so
	// the pass reaches further back, never less far.
	startedAsStored := r.opts.Started.Truncate(time.Microsecond)
	f := store.EventFilter{Limit: 1}
	for {
		page, err := r.st.Events(ctx, f)
		if err != nil {
			return time.Time{}, fmt.Errorf("read the newest event stored before the start: %w", err)
		}
		for _, e := range page {
			if e.ReceivedAt.Before(startedAsStored) {
				r.base, r.baseRead = e.ReceivedAt, true
				return r.base, nil
			}
		}
		if len(page) < f.Limit {
			r.baseRead = true
			return time.Time{}, nil
		}
		f.BeforeSeq, f.Limit = page[len(page)-1].Seq, store.MaxLimit
	}
}

// backfillSubscription pages through one log from since. Pages overlap by a
// tenth, so an entry that leaves the status filter between two reads (a
// retry succeeded) cannot shift another one past the reader. The cursor
// moves to the pass's start only when every page was read and every event
// stored, and never past an entry that could not be read.
func (r *Reconciler) backfillSubscription(ctx context.Context, req Request, sub Subscription, since time.Time, sum *Summary) error {
	startedAt := r.opts.Now()
	q := prolific.EventsQuery{Limit: r.opts.LogPageSize, ResourceID: req.StudyID}
	if !req.AllStatuses {
		q.Status = []string{prolific.DeliveryFailed, prolific.DeliveryPending}
	}
	overlap := r.opts.LogPageSize / 10
	cursor := startedAt
	seen := map[string]bool{}
	hooks := &webhookCache{byKey: map[string][]store.Event{}}
	for page := 0; page < maxLogPages; page++ {
		if err := r.wait(ctx); err != nil {
			return err
		}
		entries, err := r.api.SubscriptionEvents(ctx, sub.ID, q)
		if err != nil {
			return fmt.Errorf("read delivery log at offset %d: %w", q.Offset, err)
		}
		sum.Pages++
		var todo []prolific.SubscriptionEvent
		for _, e := range entries {
			if seen[e.ID] && e.ID != "" {
				continue // read on the previous page (overlap)
			}
			seen[e.ID] = true
			if !e.Created.IsZero() && e.Created.Before(since) {
				continue
			}
			todo = append(todo, e)
		}
		held, err := r.storeEntries(ctx, req, sub, todo, hooks, sum)
		if !held.IsZero() && held.Before(cursor) {
			cursor = held
		}
		if err != nil {
			return err
		}
		if len(entries) < q.Limit {
			break
		}
		first, last := entries[0].Created, entries[len(entries)-1].Created
		if !first.Before(last) && !last.IsZero() && last.Before(since) {
			break // newest first, and this page reached back past since
		}
		q.Offset += len(entries) - overlap
	}
	if req.full() && !req.DryRun {
		if err := r.st.SetReconcileMark(ctx, store.MarkSubscription, sub.ID, cursor); err != nil {
			return fmt.Errorf("move cursor: %w", err)
		}
	}
	return nil
}

// storeEntries stores a page's entries, Savers at a time. It returns the
// creation time of the oldest entry that could not be read (the cursor
// must stay before it), and the first store error.
func (r *Reconciler) storeEntries(ctx context.Context, req Request, sub Subscription, entries []prolific.SubscriptionEvent,
	hooks *webhookCache, sum *Summary) (time.Time, error) {
	var (
		mu       sync.Mutex
		held     time.Time
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, r.opts.Savers)
	now := r.opts.Now().UTC()
	for _, e := range entries {
		ev, err := fromLog(sub, e, now)
		mu.Lock()
		sum.Found++
		mu.Unlock()
		if err != nil {
			r.opts.Metrics.event(store.SourceAPI, outcomeInvalid)
			r.opts.Log.Warn().Err(err).Str("subscription_id", sub.ID).Str("log_entry_id", safeID(e.ID)).
				Msg("reconcile: delivery-log entry is not a readable Prolific event; skipped, the cursor stays before it")
			mu.Lock()
			sum.Invalid++
			at := e.Created
			if at.IsZero() {
				at = time.Unix(0, 0)
			}
			if held.IsZero() || at.Before(held) {
				held = at
			}
			mu.Unlock()
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			stored, err := r.storeOne(ctx, ev, hooks, req.DryRun)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			case stored:
				sum.Stored++
			default:
				sum.Present++
			}
		})
	}
	wg.Wait()
	return held, firstErr
}

// storeOne stores ev unless the store holds it already: by ID (its own or
// an alias), or as a webhook with another ID but the same type, resource,
// payload and time (see docs/reconcile.md). It reports whether ev was
// (or, in a dry run, would have been) stored.
func (r *Reconciler) storeOne(ctx context.Context, ev *store.Event, hooks *webhookCache, dryRun bool) (bool, error) {
	if _, err := r.st.Event(ctx, ev.ID); err == nil {
		r.opts.Metrics.event(store.SourceAPI, outcomePresent)
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, fmt.Errorf("look up event %s: %w", ev.ID, err)
	}
	match, err := r.matchStored(ctx, ev, hooks)
	if err != nil {
		return false, err
	}
	if match {
		r.opts.Metrics.event(store.SourceAPI, outcomePresent)
		return false, nil
	}
	if dryRun {
		return true, nil
	}
	// Only writes are paced: a pass cut short by its job's timeout finds
	// what it stored present next time and goes on from there quickly.
	if err := r.saves.Wait(ctx); err != nil {
		return false, fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	out, err := r.st.Save(ctx, ev)
	if err != nil {
		r.opts.Metrics.event(store.SourceAPI, outcomeError)
		return false, fmt.Errorf("store event %s: %w", ev.ID, err)
	}
	if out == store.Duplicate {
		r.opts.Metrics.event(store.SourceAPI, outcomePresent)
		return false, nil
	}
	r.opts.Metrics.event(store.SourceAPI, outcomeStored)
	return true, nil
}

// matchStored reports whether the store holds ev as a webhook under another
// ID: an event of the same type about the same resource, within the same
// second, whose body is the same JSON value. (Backfilled events that match
// each other are caught by Save itself: their content hash covers exactly
// these, so the second is a duplicate and its ID an alias.)
func (r *Reconciler) matchStored(ctx context.Context, ev *store.Event, hooks *webhookCache) (bool, error) {
	list, err := hooks.get(ctx, r.st, ev.Type, ev.ResourceID)
	if err != nil {
		return false, err
	}
	want := canonical(ev.Body)
	for _, e := range list {
		d := e.EventTime.Sub(ev.EventTime)
		if d > time.Second || d < -time.Second {
			continue
		}
		if canonical(e.Body) == want {
			return true, nil
		}
	}
	return false, nil
}

// matchWindow is how many of the newest stored events of one type about
// one resource matchStored compares: every event a submission or a study's
// status ever has, and for the stateless study.progress.change pings of a
// busy study the newest 50 (a duplicate ping changes no projection but the
// study's last-event time), so the look-up stays one short index read.
const matchWindow = 50

// webhookCache holds, per event type and resource, the stored webhooks
// matchStored compares with, read once per subscription's pass: a busy
// study's hundreds of progress pings cost one look-up, not one each.
// Webhooks stored while the pass runs are not in it (see docs/reconcile.md).
type webhookCache struct {
	mu    sync.Mutex
	byKey map[string][]store.Event
}

func (c *webhookCache) get(ctx context.Context, st Store, eventType, resourceID string) ([]store.Event, error) {
	key := eventType + "\x00" + resourceID
	c.mu.Lock()
	list, ok := c.byKey[key]
	c.mu.Unlock()
	if ok {
		return list, nil
	}
	all, err := st.Events(ctx, store.EventFilter{Type: eventType, ResourceID: resourceID, Limit: matchWindow})
	if err != nil {
		return nil, fmt.Errorf("look up events of %s: %w", resourceID, err)
	}
	list = []store.Event{}
	for _, e := range all {
		if store.SourceOf(&e) == store.SourceWebhook {
			list = append(list, e)
		}
	}
	c.mu.Lock()
	c.byKey[key] = list
	c.mu.Unlock()
	return list, nil
}

// safeID bounds an ID from the log before it is logged.
func safeID(id string) string {
	if len(id) > 64 {
		id = id[:64]
	}
	return strings.ToValidUTF8(id, "?")
}
