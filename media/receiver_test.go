package media

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// newReceiver starts a receiver on a fresh endpoint and returns it with a
// phone socket to send from.
func newReceiver(t *testing.T, s Session, onAudio func([]int16)) (*Receiver, *Endpoint) {
	t.Helper()
	pool := newPool(t, 1)
	ep := open(t, pool)
	r := NewReceiver(ep, s)
	r.Start(context.Background(), onAudio)
	t.Cleanup(r.Stop)
	return r, ep
}

func rtpPacket(pt uint8, marker bool, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12, 12+len(payload))
	b[0] = 0x80
	b[1] = pt
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return append(b, payload...)
}

func TestReceiverDecodesAudio(t *testing.T) {
	checkGoroutines(t)
	for name, s := range map[string]Session{"PCMU": {PT: 0, Codec: PCMU}, "PCMA": {PT: 8, Codec: PCMA}} {
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			var got []int16
			_, ep := newReceiver(t, s, func(f []int16) {
				mu.Lock()
				got = append(got, f...)
				mu.Unlock()
			})
			phone := listen(t)
			tone := Tone(1000, 0.9, 200*time.Millisecond)
			payload := make([]byte, FrameSamples)
			for i := 0; i < len(tone)/FrameSamples; i++ {
				frame := tone[i*FrameSamples : (i+1)*FrameSamples]
				if s.Codec == PCMA {
					ALawEncodeFrame(payload, frame)
				} else {
					ULawEncodeFrame(payload, frame)
				}
				send(t, phone, rtpAddr(ep), rtpPacket(s.PT, i == 0, uint16(i), uint32(i*FrameSamples), 1, payload))
				send(t, phone, rtpAddr(ep), rtpPacket(s.PT+1, false, 0, 0, 1, payload)) // another PT: ignored
			}
			deadline := time.Now().Add(2 * time.Second)
			for {
				mu.Lock()
				n := len(got)
				mu.Unlock()
				if n >= len(tone) || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != len(tone) {
				t.Fatalf("onAudio got %d samples, want %d", len(got), len(tone))
			}
			if lvl := ToneLevel(got, 1000, SampleRate); lvl < 0.5 {
				t.Errorf("1 kHz level of the decoded audio %.2f, want about 0.8", lvl)
			}
			if r, ok := ep.Remote(); !ok || r != addrOf(phone) {
				t.Errorf("receiver did not latch to the phone: %v %v", r, ok)
			}
		})
	}
}

// digits collects what arrives on Digits until quiet for wait.
func digits(r *Receiver, wait time.Duration) string {
	var sb strings.Builder
	for {
		select {
		case d := <-r.Digits():
			sb.WriteByte(d)
		case <-time.After(wait):
			return sb.String()
		}
	}
}

// SIPp's RFC 2833 captures: each holds one event (start, updates, three end
// packets with the same sequence number) and must yield its digit once.
func TestReceiverDigitsFromSIPpCaptures(t *testing.T) {
	files, _ := filepath.Glob("/usr/share/sip-tester/dtmf_2833_*.pcap")
	if len(files) == 0 {
		t.Skip("SIPp's dtmf_2833_*.pcap captures are not installed")
	}
	names := map[string]byte{"pound": '#', "star": '*'}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "dtmf_2833_"), ".pcap")
		want, ok := names[name]
		if !ok {
			want = name[0]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			payloads, err := readPcapUDP(f)
			if err != nil {
				t.Fatal(err)
			}
			if len(payloads) == 0 {
				t.Fatal("no UDP packets in the capture")
			}
			pt, _, _ := rtpPayload(payloads[0])
			r, ep := newReceiver(t, Session{PT: 0, Codec: PCMU, DTMF: pt}, nil)
			phone := listen(t)
			for _, p := range payloads {
				send(t, phone, rtpAddr(ep), p)
			}
			if got := digits(r, 200*time.Millisecond); got != string(want) {
				t.Errorf("digits %q, want %q", got, string(want))
			}
		})
	}
}

func TestSendDTMFReachesReceiver(t *testing.T) {
	checkGoroutines(t)
	pool := newPool(t, 2)
	from, to := open(t, pool), open(t, pool)
	from.SetRemote(rtpAddr(to))
	var mu sync.Mutex
	audio := 0
	r := NewReceiver(to, pcmu)
	r.Start(context.Background(), func(f []int16) {
		mu.Lock()
		audio += len(f)
		mu.Unlock()
	})
	defer r.Stop()

	p := NewPacer(1)
	defer p.Close()
	st := p.NewStream(from, pcmu)
	defer st.Close()
	st.Play(Loop(Tone(440, 0.5, time.Second)))
	for _, d := range []byte("5#5") {
		st.SendDTMF(d, 60*time.Millisecond)
	}
	last := st.SendDTMF('D', 40*time.Millisecond)
	waitClosed(t, last, "SendDTMF")
	if got := digits(r, 200*time.Millisecond); got != "5#5D" {
		t.Errorf("digits %q, want %q", got, "5#5D")
	}
	mu.Lock()
	defer mu.Unlock()
	if audio == 0 {
		t.Error("no audio around the events")
	}
}

// Late and duplicated packets of an earlier event do not repeat its digit;
// a new SSRC starts afresh.
func TestReceiverDigitDedupe(t *testing.T) {
	r, ep := newReceiver(t, pcmu, nil)
	phone := listen(t)
	ev := func(code uint8, end bool, dur uint16) []byte {
		b := make([]byte, EventSize)
		Event{Code: code, End: end, Volume: 10, Duration: dur}.MarshalTo(b)
		return b
	}
	for _, p := range [][]byte{
		rtpPacket(101, false, 2, 1000, 7, ev(1, false, 320)), // start packet lost
		rtpPacket(101, false, 3, 1000, 7, ev(1, true, 480)),
		rtpPacket(101, false, 3, 1000, 7, ev(1, true, 480)),
		rtpPacket(101, true, 4, 2000, 7, ev(2, false, 160)),
		rtpPacket(101, false, 1, 1000, 7, ev(1, false, 160)), // late
		rtpPacket(101, true, 5, 2000, 7, ev(2, true, 160)),
		rtpPacket(101, true, 1, 0, 8, ev(16, false, 160)), // not DTMF
		rtpPacket(101, true, 1, 500, 9, ev(3, false, 160)),
		rtpPacket(101, false, 1, 500, 9, []byte{1}), // short
	} {
		send(t, phone, rtpAddr(ep), p)
	}
	if got := digits(r, 200*time.Millisecond); got != "123" {
		t.Errorf("digits %q, want %q", got, "123")
	}
}

func TestReceiverInactiveAndStop(t *testing.T) {
	checkGoroutines(t)
	pool := newPool(t, 2)
	ep := open(t, pool)
	r := NewReceiver(ep, pcmu)
	inactive := r.Inactive(100 * time.Millisecond)
	r.Start(context.Background(), nil)
	select {
	case <-inactive:
	case <-time.After(2 * time.Second):
		t.Fatal("Inactive not closed without traffic")
	}
	r.Stop()
	r.Stop()
	// A relay may take the endpoint over.
	peer := open(t, pool)
	relay := NewRelay(ep, peer, 0)
	relay.Start(context.Background())
	relay.Stop()
}

// The receiving path allocates nothing per packet, decoding included.
func TestReceiverPacketDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	got := make(chan struct{}, 1)
	_, ep := newReceiver(t, pcmu, func([]int16) { got <- struct{}{} })
	phone := listen(t)
	pkt := rtpPacket(0, false, 1, 160, 1, make([]byte, FrameSamples))
	dst := rtpAddr(ep)
	var failed error
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := phone.WriteToUDPAddrPort(pkt, dst); err != nil {
			failed = err
		}
		<-got
	})
	if failed != nil {
		t.Fatal(failed)
	}
	if allocs != 0 {
		t.Errorf("%v allocations per received packet, want 0", allocs)
	}
}

func TestEventRoundTrip(t *testing.T) {
	for d := range 256 {
		code, ok := EventCode(byte(d))
		if !ok {
			continue
		}
		got, _ := Digit(code)
		if got != byte(d) && got != byte(d)-'a'+'A' {
			t.Errorf("digit %q → code %d → %q", byte(d), code, got)
		}
	}
	if _, ok := Digit(16); ok {
		t.Error("event 16 (flash) reported as a digit")
	}
	b := make([]byte, EventSize)
	in := Event{Code: 11, End: true, Volume: 10, Duration: 800}
	if _, err := in.MarshalTo(b); err != nil {
		t.Fatal(err)
	}
	var out Event
	if err := out.Unmarshal(b); err != nil || out != in {
		t.Errorf("round trip %+v → %x → %+v, %v", in, b, out, err)
	}
	if err := out.Unmarshal(b[:3]); !errors.Is(err, ErrBadEvent) {
		t.Errorf("short payload: %v, want ErrBadEvent", err)
	}
	if _, err := in.MarshalTo(b[:3]); !errors.Is(err, ErrBadEvent) {
		t.Errorf("short buffer: %v, want ErrBadEvent", err)
	}
}

// readPcapUDP returns the UDP payloads of a classic libpcap file (either
// byte order, micro- or nanosecond), with Ethernet (optionally one VLAN
// tag) or Linux cooked link headers and IPv4.
func readPcapUDP(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < 24 {
		return nil, fmt.Errorf("%s: too short for a pcap header", path)
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("%s: not a classic pcap file", path)
	}
	link := bo.Uint32(data[20:])
	var out [][]byte
	for off := 24; off+16 <= len(data); {
		incl := int(bo.Uint32(data[off+8:]))
		off += 16
		if off+incl > len(data) {
			return nil, fmt.Errorf("%s: truncated record", path)
		}
		frame := data[off : off+incl]
		off += incl
		var ip []byte
		switch link {
		case 1: // Ethernet
			if len(frame) < 14 {
				continue
			}
			etype, rest := binary.BigEndian.Uint16(frame[12:]), frame[14:]
			if etype == 0x8100 && len(rest) >= 4 {
				etype, rest = binary.BigEndian.Uint16(rest[2:]), rest[4:]
			}
			if etype != 0x0800 {
				continue
			}
			ip = rest
		case 113: // Linux cooked capture
			if len(frame) < 16 || binary.BigEndian.Uint16(frame[14:]) != 0x0800 {
				continue
			}
			ip = frame[16:]
		default:
			return nil, fmt.Errorf("%s: link type %d not supported", path, link)
		}
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[9] != 17 {
			continue
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total > len(ip) || ihl+8 > total {
			continue
		}
		udp := ip[ihl:total]
		ulen := int(binary.BigEndian.Uint16(udp[4:]))
		if ulen < 8 || ulen > len(udp) {
			continue
		}
		out = append(out, udp[8:ulen])
	}
	return out, nil
}
