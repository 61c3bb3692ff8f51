package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// seekBuffer is an in-memory io.WriteSeeker, standing in for a recording's
// file.
type seekBuffer struct {
	b   []byte
	off int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if end := s.off + len(p); end > len(s.b) {
		s.b = append(s.b, make([]byte, end-len(s.b))...)
	}
	n := copy(s.b[s.off:], p)
	s.off += n
	return n, nil
}

func (s *seekBuffer) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += int64(s.off)
	case io.SeekEnd:
		offset += int64(len(s.b))
	}
	if offset < 0 {
		return 0, errors.New("seekBuffer: negative offset")
	}
	s.off = int(offset)
	return offset, nil
}

// checkHeader verifies the canonical 44-byte header of an 8 kHz mono 16-bit
// PCM file with riff and data as its two sizes.
func checkHeader(t *testing.T, h []byte, riff, data uint32) {
	t.Helper()
	if len(h) < wavHeaderSize {
		t.Fatalf("file is %d bytes, shorter than a WAV header", len(h))
	}
	le := binary.LittleEndian
	checks := []struct {
		name      string
		got, want any
	}{
		{"RIFF id", string(h[0:4]), "RIFF"},
		{"RIFF size", le.Uint32(h[4:]), riff},
		{"WAVE id", string(h[8:12]), "WAVE"},
		{"fmt id", string(h[12:16]), "fmt "},
		{"fmt size", le.Uint32(h[16:]), uint32(16)},
		{"format", le.Uint16(h[20:]), uint16(wavFormatPCM)},
		{"channels", le.Uint16(h[22:]), uint16(1)},
		{"rate", le.Uint32(h[24:]), uint32(SampleRate)},
		{"byte rate", le.Uint32(h[28:]), uint32(2 * SampleRate)},
		{"block align", le.Uint16(h[32:]), uint16(2)},
		{"bits", le.Uint16(h[34:]), uint16(16)},
		{"data id", string(h[36:40]), "data"},
		{"data size", le.Uint32(h[40:]), data},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("header %s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestWAVWriterHeaderPatchedOnClose(t *testing.T) {
	var f seekBuffer
	w, err := NewWAVWriter(&f)
	if err != nil {
		t.Fatal(err)
	}
	checkHeader(t, f.b, wavUnknownSize, wavUnknownSize)

	frame := []int16{0, 1, -1, 32767, -32768, 1234, -1234, 42}
	for range 3 {
		if err := w.Write(frame); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.Samples(); got != 3*len(frame) {
		t.Errorf("Samples() = %d, want %d", got, 3*len(frame))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	data := uint32(3 * len(frame) * 2)
	checkHeader(t, f.b, 36+data, data)
	if len(f.b) != wavHeaderSize+int(data) {
		t.Errorf("file is %d bytes, want %d", len(f.b), wavHeaderSize+int(data))
	}
	if f.off != len(f.b) {
		t.Errorf("Close left the offset at %d, want the end (%d)", f.off, len(f.b))
	}
	for i, s := range frame {
		if got := int16(binary.LittleEndian.Uint16(f.b[wavHeaderSize+2*i:])); got != s {
			t.Errorf("sample %d = %d, want %d", i, got, s)
		}
	}

	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Write(frame); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestWAVWriterStartsAtCurrentOffset(t *testing.T) {
	f := seekBuffer{b: []byte("prefix")}
	f.off = len(f.b)
	w, err := NewWAVWriter(&f)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(make([]int16, 10)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if string(f.b[:6]) != "prefix" {
		t.Errorf("prefix overwritten: %q", f.b[:6])
	}
	checkHeader(t, f.b[6:], 36+20, 20)
}

func TestWAVWriterLargeWriteIsChunked(t *testing.T) {
	var f seekBuffer
	w, err := NewWAVWriter(&f)
	if err != nil {
		t.Fatal(err)
	}
	samples := make([]int16, 3*wavWriteBuf+7)
	for i := range samples {
		samples[i] = int16(i * 7)
	}
	if err := w.Write(samples); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for i, s := range samples {
		if got := int16(binary.LittleEndian.Uint16(f.b[wavHeaderSize+2*i:])); got != s {
			t.Fatalf("sample %d = %d, want %d", i, got, s)
		}
	}
}

func TestWAVWriterWriteDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	f := seekBuffer{b: make([]byte, 0, 1<<20)}
	w, err := NewWAVWriter(&f)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]int16, 160)
	if n := testing.AllocsPerRun(100, func() { w.Write(frame) }); n != 0 {
		t.Errorf("Write allocates %v times per 20 ms frame, want 0", n)
	}
}

// failWriter fails every write after the first limit bytes.
type failWriter struct {
	seekBuffer
	limit int
}

var errDiskFull = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if f.off+len(p) > f.limit {
		n, _ := f.seekBuffer.Write(p[:max(0, f.limit-f.off)])
		return n, errDiskFull
	}
	return f.seekBuffer.Write(p)
}

func TestWAVWriterErrorIsSticky(t *testing.T) {
	f := failWriter{limit: wavHeaderSize + 100}
	w, err := NewWAVWriter(&f)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Write(make([]int16, 160))
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Write past the limit: err = %v, want errDiskFull", err)
	}
	if got := w.Samples(); got != 50 {
		t.Errorf("Samples() = %d after a short write, want 50", got)
	}
	if err := w.Write(make([]int16, 1)); !errors.Is(err, errDiskFull) {
		t.Errorf("second Write: err = %v, want the first error again", err)
	}
	if err := w.Close(); !errors.Is(err, errDiskFull) {
		t.Errorf("Close: err = %v, want the write error", err)
	}
	checkHeader(t, f.b, wavUnknownSize, wavUnknownSize)
}

func TestWriteWAVHeaderAndData(t *testing.T) {
	var buf bytes.Buffer
	samples := []int16{100, -100, 32767, -32768}
	if err := WriteWAV(&buf, samples); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	checkHeader(t, b, 36+8, 8)
	if len(b) != wavHeaderSize+8 {
		t.Fatalf("file is %d bytes, want %d", len(b), wavHeaderSize+8)
	}
	for i, s := range samples {
		if got := int16(binary.LittleEndian.Uint16(b[wavHeaderSize+2*i:])); got != s {
			t.Errorf("sample %d = %d, want %d", i, got, s)
		}
	}
}

// wavSpec describes a WAV file for buildWAV.
type wavSpec struct {
	format     uint16
	channels   int
	rate       int
	bits       int
	extensible bool        // wrap format in WAVE_FORMAT_EXTENSIBLE
	dataSize   *uint32     // written instead of the true data size
	before     [][2]string // extra chunks (id, body) before fmt
	between    [][2]string // extra chunks between fmt and data
	after      [][2]string // extra chunks after data
}

// buildWAV assembles a WAV file by hand, independently of WAVWriter, so the
// reader is tested against the format rather than against the writer.
func buildWAV(spec wavSpec, data []byte) []byte {
	le := binary.LittleEndian
	var b []byte
	chunk := func(id string, body []byte) {
		b = append(b, id...)
		b = le.AppendUint32(b, uint32(len(body)))
		b = append(b, body...)
		if len(body)%2 == 1 {
			b = append(b, 0)
		}
	}
	b = append(b, "RIFF\x00\x00\x00\x00WAVE"...)
	for _, c := range spec.before {
		chunk(c[0], []byte(c[1]))
	}
	frame := spec.channels * spec.bits / 8
	var fmtc []byte
	tag := spec.format
	if spec.extensible {
		tag = wavFormatExtensible
	}
	fmtc = le.AppendUint16(fmtc, tag)
	fmtc = le.AppendUint16(fmtc, uint16(spec.channels))
	fmtc = le.AppendUint32(fmtc, uint32(spec.rate))
	fmtc = le.AppendUint32(fmtc, uint32(spec.rate*frame))
	fmtc = le.AppendUint16(fmtc, uint16(frame))
	fmtc = le.AppendUint16(fmtc, uint16(spec.bits))
	if spec.extensible {
		fmtc = le.AppendUint16(fmtc, 22)
		fmtc = le.AppendUint16(fmtc, uint16(spec.bits))
		fmtc = le.AppendUint32(fmtc, uint32(1<<spec.channels-1))
		fmtc = le.AppendUint16(fmtc, spec.format)
		fmtc = append(fmtc, wavExtensibleGUID...)
	}
	chunk("fmt ", fmtc)
	for _, c := range spec.between {
		chunk(c[0], []byte(c[1]))
	}
	start := len(b)
	chunk("data", data)
	if spec.dataSize != nil {
		le.PutUint32(b[start+4:], *spec.dataSize)
	}
	for _, c := range spec.after {
		chunk(c[0], []byte(c[1]))
	}
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// sine returns n samples of a sine of f Hz at amplitude amp (0..1) at rate.
func sine(f, amp float64, rate, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate))
	}
	return x
}

// encodeSamples interleaves channels (each -1..1) into the bytes of a data
// chunk in the given format.
func encodeSamples(format uint16, bits int, channels ...[]float64) []byte {
	le := binary.LittleEndian
	var b []byte
	for i := range channels[0] {
		for _, ch := range channels {
			v := ch[i]
			s16 := int16(math.Round(v * 32767))
			switch {
			case format == wavFormatULaw:
				b = append(b, ULawEncode(s16))
			case format == wavFormatALaw:
				b = append(b, ALawEncode(s16))
			case format == wavFormatFloat && bits == 32:
				b = le.AppendUint32(b, math.Float32bits(float32(v)))
			case format == wavFormatFloat:
				b = le.AppendUint64(b, math.Float64bits(v))
			case bits == 8:
				b = append(b, byte(math.Round(v*127)+128))
			case bits == 16:
				b = le.AppendUint16(b, uint16(s16))
			case bits == 24:
				s := int32(math.Round(v * (1<<23 - 1)))
				b = append(b, byte(s), byte(s>>8), byte(s>>16))
			case bits == 32:
				b = le.AppendUint32(b, uint32(int32(math.Round(v*(1<<31-1)))))
			}
		}
	}
	return b
}

func TestReadWAVRoundTripsWriteWAV(t *testing.T) {
	want := Tone(440, 0.7, 250_000_000)
	want = append(want, 32767, -32768, 0, 1, -1)
	var buf bytes.Buffer
	if err := WriteWAV(&buf, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWAV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("read back %d samples differing from the %d written", len(got), len(want))
	}
}

func TestReadWAVEmptyData(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteWAV(&buf, nil); err != nil {
		t.Fatal(err)
	}
	got, err := ReadWAV(&buf)
	if err != nil || len(got) != 0 {
		t.Errorf("empty WAV: got %d samples, err %v; want 0, nil", len(got), err)
	}
}

// TestReadWAVConvertsToTelephoneAudio feeds one second of a 1 kHz tone in
// each supported encoding and checks that 8 kHz mono comes out: the tone at
// the expected level, nothing at 3 kHz, the duration kept.
func TestReadWAVConvertsToTelephoneAudio(t *testing.T) {
	const f, amp = 1000, 0.5
	tests := map[string]struct {
		spec   wavSpec
		stereo string // "", "both" or "left": where the tone is
		level  float64
	}{
		"44.1 kHz stereo 16-bit":     {spec: wavSpec{format: wavFormatPCM, channels: 2, rate: 44100, bits: 16}, stereo: "both", level: amp * amp},
		"44.1 kHz stereo, left only": {spec: wavSpec{format: wavFormatPCM, channels: 2, rate: 44100, bits: 16}, stereo: "left", level: amp * amp / 4},
		"48 kHz mono 16-bit":         {spec: wavSpec{format: wavFormatPCM, channels: 1, rate: 48000, bits: 16}, level: amp * amp},
		"16 kHz mono 16-bit":         {spec: wavSpec{format: wavFormatPCM, channels: 1, rate: 16000, bits: 16}, level: amp * amp},
		"22.05 kHz mono 16-bit":      {spec: wavSpec{format: wavFormatPCM, channels: 1, rate: 22050, bits: 16}, level: amp * amp},
		"11.025 kHz mono 8-bit":      {spec: wavSpec{format: wavFormatPCM, channels: 1, rate: 11025, bits: 8}, level: amp * amp},
		"8 kHz mono 16-bit":          {spec: wavSpec{format: wavFormatPCM, channels: 1, rate: 8000, bits: 16}, level: amp * amp},
		"32 kHz mono 24-bit":         {spec: wavSpec{format: wavFormatPCM, channels: 1, rate: 32000, bits: 24}, level: amp * amp},
		"96 kHz stereo 32-bit":       {spec: wavSpec{format: wavFormatPCM, channels: 2, rate: 96000, bits: 32}, stereo: "both", level: amp * amp},
		"44.1 kHz mono float32":      {spec: wavSpec{format: wavFormatFloat, channels: 1, rate: 44100, bits: 32}, level: amp * amp},
		"12 kHz mono float64":        {spec: wavSpec{format: wavFormatFloat, channels: 1, rate: 12000, bits: 64}, level: amp * amp},
		"8 kHz µ-law":                {spec: wavSpec{format: wavFormatULaw, channels: 1, rate: 8000, bits: 8}, level: amp * amp},
		"8 kHz A-law":                {spec: wavSpec{format: wavFormatALaw, channels: 1, rate: 8000, bits: 8}, level: amp * amp},
		"8 kHz stereo µ-law":         {spec: wavSpec{format: wavFormatULaw, channels: 2, rate: 8000, bits: 8}, stereo: "both", level: amp * amp},
		"extensible 48 kHz stereo":   {spec: wavSpec{format: wavFormatPCM, channels: 2, rate: 48000, bits: 16, extensible: true}, stereo: "both", level: amp * amp},
		"extensible µ-law":           {spec: wavSpec{format: wavFormatULaw, channels: 1, rate: 8000, bits: 8, extensible: true}, level: amp * amp},
		"extensible A-law":           {spec: wavSpec{format: wavFormatALaw, channels: 1, rate: 8000, bits: 8, extensible: true}, level: amp * amp},
		"extensible float32":         {spec: wavSpec{format: wavFormatFloat, channels: 1, rate: 16000, bits: 32, extensible: true}, level: amp * amp},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			tone := sine(f, amp, tt.spec.rate, tt.spec.rate) // one second
			var data []byte
			switch tt.stereo {
			case "both":
				data = encodeSamples(tt.spec.format, tt.spec.bits, tone, tone)
			case "left":
				data = encodeSamples(tt.spec.format, tt.spec.bits, tone, make([]float64, len(tone)))
			default:
				data = encodeSamples(tt.spec.format, tt.spec.bits, tone)
			}
			got, err := ReadWAV(bytes.NewReader(buildWAV(tt.spec, data)))
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(len(got))-SampleRate) / SampleRate; d > 0.01 {
				t.Errorf("%d samples for one second, want %d within 1%%", len(got), SampleRate)
			}
			if lvl := ToneLevel(got, f, SampleRate); math.Abs(lvl-tt.level) > 0.1*tt.level {
				t.Errorf("level at %v Hz = %.4f, want %.4f within 10%%", f, lvl, tt.level)
			}
			// G.711 quantisation itself puts odd harmonics about 34 dB
			// below the tone; linear PCM must be far cleaner.
			limit := 1e-5
			if f := tt.spec.format; f == wavFormatULaw || f == wavFormatALaw {
				limit = 1e-3
			}
			if lvl := ToneLevel(got, 3000, SampleRate); lvl > limit {
				t.Errorf("level at 3000 Hz = %.2g, want below %.0g", lvl, limit)
			}
		})
	}
}

// TestReadWAVFiltersAliases checks the anti-aliasing: a 7 kHz tone at
// 44.1 kHz is above the 4 kHz Nyquist of the switch and would fold onto
// 1 kHz if samples were merely dropped.
func TestReadWAVFiltersAliases(t *testing.T) {
	spec := wavSpec{format: wavFormatPCM, channels: 1, rate: 44100, bits: 16}
	data := encodeSamples(wavFormatPCM, 16, sine(7000, 0.9, 44100, 44100))
	got, err := ReadWAV(bytes.NewReader(buildWAV(spec, data)))
	if err != nil {
		t.Fatal(err)
	}
	if lvl := ToneLevel(got, 1000, SampleRate); lvl > 1e-5 {
		t.Errorf("level at the 1 kHz alias = %.2g, want below 1e-5 (-50 dB)", lvl)
	}
	// The abrupt start and end of the tone have genuine low-frequency
	// content, so only the interior must be quiet: skip a filter length.
	var peak int16
	for _, s := range got[64 : len(got)-64] {
		peak = max(peak, s, -s)
	}
	if peak > 30 {
		t.Errorf("peak %d left of a 7 kHz tone at 0.9 full scale, want under 30 (-60 dB)", peak)
	}
}

func TestReadWAVSkipsOtherChunks(t *testing.T) {
	want := []int16{1, -2, 3, -4, 5}
	data := encodeSamples(wavFormatPCM, 16, []float64{1.0 / 32767, -2.0 / 32767, 3.0 / 32767, -4.0 / 32767, 5.0 / 32767})
	tests := map[string]wavSpec{
		"LIST before fmt":        {before: [][2]string{{"LIST", "INFOISFT\x05\x00\x00\x00Lavf\x00"}}},
		"odd chunk before fmt":   {before: [][2]string{{"junk", "odd"}}},
		"fact between":           {between: [][2]string{{"fact", "\x05\x00\x00\x00"}}},
		"odd chunk between":      {between: [][2]string{{"bext", "x"}, {"cue ", ""}}},
		"chunks after data":      {after: [][2]string{{"LIST", "trailing metadata"}}},
		"empty chunk before fmt": {before: [][2]string{{"JUNK", ""}}},
	}
	for name, spec := range tests {
		t.Run(name, func(t *testing.T) {
			spec.format, spec.channels, spec.rate, spec.bits = wavFormatPCM, 1, 8000, 16
			got, err := ReadWAV(bytes.NewReader(buildWAV(spec, data)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("samples %v, want %v", got, want)
			}
		})
	}
}

func TestReadWAVOddFmtChunk(t *testing.T) {
	// An 18-byte fmt chunk (cbSize = 0) plus one odd byte: 19, padded.
	spec := wavSpec{format: wavFormatPCM, channels: 1, rate: 8000, bits: 16}
	b := buildWAV(spec, []byte{7, 0})
	odd := slices.Concat(b[:16], []byte{19, 0, 0, 0}, b[20:36], []byte{0, 0, 0xEE, 0}, b[36:])
	got, err := ReadWAV(bytes.NewReader(odd))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int16{7}) {
		t.Errorf("samples %v, want [7]", got)
	}
}

func TestReadWAVUnknownDataSizeReadsToEOF(t *testing.T) {
	want := Tone(1000, 0.5, 20_000_000)
	var pcm bytes.Buffer
	WriteWAV(&pcm, want)
	data := pcm.Bytes()[wavHeaderSize:]
	zero, unknown, long := uint32(0), uint32(wavUnknownSize), uint32(len(data)+1000)
	tests := map[string]*uint32{
		"size 0":               &zero,
		"size 0xFFFFFFFF":      &unknown,
		"size beyond the file": &long,
	}
	for name, size := range tests {
		t.Run(name, func(t *testing.T) {
			spec := wavSpec{format: wavFormatPCM, channels: 1, rate: 8000, bits: 16, dataSize: size}
			got, err := ReadWAV(bytes.NewReader(buildWAV(spec, data)))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("read %d samples, want the %d written", len(got), len(want))
			}
		})
	}
}

func TestReadWAVRejectsNonAudio(t *testing.T) {
	valid := buildWAV(wavSpec{format: wavFormatPCM, channels: 1, rate: 8000, bits: 16}, make([]byte, 100))
	spec := func(format uint16, channels, rate, bits int) []byte {
		return buildWAV(wavSpec{format: format, channels: channels, rate: rate, bits: bits}, make([]byte, 64))
	}
	badGUID := buildWAV(wavSpec{format: wavFormatPCM, channels: 1, rate: 8000, bits: 16, extensible: true}, make([]byte, 64))
	badGUID[20+8+26] ^= 0xFF // a byte of the GUID tail
	shortFmt := slices.Concat(valid[:16], []byte{14, 0, 0, 0}, valid[20:34], valid[36:])

	tests := map[string][]byte{
		"empty":                     nil,
		"garbage":                   {0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		"text file":                 []byte("Please hold, your call is important to us.\n"),
		"MP3 with ID3 tag":          append([]byte("ID3\x03\x00\x00\x00\x00\x00\x21"), make([]byte, 64)...),
		"MP3 frame header":          append([]byte{0xFF, 0xFB, 0x90, 0x64}, make([]byte, 64)...),
		"AVI, RIFF but not WAVE":    append([]byte("RIFF\x00\x10\x00\x00AVI LIST"), make([]byte, 64)...),
		"truncated RIFF header":     valid[:10],
		"truncated chunk header":    valid[:16],
		"truncated fmt chunk":       valid[:30],
		"no data chunk":             valid[:36],
		"data before fmt":           slices.Concat(valid[:12], []byte("data\x02\x00\x00\x00\x00\x00"), valid[12:]),
		"fmt chunk too short":       shortFmt,
		"3 channels":                spec(wavFormatPCM, 3, 8000, 16),
		"no channels":               spec(wavFormatPCM, 0, 8000, 16),
		"rate 2 kHz":                spec(wavFormatPCM, 1, 2000, 16),
		"rate 384 kHz":              spec(wavFormatPCM, 1, 384000, 16),
		"12-bit PCM":                spec(wavFormatPCM, 1, 8000, 12),
		"16-bit float":              spec(wavFormatFloat, 1, 8000, 16),
		"16-bit µ-law":              spec(wavFormatULaw, 1, 8000, 16),
		"MP3 in WAV (format 0x55)":  spec(0x55, 1, 8000, 16),
		"GSM 6.10 (format 0x31)":    spec(0x31, 1, 8000, 0),
		"extensible, unknown GUID":  badGUID,
		"huge chunk skipped to EOF": slices.Concat(valid[:12], []byte("LIST\xff\xff\xff\x7f"), valid[12:]),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ReadWAV(bytes.NewReader(b))
			if !errors.Is(err, ErrNotAudio) {
				t.Fatalf("err = %v (%d samples), want ErrNotAudio", err, len(got))
			}
			if !strings.HasPrefix(err.Error(), ErrNotAudio.Error()+": ") {
				t.Errorf("error %q gives no reason", err)
			}
		})
	}
}

func TestReadWAVReaderFailureIsNotErrNotAudio(t *testing.T) {
	errDisk := errors.New("I/O error")
	valid := buildWAV(wavSpec{format: wavFormatPCM, channels: 1, rate: 8000, bits: 16}, make([]byte, 100))
	tests := map[string]int{"in the header": 6, "in the data": 50}
	for name, at := range tests {
		t.Run(name, func(t *testing.T) {
			r := io.MultiReader(bytes.NewReader(valid[:at]), iotest.ErrReader(errDisk))
			_, err := ReadWAV(r)
			if !errors.Is(err, errDisk) || errors.Is(err, ErrNotAudio) {
				t.Errorf("err = %v, want the reader's error and not ErrNotAudio", err)
			}
		})
	}
}

func TestLoadWAVErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "alice.wav")
	if err := os.WriteFile(text, []byte("not audio at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		path string
		is   error
	}{
		"text file":    {text, ErrNotAudio},
		"missing file": {filepath.Join(dir, "bob.wav"), fs.ErrNotExist},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := LoadWAV(tt.path)
			if !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if err == nil || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("error %q does not name %s", err, tt.path)
			}
		})
	}
}

// TestWAVWriterFileReadsBack records to a real file and loads it, closed
// and, as after a crash, never closed.
func TestWAVWriterFileReadsBack(t *testing.T) {
	want := slices.Concat(Tone(1000, 0.5, 100_000_000), Tone(2000, 0.25, 100_000_000))
	for name, closeIt := range map[string]bool{"closed": true, "never closed": false} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vm.wav")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w, err := NewWAVWriter(f)
			if err != nil {
				t.Fatal(err)
			}
			for frame := range slices.Chunk(want, 160) {
				if err := w.Write(frame); err != nil {
					t.Fatal(err)
				}
			}
			if closeIt {
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := LoadWAV(path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) {
				t.Errorf("loaded %d samples, want the %d written", len(got), len(want))
			}
			head, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if closeIt {
				data := uint32(2 * len(want))
				checkHeader(t, head, 36+data, data)
			} else {
				checkHeader(t, head, wavUnknownSize, wavUnknownSize)
			}
		})
	}
}

// FuzzReadWAV checks that no input makes ReadWAV panic or hang, and that
// whatever it rejects as a file is ErrNotAudio.
func FuzzReadWAV(f *testing.F) {
	seeds := []wavSpec{
		{format: wavFormatPCM, channels: 1, rate: 8000, bits: 16},
		{format: wavFormatPCM, channels: 2, rate: 44100, bits: 16},
		{format: wavFormatPCM, channels: 1, rate: 11025, bits: 8},
		{format: wavFormatPCM, channels: 2, rate: 48000, bits: 24, extensible: true},
		{format: wavFormatFloat, channels: 1, rate: 16000, bits: 32},
		{format: wavFormatULaw, channels: 1, rate: 8000, bits: 8},
		{format: wavFormatALaw, channels: 1, rate: 8000, bits: 8, between: [][2]string{{"fact", "abc"}}},
	}
	for _, s := range seeds {
		f.Add(buildWAV(s, encodeSamples(s.format, s.bits, sine(1000, 0.5, s.rate, 64))[:64*s.bits/8]))
	}
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVE"))
	f.Add([]byte("ID3\x03"))
	f.Fuzz(func(t *testing.T, b []byte) {
		samples, err := ReadWAV(bytes.NewReader(b))
		if err != nil && samples != nil {
			t.Errorf("samples returned with error %v", err)
		}
		if err != nil && !errors.Is(err, ErrNotAudio) {
			t.Errorf("error %v from a byte slice is not ErrNotAudio", err)
		}
	})
}
