package sqlite

import "time"

// SetOwnerWait sets how long Open waits for another owner of the file, for
// the duration of a test; it returns the restore function.
func SetOwnerWait(d time.Duration) func() {
	old := ownerWait
	ownerWait = d
	return func() { ownerWait = old }
}
