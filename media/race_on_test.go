//go:build race

package media_test

// raceEnabled tells the tests the race detector runs: goroutine stacks
// are larger under it.
const raceEnabled = true
