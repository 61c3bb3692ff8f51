package history

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
	"unicode/utf8"
)

// idTimeLayout is the time part of an id up to the seconds; the
// milliseconds and a 'Z' follow (20261125T074512123Z), as in voicemail ids.
// It is fixed width and most-significant first, so ids sort by time as
// plain strings and newest first is a reverse key scan.
const idTimeLayout = "20060102T150405"

// maxIDLen bounds ids accepted from outside; ours are 28 characters.
const maxIDLen = 64

// newID returns a fresh id and the time it encodes. Times are strictly
// increasing per Store (bumped by a millisecond on a tie or a clock step
// back), so records added in the same millisecond still list in the order
// they were added; the random suffix keeps ids unique across restarts that
// step the clock back.
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

// ValidID reports whether id is well formed: 1 to 64 ASCII letters,
// digits, '-' or '_'. Every id Add assigns is; ids given to Add and the
// before cursor of List must be.
func ValidID(id string) bool {
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

// validParty reports whether p may name a party (an extension, number or
// feature code): 1 to maxPartyLen bytes, no NUL (the index separator) and
// no other control characters.
func validParty(p string) bool {
	if len(p) == 0 || len(p) > maxPartyLen {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
	}
	return true
}

// validate checks a record Add is about to store; r.ID is set and the
// times are in UTC.
func validate(r *Record) error {
	switch {
	case !ValidID(r.ID):
		return fmt.Errorf("%w: id %q", ErrInvalid, r.ID)
	case !r.Outcome.Valid():
		return fmt.Errorf("%w: outcome %q", ErrInvalid, r.Outcome)
	case !validParty(r.To):
		return fmt.Errorf("%w: to %q", ErrInvalid, r.To)
	case r.From != "" && !validParty(r.From):
		return fmt.Errorf("%w: from %q", ErrInvalid, r.From)
	case r.AnsweredBy != "" && !validParty(r.AnsweredBy):
		return fmt.Errorf("%w: answered_by %q", ErrInvalid, r.AnsweredBy)
	case r.Voicemail != "" && !validParty(r.Voicemail):
		return fmt.Errorf("%w: voicemail %q", ErrInvalid, r.Voicemail)
	case r.Via != "" && !validParty(r.Via):
		return fmt.Errorf("%w: via %q", ErrInvalid, r.Via)
	case !r.Started.IsZero() && r.Ended.Before(r.Started):
		return fmt.Errorf("%w: ended %s before started %s", ErrInvalid, r.Ended, r.Started)
	case r.HeldMS < 0 || r.TalkMS < 0:
		return fmt.Errorf("%w: negative duration (held %d ms, talk %d ms)", ErrInvalid, r.HeldMS, r.TalkMS)
	case r.Code != 0 && (r.Code < 100 || r.Code > 699):
		return fmt.Errorf("%w: SIP code %d", ErrInvalid, r.Code)
	}
	return nil
}

// clampTrace cuts a trace to maxTrace lines of at most maxTraceLen bytes
// (on a rune boundary): a long trace must not cost the call its record.
// It copies, leaving the caller's slice alone.
func clampTrace(trace []string) []string {
	if len(trace) == 0 {
		return nil
	}
	out := make([]string, 0, min(len(trace), maxTrace))
	for _, line := range trace[:min(len(trace), maxTrace)] {
		if len(line) > maxTraceLen {
			cut := maxTraceLen
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			line = line[:cut]
		}
		out = append(out, line)
	}
	return out
}
