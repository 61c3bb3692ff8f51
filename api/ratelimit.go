package api

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Password guessing is slowed down per client address: the first
// freeFailures failed sign-ins (the sign-in form or HTTP Basic) cost
// nothing; after that each failure makes the address wait before its next
// attempt, twice as long as the previous wait, from firstDelay up to
// maxDelay. While it waits, every password attempt from the address is
// answered 429 with Retry-After, without checking the password (else the
// answer would tell a right guess from a wrong one at full speed). An
// address's record is forgotten after forgetAfter without a failure.
//
// The address is the connection's (RemoteAddr): X-Forwarded-For is not
// trusted. Behind a reverse proxy every client shares the proxy's address.
const (
	freeFailures = 20
	firstDelay   = time.Second
	maxDelay     = 5 * time.Minute
	forgetAfter  = 15 * time.Minute
	// maxTracked bounds the memory the limiter uses; past it, expired
	// records are swept, then arbitrary ones dropped.
	maxTracked = 10000
)

// failureLimiter counts failed password attempts per client address. Its
// methods are safe for concurrent use.
type failureLimiter struct {
	now func() time.Time // a clock, replaced in tests

	mu    sync.Mutex
	addrs map[string]*failures
}

type failures struct {
	count int
	last  time.Time // of the latest failure
	until time.Time // no attempt before this
}

func newFailureLimiter() *failureLimiter {
	return &failureLimiter{now: time.Now, addrs: map[string]*failures{}}
}

// wait is how long addr must wait before its next password attempt; 0 if
// it may try now.
func (l *failureLimiter) wait(addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.addrs[addr]
	if f == nil {
		return 0
	}
	return max(0, f.until.Sub(l.now()))
}

// fail records a failed attempt from addr.
func (l *failureLimiter) fail(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.addrs[addr]
	if f == nil {
		if len(l.addrs) >= maxTracked {
			l.sweep(now)
		}
		f = &failures{}
		l.addrs[addr] = f
	}
	if now.Sub(f.last) > forgetAfter {
		f.count = 0
	}
	f.count++
	f.last = now
	if over := f.count - freeFailures; over > 0 {
		d := maxDelay
		if over <= 20 && firstDelay<<(over-1) < maxDelay {
			d = firstDelay << (over - 1)
		}
		f.until = now.Add(d)
	}
}

// sweep drops expired records and, if the map is still full, arbitrary
// ones until there is room. l.mu is held.
func (l *failureLimiter) sweep(now time.Time) {
	for a, f := range l.addrs {
		if now.Sub(f.last) > forgetAfter && !now.Before(f.until) {
			delete(l.addrs, a)
		}
	}
	for a := range l.addrs {
		if len(l.addrs) < maxTracked {
			break
		}
		delete(l.addrs, a)
	}
}

// tracked is the number of addresses with a record (for tests).
func (l *failureLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.addrs)
}

// clientAddr is the request's client address without the port.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
