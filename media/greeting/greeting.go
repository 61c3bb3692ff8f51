// Package greeting stores the greetings users upload (what a caller hears
// before leaving a voicemail when the user is busy, on DND or does not
// answer) and finds the greeting to play for a user: the uploaded one, else
// the file the config names, else none (the built-in prompt).
//
// Uploads are converted once, when stored, to 8 kHz mono 16-bit PCM WAV and
// written crash-safely (temporary file, fsync, rename, fsync of the folder),
// one file per user and kind: DIR/EXT/KIND.wav. Greetings are decoded once
// and kept in memory until an upload or a reset replaces them.
package greeting

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/switchboard-voip/switchboard/internal/durable"
	"github.com/switchboard-voip/switchboard/media"
)

// Kinds of greeting; the same words as routing's GreetingBusy, GreetingDND
// and GreetingNoAnswer (media does not import routing).
const (
	Busy     = "busy"
	DND      = "dnd"
	NoAnswer = "no_answer"
)

// Kinds lists every kind, in the order a user interface shows them.
var Kinds = []string{DND, Busy, NoAnswer}

// MaxDuration bounds an uploaded greeting: longer audio is refused with
// ErrTooLong. Greetings are kept in memory, and nobody listens to a
// two-minute greeting anyway.
const MaxDuration = 120 // seconds

var (
	// ErrBadKind is returned for a kind other than Busy, DND and NoAnswer.
	ErrBadKind = errors.New("greeting: unknown kind")
	// ErrBadExt is returned for an extension that cannot name a folder.
	ErrBadExt = errors.New("greeting: invalid extension")
	// ErrTooLong is returned by Put for audio longer than MaxDuration.
	ErrTooLong = errors.New("greeting: too long")
	// ErrEmpty is returned by Put for audio without a single sample.
	ErrEmpty = errors.New("greeting: no audio")
)

// Store holds uploaded greetings in a folder. Its methods are safe for
// concurrent use.
type Store struct {
	dir        string
	configured func(ext, kind string) string

	writeMu sync.Mutex // serialises Put and Delete

	mu    sync.RWMutex
	cache map[string][]int16 // by ext/kind; a nil entry means "none": built-in
	gen   uint64             // bumped by Put and Delete: loads begun before are not cached
}

// Open returns the store of the greetings uploaded under dir, creating dir
// if needed and removing temporary files an interrupted Put left behind.
// configured names the WAV file the config sets for a user's kind ("" for
// none); it may be nil.
func Open(dir string, configured func(ext, kind string) string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	leftovers, err := filepath.Glob(filepath.Join(dir, "*", ".*.tmp"))
	if err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	for _, f := range leftovers {
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("greeting: remove leftover: %w", err)
		}
	}
	if configured == nil {
		configured = func(string, string) string { return "" }
	}
	return &Store{dir: dir, configured: configured, cache: map[string][]int16{}}, nil
}

// ValidKind reports whether kind is Busy, DND or NoAnswer.
func ValidKind(kind string) bool {
	return kind == Busy || kind == DND || kind == NoAnswer
}

// check validates ext and kind, which become a folder and a file name.
func check(ext, kind string) error {
	if !ValidKind(kind) {
		return fmt.Errorf("%w %q", ErrBadKind, kind)
	}
	if ext == "" || ext == "." || ext == ".." || len(ext) > 64 ||
		strings.ContainsFunc(ext, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' ||
				r == '-' || r == '_' || r == '.' || r == '+' || r == '*' || r == '#')
		}) {
		return fmt.Errorf("%w %q", ErrBadExt, ext)
	}
	return nil
}

func (s *Store) file(ext, kind string) string { return filepath.Join(s.dir, ext, kind+".wav") }

// Put stores wav, a WAV file in any format media.ReadWAV accepts, as ext's
// greeting of kind, replacing any earlier upload. Audio ReadWAV rejects
// gives its error (wrapping media.ErrNotAudio, with the reason); audio
// longer than MaxDuration ErrTooLong. When Put returns nil the greeting is
// on disk and the next Greeting returns it.
func (s *Store) Put(ext, kind string, wav []byte) error {
	if err := check(ext, kind); err != nil {
		return err
	}
	samples, err := media.ReadWAVAtMost(bytes.NewReader(wav), MaxDuration)
	if errors.Is(err, media.ErrAudioTooLong) {
		return fmt.Errorf("%w: %w", ErrTooLong, err)
	}
	if err != nil {
		return err
	}
	if len(samples) == 0 {
		return ErrEmpty
	}
	if len(samples) > MaxDuration*media.SampleRate {
		return fmt.Errorf("%w: %.1f s, at most %d s", ErrTooLong, float64(len(samples))/media.SampleRate, MaxDuration)
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	folder := filepath.Join(s.dir, ext)
	if err := os.MkdirAll(folder, 0o750); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	tmp, err := os.CreateTemp(folder, "."+kind+"-*.tmp")
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	err = media.WriteWAV(tmp, samples)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.file(ext, kind))
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("greeting: store %s/%s: %w", ext, kind, err)
	}
	if err := durable.SyncDir(folder); err != nil {
		return fmt.Errorf("greeting: store %s/%s: %w", ext, kind, err)
	}
	s.mu.Lock()
	s.gen++
	s.cache[ext+"/"+kind] = samples
	s.mu.Unlock()
	return nil
}

// Delete removes ext's uploaded greeting of kind, if any: callers hear the
// configured file again, or the built-in prompt.
func (s *Store) Delete(ext, kind string) error {
	if err := check(ext, kind); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err := os.Remove(s.file(ext, kind))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("greeting: delete %s/%s: %w", ext, kind, err)
	default:
		if err := durable.SyncDir(filepath.Join(s.dir, ext)); err != nil {
			return fmt.Errorf("greeting: delete %s/%s: %w", ext, kind, err)
		}
	}
	s.mu.Lock()
	s.gen++
	delete(s.cache, ext+"/"+kind)
	s.mu.Unlock()
	return nil
}

// Path returns the file of ext's uploaded greeting of kind (8 kHz mono
// 16-bit WAV); false when there is none.
func (s *Store) Path(ext, kind string) (string, bool) {
	if check(ext, kind) != nil {
		return "", false
	}
	p := s.file(ext, kind)
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

// Greeting returns the greeting a caller hears for ext's kind, as 8 kHz
// mono samples: the uploaded one, else the configured file, else nil (the
// built-in prompt). A file that cannot be read counts as absent. The
// result is shared: callers must not modify it. Greeting implements the
// SIP layer's Greetings.
func (s *Store) Greeting(ext, kind string) []int16 {
	key := ext + "/" + kind
	s.mu.RLock()
	samples, ok := s.cache[key]
	gen := s.gen
	s.mu.RUnlock()
	if ok {
		return samples
	}
	if check(ext, kind) != nil {
		return nil
	}
	samples, err := media.LoadWAV(s.file(ext, kind))
	if err != nil || len(samples) == 0 {
		samples = nil
		if path := s.configured(ext, kind); path != "" {
			if pcm, err := media.LoadWAV(path); err == nil && len(pcm) > 0 {
				samples = pcm
			}
		}
	}
	s.mu.Lock()
	if s.gen == gen { // no Put or Delete since: the result is current
		s.cache[key] = samples
	}
	s.mu.Unlock()
	return samples
}

// CheckConfigured loads the file the config names for ext's kind, if any,
// and returns its error (naming the file), so that a bad file stops the
// start-up rather than failing a caller's call.
func (s *Store) CheckConfigured(ext, kind string) error {
	if err := check(ext, kind); err != nil {
		return err
	}
	path := s.configured(ext, kind)
	if path == "" {
		return nil
	}
	_, err := media.LoadWAV(path)
	return err
}
