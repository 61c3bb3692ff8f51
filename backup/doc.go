// Package backup copies a Switchboard data dir into one archive and puts an
// archive back into a data dir.
//
// A data dir holds the bbolt DB (DND settings and their history, working
// hours, call history, voicemail metadata), each voicemail message's WAV file
// and each uploaded greeting's WAV file (see DBFile, VoicemailDir and GreetingsDir). A backup must be
// consistent: every message the archived DB lists has its audio in the
// archive. Take gets there the way the switch recovers from a crash: it
// copies the DB in one read transaction, hard-links the audio files that
// exist after that instant into a staging folder (a link keeps a file a
// concurrent Delete removes, or an upload replaces), then runs the mailbox's
// own start-up reconciliation on the staged copy, which drops records whose
// audio is gone and audio no record names. The archive is thus what the switch
// would hold had it crashed at the instant of the copy and restarted.
//
// The archive is a gzip-compressed tar: manifest.json first (format, the
// switch's version, when, and every file's size and SHA-256), then the files
// under their paths relative to the data dir. Verify and Restore check every
// byte against the manifest before anything is trusted.
//
// The package returns errors and never logs.
package backup
