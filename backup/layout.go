package backup

// What a data dir holds, relative to it. The switch opens its files by these
// names (cmd/switchboard), so a backup and the switch agree on them.
const (
	// DBFile is the bbolt file: every bucket of every package (DND, working
	// hours, call history, voicemail metadata).
	DBFile = "switchboard.db"
	// VoicemailDir is the folder of voicemail audio, BOX/ID.wav, owned by
	// media/mailbox.
	VoicemailDir = "voicemail"
	// GreetingsDir is the folder of uploaded greetings, EXT/KIND.wav, owned
	// by media/greeting.
	GreetingsDir = "greetings"
)

// audioDirs are the folders of audio files, each holding one folder per user.
func audioDirs() []string { return []string{VoicemailDir, GreetingsDir} }
