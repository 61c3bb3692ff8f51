package sip

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/webrtc"
)

// Browsers are phones like any other to the call core: a browser leg's WebRTC media (ICE,
// DTLS-SRTP, rtcp-mux) ends in a gateway that shows the switch a plain RTP peer, and every SDP
// body crossing the leg is translated at the dialog's edge — FromBrowser as it arrives, ToBrowser
// as it leaves — so routing, flows, the relay, the pacer and the recorder never see WebRTC.
// The edge is: a browser's INVITE (onInvite), responses to our INVITE (fork) and to our
// in-dialog requests (dialog.do), a browser's re-INVITE (postInDialog), and everything we send
// (dialog.response, dialog.newRequestSeq).

// BrowserMedia makes the WebRTC side of browser legs; media/webrtc implements it. Without it a
// WebRTC offer is refused with 488 and phones registered over WebSocket are offered plain RTP.
type BrowserMedia interface {
	// NewGateway returns the media side of one browser leg.
	NewGateway() (MediaGateway, error)
}

// MediaGateway is what stands at the edge of a leg whose media the call core does not speak: a
// browser's WebRTC gateway (it terminates WebRTC and presents a plain RTP peer) or a phone's
// SRTP (srtp.go: it puts a cipher on the leg's endpoint). Its methods are safe for concurrent
// use.
type MediaGateway interface {
	// FromBrowser turns the browser's offer or answer into plain SDP; the error wraps
	// media.ErrNoCommonCodec when the browser offers no G.711.
	FromBrowser(sdp []byte) ([]byte, error)
	// ToBrowser turns the switch's plain offer or answer into WebRTC SDP.
	ToBrowser(sdp []byte) ([]byte, error)
	// Done is closed when the browser's media is gone (ICE or DTLS failed, a closed tab) or
	// the gateway was closed.
	Done() <-chan struct{}
	// Close releases the gateway's ports and goroutines; it is idempotent.
	Close() error
}

// WebRTC is the BrowserMedia of media/webrtc's gateways.
func WebRTC(gs *webrtc.Gateways) BrowserMedia { return webrtcMedia{gs} }

type webrtcMedia struct{ gs *webrtc.Gateways }

func (w webrtcMedia) NewGateway() (MediaGateway, error) {
	g, err := w.gs.New()
	if err != nil {
		return nil, err // never a typed nil inside the interface
	}
	return g, nil
}

// isWebSocket reports whether a transport name (sipgo's spelling or ours) is SIP over
// WebSocket: RFC 7118 clients are browsers, whose media is WebRTC.
func isWebSocket(transport string) bool {
	t := strings.ToUpper(transport)
	return t == "WS" || t == "WSS"
}

// browserOffer prepares a browser's dialog-creating INVITE: when its offer is WebRTC the
// request's body is replaced by the gateway's plain offer, and the gateway is returned for the
// call to attach to the caller's leg. A refusal (no G.711, no gateway configured) is answered
// here and reported as ok false.
func (s *Server) browserOffer(req *sip.Request, tx sip.ServerTransaction) (g MediaGateway, ok bool) {
	body := req.Body()
	if len(body) == 0 || !webrtc.IsWebRTC(body) {
		return nil, true
	}
	if s.opts.Browsers == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 488, "Not Acceptable Here", nil))
		return nil, false
	}
	g, err := s.opts.Browsers.NewGateway()
	if err != nil {
		s.log.Warn("browser call refused: no media gateway", zap.String("call_id", callIDOf(req)), zap.Error(err))
		_ = tx.Respond(sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil))
		return nil, false
	}
	plain, err := g.FromBrowser(body)
	if err != nil {
		_ = g.Close()
		code, reason := mediaError(err)
		s.log.Info("browser offer refused", zap.String("call_id", callIDOf(req)), zap.Int("code", code), zap.Error(err))
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
		return nil, false
	}
	req.SetBody(plain)
	return g, true
}

// attachBrowser makes g the media of leg l, whose calls' media go through endpoint ep: g closes
// with ep (endpoints follow legs through transfers and pickups, and every one is closed), and a
// browser whose media dies ends its leg as a BYE would.
func (s *Server) attachBrowser(l *leg, g MediaGateway, ep *media.Endpoint) {
	l.browser = g
	if e, ok := g.(*srtpEdge); ok {
		e.attach(ep)
	}
	// Closed by the switch (its endpoint went: the call ended, or the leg was transferred away
	// and only waits for its last NOTIFY) is not the browser going away.
	var released atomic.Bool
	ep.OnClose(func() {
		released.Store(true)
		_ = g.Close()
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-g.Done()
		s.mu.Lock()
		live := s.dialogs[l.callID] == l
		s.mu.Unlock()
		if released.Load() || !live || l.ended.Load() {
			return // closed with its endpoint, or the leg never became a dialog
		}
		c := l.call()
		c.log.Info("browser media gone; ending its leg", zap.String("leg", l.callID))
		l.ended.Store(true)
		s.removeDialog(l)
		if err := l.bye(s); err != nil {
			c.log.Debug("BYE to a browser whose media is gone", zap.String("leg", l.callID), zap.Error(err))
		}
		c.mail.post(byeEvent{l: l})
	}()
}

// fromBrowser translates an SDP body that arrived on a browser dialog; other dialogs' bodies
// pass unchanged.
func (d *dialog) fromBrowser(body []byte) ([]byte, error) {
	if d.browser == nil || len(body) == 0 {
		return body, nil
	}
	plain, err := d.browser.FromBrowser(body)
	if err != nil {
		return nil, fmt.Errorf("browser SDP on %s: %w", d.callID, err)
	}
	return plain, nil
}

// toBrowser translates an SDP body we send on a browser dialog; other dialogs' bodies pass
// unchanged.
func (d *dialog) toBrowser(body []byte) ([]byte, error) {
	if d.browser == nil || len(body) == 0 {
		return body, nil
	}
	out, err := d.browser.ToBrowser(body)
	if err != nil {
		return nil, fmt.Errorf("SDP for browser on %s: %w", d.callID, err)
	}
	return out, nil
}

// translateResponse replaces the SDP of a response that arrived on a browser dialog with its
// plain form; a body that cannot be translated is dropped, which the caller of the request
// treats as an answer without usable media.
func (d *dialog) translateResponse(res *sip.Response) error {
	if d.browser == nil || len(res.Body()) == 0 {
		return nil
	}
	plain, err := d.fromBrowser(res.Body())
	if err != nil {
		res.SetBody(nil)
		return err
	}
	res.SetBody(plain)
	return nil
}
