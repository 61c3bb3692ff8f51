package prompts

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The one format the package ships (see generate.sh).
const (
	sampleRate    = 8000
	channels      = 1
	bitsPerSample = 16
	formatPCM     = 1
)

// errBadWAV means an embedded file is not the WAV format the package ships:
// a bug in generate.sh, caught by the tests.
var errBadWAV = errors.New("prompts: not an 8 kHz mono 16-bit PCM WAV file")

// decodeWAV returns the samples of an 8 kHz mono 16-bit PCM WAV file. It
// walks the RIFF chunks, so chunks other than fmt and data (LIST, fact, ...)
// are skipped whatever their place, and it honours the pad byte after an
// odd-sized chunk. Any other format is errBadWAV.
func decodeWAV(b []byte) ([]int16, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("%w: no RIFF/WAVE header", errBadWAV)
	}
	var haveFmt bool
	for rest := b[12:]; len(rest) >= 8; {
		id, size := string(rest[0:4]), binary.LittleEndian.Uint32(rest[4:8])
		rest = rest[8:]
		if uint64(size) > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: chunk %q overruns the file", errBadWAV, id)
		}
		body := rest[:size]
		switch id {
		case "fmt ":
			if size < 16 {
				return nil, fmt.Errorf("%w: short fmt chunk", errBadWAV)
			}
			format := binary.LittleEndian.Uint16(body[0:2])
			ch := binary.LittleEndian.Uint16(body[2:4])
			rate := binary.LittleEndian.Uint32(body[4:8])
			bits := binary.LittleEndian.Uint16(body[14:16])
			if format != formatPCM || ch != channels || rate != sampleRate || bits != bitsPerSample {
				return nil, fmt.Errorf("%w: format %d, %d channels, %d Hz, %d bits", errBadWAV, format, ch, rate, bits)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, fmt.Errorf("%w: data before fmt", errBadWAV)
			}
			samples := make([]int16, size/2)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return samples, nil
		}
		rest = rest[size:]
		if size%2 == 1 && len(rest) > 0 {
			rest = rest[1:] // RIFF pads odd-sized chunks to an even length
		}
	}
	return nil, fmt.Errorf("%w: no data chunk", errBadWAV)
}
