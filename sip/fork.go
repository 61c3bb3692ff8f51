package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// fork is one INVITE to one registered phone of the callee. Its goroutine follows the client
// transaction to the end: it reports ringing and the final answer to the call, claims the call
// on 2xx, and cleans up after itself when it loses (CANCEL, or ACK+BYE for a late 2xx).
type fork struct {
	r       *round
	binding Binding
	leg     *leg
	req     *sip.Request
	tx      sip.ClientTransaction

	stopOnce sync.Once
	stopCh   chan struct{}
}

// startFork sends the INVITE to one phone.
func (c *call) startFork(r *round, b Binding, user bool) (*fork, error) {
	s := c.s
	var target sip.Uri
	if err := sip.ParseUri(b.Contact, &target); err != nil {
		return nil, fmt.Errorf("contact %q: %w", b.Contact, err)
	}
	tp := s.transportOf(b.Transport)
	routes := make([]sip.Uri, 0, len(b.Path))
	for _, p := range b.Path {
		var u sip.Uri
		if err := sip.ParseUri(p, &u); err != nil {
			return nil, fmt.Errorf("path %q: %w", p, err)
		}
		routes = append(routes, u)
	}
	from := c.presentedAs()
	l := newLeg(c, false, c.epB, c.originB)
	l.lastSDP = c.offerB
	l.party = b.AOR
	l.node = b.Peer
	if user {
		l.user = b.AOR
	}
	l.dialog = dialog{
		callID:    newCallID(),
		localTag:  sip.GenerateTagN(16),
		local:     sip.Uri{Scheme: "sip", User: from.user, Host: tp.host},
		localName: from.name,
		remote:    sip.Uri{Scheme: "sip", User: b.AOR, Host: tp.host},
		target:    target,
		dest:      b.Dest,
		routes:    routes,
		tp:        tp,
	}
	req := l.newRequest(sip.INVITE, c.offerB, "application/sdp")
	if b.Peer != "" && s.opts.Peers != nil {
		req.AppendHeader(sip.NewHeader(nodeHeader, s.opts.Peers.Name()))
	}
	if isWebSocket(b.Transport) && s.opts.Browsers != nil {
		// A phone on a WebSocket is a browser: it gets a WebRTC offer from a gateway of its own.
		g, err := s.opts.Browsers.NewGateway()
		if err != nil {
			return nil, fmt.Errorf("invite %s: browser media: %w", l.callID, err)
		}
		offer, err := g.ToBrowser(c.offerB)
		if err != nil {
			_ = g.Close()
			return nil, fmt.Errorf("invite %s: browser offer: %w", l.callID, err)
		}
		req.SetBody(offer)
		s.attachBrowser(l, g, c.epB)
	} else if s.srtpPolicy(b.AOR) == SRTPRequired {
		// A phone that must speak SRTP is offered RTP/SAVP with a key of its leg's own.
		e := newSRTPEdge()
		offer, err := e.ToBrowser(c.offerB)
		if err != nil {
			return nil, fmt.Errorf("invite %s: SRTP offer: %w", l.callID, err)
		}
		req.SetBody(offer)
		s.attachBrowser(l, e, c.epB)
	}
	tx, req, err := s.transact(s.ctx, req)
	if err != nil {
		if l.browser != nil {
			_ = l.browser.Close()
		}
		return nil, fmt.Errorf("invite %s: %w", l.callID, err)
	}
	f := &fork{r: r, binding: b, leg: l, req: req, tx: tx, stopCh: make(chan struct{})}
	if e, ok := l.browser.(*srtpEdge); ok {
		// Until one of the ringing phones wins, any may key the shared callee endpoint (early
		// media); a phone answering after another won may not.
		e.ownedBy(func() bool { w := r.winner.Load(); return w == nil || w == f })
	}
	s.wg.Add(1)
	go f.run(c)
	return f, nil
}

// stop asks the fork to give up (CANCEL once it has had a provisional response).
func (f *fork) stop() {
	if f == nil || f == abandoned {
		return
	}
	f.stopOnce.Do(func() { close(f.stopCh) })
}

// post hands an event to the call, unless the call no longer wants this fork (a 2xx is always
// posted: whoever won must be bridged or hung up).
func (c *call) post(ev forkEvent) {
	if ev.res == nil || !ev.res.IsSuccess() {
		select {
		case <-ev.f.stopCh:
			return
		default:
		}
	}
	c.mail.post(ev)
}

func (f *fork) run(c *call) {
	s := c.s
	defer s.wg.Done()
	// A 2xx'd INVITE's transaction is ended by its ACK (dialog.acknowledge); any other here.
	accepted := false
	defer func() {
		if !accepted {
			f.tx.Terminate()
		}
	}()
	if f.leg.browser != nil {
		// A browser that did not win has no call to carry: its gateway goes now, not with
		// the shared callee endpoint.
		defer func() {
			if f.r.winner.Load() != f {
				_ = f.leg.browser.Close()
			}
		}()
	}
	provisional, stopping, cancelSent := false, false, false
	stopCh := f.stopCh
	cancel := func() {
		if cancelSent {
			return
		}
		cancelSent = true
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f.sendCancel(); err != nil {
				c.log.Debug("cancel failed", zap.String("leg", f.leg.callID), zap.Error(err))
			}
		}()
	}
	for {
		select {
		case res := <-f.tx.Responses():
			if err := f.leg.translateResponse(res); err != nil {
				c.log.Info("browser's answer refused", zap.String("leg", f.leg.callID), zap.Error(err))
			}
			if res.IsProvisional() {
				provisional = true
				if stopping {
					cancel()
					continue
				}
				c.post(forkEvent{f: f, res: res})
				continue
			}
			if res.IsSuccess() {
				accepted = true
				f.established(res)
				if f.r.winner.CompareAndSwap(nil, f) {
					// The callee endpoint is shared by the ringing phones: the one that
					// answered decides whether (and with which keys) it speaks SRTP.
					if e, ok := f.leg.browser.(*srtpEdge); ok {
						e.claim()
					} else {
						c.epB.SetCipher(nil)
					}
					// The phone may send a request (a REFER, an INFO) as soon as it has our
					// ACK: its dialog is findable, and the answer queued for the owner, first.
					s.addDialog(f.leg)
					posted := c.mail.post(forkEvent{f: f, res: res})
					f.ack()
					if !posted {
						// The call ended in the same instant: nobody will bridge this phone.
						s.removeDialog(f.leg)
						if err := f.leg.bye(s); err != nil {
							c.log.Debug("answer after the call ended: BYE failed", zap.Error(err))
						}
					}
					return
				}
				f.ack()
				if f.r.winner.Load() == abandoned {
					// Ringing was over before this phone answered: hang it up ourselves.
					if err := f.leg.bye(s); err != nil {
						c.log.Debug("late answer BYE failed", zap.Error(err))
					}
					return
				}
				// Another phone won (or the winner is being handed over): this one is not wanted.
				if err := f.leg.bye(s); err != nil {
					c.log.Debug("second answer BYE failed", zap.Error(err))
				}
				return
			}
			if !stopping {
				c.post(forkEvent{f: f, res: res})
			}
			return
		case <-stopCh:
			stopping, stopCh = true, nil
			if provisional {
				cancel()
			}
		case <-s.ctx.Done():
			// Shutting down: CANCEL what can be cancelled, but do not sit out Timer B for a
			// phone that never even said 100 Trying.
			if provisional {
				cancel()
			}
			return
		case <-f.tx.Done():
			if !stopping {
				c.post(forkEvent{f: f, err: fmt.Errorf("%w: %v", errForkEnded, f.tx.Err())})
			}
			return
		}
	}
}

// established records the dialog the 2xx created (remote tag, remote target).
func (f *fork) established(res *sip.Response) {
	if to := res.To(); to != nil {
		f.leg.remoteTag, _ = to.Params.Get("tag")
	}
	if ct := res.Contact(); ct != nil {
		f.leg.target = ct.Address
	}
}

// ack acknowledges the fork's 2xx, and each retransmission of it (dialog.acknowledge).
func (f *fork) ack() {
	if err := f.leg.acknowledge(f.leg.call().s, f.tx, f.req); err != nil {
		f.leg.call().log.Warn("ACK not sent", zap.String("leg", f.leg.callID), zap.Error(err))
	}
}

// sendCancel cancels the fork's INVITE (RFC 3261 §9.1: same Via branch, Call-ID, tags, CSeq number).
func (f *fork) sendCancel() error {
	inv := f.req
	req := sip.NewRequest(sip.CANCEL, inv.Recipient)
	req.AppendHeader(sip.HeaderClone(inv.Via()))
	req.AppendHeader(sip.HeaderClone(inv.From()))
	req.AppendHeader(sip.HeaderClone(inv.To()))
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	for _, r := range headersNamed(inv, "Route") { // §9.1: the INVITE's route, so it meets it
		req.AppendHeader(sip.HeaderClone(r))
	}
	req.SetBody(nil)
	f.leg.route(req)
	if !strings.EqualFold(inv.Transport(), req.Transport()) {
		// The INVITE went over TCP, being large (largerequest.go): so does its CANCEL.
		req.SetTransport(inv.Transport())
		req.Laddr = sip.Addr{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 64*t1)
	defer cancel()
	tx, err := f.leg.call().s.client.TransactionRequest(ctx, req)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", f.leg.callID, err)
	}
	defer tx.Terminate()
	select {
	case <-tx.Responses():
	case <-tx.Done():
	case <-ctx.Done():
	}
	return nil
}

var errForkEnded = errors.New("fork transaction ended")
