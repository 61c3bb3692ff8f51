package flow

import (
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/routing"
)

func ringPlan(ext string) routing.Plan {
	return routing.Plan{Action: routing.Ring, Targets: []string{ext}, RingTimeout: 20 * time.Second, NoAnswer: unavailable}
}

func TestTransferRoutesTheCallerToTheTargetLikeANewCall(t *testing.T) {
	e, clk, r := newEngine(t, nil)
	r.set("1003", ringPlan("1003"))
	c := newFakeCall(t, clk, "1001")
	c.transfers = []*Transferred{{To: "1003", By: "1002"}}
	done := run(e, c, ringPlan("1002"))
	c.waitFor("ring 1002")
	c.rings <- Rang{Result: Answered, Party: &fakeParty{call: c, ext: "1002"}}
	c.waitFor("bridge 1002")
	c.waitFor("play")          // ringback while the target rings
	c.waitFor("ring 1003 20s") // the target's phones, as for a new call
	c.rings <- Rang{Result: Answered, Party: &fakeParty{call: c, ext: "1003"}}
	c.waitFor("bridge 1003")
	waitDone(t, done)
	if c.has("refuse") || c.has("ring 1002 30s") {
		t.Fatalf("a transfer that was taken recalled or refused: %q", c.log())
	}
}

func TestTransferRefusedRecallsTheTransferringUserThenVoicemail(t *testing.T) {
	e, clk, r := newEngine(t, nil)
	// 1999 does not exist (the router refuses it); 1002's mailbox takes the recall nobody answers.
	r.set("voicemail:1002", routing.Plan{Action: routing.Reject, Refusal: routing.Unavailable})
	c := newFakeCall(t, clk, "1001")
	c.transfers = []*Transferred{{To: "1999", By: "1002"}}
	done := run(e, c, ringPlan("1002"))
	c.waitFor("ring 1002 20s")
	c.rings <- Rang{Result: Answered, Party: &fakeParty{call: c, ext: "1002"}}
	c.waitFor("refuse not-found") // reported to the transferring phone; the caller stays
	c.waitFor("play 2")           // "not available"
	c.finishPlay()
	c.waitFor("ring 1002 30s") // the recall
	c.rings <- Rang{Result: NoAnswer}
	c.waitFor("play 4") // no mailbox: goodbye
	c.finishPlay()
	c.waitFor("refuse unavailable")
	waitDone(t, done)
}

func TestTransferToVoicemailAsksForTheMailbox(t *testing.T) {
	e, clk, r := newEngine(t, nil)
	// The engine has no mailbox store, so the voicemail plan refuses with 480: a different
	// refusal from the 404 a plain call to 1003 would get here.
	r.set("voicemail:1003", routing.Plan{Action: routing.Voicemail, Box: "1003", Greeting: routing.GreetingNoAnswer})
	c := newFakeCall(t, clk, "1001")
	c.transfers = []*Transferred{{To: "1003", By: "1002", Voicemail: true}}
	done := run(e, c, ringPlan("1002"))
	c.waitFor("ring 1002")
	c.rings <- Rang{Result: Answered, Party: &fakeParty{call: c, ext: "1002"}}
	c.waitFor("refuse unavailable")
	if c.has("ring 1003") {
		t.Fatalf("a transfer to voicemail rang the phones: %q", c.log())
	}
	c.waitFor("play 2")
	c.finishPlay()
	c.waitFor("ring 1002 30s")
	c.Post(CallerGone{})
	c.rings <- Rang{Result: Gone}
	waitDone(t, done)
}
