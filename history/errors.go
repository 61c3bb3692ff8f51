package history

import "errors"

// Sentinel errors. Callers match them with errors.Is; the package wraps them
// with detail and never logs.
var (
	// ErrInvalid means a record, a listing request or an option is
	// malformed: the caller's mistake (HTTP answers 400).
	ErrInvalid = errors.New("history: invalid")

	// ErrExists means Add was given an id that is already stored.
	ErrExists = errors.New("history: record id already exists")
)
