//go:build race

package media

// raceOn tells the package's own tests the race detector runs.
const raceOn = true
