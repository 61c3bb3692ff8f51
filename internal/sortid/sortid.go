// Package sortid makes ids that sort by time as plain strings and are safe as file names and
// URL path segments: 20261125T074512123Z-1a2b3c4d. Voicemail messages and call history records
// use them as bbolt keys, so "newest first" is a reverse key scan.
package sortid

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"
)

// layout is the time part up to the seconds; the milliseconds and a 'Z' follow. There is no '.'
// before the milliseconds (unlike RFC 3339) because ids must be bare file names and Valid
// rejects dots; Go layouts only know fractional seconds after a '.' or ',', hence the separate
// formatting.
const layout = "20060102T150405"

// MaxLen bounds ids accepted from outside; generated ids are 28 characters.
const MaxLen = 64

// Generator hands out ids whose times strictly increase (bumped by a millisecond on a tie or a
// clock step back), so two ids made in the same millisecond still sort in the order they were
// made; the random suffix keeps ids unique across restarts that step the clock back. The zero
// value is ready to use.
type Generator struct {
	mu   sync.Mutex
	last time.Time
}

// New returns a fresh id for the time now, and the time it encodes.
func (g *Generator) New(now time.Time) (string, time.Time) {
	now = now.UTC().Truncate(time.Millisecond)
	g.mu.Lock()
	if !now.After(g.last) {
		now = g.last.Add(time.Millisecond)
	}
	g.last = now
	g.mu.Unlock()

	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	ms := now.Nanosecond() / int(time.Millisecond)
	return fmt.Sprintf("%s%03dZ-%s", now.Format(layout), ms, hex.EncodeToString(b[:])), now
}

// Valid reports whether id is safe as a file name and a URL path segment: 1 to MaxLen ASCII
// letters, digits, '-' or '_'. Anything else, notably '/', '\\' and '.', could name a file
// outside its folder.
func Valid(id string) bool {
	if len(id) == 0 || len(id) > MaxLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// Time returns the time an id made by New encodes.
func Time(id string) (time.Time, error) {
	if len(id) < len(layout)+4 || id[len(layout)+3] != 'Z' {
		return time.Time{}, fmt.Errorf("sortid: %q holds no time", id)
	}
	t, err := time.Parse(layout, id[:len(layout)])
	if err != nil {
		return time.Time{}, fmt.Errorf("sortid: %q: %w", id, err)
	}
	var ms int
	if _, err := fmt.Sscanf(id[len(layout):len(layout)+3], "%03d", &ms); err != nil {
		return time.Time{}, fmt.Errorf("sortid: %q: milliseconds: %w", id, err)
	}
	return t.Add(time.Duration(ms) * time.Millisecond), nil
}
