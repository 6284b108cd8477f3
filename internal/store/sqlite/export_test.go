package sqlite

import "time"

// SetOwnerWait sets how long Open waits for another owner of the file, for
// the duration of a test; it returns the restore function.
func SetOwnerWait(d time.Duration) func() {
	old := ownerWait
	ownerWait = d
	return func() { ownerWait = old }
}

// SetGatherWAL turns the WAL-gathering VFS on or off for databases opened
// after it, for the duration of a test or benchmark; it returns the restore
// function.
func SetGatherWAL(on bool) func() {
	old := gatherWAL
	gatherWAL = on
	return func() { gatherWAL = old }
}

// SetKeysEvery sets how many events may wait for their keys (eventkeys.go),
// for the duration of a test; it returns the restore function.
func SetKeysEvery(n int64) func() {
	old := keysEvery
	keysEvery = n
	return func() { keysEvery = old }
}
