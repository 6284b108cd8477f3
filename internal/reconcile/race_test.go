//go:build race

package reconcile_test

// raceEnabled: timing measurements mean nothing under the race detector.
const raceEnabled = true
