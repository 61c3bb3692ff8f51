package sip_test

import (
	"context"
	"math"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/media/prompts"
	"github.com/switchboard-voip/switchboard/media/srtp"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// vmUsers gives 1003 a mailbox and a short ring time, so unanswered calls reach voicemail fast.
type vmUsers struct{ users }

func (vmUsers) User(ext string) (routing.User, bool) {
	u, ok := users{}.User(ext)
	if ext == "1003" {
		u.Voicemail = true
		u.NoAnswerTimeout = 300 * time.Millisecond
	}
	return u, ok
}

// greetings gives 1003 a short own greeting (a 600 Hz tone) so tests need not sit through speech.
type greetings map[string][]int16

func (g greetings) Greeting(ext, kind string) []int16 { return g[ext+"/"+kind] }

func openMailbox(t *testing.T) *mailbox.Store {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "switchboard.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := mailbox.Open(db, filepath.Join(t.TempDir(), "voicemail"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close(); _ = db.Close() })
	return store
}

func voicemailSwitch(t *testing.T, store *mailbox.Store, g flow.Greetings) *testSwitch {
	return startSwitch(t, func(o *switchOpts) {
		o.Router = routing.New(vmUsers{}, o.Locations.(*sbsip.MemoryLocations), nil)
		o.Voicemail = store
		o.Greetings = g
	})
}

// rtpPeer is a caller's media: it sends paced PCMU and RFC 4733 digits to the switch and keeps
// everything it hears, decoded, with arrival times.
type rtpPeer struct {
	t    *testing.T
	conn *net.UDPConn
	dst  *net.UDPAddr
	seq  uint16
	ts   uint32
	ssrc uint32
	// cipher, when set, is the caller's SRTP: what it sends is sealed, what it hears opened.
	cipher *srtp.Cipher

	mu    sync.Mutex
	heard []int16
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newRTPPeer(t *testing.T, p *phone, answer []byte) *rtpPeer {
	return newPeer(t, p, answer, nil)
}

// newPeer is newRTPPeer speaking SRTP with c when c is set.
func newPeer(t *testing.T, p *phone, answer []byte, c *srtp.Cipher) *rtpPeer {
	r := &rtpPeer{t: t, conn: p.rtp, dst: remoteMedia(t, answer), ssrc: 0x5eed, cipher: c, start: time.Now(), stop: make(chan struct{})}
	r.wg.Add(1)
	go r.listen()
	t.Cleanup(r.close)
	return r
}

func (r *rtpPeer) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	_ = r.conn.SetReadDeadline(time.Now())
	r.wg.Wait()
	_ = r.conn.SetReadDeadline(time.Time{})
}

func (r *rtpPeer) listen() {
	defer r.wg.Done()
	buf := make([]byte, 1500)
	frame := make([]int16, 160)
	for {
		select {
		case <-r.stop:
			return
		default:
		}
		_ = r.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, _, err := r.conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		b := buf[:n]
		if r.cipher != nil {
			if b, err = r.cipher.Open(b, false); err != nil {
				continue // in the clear, or not under the switch's key: not heard
			}
		}
		var pkt rtp.Packet
		if pkt.Unmarshal(b) != nil || pkt.PayloadType != 0 || len(pkt.Payload) != 160 {
			continue
		}
		media.ULawDecodeFrame(frame, pkt.Payload)
		r.mu.Lock()
		r.heard = append(r.heard, frame...)
		r.mu.Unlock()
	}
}

// heardSamples returns a copy of everything heard so far.
func (r *rtpPeer) heardSamples() []int16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int16(nil), r.heard...)
}

func (r *rtpPeer) packet(pt uint8, marker bool, ts uint32, payload []byte) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, Marker: marker, SequenceNumber: r.seq,
		Timestamp: ts, SSRC: r.ssrc}, Payload: payload}
	r.seq++
	b, _ := pkt.Marshal()
	if r.cipher != nil {
		var err error
		if b, err = r.cipher.Seal(nil, b, false); err != nil {
			r.t.Error(err)
			return
		}
	}
	_, _ = r.conn.WriteToUDP(b, r.dst)
}

// send plays samples to the switch in real time, 20 ms per packet.
func (r *rtpPeer) send(samples []int16) {
	payload := make([]byte, 160)
	next := time.Now()
	for i := 0; i+160 <= len(samples); i += 160 {
		media.ULawEncodeFrame(payload, samples[i:i+160])
		r.packet(0, i == 0, r.ts, payload)
		r.ts += 160
		next = next.Add(20 * time.Millisecond)
		time.Sleep(time.Until(next))
	}
}

// digit sends one RFC 4733 event (PT 101): start, two updates, three end packets.
func (r *rtpPeer) digit(d byte) {
	code, _ := media.EventCode(d)
	start := r.ts
	buf := make([]byte, media.EventSize)
	for i := 1; i <= 6; i++ {
		ev := media.Event{Code: code, Volume: 10, Duration: uint16(160 * min(i, 4)), End: i >= 4}
		_, _ = ev.MarshalTo(buf)
		r.packet(101, i == 1, start, buf)
		if i < 4 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	r.ts += 4 * 160
}

// waitHeard waits until the peer has heard at least d of audio.
func (r *rtpPeer) waitHeard(d time.Duration) {
	deadline := time.Now().Add(d + 10*time.Second)
	for time.Now().Before(deadline) {
		if len(r.heardSamples()) >= int(d.Seconds()*8000) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("heard only %d samples, want %v of audio", len(r.heardSamples()), d)
}

// toneSpan returns the first and last 20 ms frames in which f dominates.
func toneSpan(samples []int16, f float64) (first, last int) {
	first, last = -1, -1
	for i := 0; i+160 <= len(samples); i += 160 {
		if media.ToneLevel(samples[i:i+160], f, 8000) > 0.05 {
			if first < 0 {
				first = i
			}
			last = i + 160
		}
	}
	return first, last
}

func TestUnansweredCallGoesToVoicemailWithOwnGreetingAndRecordsTone(t *testing.T) {
	store := openMailbox(t)
	greeting := media.Tone(600, 0.5, 500*time.Millisecond)
	sw := voicemailSwitch(t, store, greetings{"1003/no_answer": greeting})
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	notes := carol.watchNotifies()
	if res, _ := carol.subscribe(t, "1003", "message-summary", 600); res.StatusCode != 200 {
		t.Fatalf("MWI subscribe: %d", res.StatusCode)
	}
	if n := nextNotify(t, notes); !strings.Contains(string(n.Body()), "Voice-Message: 0/0") {
		t.Fatalf("initial MWI:\n%s", n.Body())
	}
	alice := newPhone(t, sw, "1001", "udp").mustRegister()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1003")
	if err != nil {
		t.Fatalf("call to 1003: %v", err)
	}
	carol.nextIncoming(2 * time.Second) // her phone rang, she did not answer
	peer := newRTPPeer(t, alice, d.InviteResponse.Body())

	// Greeting (0.5 s of 600 Hz) then the beep (1 kHz): the caller hears both, in that order.
	peer.waitHeard(900 * time.Millisecond)
	heard := peer.heardSamples()
	gFirst, gLast := toneSpan(heard, 600)
	bFirst, _ := toneSpan(heard, 1000)
	if gFirst < 0 || bFirst < 0 || bFirst < gLast-160 {
		t.Fatalf("greeting at %d-%d, beep at %d (samples): want greeting then beep", gFirst, gLast, bFirst)
	}
	if got := time.Duration(gLast-gFirst) * time.Second / 8000; got < 400*time.Millisecond || got > 600*time.Millisecond {
		t.Fatalf("greeting lasted %v, want 500ms", got)
	}

	time.Sleep(500 * time.Millisecond) // the beep ends; recording starts
	sent := 2 * time.Second
	peer.send(media.Tone(1000, 0.5, sent))
	if err := d.Bye(ctx); err != nil {
		t.Fatalf("hang up: %v", err)
	}

	var msgs []mailbox.Message
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if msgs, _ = store.List("1003"); len(msgs) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(msgs) != 1 {
		t.Fatalf("messages in 1003: %d, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "1001" || m.Heard {
		t.Fatalf("message metadata: %+v", m)
	}
	path, _ := store.Path("1003", m.ID)
	audio, err := media.LoadWAV(path)
	if err != nil {
		t.Fatal(err)
	}
	first, last := toneSpan(audio, 1000)
	toneDur := time.Duration(last-first) * time.Second / 8000
	if first < 0 || math.Abs(float64(toneDur-sent)) > 0.1*float64(sent) {
		t.Fatalf("recorded 1 kHz tone lasts %v, sent %v", toneDur, sent)
	}
	if dur := time.Duration(m.DurationMS) * time.Millisecond; dur < sent-200*time.Millisecond {
		t.Fatalf("message duration %v, want about %v", dur, sent)
	}

	n := nextNotify(t, notes)
	if body := string(n.Body()); !strings.Contains(body, "Messages-Waiting: yes") || !strings.Contains(body, "Voice-Message: 1/0") {
		t.Fatalf("MWI after the message:\n%s", body)
	}
	sw.waitIdle(t)
}

func TestVoicemailBuiltInGreetingThenBeep(t *testing.T) {
	store := openMailbox(t)
	sw := voicemailSwitch(t, store, nil)
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1003") // no phone registered: straight to voicemail
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	peer := newRTPPeer(t, alice, d.InviteResponse.Body())
	unavailable, _ := prompts.PCM(prompts.Unavailable)
	leave, _ := prompts.PCM(prompts.LeaveMessage)
	speech := len(unavailable) + len(leave)
	peer.waitHeard(time.Duration(speech+3200) * time.Second / 8000)
	heard := peer.heardSamples()
	bFirst, bLast := toneSpan(heard, 1000)
	// The beep comes right after the spoken greeting (allow 200 ms of pacing slack) and lasts 400 ms.
	if bFirst < speech-1600 || bFirst > speech+1600 {
		t.Fatalf("beep starts at sample %d, greeting is %d samples", bFirst, speech)
	}
	if got := bLast - bFirst; got < 2400 || got > 4000 {
		t.Fatalf("beep lasts %d samples, want 3200", got)
	}
	peer.digit('#') // nothing said: too short, discarded
	time.Sleep(300 * time.Millisecond)
	if msgs, _ := store.List("1003"); len(msgs) != 0 {
		t.Fatalf("an empty message was kept: %+v", msgs)
	}
	_ = d.Bye(ctx)
	sw.waitIdle(t)
}

func TestVoicemailMenuPlaysNewMessageAndDeletesOnSeven(t *testing.T) {
	store := openMailbox(t)
	rec, err := store.Record("1003", "1001", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	_ = rec.Write(media.Tone(1000, 0.5, 1500*time.Millisecond))
	if _, err := rec.Commit(time.Second); err != nil {
		t.Fatal(err)
	}
	sw := voicemailSwitch(t, store, nil)
	carol := newPhone(t, sw, "1003", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := carol.call(ctx, "*97")
	if err != nil {
		t.Fatalf("*97: %v", err)
	}
	peer := newRTPPeer(t, carol, d.InviteResponse.Body())
	// "You have 1 new message", then the message itself: wait until its tone is heard.
	deadline := time.Now().Add(15 * time.Second)
	for {
		if first, _ := toneSpan(peer.heardSamples(), 1000); first >= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message was never played")
		}
		time.Sleep(50 * time.Millisecond)
	}
	peer.digit('7')
	deadline = time.Now().Add(5 * time.Second)
	for {
		msgs, _ := store.List("1003")
		if len(msgs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message not deleted after 7: %+v", msgs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-carol.byes: // "Message deleted. No more messages. Goodbye." then the switch hangs up
	case <-time.After(10 * time.Second):
		t.Fatal("switch did not hang up after the last message")
	}
	sw.waitIdle(t)
}

func TestVoicemailHashByINFOEndsRecording(t *testing.T) {
	store := openMailbox(t)
	sw := voicemailSwitch(t, store, greetings{"1003/no_answer": media.Tone(600, 0.5, 200*time.Millisecond)})
	alice := newPhone(t, sw, "1001", "udp").mustRegister()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := alice.call(ctx, "1003")
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	peer := newRTPPeer(t, alice, d.InviteResponse.Body())
	peer.waitHeard(580 * time.Millisecond) // greeting and beep
	time.Sleep(100 * time.Millisecond)
	peer.send(media.Tone(1000, 0.5, 1500*time.Millisecond))
	info := newInfo(d.InviteResponse.Contact().Address, "application/dtmf-relay", "Signal=#\r\nDuration=160\r\n")
	if res, err := d.Do(ctx, info); err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO: %v %v", res, err)
	}
	select {
	case <-alice.byes: // "Message saved. Goodbye." and the switch hangs up
	case <-time.After(10 * time.Second):
		t.Fatal("no hang-up after #")
	}
	if msgs, _ := store.List("1003"); len(msgs) != 1 {
		t.Fatalf("messages = %d, want 1", len(msgs))
	}
	sw.waitIdle(t)
}
