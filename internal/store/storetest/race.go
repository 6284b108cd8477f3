//go:build race

package storetest

// raceEnabled is true under the race detector, which slows pure-Go SQLite
// about twentyfold; the suite then uses smaller loads to stay within budget.
const raceEnabled = true
