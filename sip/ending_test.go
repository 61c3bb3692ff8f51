package sip

import (
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/switchboard-voip/switchboard/routing"
)

// Every refusal routing can decide has its own SIP response; only an unknown one is a 500, and
// that is logged.
func TestEveryEndingHasAResponse(t *testing.T) {
	want := map[ending]int{
		endNotFound: 404, endForbidden: 403, endUnavailable: 480, endStopped: 487, endNoCodec: 488,
		endBadSDP: 400, endOverloaded: 503, endShuttingDown: 503, endCancelled: 487,
	}
	for e := endNotFound; e <= endCancelled; e++ {
		core, logs := observer.New(zap.ErrorLevel)
		code, reason := e.response(zap.New(core))
		if code != want[e] || reason == "" || logs.Len() != 0 {
			t.Errorf("%s: %d %q (logged %d), want %d", e, code, reason, logs.Len(), want[e])
		}
	}
	for r := routing.NotFound; r <= routing.Unavailable; r++ {
		if code, _ := endingOf(r).response(zap.NewNop()); code == 500 {
			t.Errorf("routing refusal %s has no SIP response", r)
		}
	}
	core, logs := observer.New(zap.ErrorLevel)
	if code, _ := endingOf(routing.Refusal(99)).response(zap.New(core)); code != 500 || logs.Len() != 1 {
		t.Errorf("an unknown refusal: %d, logged %d; want 500, logged once", code, logs.Len())
	}
}
