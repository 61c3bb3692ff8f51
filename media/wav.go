package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// SampleRate is the rate everything inside the switch runs at, in samples
// per second: the G.711 clock. Prompts are converted to it when loaded and
// recordings are written at it.
const SampleRate = 8000

// ErrNotAudio means the input is not an audio file the package can decode:
// not a WAV file, or a WAV file in an encoding it does not support. It is
// wrapped with the reason; callers match it with errors.Is.
var ErrNotAudio = errors.New("media: not a supported audio file")

// ErrAudioTooLong is what ReadWAVAtMost returns for audio longer than it was allowed, found
// from the header's sizes before anything is decoded.
var ErrAudioTooLong = errors.New("media: audio too long")

// errWAVTooLong means a recording outgrew what the 32-bit sizes of a WAV
// header can describe (about 74 hours at 8 kHz).
var errWAVTooLong = errors.New("media: WAV data exceeds 4 GiB")

// WAV format tags (the fmt chunk's first field) that ReadWAV decodes.
const (
	wavFormatPCM        = 1
	wavFormatFloat      = 3
	wavFormatALaw       = 6
	wavFormatULaw       = 7
	wavFormatExtensible = 0xFFFE
)

const (
	// wavHeaderSize is the canonical header: RIFF, fmt (16 bytes) and data
	// chunk headers, with the samples right after it.
	wavHeaderSize = 44
	// wavRIFFSizeOffset and wavDataSizeOffset locate the two sizes that
	// WAVWriter.Close patches.
	wavRIFFSizeOffset = 4
	wavDataSizeOffset = 40
	// wavUnknownSize is the placeholder written until Close: the value
	// streaming tools (ffmpeg, sox) use for "length unknown, read to EOF",
	// so a file still being written, or left behind by a crash, plays.
	wavUnknownSize = 0xFFFFFFFF
	// wavMaxData is the most sample data a header can describe: the RIFF
	// size counts the 36 header bytes after it, and wavUnknownSize is taken.
	wavMaxData = math.MaxUint32 - 1 - (wavHeaderSize - 8)
	// wavWriteBuf is WAVWriter's conversion buffer: larger writes are cut
	// into pieces of this size so memory stays bounded whatever the caller
	// passes.
	wavWriteBuf = 4096
)

// putWAVHeader fills h (44 bytes) with the header of an 8 kHz mono 16-bit
// PCM file with dataSize bytes of samples; riffSize is the RIFF chunk size,
// normally dataSize+36, or wavUnknownSize while recording.
func putWAVHeader(h []byte, riffSize, dataSize uint32) {
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], riffSize)
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	le.PutUint32(h[16:], 16)           // fmt chunk size
	le.PutUint16(h[20:], wavFormatPCM) // format tag
	le.PutUint16(h[22:], 1)            // channels
	le.PutUint32(h[24:], SampleRate)   // sample rate
	le.PutUint32(h[28:], SampleRate*2) // byte rate
	le.PutUint16(h[32:], 2)            // block align
	le.PutUint16(h[34:], 16)           // bits per sample
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataSize)
}

// putSamples writes samples as little-endian 16-bit PCM into b, which must
// hold 2*len(samples) bytes.
func putSamples(b []byte, samples []int16) {
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
}

// WAVWriter streams 8 kHz mono 16-bit PCM into a WAV file, such as a
// voicemail recording. The header goes out at once with placeholder sizes
// (0xFFFFFFFF, "read to EOF"), so the file is playable while it is being
// written and ReadWAV recovers it if the switch dies before Close; Close
// patches the real sizes in.
//
// A WAVWriter is not safe for concurrent use. After a write error every
// later call returns that error.
type WAVWriter struct {
	w     io.WriteSeeker
	start int64 // offset of the header in w, which need not be 0
	n     int   // samples written
	buf   []byte
	err   error
	done  bool
}

// NewWAVWriter writes a WAV header at w's current offset and returns a writer
// for the samples that follow. w must support seeking back to that offset,
// which Close does to patch the sizes.
func NewWAVWriter(w io.WriteSeeker) (*WAVWriter, error) {
	start, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("media: locate WAV header: %w", err)
	}
	ww := &WAVWriter{w: w, start: start, buf: make([]byte, wavWriteBuf)}
	putWAVHeader(ww.buf, wavUnknownSize, wavUnknownSize)
	if _, err := w.Write(ww.buf[:wavHeaderSize]); err != nil {
		return nil, fmt.Errorf("media: write WAV header: %w", err)
	}
	return ww, nil
}

// Write appends samples to the file. It does not allocate: samples are
// converted through a buffer owned by the writer.
func (w *WAVWriter) Write(samples []int16) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("media: write WAV samples: writer closed")
	}
	if uint64(w.n+len(samples))*2 > wavMaxData {
		w.err = fmt.Errorf("media: write WAV samples after %d: %w", w.n, errWAVTooLong)
		return w.err
	}
	for len(samples) > 0 {
		chunk := samples[:min(len(samples), len(w.buf)/2)]
		samples = samples[len(chunk):]
		putSamples(w.buf, chunk)
		n, err := w.w.Write(w.buf[:2*len(chunk)])
		w.n += n / 2
		if err != nil {
			w.err = fmt.Errorf("media: write WAV samples after %d: %w", w.n, err)
			return w.err
		}
	}
	return nil
}

// Samples returns the number of samples written so far.
func (w *WAVWriter) Samples() int { return w.n }

// Close patches the RIFF and data chunk sizes into the header and leaves w's
// offset at the end of the samples. It does not close the underlying writer,
// which the caller owns. Calling Close again does nothing; Write after Close
// fails.
func (w *WAVWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	if w.err != nil {
		// The samples on disk may be torn; keep the "read to EOF" sizes
		// so whatever made it out is still readable.
		return w.err
	}
	data := uint32(2 * w.n)
	var size [4]byte
	patch := func(off int64, v uint32) error {
		binary.LittleEndian.PutUint32(size[:], v)
		if _, err := w.w.Seek(w.start+off, io.SeekStart); err != nil {
			return err
		}
		_, err := w.w.Write(size[:])
		return err
	}
	if err := patch(wavRIFFSizeOffset, data+wavHeaderSize-8); err != nil {
		return fmt.Errorf("media: patch WAV RIFF size: %w", err)
	}
	if err := patch(wavDataSizeOffset, data); err != nil {
		return fmt.Errorf("media: patch WAV data size: %w", err)
	}
	if _, err := w.w.Seek(w.start+wavHeaderSize+int64(data), io.SeekStart); err != nil {
		return fmt.Errorf("media: seek to end of WAV data: %w", err)
	}
	return nil
}

// WriteWAV writes samples as a complete 8 kHz mono 16-bit PCM WAV file. Unlike
// WAVWriter it needs no seeking, since the sizes are known up front.
func WriteWAV(w io.Writer, samples []int16) error {
	if uint64(len(samples))*2 > wavMaxData {
		return fmt.Errorf("media: write WAV of %d samples: %w", len(samples), errWAVTooLong)
	}
	buf := make([]byte, wavWriteBuf)
	data := uint32(2 * len(samples))
	putWAVHeader(buf, data+wavHeaderSize-8, data)
	if _, err := w.Write(buf[:wavHeaderSize]); err != nil {
		return fmt.Errorf("media: write WAV header: %w", err)
	}
	for done := 0; len(samples) > 0; {
		chunk := samples[:min(len(samples), len(buf)/2)]
		samples = samples[len(chunk):]
		putSamples(buf, chunk)
		if _, err := w.Write(buf[:2*len(chunk)]); err != nil {
			return fmt.Errorf("media: write WAV samples after %d: %w", done, err)
		}
		done += len(chunk)
	}
	return nil
}

// Limits ReadWAV accepts. Rates outside 4..192 kHz are not speech or music
// anyone records, and usually mean a corrupt header.
const (
	wavMinRate = 4000
	wavMaxRate = 192000
	// wavMaxFmt bounds the fmt chunk ReadWAV buffers; real ones are 16, 18
	// or 40 bytes.
	wavMaxFmt = 1 << 10
)

// wavExtensibleGUID is the tail of every KSDATAFORMAT_SUBTYPE GUID in a
// WAVE_FORMAT_EXTENSIBLE header; the first two bytes are the format tag.
var wavExtensibleGUID = []byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

// wavFormat is what ReadWAV needs from a fmt chunk.
type wavFormat struct {
	tag        uint16 // after resolving WAVE_FORMAT_EXTENSIBLE
	channels   int
	rate       int
	blockAlign int
	bits       int
}

// notAudio wraps ErrNotAudio with the reason.
func notAudio(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrNotAudio}, args...)...)
}

// ReadWAV decodes a WAV file into mono 16-bit samples at SampleRate. It
// accepts PCM (8-bit unsigned, 16, 24 and 32-bit signed), 32 and 64-bit
// float, G.711 µ-law and A-law, plain or as WAVE_FORMAT_EXTENSIBLE, mono or
// stereo (averaged), at any rate from 4 to 192 kHz (resampled with an
// anti-aliasing filter). Chunks other than fmt and data are skipped. A data
// size of 0 or 0xFFFFFFFF, as left by a streaming writer or by a WAVWriter
// that was never closed, means "read to EOF", and a data chunk cut short is
// decoded as far as it goes.
//
// Input that is not such a file gives an error wrapping ErrNotAudio with the
// reason; a failing reader gives its own error, wrapped.
func ReadWAV(r io.Reader) ([]int16, error) { return ReadWAVAtMost(r, 0) }

// ReadWAVAtMost is ReadWAV for audio of at most max seconds (0: any length). The length is
// known from the format and the data chunk's size before a sample is read, so a long file is
// refused (ErrAudioTooLong) without decoding or holding it: eight uploads of a 10 MB 4 kHz
// 8-bit file, 40 minutes each, took 1.4 GB to find out they were too long. A data chunk of
// unknown size is read only as far as max allows.
func ReadWAVAtMost(r io.Reader, max float64) ([]int16, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, readErr(err, "RIFF header")
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, notAudio("no RIFF/WAVE header (starts with %q)", hdr[:4])
	}
	var f *wavFormat
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, notAudio("no data chunk")
			}
			return nil, readErr(err, "chunk header")
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:])
		switch id {
		case "fmt ":
			if size > wavMaxFmt {
				return nil, notAudio("fmt chunk of %d bytes", size)
			}
			b := make([]byte, size)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, readErr(err, "fmt chunk")
			}
			if size&1 == 1 {
				// The pad byte; if it is missing, reading the next
				// chunk header reports the truncation.
				io.CopyN(io.Discard, r, 1)
			}
			var err error
			if f, err = parseWAVFormat(b); err != nil {
				return nil, err
			}
		case "data":
			if f == nil {
				return nil, notAudio("data chunk before fmt chunk")
			}
			limit := int64(-1) // bytes of data allowed
			if max > 0 {
				limit = int64(max*float64(f.rate))*int64(f.blockAlign) + int64(f.blockAlign)
			}
			known := size != 0 && size != wavUnknownSize
			if known && limit >= 0 && int64(size) > limit {
				return nil, fmt.Errorf("%w: %.1f s, at most %g s", ErrAudioTooLong,
					float64(size)/float64(f.rate*f.blockAlign), max)
			}
			var data io.Reader = r
			switch {
			case known:
				data = io.LimitReader(r, int64(size))
			case limit >= 0:
				data = io.LimitReader(r, limit+1)
			}
			b, err := io.ReadAll(data)
			if err != nil {
				return nil, fmt.Errorf("media: read WAV data: %w", err)
			}
			if limit >= 0 && int64(len(b)) > limit {
				return nil, fmt.Errorf("%w: more than %g s", ErrAudioTooLong, max)
			}
			return decodeWAV(f, b), nil
		default:
			// LIST, fact, cue, bext, …: of no use here. Chunks are
			// padded to an even length.
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size&1)); err != nil {
				if errors.Is(err, io.EOF) {
					return nil, notAudio("no data chunk (file ends in a %q chunk)", id)
				}
				return nil, fmt.Errorf("media: skip WAV %q chunk: %w", id, err)
			}
		}
	}
}

// readErr classifies a failed read of part of a WAV file: running out of
// input means the file is truncated, anything else is the reader's fault.
func readErr(err error, part string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return notAudio("truncated %s", part)
	}
	return fmt.Errorf("media: read WAV %s: %w", part, err)
}

// parseWAVFormat checks a fmt chunk and returns the format if ReadWAV can
// decode it.
func parseWAVFormat(b []byte) (*wavFormat, error) {
	if len(b) < 16 {
		return nil, notAudio("fmt chunk of %d bytes, want at least 16", len(b))
	}
	le := binary.LittleEndian
	f := &wavFormat{
		tag:        le.Uint16(b[0:]),
		channels:   int(le.Uint16(b[2:])),
		rate:       int(le.Uint32(b[4:])),
		blockAlign: int(le.Uint16(b[12:])),
		bits:       int(le.Uint16(b[14:])),
	}
	if f.tag == wavFormatExtensible {
		// cbSize(2) validBits(2) channelMask(4) subformat GUID(16).
		if len(b) < 40 || le.Uint16(b[16:]) < 22 {
			return nil, notAudio("WAVE_FORMAT_EXTENSIBLE fmt chunk of %d bytes, want 40", len(b))
		}
		if !bytes.Equal(b[26:40], wavExtensibleGUID) {
			return nil, notAudio("unknown WAVE_FORMAT_EXTENSIBLE subformat % x", b[24:40])
		}
		f.tag = le.Uint16(b[24:])
	}
	switch {
	case f.channels != 1 && f.channels != 2:
		return nil, notAudio("%d channels, want mono or stereo", f.channels)
	case f.rate < wavMinRate || f.rate > wavMaxRate:
		return nil, notAudio("sample rate %d Hz, want %d to %d", f.rate, wavMinRate, wavMaxRate)
	}
	switch {
	case f.tag == wavFormatPCM && (f.bits == 8 || f.bits == 16 || f.bits == 24 || f.bits == 32):
	case f.tag == wavFormatFloat && (f.bits == 32 || f.bits == 64):
	case (f.tag == wavFormatULaw || f.tag == wavFormatALaw) && f.bits == 8:
	default:
		return nil, notAudio("format %#x with %d bits per sample", f.tag, f.bits)
	}
	if frame := f.channels * f.bits / 8; f.blockAlign < frame {
		// Some writers leave it 0 or get it wrong; the frame size
		// follows from the rest.
		f.blockAlign = frame
	}
	return f, nil
}

// decodeWAV turns the data chunk into mono samples at SampleRate. Frames
// are converted to float before averaging and resampling, so the result is
// rounded to 16 bits only once. A trailing partial frame is dropped.
func decodeWAV(f *wavFormat, b []byte) []int16 {
	size := f.bits / 8
	n := len(b) / f.blockAlign
	x := make([]float32, n)
	for i := range x {
		frame := b[i*f.blockAlign:]
		var sum float32
		for c := range f.channels {
			sum += decodeWAVSample(f.tag, size, frame[c*size:])
		}
		x[i] = sum / float32(f.channels)
	}
	if f.rate != SampleRate {
		x = resample(x, f.rate, SampleRate)
	}
	return toInt16(x)
}

// decodeWAVSample returns one sample scaled to the int16 range; float
// samples are clipped to full scale.
func decodeWAVSample(tag uint16, size int, b []byte) float32 {
	le := binary.LittleEndian
	switch tag {
	case wavFormatULaw:
		return float32(ulawTable[b[0]])
	case wavFormatALaw:
		return float32(alawTable[b[0]])
	case wavFormatFloat:
		v := float64(math.Float32frombits(le.Uint32(b)))
		if size == 8 {
			v = math.Float64frombits(le.Uint64(b))
		}
		if math.IsNaN(v) {
			return 0 // an Inf or NaN would spread through the filter
		}
		return float32(min(max(v, -1), 1) * 32768)
	}
	switch size {
	case 1:
		return float32(int(b[0])-128) * 256
	case 2:
		return float32(int16(le.Uint16(b)))
	case 3:
		return float32(int32(uint32(b[0])<<8|uint32(b[1])<<16|uint32(b[2])<<24)) / 65536
	default:
		return float32(int32(le.Uint32(b))) / 65536
	}
}

// LoadWAV reads the WAV file at path with ReadWAV. Every error names the
// file, such as "greetings/alice.wav: media: not a supported audio file: no
// RIFF/WAVE header".
func LoadWAV(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("media: load WAV: %w", err) // names the path
	}
	defer f.Close()
	samples, err := ReadWAV(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return samples, nil
}
