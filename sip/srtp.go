package sip

import (
	"bytes"
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
	e := &srtpEdge{done: make(chan struct{})}
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
type srtpEdge struct {
	mu      sync.Mutex
	local   srtp.Crypto  // what the switch encrypts with; zero until chosen
	remote  *srtp.Crypto // what the phone encrypts with
	ep      *media.Endpoint
	applied [2][]byte // the keys (ours, the phone's) of the cipher on ep: a re-INVITE
	// with the same keys keeps the cipher and its streams' rollover counts

	once sync.Once
	done chan struct{}
}

// takeOffer takes the phone's keys, offered or answered, with mu held (or before the edge is
// shared). An answer, and a re-offer, carry a line with our tag and suite: that is the phone's
// key. Otherwise (a first offer, or a re-offer in another suite) the phone's first usable line
// is chosen and ours is made, or kept, in its suite with its tag. Either way the SDP we send
// next carries our one line, which answers an offer and re-offers after an answer alike.
func (e *srtpEdge) takeOffer(offered []srtp.Crypto) error {
	for _, c := range offered {
		if e.local.Key != nil && c.Tag == e.local.Tag && c.Suite.Name == e.local.Suite.Name {
			e.remote = &c
			return nil
		}
	}
	chosen := offered[0]
	if e.local.Key == nil || e.local.Suite.Name != chosen.Suite.Name {
		local, err := srtp.NewCrypto(chosen.Tag, chosen.Suite)
		if err != nil {
			return err
		}
		e.local = local
	}
	e.local.Tag = chosen.Tag
	e.remote = &chosen
	return nil
}

// FromBrowser reads an SDP from the phone: an offer (a re-INVITE's, new keys and all) or the
// answer to ours.
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
	if err := e.takeOffer(offered); err != nil {
		return nil, err
	}
	e.apply()
	return plain, nil
}

// ToBrowser writes the switch's SDP for the phone as RTP/SAVP with our key: the answer to the
// phone's offer, or an offer of our own (a call to the phone, a hold, a transfer's re-INVITE).
func (e *srtpEdge) ToBrowser(body []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.local.Key == nil {
		local, err := srtp.NewCrypto(1, srtp.Suites[0])
		if err != nil {
			return nil, err
		}
		e.local = local
	}
	return srtp.Secure(body, e.local)
}

// attach makes ep the endpoint whose packets the edge protects.
func (e *srtpEdge) attach(ep *media.Endpoint) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ep = ep
	e.apply()
}

// claim puts this edge's cipher back on its endpoint: the forks of a ringing share the callee
// endpoint, and the phone that answered is the one whose keys count.
func (e *srtpEdge) claim() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applied = [2][]byte{}
	e.apply()
}

// apply sets the cipher on the endpoint once both keys are known; with mu held.
func (e *srtpEdge) apply() {
	if e.ep == nil || e.remote == nil || e.local.Key == nil ||
		bytes.Equal(e.applied[0], e.local.Key) && bytes.Equal(e.applied[1], e.remote.Key) {
		return
	}
	c, err := srtp.NewCipher(e.local, *e.remote)
	if err != nil {
		return // keys ParseCrypto and NewCrypto made always fit their suite
	}
	e.ep.SetCipher(c)
	e.applied = [2][]byte{e.local.Key, e.remote.Key}
}

// Done is closed by Close: SRTP has no media of its own to lose.
func (e *srtpEdge) Done() <-chan struct{} { return e.done }

// Close ends the edge; the endpoint's cipher goes with the endpoint.
func (e *srtpEdge) Close() error {
	e.once.Do(func() { close(e.done) })
	return nil
}
