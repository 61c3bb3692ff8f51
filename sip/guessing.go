package sip

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// Password guessing is slowed to a stop: failed digest attempts (credentials that did not
// match, or named no user) are counted per source address and per user name, and past
// guessLimit in guessWindow further attempts are refused with 403, without a challenge, for
// guessBlock. Only attempts that carried credentials count, so a phone's first, unauthenticated
// request is never held against it. A user name's block does not apply to addresses that
// authenticated as that user lately: a guesser cannot lock the real phone out.
const (
	guessLimit  = 10
	guessWindow = 10 * time.Minute
	guessBlock  = 15 * time.Minute
	goodFor     = 24 * time.Hour
	guessTrack  = 10000 // entries kept per table before expired ones are swept
)

type guesses struct {
	clock clock.Clock

	mu   sync.Mutex
	src  map[netip.Addr]*tally
	user map[string]*tally
	good map[string][]goodSource // user → sources that authenticated as it, and when
}

// goodSource is an address a user authenticated from. A user has a few phones, so a short slice
// per user, not a map: a map of one entry is ~400 bytes, and every one of 6,000 registered
// users has one.
type goodSource struct {
	addr netip.Addr
	at   time.Time
}

// tally is the failures of one source or user name in the current window.
type tally struct {
	n            int
	since, until time.Time // window start; blocked until
}

func newGuesses(c clock.Clock) *guesses {
	return &guesses{clock: c, src: make(map[netip.Addr]*tally), user: make(map[string]*tally),
		good: make(map[string][]goodSource)}
}

// blocked reports whether an attempt from src as user is refused now.
func (g *guesses) blocked(src netip.Addr, user string) bool {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := g.src[src]; t != nil && now.Before(t.until) {
		return true
	}
	if t := g.user[user]; t != nil && now.Before(t.until) {
		for _, gs := range g.good[user] {
			if gs.addr == src && now.Sub(gs.at) <= goodFor {
				return false
			}
		}
		return true
	}
	return false
}

// failed counts a failed attempt; it reports whether the source or the user name is blocked by it.
func (g *guesses) failed(src netip.Addr, user string) bool {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	a := count(g.src, src, now)
	b := user != "" && count(g.user, user, now)
	return a || b
}

// count adds a failure to m[k] and reports whether it starts a block.
func count[K comparable](m map[K]*tally, k K, now time.Time) bool {
	t := m[k]
	if t == nil || now.Sub(t.since) > guessWindow {
		if len(m) >= guessTrack {
			for key, old := range m {
				if now.Sub(old.since) > guessWindow && !now.Before(old.until) {
					delete(m, key)
				}
			}
		}
		t = &tally{since: now}
		m[k] = t
	}
	t.n++
	if t.n >= guessLimit && !now.Before(t.until) {
		t.until, t.n, t.since = now.Add(guessBlock), 0, now
		return true
	}
	return false
}

// succeeded remembers that src authenticated as user.
func (g *guesses) succeeded(src netip.Addr, user string) {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	good := g.good[user]
	for i := range good {
		if good[i].addr == src {
			good[i].at = now
			return
		}
	}
	if len(good) >= 64 { // a user has a few phones, not thousands of addresses
		good = slices.DeleteFunc(good, func(gs goodSource) bool { return now.Sub(gs.at) > goodFor })
	}
	g.good[user] = append(good, goodSource{addr: src, at: now})
}

// sourceAddr is the IP a request came from.
func sourceAddr(req *sip.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// scannerAgents are User-Agent values of SIP scanners (sipvicious, sipsak-based tools, SIPVicious
// forks and the like). Their requests are dropped without an answer: nothing to learn, no
// traffic to reflect.
var scannerAgents = []string{"friendly-scanner", "sipvicious", "sipcli", "sip-scan", "sipsak", "vaxsipuseragent",
	"iwar", "sundayddr", "sipbomber", "pplsip", "smap"}

// fromScanner reports whether req's User-Agent names a known scanner.
func fromScanner(req *sip.Request) bool {
	h := headerNamed(req, "User-Agent")
	if h == nil {
		return false
	}
	ua := strings.ToLower(h.Value())
	for _, s := range scannerAgents {
		if strings.Contains(ua, s) {
			return true
		}
	}
	return false
}
