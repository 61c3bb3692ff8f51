package sip

import (
	"fmt"
	"sync"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/srtp"
)

// SRTPPolicy is a user's media.srtp: whether the switch speaks SRTP (SDES, RFC 4568) with
// that user's phones.
type SRTPPolicy int

const (
	// SRTPOptional takes an SRTP offer and a plain one; calls to the user are offered plain
	// RTP, which every phone answers (an SRTP-only phone refuses it and is best set to
	// required).
	SRTPOptional SRTPPolicy = iota
	// SRTPRequired refuses a plain offer with 488 and offers calls to the user as RTP/SAVP.
	SRTPRequired
	// SRTPOff refuses an SRTP offer with 488 and never offers SRTP.
	SRTPOff
)

// ParseSRTPPolicy reads a media.srtp setting: "optional" (or empty), "required" or "off".
func ParseSRTPPolicy(s string) (SRTPPolicy, error) {
	switch s {
	case "", "optional":
		return SRTPOptional, nil
	case "required":
		return SRTPRequired, nil
	case "off":
		return SRTPOff, nil
	}
	return SRTPOptional, fmt.Errorf("want optional, required or off, got %q", s)
}

// srtpPolicy is ext's policy; a carrier's call (no user) and a switch without policies are
// optional.
func (s *Server) srtpPolicy(ext string) SRTPPolicy {
	if s.opts.SRTP == nil || ext == "" {
		return SRTPOptional
	}
	return s.opts.SRTP(ext)
}

// srtpOffer prepares a phone's dialog-creating INVITE the way browserOffer does a browser's:
// an RTP/SAVP offer's body becomes plain RTP/AVP for the core and the leg's SRTP edge is
// returned, to be attached to the caller's leg. What the caller's policy refuses, or an
// SRTP offer without a usable key, is answered 488 here (ok false).
func (s *Server) srtpOffer(req *sip.Request, tx sip.ServerTransaction, caller string) (edge MediaGateway, ok bool) {
	body := req.Body()
	if len(body) == 0 {
		return nil, true
	}
	policy := s.srtpPolicy(caller)
	plain, offered, secure, err := srtp.Plain(body)
	refuse := func(why string) (MediaGateway, bool) {
		s.log.Info("SRTP offer refused", zap.String("call_id", callIDOf(req)), zap.String("ext", caller),
			zap.String("reason", why))
		res := sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil)
		_ = tx.Respond(res)
		return nil, false
	}
	switch {
	case err != nil && secure:
		return refuse(err.Error())
	case err != nil:
		return nil, true // not SDP the srtp package reads: the core refuses it as it does today
	case secure && policy == SRTPOff:
		return refuse("SRTP is off for this user (media.srtp)")
	case !secure && policy == SRTPRequired:
		return refuse("plain RTP offered; media.srtp requires SRTP")
	case !secure:
		return nil, true
	}
	e := newSRTPEdge()
	if err := e.takeOffer(offered); err != nil {
		return refuse(err.Error())
	}
	req.SetBody(plain)
	return e, true
}

// srtpEdge is a phone leg's SRTP, in the place of a browser's gateway (MediaGateway): SDP is
// translated at the dialog's edge (RTP/SAVP with a=crypto to and from the phone, plain RTP/AVP
// for the core) and the keys become a media.Cipher on the leg's endpoint, which then encrypts
// and decrypts the phone's packets. It has no media of its own: Done closes only with Close.
//
// Keys follow offer/answer (RFC 4568 §7.1.4): a re-offer's keys count once the offer is
// answered, not when it arrives, so a re-INVITE refused (491, 488) leaves the call on the keys
// it had. The edge tells an offer from an answer by who offered last: offer marks ours.
type srtpEdge struct {
	mu       sync.Mutex
	local    srtp.Crypto  // what the switch encrypts with; zero until chosen
	remote   *srtp.Crypto // what the phone encrypts with
	pending  *keys        // the phone's re-offer, until the switch answers it
	offering bool         // the switch's offer is out: what the phone sends next is its answer
	ep       *media.Endpoint
	cipher   *srtp.Cipher // on ep once both keys are known; re-keyed in place after
	// owns says whether the edge may put its cipher on ep: the forks of a ringing share the
	// callee endpoint, and a phone that answers after another won must not take it over.
	// nil: always.
	owns func() bool

	once sync.Once
	done chan struct{}
}

// keys are a leg's two keys as an offer and its answer agree them.
type keys struct {
	local  srtp.Crypto
	remote srtp.Crypto
}

// newSRTPEdge is the edge of a phone leg with no keys yet.
func newSRTPEdge() *srtpEdge { return &srtpEdge{done: make(chan struct{})} }

// choose picks the keys that answer the phone's lines, with mu held (or before the edge is
// shared), changing nothing. A line with our tag and suite is the phone's key for our current
// one (an answer to our offer, or a re-offer keeping the suite). Otherwise the phone's first
// usable line is chosen and ours is kept if its suite fits, else made, with the line's tag.
func (e *srtpEdge) choose(offered []srtp.Crypto) (keys, error) {
	for _, c := range offered {
		if e.local.Key != nil && c.Tag == e.local.Tag && c.Suite.Name == e.local.Suite.Name {
			return keys{local: e.local, remote: c}, nil
		}
	}
	chosen := offered[0]
	local := e.local
	if local.Key == nil || local.Suite.Name != chosen.Suite.Name {
		var err error
		if local, err = srtp.NewCrypto(chosen.Tag, chosen.Suite); err != nil {
			return keys{}, err
		}
	}
	local.Tag = chosen.Tag
	return keys{local: local, remote: chosen}, nil
}

// takeOffer takes the keys of the phone's dialog-creating offer, before the edge is shared.
func (e *srtpEdge) takeOffer(offered []srtp.Crypto) error {
	k, err := e.choose(offered)
	if err != nil {
		return err
	}
	e.commit(k)
	return nil
}

// commit makes k the leg's keys, with mu held.
func (e *srtpEdge) commit(k keys) {
	e.local, e.remote, e.pending = k.local, &k.remote, nil
	e.apply()
}

// FromBrowser reads an SDP from the phone: the answer to our offer, whose keys count at once,
// or an offer (a re-INVITE's, new keys and all), whose keys count when we answer it.
func (e *srtpEdge) FromBrowser(body []byte) ([]byte, error) {
	plain, offered, secure, err := srtp.Plain(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", media.ErrNoCommonCodec, err)
	}
	if !secure {
		return nil, fmt.Errorf("%w: %w", media.ErrNoCommonCodec, srtp.ErrNotSecure)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	k, err := e.choose(offered)
	if err != nil {
		return nil, err
	}
	if e.offering {
		e.offering = false
		e.commit(k)
	} else {
		e.pending = &k
	}
	return plain, nil
}

// ToBrowser writes the switch's SDP for the phone as RTP/SAVP with our key: the answer to the
// phone's offer (whose keys count from now), or the first offer to a phone being called.
func (e *srtpEdge) ToBrowser(body []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.pending != nil:
		e.commit(*e.pending)
	case e.local.Key == nil:
		local, err := srtp.NewCrypto(1, srtp.Suites[0])
		if err != nil {
			return nil, err
		}
		e.local = local
		e.offering = true
	}
	return srtp.Secure(body, e.local)
}

// offer writes a re-INVITE's offer of the switch's (a hold, a transfer's new far end) with our
// current key. A phone re-offer that was never answered with a 2xx is void by now.
func (e *srtpEdge) offer(body []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending = nil
	e.offering = true
	return srtp.Secure(body, e.local)
}

// attach makes ep the endpoint whose packets the edge protects.
func (e *srtpEdge) attach(ep *media.Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ep = ep
	e.apply()
}

// ownedBy gates the edge's use of its endpoint (see owns); set before the fork's responses are
// read.
func (e *srtpEdge) ownedBy(owns func() bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.owns = owns
}

// claim puts this edge's cipher back on its endpoint: the forks of a ringing share the callee
// endpoint, and the phone that answered is the one whose keys count.
func (e *srtpEdge) claim() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cipher != nil && e.ep != nil {
		e.ep.SetCipher(e.cipher)
	}
}

// apply puts the leg's keys to work once both are known, with mu held: a cipher is made and
// set on the endpoint, or the one there is re-keyed in place (an unchanged direction keeps
// its rollover count).
func (e *srtpEdge) apply() {
	if e.ep == nil || e.remote == nil || e.local.Key == nil {
		return
	}
	if e.cipher != nil {
		// Keys ParseCrypto and NewCrypto made always fit their suite: Rekey cannot fail on them.
		_ = e.cipher.Rekey(e.local, *e.remote)
		return
	}
	c, err := srtp.NewCipher(e.local, *e.remote)
	if err != nil {
		return // as above
	}
	e.cipher = c
	if e.owns == nil || e.owns() {
		e.ep.SetCipher(c)
	}
}

// Done is closed by Close: SRTP has no media of its own to lose.
func (e *srtpEdge) Done() <-chan struct{} { return e.done }

// Close ends the edge; the endpoint's cipher goes with the endpoint.
func (e *srtpEdge) Close() error {
	e.once.Do(func() { close(e.done) })
	return nil
}
