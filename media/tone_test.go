package media

import (
	"math"
	"testing"
	"time"
)

func TestToneLengthAndAmplitude(t *testing.T) {
	tests := map[string]struct {
		f, amp float64
		d      time.Duration
		n      int
		peak   int16
	}{
		"20 ms at 1 kHz, full scale": {1000, 1, 20 * time.Millisecond, 160, 32767},
		"1 s at 400 Hz, half":        {400, 0.5, time.Second, 8000, 16384},
		"amplitude clamped to 1":     {1000, 3, 10 * time.Millisecond, 80, 32767},
		"negative amplitude is zero": {1000, -1, 10 * time.Millisecond, 80, 0},
		"zero duration":              {1000, 1, 0, 0, 0},
		"negative duration":          {1000, 1, -time.Second, 0, 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := Tone(tt.f, tt.amp, tt.d)
			if len(got) != tt.n {
				t.Fatalf("%d samples, want %d", len(got), tt.n)
			}
			var peak int16
			for _, s := range got {
				peak = max(peak, s, -s)
			}
			if peak != tt.peak {
				t.Errorf("peak %d, want %d", peak, tt.peak)
			}
		})
	}
}

func TestToneLevel(t *testing.T) {
	second := time.Second
	tests := map[string]struct {
		samples  []int16
		f        float64
		min, max float64
	}{
		"full-scale 1 kHz":            {Tone(1000, 1, second), 1000, 0.99, 1.01},
		"half-scale 1 kHz is 1/4":     {Tone(1000, 0.5, second), 1000, 0.245, 0.255},
		"off-bin frequency":           {Tone(1234.5, 1, second), 1234.5, 0.99, 1.01},
		"short 20 ms frame":           {Tone(1000, 1, 20*time.Millisecond), 1000, 0.97, 1.03},
		"1 kHz tone, asked for 3 kHz": {Tone(1000, 1, second), 3000, 0, 1e-9},
		"1 kHz tone, asked for 1.2k":  {Tone(1000, 1, 100*time.Millisecond), 1200, 0, 1e-6},
		"silence":                     {make([]int16, 8000), 1000, 0, 0},
		"empty":                       {nil, 1000, 0, 0},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ToneLevel(tt.samples, tt.f, SampleRate); got < tt.min || got > tt.max || math.IsNaN(got) {
				t.Errorf("ToneLevel = %.4g, want %.4g..%.4g", got, tt.min, tt.max)
			}
		})
	}
	if got := ToneLevel(sine16(1000, 1, 44100, 4410), 1000, 44100); math.Abs(got-1) > 0.01 {
		t.Errorf("ToneLevel at 44.1 kHz = %.4f, want 1", got)
	}
}
