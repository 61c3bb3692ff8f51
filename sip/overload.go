package sip

import (
	"context"
	"math"
	"net"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// Overload says when new calls are turned away with 503 and Retry-After (sip.max_calls,
// sip.max_call_rate, sip.overload_delay) so that a switch offered more than it can carry
// serves what it can instead of failing everything late: the calls already up keep their
// audio, and callers (or a carrier's proxy) try again or elsewhere at once rather than after
// timeouts and retransmissions. Only a new call's INVITE is refused; everything in a dialog,
// REGISTER and presence go on. FreeSWITCH's max-sessions and sessions-per-second are the
// first two; the other two watch the switch itself: SIP waiting unread (on by default: it is
// what an overloaded switch shows first, whatever else runs on the machine) and the Go
// scheduler's delay.
type Overload struct {
	// MaxCalls caps the calls in progress (ringing or talking); 0: no cap.
	MaxCalls int
	// MaxRate caps new calls a second, with one second's worth at once; 0: no cap.
	MaxRate float64
	// MaxDelay refuses new calls while goroutines wait longer than this to run (the 90th
	// percentile of the Go scheduler's delay over the last tenth of a second): the sign that
	// the CPUs are saturated and every call, new or old, is slowing down. 0: not watched.
	MaxDelay time.Duration
	// MaxBacklog refuses new calls while more than this many bytes of SIP (the kernel's
	// accounting: about twice the datagrams' size) wait unread in a UDP listener's receive
	// queue at two looks in a row, until the queue is back under a quarter of it: messages
	// arrive faster than the switch reads them, and every one of them, new call or not, waits
	// longer. 0: not watched.
	MaxBacklog int
	// RetryAfter is the Retry-After of the 503s; 0 means 5 s.
	RetryAfter time.Duration
}

// admission applies an Overload.
type admission struct {
	clock clock.Clock

	mu     sync.Mutex
	o      Overload // MaxCalls, MaxRate and RetryAfter change with set; the rest never do
	tokens float64
	last   time.Time

	late    atomic.Bool // the scheduler is late (watchScheduler)
	backlog atomic.Bool // SIP waits unread (watchBacklog)
	refused atomic.Uint64
}

func newAdmission(o Overload, c clock.Clock) *admission {
	if o.RetryAfter <= 0 {
		o.RetryAfter = 5 * time.Second
	}
	return &admission{o: o, clock: c, tokens: max(o.MaxRate, 1), last: c.Now()}
}

// admit says whether a new call may start while active calls are in progress, and if not,
// why (for the log). attempt says the INVITE is a call attempt for the rate: one carrying
// credentials, or from a trunk; a phone's first INVITE, which only fetches the challenge,
// takes nothing from the rate, or every call would count twice.
func (a *admission) admit(active int, attempt bool) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.o.MaxCalls > 0 && active >= a.o.MaxCalls {
		a.refused.Add(1)
		return false, "sip.max_calls reached"
	}
	if a.o.MaxBacklog > 0 && a.backlog.Load() {
		a.refused.Add(1)
		return false, "SIP waiting unread above sip.overload_backlog"
	}
	if a.o.MaxDelay > 0 && a.late.Load() {
		a.refused.Add(1)
		return false, "scheduling delay above sip.overload_delay"
	}
	if a.o.MaxRate > 0 && attempt {
		now := a.clock.Now()
		a.tokens = min(max(a.o.MaxRate, 1), a.tokens+now.Sub(a.last).Seconds()*a.o.MaxRate)
		a.last = now
		if a.tokens < 1 {
			a.refused.Add(1)
			return false, "sip.max_call_rate reached"
		}
		a.tokens--
	}
	return true, ""
}

// set puts o's MaxCalls, MaxRate and RetryAfter in force for the next INVITE. MaxDelay and
// MaxBacklog stay as they were: their watchers start with the server, or not at all when off.
// The rate's bucket keeps what it holds, capped at the new second's worth on its next use.
func (a *admission) set(o Overload) {
	if o.RetryAfter <= 0 {
		o.RetryAfter = 5 * time.Second
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.o.MaxRate <= 0 && o.MaxRate > 0 {
		// The rate was off: its bucket starts full now, not with what it held when it was on.
		a.tokens, a.last = max(o.MaxRate, 1), a.clock.Now()
	}
	a.o.MaxCalls, a.o.MaxRate, a.o.RetryAfter = o.MaxCalls, o.MaxRate, o.RetryAfter
}

// limits is the Overload in force.
func (a *admission) limits() Overload {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.o
}

// SetOverload puts new sip.max_calls, sip.max_call_rate and sip.retry_after (o's MaxCalls,
// MaxRate and RetryAfter) in force for the next new call (a config reload); calls already in
// progress are never ended by it. o's MaxDelay and MaxBacklog are ignored: they need a restart.
func (s *Server) SetOverload(o Overload) { s.admit.set(o) }

// refuse answers a new call the switch will not take now.
func (a *admission) refuse(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
	res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(int(math.Ceil(a.limits().RetryAfter.Seconds())))))
	_ = tx.Respond(res)
}

// watchBacklog looks at the receive queues of conns every interval until ctx ends and marks
// the switch backlogged while one holds more than MaxBacklog at two looks in a row (a burst
// that is read at once is not overload); it clears the mark once every queue is under a
// quarter of it.
func (a *admission) watchBacklog(ctx context.Context, conns []*net.UDPConn, interval time.Duration) {
	limit := a.limits().MaxBacklog
	if limit <= 0 || len(conns) == 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	over := false // the last look found a queue over the limit
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		most := 0
		for _, c := range conns {
			if n, ok := queuedBytes(c); ok {
				most = max(most, n)
			}
		}
		switch {
		case most > limit:
			if over {
				a.backlog.Store(true)
			}
			over = true
		case most < limit/4:
			a.backlog.Store(false)
			over = false
		default:
			over = false
		}
	}
}

// schedLatencies is the runtime's histogram of how long goroutines waited to run.
const schedLatencies = "/sched/latencies:seconds"

// watchScheduler samples the scheduler's delay every interval until ctx ends and marks the
// switch late while the window's 90th percentile is above MaxDelay; it clears the mark once
// the delay is back under half of it, so the switch does not flap at the threshold.
func (a *admission) watchScheduler(ctx context.Context, interval time.Duration) {
	limit := a.limits().MaxDelay
	if limit <= 0 {
		return
	}
	sample := []metrics.Sample{{Name: schedLatencies}}
	var prev []uint64
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
			return // not this runtime's metric any more: nothing to watch
		}
		h := sample[0].Value.Float64Histogram()
		if prev != nil && len(prev) == len(h.Counts) {
			p90 := windowPercentile(h, prev, 0.9)
			switch {
			case p90 > limit:
				a.late.Store(true)
			case p90 < limit/2:
				a.late.Store(false)
			}
		}
		prev = append(prev[:0], h.Counts...)
	}
}

// windowPercentile is the q-quantile of what was added to h since its counts were prev: the
// lower edge of the bucket it falls in (0 for an empty window).
func windowPercentile(h *metrics.Float64Histogram, prev []uint64, q float64) time.Duration {
	var total uint64
	for i, c := range h.Counts {
		total += c - prev[i]
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, c := range h.Counts {
		seen += c - prev[i]
		if seen >= rank {
			lo := h.Buckets[i]
			if math.IsInf(lo, -1) {
				return 0
			}
			return time.Duration(lo * float64(time.Second))
		}
	}
	return 0
}
