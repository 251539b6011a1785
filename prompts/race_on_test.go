//go:build race

package prompts

// raceEnabled tells the tests the race detector runs: it slows
// long decodes.
const raceEnabled = true
