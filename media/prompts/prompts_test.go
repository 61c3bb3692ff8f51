package prompts

import (
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"sync"
	"testing"
)

// constants lists every named prompt; the digits come from Digit.
var constants = []string{
	Busy, Unavailable, LeaveMessage, Beep, DNDOn, DNDOff, YouHave, NewMessages,
	NewMessage, NoNewMessages, CallerNumber, CallFrom, ScreeningMenu,
	VoicemailMenu, MessageDeleted, MessageSaved, NoMoreMessages, Goodbye,
	CallbackOffer, CallbackBooked, MusicOnHold,
}

// speech lists the spoken prompts: everything but the beep and the music.
func speech() []string {
	var names []string
	for _, n := range Names() {
		if n != Beep && n != MusicOnHold {
			names = append(names, n)
		}
	}
	return names
}

func mustPCM(t *testing.T, name string) []int16 {
	t.Helper()
	s, ok := PCM(name)
	if !ok {
		t.Fatalf("PCM(%q) not found or not decodable", name)
	}
	return s
}

func seconds(s []int16) float64 { return float64(len(s)) / sampleRate }

// dBFS returns the RMS level of s relative to a full-scale square wave.
func dBFS(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return 10 * math.Log10(sum/float64(len(s))/(32768*32768))
}

func peak(s []int16) int {
	var p int
	for _, v := range s {
		p = max(p, abs(int(v)))
	}
	return p
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// goertzel returns the power of s at frequency f (Hz), each sample first
// weighted by w (nil for none).
func goertzel(s []int16, w []float64, f float64) float64 {
	k := 2 * math.Cos(2*math.Pi*f/sampleRate)
	var s1, s2 float64
	for i, v := range s {
		x := float64(v)
		if w != nil {
			x *= w[i]
		}
		s1, s2 = x+k*s1-s2, s1
	}
	return s1*s1 + s2*s2 - k*s1*s2
}

// spectralPeaks counts the distinct frequencies between 250 and 3400 Hz that
// carry at least -30 dB of the strongest one's power, summed over 100 ms
// Hann-windowed blocks (10 Hz steps, so a pure tone makes one peak).
func spectralPeaks(s []int16) int {
	const block = 800
	w := make([]float64, block)
	for i := range w {
		w[i] = 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/(block-1))
	}
	var freqs []float64
	for f := 250.0; f <= 3400; f += 10 {
		freqs = append(freqs, f)
	}
	power := make([]float64, len(freqs))
	for start := 0; start+block <= len(s); start += block {
		for i, f := range freqs {
			power[i] += goertzel(s[start:start+block], w, f)
		}
	}
	strongest := slices.Max(power)
	var peaks int
	for i := 1; i+1 < len(power); i++ {
		if power[i] > power[i-1] && power[i] >= power[i+1] && power[i] > strongest/1000 {
			peaks++
		}
	}
	return peaks
}

func TestEveryConstantHasAFile(t *testing.T) {
	want := slices.Clone(constants)
	for d := range 10 {
		want = append(want, Digit(d))
	}
	slices.Sort(want)
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v\nwant      %v", got, want)
	}
	for _, name := range want {
		b, ok := WAV(name)
		if !ok || len(b) <= 44 {
			t.Errorf("WAV(%q) = %d bytes, %v; want a WAV file", name, len(b), ok)
		}
	}
}

func TestEveryFileIs8kHzMono16Bit(t *testing.T) {
	for _, name := range Names() {
		b, _ := WAV(name)
		if _, err := decodeWAV(b); err != nil {
			t.Errorf("%s.wav: %v", name, err)
		}
	}
}

func TestUnknownPrompt(t *testing.T) {
	for _, name := range []string{"", "nope", "busy.wav", "../prompts/busy"} {
		if _, ok := WAV(name); ok {
			t.Errorf("WAV(%q) found", name)
		}
		if _, ok := PCM(name); ok {
			t.Errorf("PCM(%q) found", name)
		}
	}
}

func TestSpeechPromptsAreAudibleAndShort(t *testing.T) {
	for _, name := range speech() {
		s := mustPCM(t, name)
		if d := seconds(s); d < 0.4 || d > 8 {
			t.Errorf("%s lasts %.2f s; want 0.4-8 s", name, d)
		}
		if l := dBFS(s); l < -30 {
			t.Errorf("%s RMS level %.1f dBFS; want above -30 (not silent)", name, l)
		}
		// generate.sh normalises speech to a -3 dBFS peak (23198).
		if p := peak(s); p < 20000 || p > 26000 {
			t.Errorf("%s peaks at %d; want about -3 dBFS (23198)", name, p)
		}
	}
}

func TestBeepIs1kHz(t *testing.T) {
	s := mustPCM(t, Beep)
	if d := seconds(s); math.Abs(d-0.4) > 0.01 {
		t.Errorf("beep lasts %.3f s; want 0.4 s", d)
	}
	at1k := goertzel(s, nil, 1000)
	for _, f := range []float64{500, 2000} {
		if p := goertzel(s, nil, f); at1k < 1000*p {
			t.Errorf("beep power at 1000 Hz is only %.1f dB above %v Hz; want 30 dB", 10*math.Log10(at1k/p), f)
		}
	}
	if n := spectralPeaks(s); n > 1 {
		t.Errorf("beep shows %d spectral peaks; a pure tone shows 1", n)
	}
}

func TestMusicOnHoldLoopsCleanly(t *testing.T) {
	s := mustPCM(t, MusicOnHold)
	if d := seconds(s); d < 20 || d > 30 {
		t.Errorf("music on hold lasts %.1f s; want 20-30 s", d)
	}
	if l := dBFS(s); l < -30 {
		t.Errorf("music on hold RMS level %.1f dBFS; want above -30 (not silent)", l)
	}
	// generate.sh normalises it to a -6 dBFS peak (16423).
	if p := peak(s); p > 18000 {
		t.Errorf("music on hold peaks at %d; want about -6 dBFS (16423)", p)
	}
	if n := spectralPeaks(s); n < 6 {
		t.Errorf("music on hold shows %d spectral peaks; want at least 6 (chords, not a tone)", n)
	}
	const edge = sampleRate / 50 // 20 ms
	for what, part := range map[string][]int16{"first": s[:edge], "last": s[len(s)-edge:]} {
		if p := peak(part); p > 328 { // -40 dBFS
			t.Errorf("music on hold's %s 20 ms peak at %d; want below -40 dBFS (328) so the loop does not click", what, p)
		}
	}
}

func TestNumber(t *testing.T) {
	for n, want := range map[int][]string{
		0:    {"digit_0"},
		7:    {"digit_7"},
		42:   {"digit_4", "digit_2"},
		1000: {"digit_1", "digit_0", "digit_0", "digit_0"},
		-1:   nil,
	} {
		if got := Number(n); !slices.Equal(got, want) {
			t.Errorf("Number(%d) = %v; want %v", n, got, want)
		}
	}
	for _, name := range Number(1234567890) {
		if _, ok := WAV(name); !ok {
			t.Errorf("Number names %q, which has no file", name)
		}
	}
}

func TestDigit(t *testing.T) {
	if got := Digit(3); got != "digit_3" {
		t.Errorf("Digit(3) = %q", got)
	}
	for _, d := range []int{-1, 10} {
		if got := Digit(d); got != "" {
			t.Errorf("Digit(%d) = %q; want \"\"", d, got)
		}
	}
}

func TestPCMDecodesOnceAndIsSafeConcurrently(t *testing.T) {
	var wg sync.WaitGroup
	got := make([][]int16, 8)
	for i := range got {
		wg.Go(func() { got[i], _ = PCM(Goodbye) })
	}
	wg.Wait()
	for _, s := range got[1:] {
		if len(s) == 0 || &s[0] != &got[0][0] {
			t.Fatal("PCM returned different slices for the same prompt; want one cached decode")
		}
	}
}

// wavFile builds a WAV file from chunks given as id, body pairs.
func wavFile(chunks ...any) []byte {
	var body []byte
	for i := 0; i < len(chunks); i += 2 {
		id, data := chunks[i].(string), chunks[i+1].([]byte)
		body = append(body, id...)
		body = binary.LittleEndian.AppendUint32(body, uint32(len(data)))
		body = append(body, data...)
		if len(data)%2 == 1 {
			body = append(body, 0)
		}
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(body)))...)
	return append(append(b, "WAVE"...), body...)
}

func fmtChunk(format, ch uint16, rate uint32, bits uint16) []byte {
	b := binary.LittleEndian.AppendUint16(nil, format)
	b = binary.LittleEndian.AppendUint16(b, ch)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(ch)*uint32(bits)/8)
	b = binary.LittleEndian.AppendUint16(b, ch*bits/8)
	return binary.LittleEndian.AppendUint16(b, bits)
}

func TestDecodeWAV(t *testing.T) {
	pcm := []byte{0x01, 0x00, 0xff, 0xff, 0x00, 0x80} // 1, -1, -32768
	good := fmtChunk(1, 1, 8000, 16)
	tests := map[string]struct {
		file []byte
		want []int16
		err  bool
	}{
		"canonical 44-byte header": {file: wavFile("fmt ", good, "data", pcm), want: []int16{1, -1, -32768}},
		"odd-sized LIST chunk skipped with its pad byte": {
			file: wavFile("fmt ", good, "LIST", []byte("INFOx"), "data", pcm), want: []int16{1, -1, -32768},
		},
		"fmt with extension": {file: wavFile("fmt ", append(slices.Clone(good), 0, 0), "data", pcm), want: []int16{1, -1, -32768}},
		"stereo":             {file: wavFile("fmt ", fmtChunk(1, 2, 8000, 16), "data", pcm), err: true},
		"44.1 kHz":           {file: wavFile("fmt ", fmtChunk(1, 1, 44100, 16), "data", pcm), err: true},
		"8-bit":              {file: wavFile("fmt ", fmtChunk(1, 1, 8000, 8), "data", pcm), err: true},
		"mu-law":             {file: wavFile("fmt ", fmtChunk(7, 1, 8000, 16), "data", pcm), err: true},
		"data before fmt":    {file: wavFile("data", pcm, "fmt ", good), err: true},
		"no data":            {file: wavFile("fmt ", good), err: true},
		"truncated data":     {file: wavFile("fmt ", good, "data", pcm)[:48], err: true},
		"not RIFF":           {file: []byte("RIFX\x00\x00\x00\x00WAVE"), err: true},
		"empty":              {file: nil, err: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := decodeWAV(tc.file)
			if tc.err {
				if !errors.Is(err, errBadWAV) {
					t.Errorf("err = %v; want errBadWAV", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("decodeWAV = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
