//go:build race

package handlers

// raceDetector reports whether the tests run with -race, which changes
// what allocates (and sync.Pool drops a share of what it is given).
const raceDetector = true
