//go:build !race

package media

// raceEnabled skips allocation counts: the race detector allocates on its own.
const raceEnabled = false
