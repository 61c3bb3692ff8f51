package digest

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultNonceTTL is how long a nonce stays fresh when Options.NonceTTL is
// zero. It is long enough for a REGISTER refresh cycle to reuse the nonce
// with a rising nonce-count, short enough to bound the replay table.
const DefaultNonceTTL = 5 * time.Minute

// minSweep is the smallest replay-table size that triggers a sweep of
// expired entries; below it a sweep would cost more than the memory it frees.
const minSweep = 1024

// Options configures a [Server].
type Options struct {
	// Realm is sent in challenges and must match the realm in credentials.
	Realm string

	// NonceTTL is how long a nonce is fresh; zero means DefaultNonceTTL.
	// After it, a correct response gets ErrStale so the client retries with
	// a new nonce without prompting for a password.
	NonceTTL time.Duration

	// Secret keys the HMAC that makes nonces verifiable without state.
	// Servers that share a Secret accept each other's nonces, which lets a
	// challenge from one instance be answered to another. If empty, a random
	// secret is used and nonces die with the Server. The slice is copied.
	Secret []byte

	// Algorithms lists the challenges to send, most preferred first: "MD5" and/or "SHA-256".
	// Empty means DefaultAlgorithms. Clients that only read the first challenge (SIPp, older
	// phones) use the first one, so the order is an operator's compatibility choice.
	Algorithms []string

	// Now is the clock; nil means time.Now. Tests replace it to expire
	// nonces without sleeping.
	Now func() time.Time
}

// Server issues Digest challenges and verifies credentials for one realm.
// It is safe for concurrent use. The zero value is not usable; call
// [NewServer].
type Server struct {
	realm      string
	algorithms []string
	ttl        int64 // nanoseconds
	now        func() time.Time
	opaque     string
	macs       sync.Pool // of *macer

	mu      sync.Mutex
	seen    map[nonceID]uint32 // highest nc accepted per nonce (its expiry is in the id)
	sweepAt int                // len(seen) at which to drop expired entries
	swept   int64              // Unix nanoseconds of the last sweep
}

// NewServer returns a Server configured by o.
func NewServer(o Options) *Server {
	secret := append([]byte(nil), o.Secret...)
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret) // never fails: crypto/rand crashes the program instead
	}
	ttl := o.NonceTTL
	if ttl <= 0 {
		ttl = DefaultNonceTTL
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}

	// Derive opaque from the secret so servers sharing a secret send the
	// same value. Verify does not check it: RFC 7616 makes it the client's
	// duty to echo it, and some phones do not.
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("opaque"))

	algs := append([]string(nil), o.Algorithms...)
	if len(algs) == 0 {
		algs = append(algs, DefaultAlgorithms...)
	}
	s := &Server{
		realm:      o.Realm,
		algorithms: algs,
		ttl:        int64(ttl),
		now:        now,
		opaque:     hex.EncodeToString(h.Sum(nil)[:16]),
		seen:       make(map[nonceID]uint32),
		sweepAt:    minSweep,
	}
	s.macs.New = func() any { return &macer{h: hmac.New(sha256.New, secret)} }
	return s
}

// Challenges returns the values for WWW-Authenticate (or Proxy-Authenticate)
// headers, one header per value, in the order of Options.Algorithms (by
// default DefaultAlgorithms, MD5 alone). RFC 8760 §2.4 has the client use the
// first it supports, so with ["SHA-256", "MD5"] modern phones answer SHA-256
// while old ones fall back to MD5. Each value carries its own fresh nonce, the
// opaque, qop="auth" and, if stale is true, stale=true, which tells the client
// its password was right and only the nonce must change.
func (s *Server) Challenges(stale bool) []string {
	return s.ChallengesIn(s.algorithms, stale)
}

// ChallengesIn is Challenges in the algorithms algs names ("MD5", "SHA-256"), in that order,
// for a caller that knows more of the client than Options did: a phone known to speak RFC 8760
// is challenged SHA-256 first while the others keep Options.Algorithms.
func (s *Server) ChallengesIn(algs []string, stale bool) []string {
	now := s.now().UnixNano()
	out := make([]string, 0, len(algs))
	for _, alg := range algs {
		out = append(out, s.challenge(alg, now, stale))
	}
	return out
}

// DefaultAlgorithms is the challenge set when Options names none: MD5 alone, because SIPp
// answers only the first challenge and baresip 1.0 (Debian's) refuses a 401 carrying more than
// one; operators whose phones all speak RFC 8760 add "SHA-256" in front.
var DefaultAlgorithms = []string{"MD5"}

func (s *Server) challenge(alg string, now int64, stale bool) string {
	var b strings.Builder
	b.Grow(len(s.realm) + nonceLen + len(s.opaque) + 80)
	b.WriteString(`Digest realm="`)
	for i := 0; i < len(s.realm); i++ {
		if c := s.realm[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s.realm[i])
	}
	b.WriteString(`", nonce="`)
	b.WriteString(s.newNonce(now))
	b.WriteString(`", opaque="`)
	b.WriteString(s.opaque)
	b.WriteString(`", algorithm=`)
	b.WriteString(alg)
	b.WriteString(`, qop="auth"`)
	if stale {
		b.WriteString(", stale=true")
	}
	return b.String()
}

// Verify checks one Authorization or Proxy-Authorization value sent with a
// request of the given method. lookup returns what is known of the user's
// password (the password, or its HA1s), or ok=false for an unknown user; it
// must not be nil and may be called concurrently.
//
// The response is checked against the uri parameter inside the header, as
// RFC 2617 §3.2.2 defines it, not against the Request-URI: load generators
// and some phones send a uri that differs from the Request-URI, and the
// digest only proves knowledge of the password for what the client hashed.
//
// A response in an algorithm for which the Secret has neither the HA1 nor
// the password fails with ErrNoHash (an ErrBadResponse): a user stored with an
// MD5 HA1 alone can only answer MD5 challenges. The challenges are the same
// for every user, so that they do not tell a scanner which users exist or how
// they are stored; callers keep the directory's hashes in step with the
// algorithms they offer instead.
//
// On success Verify returns the username. Otherwise it returns an error
// wrapping one of: ErrNoCredentials, ErrMalformed (or ErrUnsupported),
// ErrRealm, ErrBadNonce, ErrUnknownUser, ErrBadResponse (or ErrNoHash),
// ErrStale, ErrReplay.
// The response is checked before the nonce's age, so ErrStale is returned
// only to a client that knows the password. With qop=auth, a nonce-count
// must exceed the highest one accepted for the same nonce; the RFC 2069 form
// without qop has no nonce-count and so no replay protection within the
// nonce's lifetime.
func (s *Server) Verify(method, header string, lookup func(user string) (Secret, bool)) (user string, err error) {
	var c credentials
	if err := parseCredentials(header, &c); err != nil {
		return "", err
	}
	switch {
	case c.username == "":
		return "", fmt.Errorf("%w: missing username", ErrMalformed)
	case c.realm == "":
		return "", fmt.Errorf("%w: missing realm", ErrMalformed)
	case c.nonce == "":
		return "", fmt.Errorf("%w: missing nonce", ErrMalformed)
	case c.uri == "":
		return "", fmt.Errorf("%w: missing uri", ErrMalformed)
	case c.response == "":
		return "", fmt.Errorf("%w: missing response", ErrMalformed)
	}
	alg, err := parseAlgorithm(c.algorithm)
	if err != nil {
		return "", err
	}
	var nc uint32
	if c.qop != "" {
		if !strings.EqualFold(c.qop, "auth") {
			return "", fmt.Errorf("%w qop %q", ErrUnsupported, clip(c.qop))
		}
		if c.cnonce == "" {
			return "", fmt.Errorf("%w: qop without cnonce", ErrMalformed)
		}
		n, err := strconv.ParseUint(c.nc, 16, 32)
		if err != nil || len(c.nc) > 8 {
			return "", fmt.Errorf("%w: nc %q is not 8 hex digits", ErrMalformed, clip(c.nc))
		}
		nc = uint32(n)
	} else if alg.sess() && c.cnonce == "" {
		return "", fmt.Errorf("%w: -sess algorithm without cnonce", ErrMalformed)
	}
	var got [sha256.Size]byte
	if !decodeHex(got[:alg.size()], c.response) {
		return "", fmt.Errorf("%w: response is not %d hex digits", ErrMalformed, 2*alg.size())
	}

	if c.realm != s.realm {
		return "", fmt.Errorf("%w: %q", ErrRealm, clip(c.realm))
	}
	id, ok := s.openNonce(c.nonce)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrBadNonce, clip(c.nonce))
	}
	secret, ok := lookup(c.username)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownUser, clip(c.username))
	}

	in := digestInput{
		alg:      alg,
		username: c.username,
		realm:    c.realm,
		secret:   secret,
		method:   method,
		uri:      c.uri,
		nonce:    c.nonce,
	}
	if c.qop != "" {
		in.qop, in.nc, in.cnonce = c.qop, c.nc, c.cnonce
	} else if alg.sess() {
		in.cnonce = c.cnonce
	}
	if !secret.has(alg) {
		return "", fmt.Errorf("%w: user %q answered %s", ErrNoHash, clip(c.username), alg.name())
	}
	var want [sha256.Size]byte
	if w := in.compute(&want); w == nil || subtle.ConstantTimeCompare(w, got[:alg.size()]) != 1 {
		return "", fmt.Errorf("%w: user %q", ErrBadResponse, clip(c.username))
	}

	now := s.now().UnixNano()
	if now > s.expiry(id) {
		return "", fmt.Errorf("%w: user %q", ErrStale, clip(c.username))
	}
	if c.qop != "" && !s.advance(id, nc, now) {
		return "", fmt.Errorf("%w: user %q nc %s", ErrReplay, clip(c.username), clip(c.nc))
	}
	return c.username, nil
}

// advance records nc as the highest nonce-count accepted for id, or reports
// false if it is not higher than the one already recorded.
//
// Memory stays bounded without a timer: when the table has doubled since the
// last sweep, or one NonceTTL has passed since it, entries of expired nonces
// (which Verify rejects as stale before they get here) are dropped. That
// amortises to O(1) per insert and holds the table near the number of nonces
// used within one NonceTTL. The time rule is for a load that drops: after a
// busy hour the table held its peak (every call's nonce of the last TTL) and,
// doubling no more at a lighter load, never swept again. A sweep that leaves
// under a quarter moves the rest to a new map, since a Go map keeps the room
// of the most it ever held: 100,000 nonces' table (2.6 MB of heap) stayed
// after they expired and were deleted, the new map next to nothing. An entry
// is the nonce's id and its highest count, ~27 bytes in the table: the id tells
// when the nonce expires (with the expiry kept too, 100,000 took 5.0 MB).
func (s *Server) advance(id nonceID, nc uint32, now int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := s.seen[id]
	if nc <= last { // an absent entry has nc 0, which no request may use
		return false
	}
	if !ok && (len(s.seen) >= s.sweepAt || now-s.swept > s.ttl) {
		s.sweep(now)
	}
	s.seen[id] = nc
	return true
}

// expiry is when the nonce id stops being fresh, in Unix nanoseconds.
func (s *Server) expiry(id nonceID) int64 { return id.issued() + s.ttl }

// sweep drops the entries of nonces expired at now, and moves what is left to a new map when
// that is under a quarter of what there was.
func (s *Server) sweep(now int64) {
	before := len(s.seen)
	for id := range s.seen {
		if s.expiry(id) < now {
			delete(s.seen, id)
		}
	}
	if len(s.seen) < before/4 {
		fresh := make(map[nonceID]uint32, len(s.seen))
		maps.Copy(fresh, s.seen)
		s.seen = fresh
	}
	s.sweepAt = max(2*len(s.seen), minSweep)
	s.swept = now
}
