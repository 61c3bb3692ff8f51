package mailbox

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// idTimeLayout is the time part of a message id up to the seconds; the
// milliseconds and a 'Z' follow (20261125T074512123Z). It is fixed width and
// most-significant first, so ids sort by time as plain strings and newest
// first is a reverse key scan in bbolt. There is no '.' before the
// milliseconds (unlike RFC 3339) because ids must be bare file names and URL
// path segments, and validID rejects dots outright; Go layouts only know
// fractional seconds after a '.' or ',', hence the separate formatting.
const idTimeLayout = "20060102T150405"

// maxIDLen bounds ids accepted from outside; ours are 28 characters.
const maxIDLen = 64

// maxBoxLen bounds box names; extensions are far shorter.
const maxBoxLen = 32

// newID returns a fresh id and the time it encodes. Times are strictly
// increasing per Store (bumped by a millisecond on a tie or a clock step
// back), so two messages left in the same millisecond still list in the
// order they were recorded; the random suffix keeps ids unique across
// restarts that step the clock back.
func (s *Store) newID() (string, time.Time) {
	now := s.now().UTC().Truncate(time.Millisecond)
	s.idMu.Lock()
	if !now.After(s.lastID) {
		now = s.lastID.Add(time.Millisecond)
	}
	s.lastID = now
	s.idMu.Unlock()

	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	ms := now.Nanosecond() / int(time.Millisecond)
	return fmt.Sprintf("%s%03dZ-%s", now.Format(idTimeLayout), ms, hex.EncodeToString(b[:])), now
}

// validID reports whether id is safe as a file name and a URL path
// segment: 1 to maxIDLen ASCII letters, digits, '-' or '_'. Anything else,
// notably '/', '\\' and '.', could name a file outside the box's folder.
func validID(id string) bool {
	if len(id) == 0 || len(id) > maxIDLen {
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

// validBox reports whether box is an extension: 1 to maxBoxLen digits.
func validBox(box string) bool {
	if len(box) == 0 || len(box) > maxBoxLen {
		return false
	}
	for i := 0; i < len(box); i++ {
		if box[i] < '0' || box[i] > '9' {
			return false
		}
	}
	return true
}
