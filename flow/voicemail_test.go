package flow

import (
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/routing"
)

func voicemailEngine(t *testing.T) (*Engine, *clock.Fake, *mailbox.Store) {
	t.Helper()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "test.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	store, err := mailbox.Open(db, filepath.Join(dir, "voicemail"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	clk := clock.NewFake(epoch)
	e, err := New(Options{Router: &fakeRouter{plans: map[string]routing.Plan{}}, Voicemail: store, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e, clk, store
}

// startRecording runs a voicemail plan through the greeting and the beep to the recording.
func startRecording(t *testing.T, e *Engine, c *fakeCall) <-chan struct{} {
	t.Helper()
	done := run(e, c, routing.Plan{Action: routing.Voicemail, Box: "1002", Greeting: routing.GreetingNoAnswer})
	c.waitFor("answer")
	c.waitFor("play 1")
	c.finishPlay()
	c.waitFor("play 2") // the beep
	c.finishPlay()
	c.waitFor("listen true")
	return done
}

// Ten seconds of silence end a message: the silence is measured on the call's clock, from the
// last loud frame, so the test moves the clock instead of waiting.
func TestVoicemailEndsAfterTenSecondsOfSilence(t *testing.T) {
	e, clk, store := voicemailEngine(t)
	c := newFakeCall(t, clk, "1001")
	done := startRecording(t, e, c)
	c.speak(100, 3000) // two seconds of speech
	c.speak(50, 0)     // a second of silence
	for step := 0; step < 39; step++ {
		settle(t, clk, 2) // the message limit and the next silence check
		clk.Advance(250 * time.Millisecond)
	}
	if c.has("listen false") {
		t.Fatalf("the message ended after %s of silence: %q", 39*250*time.Millisecond, c.log())
	}
	settle(t, clk, 2)
	clk.Advance(250 * time.Millisecond)
	c.waitFor("listen false")
	waitDone(t, done)
	msgs, err := store.List("1002")
	if err != nil || len(msgs) != 1 || msgs[0].From != "1001" || msgs[0].DurationMS < 2000 {
		t.Fatalf("messages %+v, %v; want one of 3 s from 1001", msgs, err)
	}
	if c.outcome != history.Voicemail || c.by != "1002" {
		t.Fatalf("outcome %q by %q, want voicemail of 1002", c.outcome, c.by)
	}
}

// The caller's # ends the message at once and they hear it was saved; a hang-up before a
// second of audio leaves no message.
func TestVoicemailHashSavesAndAShortHangUpLeavesNothing(t *testing.T) {
	e, clk, store := voicemailEngine(t)
	c := newFakeCall(t, clk, "1001")
	done := startRecording(t, e, c)
	c.speak(75, 3000)
	c.Post(Digit{Key: '#'})
	c.waitFor("play 3") // "message saved, goodbye"
	c.finishPlay()
	waitDone(t, done)

	short := newFakeCall(t, clk, "1003")
	done = startRecording(t, e, short)
	short.speak(10, 3000)
	short.Post(CallerGone{})
	waitDone(t, done)
	msgs, err := store.List("1002")
	if err != nil || len(msgs) != 1 || msgs[0].From != "1001" {
		t.Fatalf("messages %+v, %v; want only 1001's", msgs, err)
	}
	if short.outcome != "" {
		t.Fatalf("a discarded message set outcome %q", short.outcome)
	}
}
