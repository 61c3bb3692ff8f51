//go:build race

package srtp

// raceEnabled skips allocation counts: the race detector allocates on its own.
const raceEnabled = true
