package backup

import "errors"

var (
	// ErrCorrupt is returned for an archive that is not a whole, intact
	// Switchboard backup: truncated, altered (a checksum differs), or not a
	// backup at all. The wrapping error names the file and the problem.
	ErrCorrupt = errors.New("backup: archive is corrupt")
	// ErrInUse is returned by Restore for a data dir a running switch holds.
	ErrInUse = errors.New("backup: data dir is in use by a running switchboard")
	// ErrNotEmpty is returned by Restore for a data dir that holds files,
	// unless it is told to replace them.
	ErrNotEmpty = errors.New("backup: data dir is not empty")
)
