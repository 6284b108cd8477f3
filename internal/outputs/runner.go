package outputs

import (
	"context"
	"fmt"
	"sync"

	"github.com/prolific-receiver/receiver/internal/store"
)

// Runner runs one worker per configured output.
type Runner struct {
	workers []*Worker
	dests   []Destination
}

// NewDestination builds out's destination; name identifies the receiver
// to it (User-Agent, NATS client name).
func NewDestination(out Output, name string) (Destination, error) {
	switch out.Type {
	case "http":
		return NewHTTP(out.HTTP, name, nil), nil
	case "nats":
		n, err := DialNATS(out.NATS, name)
		if err != nil {
			return nil, fmt.Errorf("output %q: %w", out.Name, err)
		}
		return n, nil
	}
	return nil, fmt.Errorf("output %q: unknown type %q", out.Name, out.Type)
}

// NewRunner builds a worker for each of outs on st; opts apply to each
// (Owner is shared: one name per process).
func NewRunner(st Store, outs []Output, name string, opts Options) (*Runner, error) {
	r := &Runner{}
	for _, o := range outs {
		d, err := NewDestination(o, name)
		if err != nil {
			r.close()
			return nil, err
		}
		r.dests = append(r.dests, d)
		r.workers = append(r.workers, NewWorker(st, o, d, opts))
	}
	return r, nil
}

// Notify wakes every idle worker: events were stored.
func (r *Runner) Notify() {
	for _, w := range r.workers {
		w.Notify()
	}
}

// Saver stores an event; store.Store satisfies it.
type Saver interface {
	Save(ctx context.Context, e *store.Event) (store.Outcome, error)
}

// WakeOnSave wraps s so that each event it stores wakes the workers, and
// a delivery does not wait for the next poll. The wake never blocks.
func (r *Runner) WakeOnSave(s Saver) Saver { return wakingSaver{s, r} }

type wakingSaver struct {
	Saver
	r *Runner
}

func (w wakingSaver) Save(ctx context.Context, e *store.Event) (store.Outcome, error) {
	out, err := w.Saver.Save(ctx, e)
	if err == nil && out == store.Stored {
		w.r.Notify()
	}
	return out, err
}

// Run runs the workers until ctx ends, then closes the destinations.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Go(func() { _ = w.Run(ctx) })
	}
	wg.Wait()
	r.close()
}

func (r *Runner) close() {
	for _, d := range r.dests {
		_ = d.Close() // nothing is pending on a destination once its worker returned
	}
}
