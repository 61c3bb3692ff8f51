package greeting

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/switchboard-voip/switchboard/media"
)

// pcmWAV returns a 16-bit PCM WAV of a 440 Hz tone: seconds long, at rate,
// with channels channels.
func pcmWAV(rate, channels int, seconds float64) []byte {
	n := int(float64(rate) * seconds)
	data := make([]byte, 0, n*channels*2)
	for i := range n {
		v := int16(8000 * math.Sin(2*math.Pi*440*float64(i)/float64(rate)))
		for range channels {
			data = binary.LittleEndian.AppendUint16(data, uint16(v))
		}
	}
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	_ = binary.Write(&b, le, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	_ = binary.Write(&b, le, uint32(16))
	_ = binary.Write(&b, le, uint16(1)) // PCM
	_ = binary.Write(&b, le, uint16(channels))
	_ = binary.Write(&b, le, uint32(rate))
	_ = binary.Write(&b, le, uint32(rate*channels*2))
	_ = binary.Write(&b, le, uint16(channels*2))
	_ = binary.Write(&b, le, uint16(16))
	b.WriteString("data")
	_ = binary.Write(&b, le, uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

func open(t *testing.T, configured map[string]string) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "greetings"), func(ext, kind string) string {
		return configured[ext+"/"+kind]
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPutConvertsTo8kMonoAndGreetingReturnsIt(t *testing.T) {
	s := open(t, nil)
	if g := s.Greeting("1002", DND); g != nil {
		t.Fatalf("before any upload Greeting = %d samples, want nil (built-in)", len(g))
	}
	if err := s.Put("1002", DND, pcmWAV(44100, 2, 0.5)); err != nil {
		t.Fatal(err)
	}
	p, ok := s.Path("1002", DND)
	if !ok {
		t.Fatal("Path: no file after Put")
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// The stored file is the canonical 8 kHz mono 16-bit format.
	if got := binary.LittleEndian.Uint16(raw[22:]); got != 1 {
		t.Errorf("stored channels = %d, want 1", got)
	}
	if got := binary.LittleEndian.Uint32(raw[24:]); got != media.SampleRate {
		t.Errorf("stored rate = %d, want %d", got, media.SampleRate)
	}
	stored, err := media.ReadWAV(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) < 3900 || len(stored) > 4100 {
		t.Errorf("stored %d samples, want about 4000 (0.5 s at 8 kHz)", len(stored))
	}
	if g := s.Greeting("1002", DND); len(g) != len(stored) {
		t.Errorf("Greeting = %d samples, want the stored %d", len(g), len(stored))
	}
	if g := s.Greeting("1002", Busy); g != nil {
		t.Errorf("another kind got %d samples, want nil", len(g))
	}
	// A reopened store (a restart) finds the upload.
	s2, err := Open(s.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g := s2.Greeting("1002", DND); len(g) != len(stored) {
		t.Errorf("after reopening Greeting = %d samples, want %d", len(g), len(stored))
	}
}

func TestPutRejectsBadAudioKeepingTheOldGreeting(t *testing.T) {
	s := open(t, nil)
	good := pcmWAV(8000, 1, 0.25)
	if err := s.Put("1002", Busy, good); err != nil {
		t.Fatal(err)
	}
	err := s.Put("1002", Busy, []byte("this is not a wav file at all"))
	if !errors.Is(err, media.ErrNotAudio) {
		t.Fatalf("Put(garbage) = %v, want ErrNotAudio", err)
	}
	if g := s.Greeting("1002", Busy); len(g) != 2000 {
		t.Errorf("after a refused upload Greeting = %d samples, want the old 2000", len(g))
	}
	if err := s.Put("1002", Busy, pcmWAV(8000, 1, MaxDuration+1)); !errors.Is(err, ErrTooLong) {
		t.Errorf("Put(too long) = %v, want ErrTooLong", err)
	}
	if err := s.Put("1002", Busy, pcmWAV(8000, 1, 0)); !errors.Is(err, ErrEmpty) {
		t.Errorf("Put(empty) = %v, want ErrEmpty", err)
	}
	if err := s.Put("1002", "lunch", good); !errors.Is(err, ErrBadKind) {
		t.Errorf("Put(kind lunch) = %v, want ErrBadKind", err)
	}
	for _, ext := range []string{"", "..", "../1001", "a/b"} {
		if err := s.Put(ext, Busy, good); !errors.Is(err, ErrBadExt) {
			t.Errorf("Put(ext %q) = %v, want ErrBadExt", ext, err)
		}
	}
}

func TestUploadedBeatsConfiguredAndDeleteFallsBack(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "alice-na.wav")
	if err := os.WriteFile(cfgFile, pcmWAV(16000, 1, 0.1), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, map[string]string{"1001/" + NoAnswer: cfgFile})
	if err := s.CheckConfigured("1001", NoAnswer); err != nil {
		t.Fatal(err)
	}
	if g := s.Greeting("1001", NoAnswer); len(g) != 800 {
		t.Fatalf("configured greeting = %d samples, want 800", len(g))
	}
	if err := s.Put("1001", NoAnswer, pcmWAV(8000, 1, 0.5)); err != nil {
		t.Fatal(err)
	}
	if g := s.Greeting("1001", NoAnswer); len(g) != 4000 {
		t.Errorf("after upload = %d samples, want the upload's 4000", len(g))
	}
	if err := s.Delete("1001", NoAnswer); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Path("1001", NoAnswer); ok {
		t.Error("Path still finds a file after Delete")
	}
	if g := s.Greeting("1001", NoAnswer); len(g) != 800 {
		t.Errorf("after Delete = %d samples, want the configured 800", len(g))
	}
	// Deleting again (nothing uploaded) is fine.
	if err := s.Delete("1001", NoAnswer); err != nil {
		t.Errorf("second Delete: %v", err)
	}
}

func TestCheckConfiguredNamesTheBadFile(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "broken.wav")
	if err := os.WriteFile(bad, []byte("RIFF....WAVEjunk"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, map[string]string{"1002/" + Busy: bad})
	err := s.CheckConfigured("1002", Busy)
	if !errors.Is(err, media.ErrNotAudio) || !bytes.Contains([]byte(err.Error()), []byte("broken.wav")) {
		t.Errorf("CheckConfigured = %v, want ErrNotAudio naming broken.wav", err)
	}
	if g := s.Greeting("1002", Busy); g != nil {
		t.Errorf("a bad configured file plays %d samples, want nil (built-in)", len(g))
	}
}

func TestOpenRemovesLeftoverTemporaryFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "greetings")
	if err := os.MkdirAll(filepath.Join(dir, "1002"), 0o750); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, "1002", ".dnd-123.tmp")
	if err := os.WriteFile(left, []byte("half a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("leftover temporary file still there: %v", err)
	}
}

// TestConcurrentPutAndGreeting: readers never see a stale greeting after a
// Put has returned, and the race detector finds nothing.
func TestConcurrentPutAndGreeting(t *testing.T) {
	s := open(t, nil)
	short, long := pcmWAV(8000, 1, 0.1), pcmWAV(8000, 1, 0.2)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				_ = s.Greeting("1003", DND)
			}
		})
	}
	for i := range 20 {
		wav := short
		if i%2 == 1 {
			wav = long
		}
		if err := s.Put("1003", DND, wav); err != nil {
			t.Fatal(err)
		}
		if g := s.Greeting("1003", DND); len(g) != len(wav[44:])/2 {
			t.Fatalf("after Put %d Greeting = %d samples, want %d", i, len(g), len(wav[44:])/2)
		}
	}
	wg.Wait()
}

// TestPutRefusesLongAudioBeforeDecodingIt: a 10 MB upload of 4 kHz 8-bit audio (41 minutes)
// is refused as too long from its header, allocating next to nothing; before, it was decoded
// and resampled first (hundreds of MB for each of eight parallel uploads).
func TestPutRefusesLongAudioBeforeDecodingIt(t *testing.T) {
	s := open(t, nil)
	const n = 10 << 20
	wav := make([]byte, 44+n)
	copy(wav, "RIFF")
	binary.LittleEndian.PutUint32(wav[4:], 36+n)
	copy(wav[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(wav[16:], 16)
	binary.LittleEndian.PutUint16(wav[20:], 1)    // PCM
	binary.LittleEndian.PutUint16(wav[22:], 1)    // mono
	binary.LittleEndian.PutUint32(wav[24:], 4000) // Hz
	binary.LittleEndian.PutUint32(wav[28:], 4000) // bytes a second
	binary.LittleEndian.PutUint16(wav[32:], 1)    // block
	binary.LittleEndian.PutUint16(wav[34:], 8)    // bits
	copy(wav[36:], "data")
	binary.LittleEndian.PutUint32(wav[40:], n)
	for i := 44; i < len(wav); i++ {
		wav[i] = 128
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := s.Put("1001", DND, wav)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("Put: %v, want ErrTooLong", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
		t.Fatalf("refusing it allocated %d KB", alloc>>10)
	}
	// The same with the size left unknown (a streaming writer's 0): read only as far as
	// two minutes go.
	binary.LittleEndian.PutUint32(wav[40:], 0)
	runtime.ReadMemStats(&before)
	err = s.Put("1001", DND, wav)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("Put with an unknown size: %v, want ErrTooLong", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Fatalf("refusing it with an unknown size allocated %d KB", alloc>>10)
	}
}
