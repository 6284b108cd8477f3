package outputs

import (
	"context"
	"fmt"
	"sync"
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
		wopts := opts
		wopts.Log = opts.Log.With().Str("output", o.Name).Logger()
		r.workers = append(r.workers, NewWorker(st, o, d, wopts))
	}
	return r, nil
}

// Notify wakes every idle worker: events were stored.
func (r *Runner) Notify() {
	for _, w := range r.workers {
		w.Notify()
	}
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
