package mailbox

import "errors"

// Sentinel errors. Callers match them with errors.Is; the package wraps them
// with detail and never logs, so the HTTP and SIP layers pick the status and
// the log level.
var (
	// ErrNotFound means there is no such message, or the box or id given
	// is not a valid name (digits for a box, letters, digits and '-' for an
	// id), which is reported the same way so a crafted id such as
	// "../../etc/passwd" is just another missing message. HTTP answers 404.
	ErrNotFound = errors.New("mailbox: no such message")

	// ErrTooShort means Commit discarded a recording shorter than the
	// minimum the caller passed: a caller who hung up at the beep.
	ErrTooShort = errors.New("mailbox: message too short")

	// ErrInvalidBox means Record was given a box name that is not an
	// extension (1 to 32 digits). It is a configuration or routing bug.
	ErrInvalidBox = errors.New("mailbox: invalid box name")

	// ErrFinished means a Recording was used after Commit or Abort.
	ErrFinished = errors.New("mailbox: recording already finished")

	// ErrClosed means Record was called after Store.Close.
	ErrClosed = errors.New("mailbox: store closed")
)
