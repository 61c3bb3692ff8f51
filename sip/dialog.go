package sip

import (
	"context"
	"fmt"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// dialog is the state of one SIP dialog we take part in (RFC 3261 §12): its own Call-ID, tags,
// remote target and CSeq space. Call legs and event subscriptions are dialogs.
type dialog struct {
	callID string

	localTag, remoteTag string
	local, remote       sip.Uri   // our and the peer's From/To addresses in this dialog
	localName           string    // display name we present in this dialog
	target              sip.Uri   // the peer's Contact: Request-URI of requests we send
	dest                string    // host:port we send to: the next hop (the peer, or the first route)
	routes              []sip.Uri // route set (RFC 3261 §12.2.1.1): Route headers, loose routing
	tp                  transportInfo
	createdSeq          uint32       // the CSeq number of the peer's INVITE that created the dialog (UAS)
	browser             MediaGateway // a browser's WebRTC media: SDP is translated both ways (browser.go)

	mu   sync.Mutex
	cseq uint32

	// The ACK of the latest 2xx to an INVITE we sent in this dialog is built again, the same
	// byte for byte, for each retransmission of that 2xx (acknowledge, resendAck): its CSeq
	// number and Via branch are all that is kept (the request itself is a kilobyte, for the
	// whole call).
	ackMu     sync.Mutex
	ackSeq    uint32
	ackBranch string
}

// initUAS fills d from a dialog-creating request we answer (RFC 3261 §12.1.1): our tag is new,
// the peer's target is its Contact, and we send to where the request came from (NAT).
func (d *dialog) initUAS(req *sip.Request, tp transportInfo) {
	d.callID = callIDOf(req)
	d.localTag = sip.GenerateTagN(16)
	d.local, d.localName = req.To().Address, req.To().DisplayName
	d.remote = req.From().Address
	d.remoteTag, _ = req.From().Params.Get("tag")
	if cs := req.CSeq(); cs != nil {
		d.createdSeq = cs.SeqNo
	}
	d.dest = req.Source()
	d.tp = tp
	d.cseq = 1
	if ct := req.Contact(); ct != nil {
		d.target = ct.Address
	} else {
		d.target = req.From().Address
	}
}

// nextCSeq returns the CSeq number for the next request we send in this dialog.
func (l *dialog) nextCSeq() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cseq++
	return l.cseq
}

// newRequest builds an in-dialog request from our side of the dialog (RFC 3261 §12.2.1.1).
func (l *dialog) newRequest(method sip.RequestMethod, body []byte, contentType string) *sip.Request {
	return l.newRequestSeq(method, l.nextCSeq(), body, contentType)
}

// newRequestSeq is newRequest with a given CSeq number: an ACK reuses its INVITE's (§13.2.2.4).
func (l *dialog) newRequestSeq(method sip.RequestMethod, seq uint32, body []byte, contentType string) *sip.Request {
	req := sip.NewRequest(method, l.target)
	req.AppendHeader(l.tp.via())
	from := &sip.FromHeader{DisplayName: l.localName, Address: l.local, Params: sip.NewParams()}
	from.Params.Add("tag", l.localTag)
	req.AppendHeader(from)
	to := &sip.ToHeader{Address: l.remote, Params: sip.NewParams()}
	if l.remoteTag != "" {
		to.Params.Add("tag", l.remoteTag)
	}
	req.AppendHeader(to)
	callID := sip.CallIDHeader(l.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	if method == sip.INVITE || method == sip.SUBSCRIBE || method == sip.NOTIFY {
		req.AppendHeader(l.tp.contact())
		req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	}
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	if contentType == "application/sdp" {
		// A body the gateway cannot translate goes as it is: the browser refuses it (488) and
		// the request fails like any refused offer.
		var out []byte
		var err error
		if e, ok := l.browser.(*srtpEdge); ok && method == sip.INVITE && len(body) > 0 {
			// An SRTP phone's edge must know this is our offer: the SDP it gets back is
			// the answer whose keys count at once.
			out, err = e.offer(body)
		} else {
			out, err = l.toBrowser(body)
		}
		if err == nil {
			body = out
		}
	}
	for _, r := range l.routes {
		req.AppendHeader(sip.NewHeader("Route", "<"+r.String()+">"))
	}
	req.SetBody(body)
	l.route(req)
	return req
}

// route points a request at the peer's transport address.
func (l *dialog) route(req *sip.Request) {
	req.SetTransport(l.tp.name)
	req.SetDestination(l.dest)
	if l.tp.laddr.IP != nil {
		req.Laddr = l.tp.laddr
	}
}

// respond builds a response to a request in this dialog carrying our tag.
func (l *dialog) response(req *sip.Request, code int, reason string, body []byte) *sip.Response {
	if out, err := l.toBrowser(body); err == nil {
		body = out
	} else {
		body = nil // cannot happen with the switch's own SDP; the browser refuses a 2xx without it
	}
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if to := res.To(); to != nil && code > 100 && l.localTag != "" {
		to.Params.Add("tag", l.localTag)
	}
	if len(body) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if code >= 200 && code < 300 && (req.IsInvite() || req.Method == sip.SUBSCRIBE) {
		res.AppendHeader(l.tp.contact())
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	}
	return res
}

// do sends an in-dialog request and waits for its final response.
func (l *dialog) do(ctx context.Context, s *Server, req *sip.Request) (*sip.Response, error) {
	tx, _, err := s.transact(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s in dialog %s: %w", req.Method, l.callID, err)
	}
	defer tx.Terminate()
	return l.await(ctx, tx, req)
}

// reinvite sends an INVITE within the dialog and waits for its final response. A 2xx is
// acknowledged here, and every retransmission of it gets that same ACK again, byte for byte
// (RFC 3261 §13.2.2.4; acknowledge): a phone whose first ACK was lost retransmits its 2xx and,
// never acknowledged, hangs the call up after 32 s. The ACK's error is returned alone with the
// response (the re-INVITE itself succeeded).
func (l *dialog) reinvite(ctx context.Context, s *Server, req *sip.Request) (res *sip.Response, ackErr, err error) {
	tx, _, err := s.transact(ctx, req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s in dialog %s: %w", req.Method, l.callID, err)
	}
	res, err = l.await(ctx, tx, req)
	if err != nil || !res.IsSuccess() {
		tx.Terminate()
		return res, nil, err
	}
	return res, l.acknowledge(s, tx, req), nil
}

// acknowledge sends the ACK of the 2xx that answered invite on tx (RFC 3261 §13.2.2.4: the
// INVITE's CSeq number, a new branch) and ends the transaction. The 2xx's retransmissions,
// which come while the peer has not seen an ACK, then match no transaction and reach the
// dialog (Server.onStrayResponse), which sends that very ACK again, byte for byte: a new ACK
// (a new branch) would be a new request to the phone, not the retransmission it waits for.
// Keeping the transaction to absorb them instead held the INVITE and its 2xx for the first
// seconds of every call (Timer M; sipgo's Terminate does not stop it, hence its short value
// in this package's init). It returns the send's error.
func (l *dialog) acknowledge(s *Server, tx sip.ClientTransaction, invite *sip.Request) error {
	seq := invite.CSeq().SeqNo
	ack := l.newRequestSeq(sip.ACK, seq, nil, "")
	// The transaction ends before the ACK goes, and a retransmission that crosses the ACK waits
	// for it here (resendAck): one that reached the transaction meanwhile would go unanswered.
	l.ackMu.Lock()
	l.ackSeq, l.ackBranch = seq, ack.Via().Params.GetOr("branch", "")
	tx.Terminate()
	err := s.client.WriteRequest(ack)
	l.ackMu.Unlock()
	if err != nil {
		return fmt.Errorf("ACK in dialog %s: %w", l.callID, err)
	}
	return nil
}

// resendAck sends the ACK of the 2xx to our INVITE with CSeq number seq again, if that is the
// 2xx this dialog last acknowledged.
func (l *dialog) resendAck(s *Server, seq uint32) {
	l.ackMu.Lock()
	defer l.ackMu.Unlock()
	if l.ackBranch == "" || l.ackSeq != seq {
		return
	}
	ack := l.newRequestSeq(sip.ACK, seq, nil, "")
	ack.Via().Params.Add("branch", l.ackBranch)
	_ = s.client.WriteRequest(ack)
}

// await waits for the final response of an in-dialog request's transaction.
func (l *dialog) await(ctx context.Context, tx sip.ClientTransaction, req *sip.Request) (*sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			// An answer the gateway cannot take loses its body: the caller acknowledges it
			// and fails on the missing SDP as on any unusable answer.
			_ = l.translateResponse(res)
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("%s in dialog %s: %w", req.Method, l.callID, err)
			}
			return nil, fmt.Errorf("%s in dialog %s: transaction ended without response", req.Method, l.callID)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s in dialog %s: %w", req.Method, l.callID, ctx.Err())
		}
	}
}
