package media

import (
	"bytes"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/media/srtp"
)

// srtpLeg gives endpoint e a cipher, as sip/srtp.go does for an SRTP phone's leg, and returns
// the phone's side of it: what the phone seals, e opens, and the other way round.
func srtpLeg(t testing.TB, e *Endpoint) (phone *srtp.Cipher) {
	t.Helper()
	phoneKey, err := srtp.NewCrypto(1, srtp.Suites[0])
	if err != nil {
		t.Fatal(err)
	}
	switchKey, err := srtp.NewCrypto(1, srtp.Suites[0])
	if err != nil {
		t.Fatal(err)
	}
	sw, err := srtp.NewCipher(switchKey, phoneKey)
	if err != nil {
		t.Fatal(err)
	}
	e.SetCipher(sw)
	if phone, err = srtp.NewCipher(phoneKey, switchKey); err != nil {
		t.Fatal(err)
	}
	return phone
}

// srtpRoundTrip is one packet each way through a relay whose A leg is SRTP: phone A's packet
// is sealed, decrypted by the switch and reaches plain phone B as sent; B's is encrypted by
// the switch and phone A opens it. Buffers are the caller's, so a steady state allocates
// nothing on the test's side either.
type srtpRoundTrip struct {
	c               *call
	phoneA          *srtp.Cipher
	plain, sealBuf  []byte
	bufA, bufB      []byte
	seq             uint16
	failed          error
	mismatchedBytes bool
}

func (r *srtpRoundTrip) step() {
	r.seq++
	r.plain[2], r.plain[3] = byte(r.seq>>8), byte(r.seq)
	sealed, err := r.phoneA.Seal(r.sealBuf[:0], r.plain, false)
	if err != nil {
		r.failed = err
		return
	}
	if _, err := r.c.phoneA.rtp.mustConn().WriteToUDPAddrPort(sealed, rtpAddr(r.c.a)); err != nil {
		r.failed = err
		return
	}
	n, _, err := r.c.phoneB.rtp.mustConn().ReadFromUDPAddrPort(r.bufB)
	if err != nil {
		r.failed = err
		return
	}
	if !bytes.Equal(r.bufB[:n], r.plain) {
		r.mismatchedBytes = true
	}
	if _, err := r.c.phoneB.rtp.mustConn().WriteToUDPAddrPort(r.plain, rtpAddr(r.c.b)); err != nil {
		r.failed = err
		return
	}
	if n, _, err = r.c.phoneA.rtp.mustConn().ReadFromUDPAddrPort(r.bufA); err != nil {
		r.failed = err
		return
	}
	got, err := r.phoneA.Open(r.bufA[:n], false)
	if err != nil {
		r.failed = err
		return
	}
	if !bytes.Equal(got, r.plain) {
		r.mismatchedBytes = true
	}
}

func newSRTPRoundTrip(t testing.TB) *srtpRoundTrip {
	c := newCall(t, time.Hour)
	r := &srtpRoundTrip{c: c, phoneA: srtpLeg(t, c.a), plain: marshalRTP(t, 1, make([]byte, 160)),
		sealBuf: make([]byte, 0, 1500), bufA: make([]byte, 2048), bufB: make([]byte, 2048)}
	deadline := time.Now().Add(10 * time.Second)
	c.phoneA.rtp.mustConn().SetReadDeadline(deadline)
	c.phoneB.rtp.mustConn().SetReadDeadline(deadline)
	return r
}

// TestRelaySRTPPacketDoesNotAllocate: with an SRTP leg, the per-packet path (decrypt as read,
// relay, encrypt as sent) still allocates nothing in steady state; the count covers the
// relay's goroutines.
func TestRelaySRTPPacketDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := newSRTPRoundTrip(t)
	r.step() // pion makes each stream's state on its first packet; the seal buffer grows once
	allocs := testing.AllocsPerRun(1000, r.step)
	if r.failed != nil {
		t.Fatal(r.failed)
	}
	if r.mismatchedBytes {
		t.Fatal("a packet arrived changed")
	}
	if allocs != 0 {
		t.Errorf("%v allocations per SRTP round trip (decrypt, relay, encrypt), want 0", allocs)
	}
	st := r.c.relay.Stats()
	if st.RTPAToB.Dropped != 0 || st.RTPBToA.Dropped != 0 {
		t.Errorf("dropped: %d A to B, %d B to A", st.RTPAToB.Dropped, st.RTPBToA.Dropped)
	}
}

// TestRelaySRTPDropsForgedPackets: a packet that does not authenticate with the phone's key
// (a forger, or a plain-RTP sender) is dropped and does not move the latched address.
func TestRelaySRTPDropsForgedPackets(t *testing.T) {
	r := newSRTPRoundTrip(t)
	r.step()
	if r.failed != nil {
		t.Fatal(r.failed)
	}
	forger := listen(t)
	send(t, forger, rtpAddr(r.c.a), marshalRTP(t, 500, make([]byte, 160)))
	// The relay reads the A leg in order: had the forged packet been relayed, it would be
	// what B reads first, and step would see it changed. B's packet must still reach phone
	// A, not the forger.
	r.step()
	if r.failed != nil || r.mismatchedBytes {
		t.Fatalf("after the forged packet: %v, changed %v", r.failed, r.mismatchedBytes)
	}
	if d := r.c.relay.Stats().RTPAToB.Dropped; d != 1 {
		t.Errorf("dropped A to B: %d, want 1", d)
	}
}

// BenchmarkRelaySRTPPacket is BenchmarkRelayPacket with an SRTP leg, a packet each way per
// op (the test side seals and opens too): compare with two of BenchmarkRelayPacket.
func BenchmarkRelaySRTPPacket(b *testing.B) {
	r := newSRTPRoundTrip(b)
	r.step()
	b.ReportAllocs()
	for b.Loop() {
		r.step()
	}
	b.StopTimer()
	if r.failed != nil || r.mismatchedBytes {
		b.Fatalf("%v, changed %v", r.failed, r.mismatchedBytes)
	}
}
