package postgres

import (
	"context"
	"time"

	"github.com/prolific-receiver/receiver/internal/store"
)

// SetFeedWait changes how long d's change-feed reads wait for running
// transactions.
func SetFeedWait(d *DB, wait time.Duration) { d.feedWait = wait }

// Commit stores events in one batch transaction, as the batcher would.
func Commit(ctx context.Context, d *DB, events []*store.Event) ([]store.Outcome, error) {
	return d.commit(ctx, events)
}
