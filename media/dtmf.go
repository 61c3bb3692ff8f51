package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadEvent means a telephone-event payload (RFC 4733) is too short to
// hold an event. It is wrapped with the length received.
var ErrBadEvent = errors.New("media: malformed telephone-event payload")

// EventSize is the size of an RFC 4733 telephone-event payload.
const EventSize = 4

// Event is one RFC 4733 §2.3 telephone-event payload: which event, whether
// it has ended, its volume (0 to 63, in -dBm0; senders usually use 10) and its
// duration so far in RTP timestamp units (samples at 8 kHz). All packets of
// one event carry the event's start time as their RTP timestamp.
type Event struct {
	Code     uint8  // 0-9, 10 = '*', 11 = '#', 12-15 = 'A'-'D' for DTMF
	End      bool   // the E bit: this is (a retransmission of) the last packet
	Volume   uint8  // 6 bits; values above 63 are cut to 6 bits
	Duration uint16 // samples since the event started
}

// MarshalTo writes e into the first EventSize bytes of b and returns
// EventSize, or fails if b is too short. It does not allocate.
func (e Event) MarshalTo(b []byte) (int, error) {
	if len(b) < EventSize {
		return 0, fmt.Errorf("%w: buffer of %d bytes", ErrBadEvent, len(b))
	}
	b[0] = e.Code
	b[1] = e.Volume & 0x3f
	if e.End {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], e.Duration)
	return EventSize, nil
}

// Unmarshal reads an event from an RTP payload. Extra bytes (a sender may
// pad, or redundant events may follow) are ignored; a payload shorter than
// EventSize returns an error wrapping ErrBadEvent.
func (e *Event) Unmarshal(b []byte) error {
	if len(b) < EventSize {
		return fmt.Errorf("%w: %d bytes", ErrBadEvent, len(b))
	}
	e.Code = b[0]
	e.End = b[1]&0x80 != 0
	e.Volume = b[1] & 0x3f
	e.Duration = binary.BigEndian.Uint16(b[2:])
	return nil
}

// dtmfDigits maps event codes 0-15 to the digits they stand for (RFC 4733
// §3.2).
const dtmfDigits = "0123456789*#ABCD"

// Digit returns the DTMF digit of an event code: '0'-'9', '*', '#' or
// 'A'-'D', and false for codes that are not DTMF (such as fax tones).
func Digit(code uint8) (byte, bool) {
	if int(code) >= len(dtmfDigits) {
		return 0, false
	}
	return dtmfDigits[code], true
}

// EventCode returns the event code of a DTMF digit, accepting 'a'-'d' for
// 'A'-'D', and false for any other byte.
func EventCode(digit byte) (uint8, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return digit - '0', true
	case digit == '*':
		return 10, true
	case digit == '#':
		return 11, true
	case digit >= 'A' && digit <= 'D':
		return 12 + digit - 'A', true
	case digit >= 'a' && digit <= 'd':
		return 12 + digit - 'a', true
	}
	return 0, false
}
