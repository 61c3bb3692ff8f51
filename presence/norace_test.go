//go:build !race

package presence

// raceEnabled skips allocation counts and shrinks loads: the race detector allocates and slows.
const raceEnabled = false
