package history

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/switchboard-voip/switchboard/internal/sortid"
)

// newID returns a fresh record id and the time it encodes (see sortid).
func (s *Store) newID() (string, time.Time) { return s.ids.New(s.now()) }

// ValidID reports whether id is well formed (see sortid.Valid): every id Add assigns is; ids
// given to Add and the before cursor of List must be.
func ValidID(id string) bool { return sortid.Valid(id) }

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
	for i, s := range r.Skipped {
		switch {
		case !validParty(s.Ext):
			return fmt.Errorf("%w: skipped[%d].ext %q", ErrInvalid, i, s.Ext)
		case s.Why != SkipDND && s.Why != SkipOnCall && s.Why != SkipNoPhone:
			return fmt.Errorf("%w: skipped[%d].why %q", ErrInvalid, i, s.Why)
		case s.Via != "" && !validParty(s.Via), s.By != "" && !validParty(s.By):
			return fmt.Errorf("%w: skipped[%d] names a bad party", ErrInvalid, i)
		case len(s.Reason) > maxTraceLen || len(s.Source) > maxPartyLen || len(s.ViaName) > maxTraceLen:
			return fmt.Errorf("%w: skipped[%d] reason or source too long", ErrInvalid, i)
		}
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
