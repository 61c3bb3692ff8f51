package media

import (
	"testing"
)

// g711Codecs names the two laws for table tests. maxLevel is the largest
// magnitude each can represent; halfStep is half the quantisation step of a
// code's segment, the most a sample within range may be off after a round
// trip, since each code decodes to the middle of its interval.
var g711Codecs = map[string]struct {
	encode   func(int16) byte
	decode   func(byte) int16
	maxLevel int
	halfStep func(code byte) int
}{
	"µ-law": {ULawEncode, ULawDecode, 32124, func(b byte) int {
		return 4 << (^b >> 4 & 7) // steps of 8, 16, … 1024
	}},
	"A-law": {ALawEncode, ALawDecode, 32256, func(b byte) int {
		seg := (b ^ 0x55) >> 4 & 7 // steps of 16, 16, 32, … 1024
		return 8 << max(int(seg)-1, 0)
	}},
}

func TestG711KnownVectors(t *testing.T) {
	tests := map[string]struct {
		got, want byte
	}{
		"µ-law zero":        {ULawEncode(0), 0xFF},
		"µ-law +full scale": {ULawEncode(32767), 0x80},
		"µ-law -full scale": {ULawEncode(-32768), 0x00},
		"µ-law +1000":       {ULawEncode(1000), 0xCE},
		"µ-law -1000":       {ULawEncode(-1000), 0x4E},
		"A-law zero":        {ALawEncode(0), 0xD5},
		"A-law +full scale": {ALawEncode(32767), 0xAA},
		"A-law -full scale": {ALawEncode(-32768), 0x2A},
		"A-law +1000":       {ALawEncode(1000), 0xFA},
		"A-law -1000":       {ALawEncode(-1000), 0x7A},
	}
	for name, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: code %#02x, want %#02x", name, tt.got, tt.want)
		}
	}

	decoded := map[string]struct {
		got, want int16
	}{
		"µ-law 0xFF": {ULawDecode(0xFF), 0},
		"µ-law 0x7F": {ULawDecode(0x7F), 0},
		"µ-law 0x80": {ULawDecode(0x80), 32124},
		"µ-law 0x00": {ULawDecode(0x00), -32124},
		"µ-law 0xCE": {ULawDecode(0xCE), 988},
		"A-law 0xD5": {ALawDecode(0xD5), 8},
		"A-law 0x55": {ALawDecode(0x55), -8},
		"A-law 0xAA": {ALawDecode(0xAA), 32256},
		"A-law 0x2A": {ALawDecode(0x2A), -32256},
		"A-law 0xFA": {ALawDecode(0xFA), 1008},
	}
	for name, tt := range decoded {
		if tt.got != tt.want {
			t.Errorf("%s: decodes to %d, want %d", name, tt.got, tt.want)
		}
	}
}

func TestG711RoundTripErrorBounded(t *testing.T) {
	for name, c := range g711Codecs {
		t.Run(name, func(t *testing.T) {
			prev := c.decode(c.encode(-32768))
			for x := -32768; x <= 32767; x++ {
				y := c.decode(c.encode(int16(x)))
				if y < prev {
					t.Fatalf("not monotonic: %d → %d, but %d → %d", x-1, prev, x, y)
				}
				prev = y
				mag, err := abs(x), abs(int(y)-x)
				if mag > c.maxLevel {
					// Clipped: decodes to the largest level of the sign.
					if abs(int(y)) != c.maxLevel {
						t.Fatalf("%d (beyond range) → %d, want ±%d", x, y, c.maxLevel)
					}
					continue
				}
				if limit := c.halfStep(c.encode(int16(x))); err > limit {
					t.Fatalf("%d → %d: error %d exceeds half a step (%d)", x, y, err, limit)
				}
			}
		})
	}
}

func TestG711EveryCodeSurvivesDecodeEncode(t *testing.T) {
	for name, c := range g711Codecs {
		t.Run(name, func(t *testing.T) {
			for i := range 256 {
				b := byte(i)
				got := c.encode(c.decode(b))
				if name == "µ-law" && b == 0x7F {
					// µ-law has two zeros; both decode to 0, which encodes
					// as the positive one.
					if got != 0xFF {
						t.Errorf("negative zero 0x7F re-encodes to %#02x, want 0xFF", got)
					}
					continue
				}
				if got != b {
					t.Errorf("code %#02x decodes to %d, which encodes to %#02x", b, c.decode(b), got)
				}
			}
		})
	}
}

func TestG711FramesMatchSamplewise(t *testing.T) {
	src := make([]int16, 160)
	for i := range src {
		src[i] = int16(i*409 - 32768)
	}
	codes := make([]byte, len(src))
	pcm := make([]int16, len(src))

	ULawEncodeFrame(codes, src)
	ULawDecodeFrame(pcm, codes)
	for i := range src {
		if codes[i] != ULawEncode(src[i]) || pcm[i] != ULawDecode(codes[i]) {
			t.Fatalf("µ-law frame differs from samplewise at %d", i)
		}
	}
	ALawEncodeFrame(codes, src)
	ALawDecodeFrame(pcm, codes)
	for i := range src {
		if codes[i] != ALawEncode(src[i]) || pcm[i] != ALawDecode(codes[i]) {
			t.Fatalf("A-law frame differs from samplewise at %d", i)
		}
	}
}

func TestG711FramesPanicOnShortDst(t *testing.T) {
	tests := map[string]func(){
		"ULawEncodeFrame": func() { ULawEncodeFrame(make([]byte, 1, 10), make([]int16, 2)) },
		"ULawDecodeFrame": func() { ULawDecodeFrame(make([]int16, 1, 10), make([]byte, 2)) },
		"ALawEncodeFrame": func() { ALawEncodeFrame(make([]byte, 1, 10), make([]int16, 2)) },
		"ALawDecodeFrame": func() { ALawDecodeFrame(make([]int16, 1, 10), make([]byte, 2)) },
	}
	for name, f := range tests {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic with dst shorter than src")
				}
			}()
			f()
		})
	}
}

func TestG711FramesDoNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	src := make([]int16, 160)
	codes := make([]byte, 160)
	tests := map[string]func(){
		"ULawEncodeFrame": func() { ULawEncodeFrame(codes, src) },
		"ULawDecodeFrame": func() { ULawDecodeFrame(src, codes) },
		"ALawEncodeFrame": func() { ALawEncodeFrame(codes, src) },
		"ALawDecodeFrame": func() { ALawDecodeFrame(src, codes) },
	}
	for name, f := range tests {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per frame, want 0", name, n)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func benchFrame() ([]int16, []byte) {
	src := Tone(1000, 0.5, 20_000_000) // 20 ms
	return src, make([]byte, len(src))
}

func BenchmarkULawEncodeFrame(b *testing.B) {
	src, dst := benchFrame()
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		ULawEncodeFrame(dst, src)
	}
}

func BenchmarkULawDecodeFrame(b *testing.B) {
	pcm, codes := benchFrame()
	ULawEncodeFrame(codes, pcm)
	b.ReportAllocs()
	b.SetBytes(int64(len(codes)))
	for b.Loop() {
		ULawDecodeFrame(pcm, codes)
	}
}

func BenchmarkALawEncodeFrame(b *testing.B) {
	src, dst := benchFrame()
	b.ReportAllocs()
	b.SetBytes(int64(2 * len(src)))
	for b.Loop() {
		ALawEncodeFrame(dst, src)
	}
}

func BenchmarkALawDecodeFrame(b *testing.B) {
	pcm, codes := benchFrame()
	ALawEncodeFrame(codes, pcm)
	b.ReportAllocs()
	b.SetBytes(int64(len(codes)))
	for b.Loop() {
		ALawDecodeFrame(pcm, codes)
	}
}
