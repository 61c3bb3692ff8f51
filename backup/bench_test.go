package backup

import (
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/media"
)

// BenchmarkBackup takes and writes the archive of a data dir with 200 messages of 10 s each
// (32 MB of audio). The audio is a tone under noise, which gzip shrinks about as little as
// speech: a pure tone would flatter the archive's size.
func BenchmarkBackup(b *testing.B) {
	d := newDataDir(b)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		r, err := d.box.Record("1003", "1002", "Bob")
		if err != nil {
			b.Fatal(err)
		}
		pcm := media.Tone(440, 0.2, 10*time.Second)
		for i := range pcm {
			pcm[i] += int16(rng.IntN(4000) - 2000)
		}
		if err := r.Write(pcm); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Commit(0); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var size, data int64
	for b.Loop() {
		s, err := Take(d.db, d.path, "bench")
		if err != nil {
			b.Fatal(err)
		}
		n, err := s.WriteTo(io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		size, data = n, s.Manifest().Bytes()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size), "archive-bytes")
	b.ReportMetric(float64(data), "data-bytes")
	b.SetBytes(data)
}
