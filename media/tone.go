package media

import (
	"math"
	"time"
)

// fullScale is the amplitude of a full-scale 16-bit sine. The negative peak
// could reach 32768, but a symmetric sine stops at 32767.
const fullScale = 32767

// Tone generates a sine of f Hz at amplitude amp (a fraction of full scale,
// clamped to 0..1) lasting d, at SampleRate. It starts at phase zero, so
// consecutive tones of whole cycles join without a click.
func Tone(f float64, amp float64, d time.Duration) []int16 {
	amp = min(max(amp, 0), 1) * fullScale
	n := int(d * SampleRate / time.Second)
	out := make([]int16, max(n, 0))
	w := 2 * math.Pi * f / SampleRate
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(w*float64(i))))
	}
	return out
}

// ToneLevel returns the power of frequency f (Hz) in samples taken at rate,
// relative to a full-scale sine: about 1 for a full-scale tone at f, 0.25 at
// half amplitude, about 0 for silence or a tone elsewhere. It runs the
// Goertzel recurrence over a Hann-windowed block, so f need not fall on a DFT
// bin, and a strong tone a few hundred hertz away barely leaks in even over a
// few tens of milliseconds.
func ToneLevel(samples []int16, f float64, rate int) float64 {
	n := len(samples)
	if n == 0 || rate <= 0 {
		return 0
	}
	w := 2 * math.Pi * f / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2, wsum float64
	for i, x := range samples {
		win := 0.5 - 0.5*math.Cos(2*math.Pi*(float64(i)+0.5)/float64(n))
		wsum += win
		s0 := win*float64(x) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	// |X(f)|² from the last two states; a sine of amplitude A gives
	// |X| ≈ A·Σw/2.
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 4 * max(power, 0) / (wsum * wsum * fullScale * fullScale)
}
