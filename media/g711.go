package media

import "math/bits"

// G.711 (ITU-T G.711) companding between 16-bit linear PCM and the 8-bit
// µ-law (PCMU, North America and Japan) and A-law (PCMA, elsewhere) codes
// carried in RTP. Decoding is a lookup in a 256-entry table; encoding finds
// the segment with one bit-length instruction rather than a 64 KiB table,
// which would cost more in cache misses than it saves in arithmetic.
//
// The quantisation follows the ITU-T G.191 reference code: µ-law works on
// the top 14 bits of the sample, A-law on the top 13, and negative samples
// are folded so that the codes are symmetric around zero.

const (
	// ulawBias is added to the 14-bit magnitude so that every segment
	// starts at a power of two (33 in the 14-bit domain, 132 in 16 bits).
	ulawBias = 33
	// ulawClip is the largest 14-bit magnitude that, once biased, still
	// fits in the top segment (33 + 8158 = 8191 = 0x1FFF).
	ulawClip = 8158
)

var (
	ulawTable = makeULawTable()
	alawTable = makeALawTable()
)

func makeULawTable() (t [256]int16) {
	for i := range t {
		u := ^byte(i)
		mag := (int32(u&0x0F)<<3 + 4*ulawBias) << (u >> 4 & 7)
		mag -= 4 * ulawBias
		if u&0x80 != 0 {
			mag = -mag
		}
		t[i] = int16(mag)
	}
	return t
}

func makeALawTable() (t [256]int16) {
	for i := range t {
		a := byte(i) ^ 0x55
		mag := int32(a&0x0F)<<4 + 8
		if seg := a >> 4 & 7; seg > 0 {
			mag = (mag + 0x100) << (seg - 1)
		}
		if a&0x80 == 0 {
			mag = -mag
		}
		t[i] = int16(mag)
	}
	return t
}

// ULawEncode returns the µ-law code of a 16-bit linear sample. Magnitudes
// beyond 32124, the largest µ-law can represent, are clipped to it.
func ULawEncode(s int16) byte {
	v, mask := int32(s), byte(0xFF)
	if v < 0 {
		v, mask = -v, 0x7F
	}
	v = min(v>>2, ulawClip) + ulawBias // 33..8191: segment 0 starts at bit 5
	seg := bits.Len32(uint32(v)) - 6
	return byte(seg<<4|int(v>>(seg+1))&0x0F) ^ mask
}

// ULawDecode returns the 16-bit linear sample of a µ-law code, in the middle
// of the range of samples that encode to it.
func ULawDecode(b byte) int16 { return ulawTable[b] }

// ALawEncode returns the A-law code of a 16-bit linear sample. Magnitudes
// beyond 32256, the largest A-law can represent, are clipped to it.
func ALawEncode(s int16) byte {
	v, mask := int32(s), byte(0xD5)
	if v < 0 {
		// One's complement, as in G.191: -1 folds onto 0, so the
		// negative codes mirror the positive ones.
		v, mask = ^v, 0x55
	}
	v >>= 4 // 0..2047
	if v < 16 {
		return byte(v) ^ mask
	}
	seg := bits.Len32(uint32(v)) - 4 // 16..31 is segment 1
	return byte(seg<<4|int(v>>(seg-1))&0x0F) ^ mask
}

// ALawDecode returns the 16-bit linear sample of an A-law code, in the middle
// of the range of samples that encode to it.
func ALawDecode(b byte) int16 { return alawTable[b] }

// ULawEncodeFrame encodes src into dst, typically one 20 ms frame (160
// samples). It does not allocate. It panics if dst is shorter than src.
func ULawEncodeFrame(dst []byte, src []int16) {
	if len(dst) < len(src) {
		panic("media: ULawEncodeFrame: dst shorter than src")
	}
	dst = dst[:len(src)]
	for i, s := range src {
		dst[i] = ULawEncode(s)
	}
}

// ULawDecodeFrame decodes src into dst, typically one 20 ms RTP payload. It
// does not allocate. It panics if dst is shorter than src.
func ULawDecodeFrame(dst []int16, src []byte) {
	if len(dst) < len(src) {
		panic("media: ULawDecodeFrame: dst shorter than src")
	}
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = ulawTable[b]
	}
}

// ALawEncodeFrame encodes src into dst, typically one 20 ms frame (160
// samples). It does not allocate. It panics if dst is shorter than src.
func ALawEncodeFrame(dst []byte, src []int16) {
	if len(dst) < len(src) {
		panic("media: ALawEncodeFrame: dst shorter than src")
	}
	dst = dst[:len(src)]
	for i, s := range src {
		dst[i] = ALawEncode(s)
	}
}

// ALawDecodeFrame decodes src into dst, typically one 20 ms RTP payload. It
// does not allocate. It panics if dst is shorter than src.
func ALawDecodeFrame(dst []int16, src []byte) {
	if len(dst) < len(src) {
		panic("media: ALawDecodeFrame: dst shorter than src")
	}
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = alawTable[b]
	}
}
