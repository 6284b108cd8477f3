package postgres

import "time"

// SetFeedWait changes how long d's change-feed reads wait for running
// transactions.
func SetFeedWait(d *DB, wait time.Duration) { d.feedWait = wait }
