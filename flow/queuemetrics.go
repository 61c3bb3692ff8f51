package flow

import "time"

// QueueResult is how a caller's wait in a queue ended (Options.OnQueueLeft).
type QueueResult string

// The ways a wait in a queue ends.
const (
	QueueAnswered  QueueResult = "answered"  // an agent answered
	QueueAbandoned QueueResult = "abandoned" // the caller hung up, waiting or while offered
	QueueTimedOut  QueueResult = "timeout"   // max_wait passed; the queue's no-answer plan follows
	QueueEnded     QueueResult = "ended"     // the call was ended for the caller (shutdown, an administrator)
)

// QueueLeftFunc hears how a wait in a queue ended and how long it was (Options.OnQueueLeft).
type QueueLeftFunc func(r QueueResult, waited time.Duration)

// QueueResults lists every QueueResult, so a metric can show each from the start at 0.
var QueueResults = []QueueResult{QueueAnswered, QueueAbandoned, QueueTimedOut, QueueEnded}

// queueLeft tells Options.OnQueueLeft that a caller left a queue after waiting d.
func (e *Engine) queueLeft(r QueueResult, d time.Duration) {
	if f := e.o.OnQueueLeft; f != nil {
		f(r, d)
	}
}

// QueueWaiting is the number of callers waiting in all queues at this node now (being offered
// included), for metrics.
func (e *Engine) QueueWaiting() int {
	e.queues.mu.Lock()
	qs := make([]*callQueue, 0, len(e.queues.byExt))
	for _, q := range e.queues.byExt {
		qs = append(qs, q)
	}
	e.queues.mu.Unlock()
	n := 0
	for _, q := range qs {
		q.mu.Lock()
		n += len(q.waiting)
		q.mu.Unlock()
	}
	return n
}
