package media

import (
	"math"
	"sync"
)

// Resampling is band-limited interpolation (J. O. Smith): each output sample
// is a dot product of the input around its time with a Kaiser-windowed sinc
// low-pass, cut off just below the Nyquist frequency of the lower of the two
// rates so that nothing above it folds back as aliasing. The ratio to/from is
// reduced to L/M; output sample k sits at input time k·M/L, whose fractional
// part takes only L values, so the filter is precomputed as L phases
// (polyphase). When L is too large for that (an odd rate such as 44101 Hz),
// a fixed number of phases is computed and the filter interpolated linearly
// between the two nearest.

const (
	// resampleZeros is the number of sinc zero crossings on each side of
	// the centre, counted at the lower rate: 64 taps per phase when
	// upsampling, 64·from/to when downsampling.
	resampleZeros = 32
	// resampleAtten is the stopband attenuation the Kaiser window is
	// designed for, in dB: below the 16-bit noise floor of speech prompts.
	resampleAtten = 70.0
	// resampleMaxExact caps the coefficients of an exact polyphase bank
	// (L phases); beyond it the bank has resampleInterpPhases phases.
	resampleMaxExact = 1 << 16
	// resampleInterpPhases is the phase resolution of interpolated banks:
	// linear interpolation between 256 phases keeps the error below the
	// stopband attenuation.
	resampleInterpPhases = 256
	// resampleCacheSize bounds the banks kept between calls. A switch sees
	// a handful of rate pairs; the bound only matters against hostile
	// input naming a new rate in every file.
	resampleCacheSize = 16
)

// filterBank is the polyphase low-pass for one rate pair.
type filterBank struct {
	l, m   int       // to/from reduced: output k sits at input time k·m/l
	taps   int       // coefficients per phase, even
	phases int       // l for an exact bank, else resampleInterpPhases
	coef   []float32 // (phases+1) rows of taps; row p is phase p/phases
}

var resampleCache struct {
	sync.Mutex
	banks map[[2]int]*filterBank
}

// bankFor returns the filter bank for from→to, computing it on first use.
func bankFor(from, to int) *filterBank {
	key := [2]int{from, to}
	resampleCache.Lock()
	fb := resampleCache.banks[key]
	resampleCache.Unlock()
	if fb != nil {
		return fb
	}
	fb = newFilterBank(from, to)
	resampleCache.Lock()
	if resampleCache.banks == nil {
		resampleCache.banks = make(map[[2]int]*filterBank)
	}
	if len(resampleCache.banks) < resampleCacheSize {
		resampleCache.banks[key] = fb
	}
	resampleCache.Unlock()
	return fb
}

func newFilterBank(from, to int) *filterBank {
	g := gcd(from, to)
	fb := &filterBank{l: to / g, m: from / g}

	// scale is the lower rate over the input rate: the filter is that
	// much narrower, and longer, when downsampling.
	scale := min(1, float64(to)/float64(from))
	// Kaiser design: the transition band the window allows for this length,
	// as a fraction of the lower rate; the cutoff sits half of it below
	// Nyquist so that the stopband starts at Nyquist.
	transition := (resampleAtten - 7.95) / (14.36 * 2 * resampleZeros)
	cutoff := scale * (0.5 - transition/2) // cycles per input sample
	beta := 0.1102 * (resampleAtten - 8.7)
	half := math.Ceil(resampleZeros / scale)
	fb.taps = 2 * int(half)

	fb.phases = fb.l
	if fb.l*fb.taps > resampleMaxExact {
		fb.phases = resampleInterpPhases
	}
	fb.coef = make([]float32, (fb.phases+1)*fb.taps)
	i0beta := bessel0(beta)
	for p := 0; p <= fb.phases; p++ {
		frac := float64(p) / float64(fb.phases)
		row := fb.coef[p*fb.taps : (p+1)*fb.taps]
		var sum float64
		vals := make([]float64, fb.taps)
		for i := range vals {
			// Tap i weighs input sample base-half+1+i, at distance d
			// from the output time base+frac.
			d := frac + half - 1 - float64(i)
			r := d / half
			if r <= -1 || r >= 1 {
				continue
			}
			v := 2 * cutoff * sinc(2*cutoff*d) * bessel0(beta*math.Sqrt(1-r*r)) / i0beta
			vals[i] = v
			sum += v
		}
		// Unity gain at DC for every phase, so a constant stays constant
		// and there is no ripple at the output rate.
		for i, v := range vals {
			row[i] = float32(v / sum)
		}
	}
	return fb
}

// resample converts x (mono, any scale) from rate from to rate to. Samples
// beyond either end are taken as silence, as sox and libsamplerate do:
// repeating the end sample instead would turn a non-zero last sample into a
// step, which the filter passes as a click.
func resample(x []float32, from, to int) []float32 {
	if len(x) == 0 {
		return nil
	}
	fb := bankFor(from, to)
	n := (len(x)*fb.l + fb.m - 1) / fb.m // output times k·m/l < len(x)
	out := make([]float32, n)

	// Pad with silence so the inner loop needs no bounds logic.
	pad := fb.taps / 2
	xp := make([]float32, len(x)+2*pad)
	copy(xp[pad:], x)

	exact := fb.phases == fb.l
	for k := range out {
		pos := k * fb.m
		base, rem := pos/fb.l, pos%fb.l
		// Input sample base-half+1+i is xp[base+1+i].
		win := xp[base+1 : base+1+fb.taps]
		if exact {
			out[k] = dot(win, fb.coef[rem*fb.taps:(rem+1)*fb.taps])
			continue
		}
		ph := float64(rem) * float64(fb.phases) / float64(fb.l)
		p := int(ph)
		w := float32(ph - float64(p))
		a := dot(win, fb.coef[p*fb.taps:(p+1)*fb.taps])
		b := dot(win, fb.coef[(p+1)*fb.taps:(p+2)*fb.taps])
		out[k] = a + w*(b-a)
	}
	return out
}

// dot is the inner product of two slices of equal length, with four
// accumulators so the additions do not wait on each other.
func dot(x, h []float32) float32 {
	h = h[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * h[i]
		s1 += x[i+1] * h[i+1]
		s2 += x[i+2] * h[i+2]
		s3 += x[i+3] * h[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * h[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// Resample converts mono samples from rate from to rate to (both in Hz and
// positive) through a windowed-sinc anti-aliasing low-pass, for any ratio.
// The result has ceil(len(samples)·to/from) samples; equal rates return a
// copy. Overshoot from the filter's ringing on full-scale input saturates at
// the int16 limits. It panics if a rate is not positive.
func Resample(samples []int16, from, to int) []int16 {
	if from <= 0 || to <= 0 {
		panic("media: Resample: rates must be positive")
	}
	if from == to {
		return append([]int16(nil), samples...)
	}
	x := make([]float32, len(samples))
	for i, s := range samples {
		x[i] = float32(s)
	}
	return toInt16(resample(x, from, to))
}

// toInt16 rounds and saturates x to 16-bit samples.
func toInt16(x []float32) []int16 {
	out := make([]int16, len(x))
	for i, v := range x {
		out[i] = int16(math.Round(float64(min(max(v, math.MinInt16), math.MaxInt16))))
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// bessel0 is the modified Bessel function of the first kind, order 0, by its
// power series; for the arguments a Kaiser window uses (up to about 10) it
// converges to double precision in under 40 terms.
func bessel0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 100 && term > sum*1e-17; k++ {
		term *= q / float64(k*k)
		sum += term
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
