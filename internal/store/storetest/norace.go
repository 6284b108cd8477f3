//go:build !race

package storetest

// raceEnabled is false without the race detector: the suite runs full loads.
const raceEnabled = false
