// Package prompts holds Switchboard's built-in voice prompts and music on
// hold, 8 kHz mono 16-bit WAV, made by generate.sh.
//
// The WAV files are generated once with espeak-ng and sox, committed, and
// embedded into the binary, so neither tool is needed to build, test or run
// the switch. A prompt is named by its file name without ".wav"; the
// constants below name every prompt the switch plays, and Digit and Number
// name the digit prompts that speak numbers.
package prompts

import (
	"embed"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Names of the prompts.
const (
	Busy           = "busy"             // "The number you are calling is busy. Please hold."
	Unavailable    = "unavailable"      // "The person you are calling is not available."
	LeaveMessage   = "leave_message"    // "Please leave a message after the tone."
	Beep           = "beep"             // 400 ms of 1 kHz: the tone that starts a recording
	DNDOn          = "dnd_on"           // "Do not disturb is on."
	DNDOff         = "dnd_off"          // "Do not disturb is off."
	YouHave        = "you_have"         // "You have"
	NewMessages    = "new_messages"     // "new messages"
	NewMessage     = "new_message"      // "new message"
	NoNewMessages  = "no_new_messages"  // "You have no new messages."
	CallerNumber   = "caller_number"    // "You are caller number"
	CallFrom       = "call_from"        // "Call from"
	ScreeningMenu  = "screening_menu"   // "Press 1 to accept, 2 to send to voicemail, 3 to turn on do not disturb."
	VoicemailMenu  = "voicemail_menu"   // "Press 1 to repeat, 7 to delete, 9 to save, or pound for the next message."
	MessageDeleted = "message_deleted"  // "Message deleted."
	MessageSaved   = "message_saved"    // "Message saved."
	NoMoreMessages = "no_more_messages" // "No more messages."
	Goodbye        = "goodbye"          // "Goodbye."
	CallbackOffer  = "callback_offer"   // "Press 2 to hang up and be called back."
	CallbackBooked = "callback_booked"  // "We will call you back. Goodbye."
	MusicOnHold    = "music_on_hold"    // a calm instrumental loop of about 25 s, silent at both ends
)

//go:embed *.wav
var files embed.FS

// pcm decodes each prompt on first use; built once from the embedded files.
var pcm = func() map[string]func() ([]int16, error) {
	m := make(map[string]func() ([]int16, error))
	for _, name := range Names() {
		m[name] = sync.OnceValues(func() ([]int16, error) {
			b, err := files.ReadFile(name + ".wav")
			if err != nil {
				return nil, err
			}
			return decodeWAV(b)
		})
	}
	return m
}()

// Digit returns the name of the prompt that speaks digit d ("digit_0" to
// "digit_9"), or "" when d is outside 0-9.
func Digit(d int) string {
	if d < 0 || d > 9 {
		return ""
	}
	return "digit_" + strconv.Itoa(d)
}

// Number returns the prompt names that speak the non-negative integer n digit
// by digit: Number(42) is [digit_4 digit_2], Number(0) is [digit_0]. It
// speaks the N in "You are caller number N" and "You have N new messages".
// A negative n yields nil.
func Number(n int) []string {
	if n < 0 {
		return nil
	}
	s := strconv.Itoa(n)
	names := make([]string, len(s))
	for i := range len(s) {
		names[i] = Digit(int(s[i] - '0'))
	}
	return names
}

// WAV returns the prompt's WAV file, header included; the caller decodes it.
// The slice is the caller's own copy. It reports false for an unknown name.
func WAV(name string) ([]byte, bool) {
	if _, ok := pcm[name]; !ok {
		return nil, false
	}
	b, err := files.ReadFile(name + ".wav")
	return b, err == nil
}

// PCM returns the prompt's samples: 8 kHz, mono, signed 16-bit. A prompt is
// decoded on first use and cached, so every call returns the same slice,
// shared by all callers: it must not be modified. PCM is safe for concurrent
// use. It reports false for an unknown name.
func PCM(name string) ([]int16, bool) {
	decode, ok := pcm[name]
	if !ok {
		return nil, false
	}
	samples, err := decode()
	return samples, err == nil
}

// Names lists every prompt, sorted: the constants above and the ten digits.
func Names() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("prompts: reading embedded files: " + err.Error()) // embed.FS cannot fail here
	}
	var names []string
	for _, e := range entries {
		if path.Ext(e.Name()) == ".wav" {
			names = append(names, strings.TrimSuffix(e.Name(), ".wav"))
		}
	}
	slices.Sort(names)
	return names
}
