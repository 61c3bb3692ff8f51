package media

import (
	"math"
	"slices"
	"testing"
)

// sine16 returns n samples of a sine of f Hz at amplitude amp (0..1) at rate.
func sine16(f, amp float64, rate, n int) []int16 {
	x := make([]int16, n)
	for i, v := range sine(f, amp, rate, n) {
		x[i] = int16(math.Round(v * 32767))
	}
	return x
}

func TestResampleLength(t *testing.T) {
	tests := map[string]struct {
		from, to, n, want int
	}{
		"44.1 kHz to 8 kHz, 1 s":       {44100, 8000, 44100, 8000},
		"44.1 kHz to 8 kHz, 1000":      {44100, 8000, 1000, 182}, // ceil(181.4)
		"48 kHz to 8 kHz":              {48000, 8000, 4800, 800},
		"22.05 kHz to 8 kHz":           {22050, 8000, 22050, 8000},
		"16 kHz to 8 kHz, odd":         {16000, 8000, 161, 81},
		"8 kHz to 16 kHz":              {8000, 16000, 160, 320},
		"8 kHz to 44.1 kHz":            {8000, 44100, 8000, 44100},
		"44.101 kHz to 8 kHz (interp)": {44101, 8000, 44101, 8000},
		"192 kHz to 8 kHz":             {192000, 8000, 19200, 800},
		"one sample":                   {44100, 8000, 1, 1},
		"empty":                        {44100, 8000, 0, 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := len(Resample(make([]int16, tt.n), tt.from, tt.to)); got != tt.want {
				t.Errorf("%d samples at %d Hz → %d at %d Hz, want %d", tt.n, tt.from, got, tt.to, tt.want)
			}
		})
	}
}

func TestResampleSameRateCopies(t *testing.T) {
	in := []int16{1, 2, 3}
	out := Resample(in, 8000, 8000)
	if !slices.Equal(out, in) {
		t.Fatalf("Resample at the same rate = %v, want %v", out, in)
	}
	out[0] = 99
	if in[0] != 1 {
		t.Error("Resample at the same rate returned the input, not a copy")
	}
}

// TestResamplePreservesDC checks unity gain at 0 Hz for exact and
// interpolated filter banks, away from the ends, where the input meets the
// silence assumed beyond it.
func TestResamplePreservesDC(t *testing.T) {
	for _, rates := range [][2]int{{44100, 8000}, {48000, 8000}, {11025, 8000}, {8000, 44100}, {44101, 8000}, {16000, 8000}} {
		from, to := rates[0], rates[1]
		for _, level := range []int16{10000, -32768, 32767} {
			in := make([]int16, from/10)
			for i := range in {
				in[i] = level
			}
			out := Resample(in, from, to)
			edge := 64 * max(1, to/from)
			for i, v := range out[edge : len(out)-edge] {
				if d := int(v) - int(level); d < -1 || d > 1 {
					t.Fatalf("%d → %d Hz: constant %d came out as %d at %d", from, to, level, v, edge+i)
				}
			}
		}
	}
}

// TestResampleFullScaleSaturates feeds full-scale signals whose filtered
// form overshoots the int16 range: the overshoot must clip, not wrap round
// to the other sign.
func TestResampleFullScaleSaturates(t *testing.T) {
	square := make([]int16, 4410)
	for i := range square {
		square[i] = 32767
		if i/20%2 == 1 { // 1102.5 Hz
			square[i] = -32768
		}
	}
	out := Resample(square, 44100, 8000)
	x := make([]float32, len(square))
	for i, v := range square {
		x[i] = float32(v)
	}
	clipped := 0
	for k, ref := range resample(x, 44100, 8000) {
		want := math.Round(float64(ref))
		switch {
		case want > math.MaxInt16:
			want, clipped = math.MaxInt16, clipped+1
		case want < math.MinInt16:
			want, clipped = math.MinInt16, clipped+1
		}
		if float64(out[k]) != want {
			t.Fatalf("sample %d = %d, want %.0f (unclipped %.1f)", k, out[k], want, ref)
		}
	}
	if clipped == 0 {
		t.Error("no sample overshot: the test no longer exercises saturation")
	}

	// A full-scale sine inside the passband comes out at full scale.
	sin := sine16(1000, 1, 44100, 44100)
	out = Resample(sin, 44100, 8000)
	for k := 64; k < len(out)-64; k++ {
		want := 32767 * math.Sin(2*math.Pi*1000*float64(k)/8000)
		if d := math.Abs(float64(out[k]) - want); d > 50 {
			t.Fatalf("sample %d = %d, want %.0f", k, out[k], want)
		}
	}
}

func TestResampleFrequencyResponse(t *testing.T) {
	tests := map[string]struct {
		from, to int
		f        float64 // input tone
		at       float64 // where to measure in the output
		min, max float64 // power relative to the input tone's
	}{
		"1 kHz passes 44.1→8":          {44100, 8000, 1000, 1000, 0.95, 1.05},
		"3.4 kHz passes 44.1→8":        {44100, 8000, 3400, 3400, 0.9, 1.1},
		"7 kHz stopped, not at 1 kHz":  {44100, 8000, 7000, 1000, 0, 1e-6},
		"4.5 kHz stopped, not at 3.5":  {48000, 8000, 4500, 3500, 0, 1e-6},
		"5 kHz stopped 44.101→8":       {44101, 8000, 5000, 3000, 0, 1e-6},
		"1 kHz passes 8→44.1":          {8000, 44100, 1000, 1000, 0.95, 1.05},
		"no 7 kHz image 8→44.1":        {8000, 44100, 1000, 7000, 0, 1e-6},
		"7 kHz kept going 16→44.1 kHz": {16000, 44100, 7000, 7000, 0.9, 1.1},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			out := Resample(sine16(tt.f, 0.5, tt.from, tt.from/2), tt.from, tt.to)
			edge := 64 * max(1, tt.to/tt.from)
			got := ToneLevel(out[edge:len(out)-edge], tt.at, tt.to) / 0.25
			if got < tt.min || got > tt.max {
				t.Errorf("relative power at %v Hz = %.3g, want %.3g..%.3g", tt.at, got, tt.min, tt.max)
			}
		})
	}
}

func TestResamplePanicsOnBadRate(t *testing.T) {
	for name, rates := range map[string][2]int{"zero from": {0, 8000}, "negative to": {8000, -1}} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			Resample([]int16{1}, rates[0], rates[1])
		})
	}
}

func BenchmarkResample(b *testing.B) {
	for name, from := range map[string]int{"44.1kHz": 44100, "48kHz": 48000, "16kHz": 16000} {
		b.Run(name, func(b *testing.B) {
			in := sine16(1000, 0.5, from, from) // one second
			Resample(in, from, SampleRate)      // build the filter outside the loop
			b.ReportAllocs()
			for b.Loop() {
				Resample(in, from, SampleRate)
			}
		})
	}
}
