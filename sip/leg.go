package sip

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/switchboard-voip/switchboard/media"
)

// legSide names the two dialogs of a bridged call.
type legSide string

const (
	sideA legSide = "a" // towards the caller; Switchboard is the UAS
	sideB legSide = "b" // towards the callee; Switchboard is the UAC
)

// leg is one SIP dialog of a call with its own Call-ID, tags and CSeq space, and the media
// endpoint that faces its peer.
type leg struct {
	side   legSide
	call   *call
	callID string

	localTag, remoteTag string
	local, remote       sip.Uri // our and the peer's From/To addresses in this dialog
	localName           string  // display name we present in this dialog
	target              sip.Uri // the peer's Contact: Request-URI of requests we send
	dest                string  // host:port we send to (where the peer's requests came from)
	tp                  transportInfo

	ep     *media.Endpoint
	origin *media.Origin

	mu         sync.Mutex
	cseq       uint32
	lastSDP    []byte // the SDP we last sent on this leg, to answer session refreshes
	reinviting bool   // a re-INVITE we forwarded on this leg is outstanding (glare → 491)
}

// nextCSeq returns the CSeq number for the next request we send on this leg.
func (l *leg) nextCSeq() uint32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cseq++
	return l.cseq
}

// newRequest builds an in-dialog request from our side of the leg (RFC 3261 §12.2.1.1).
func (l *leg) newRequest(method sip.RequestMethod, body []byte, contentType string) *sip.Request {
	return l.newRequestSeq(method, l.nextCSeq(), body, contentType)
}

// newRequestSeq is newRequest with a given CSeq number: an ACK reuses its INVITE's (§13.2.2.4).
func (l *leg) newRequestSeq(method sip.RequestMethod, seq uint32, body []byte, contentType string) *sip.Request {
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
	if method == sip.INVITE {
		req.AppendHeader(l.tp.contact())
		req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	}
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	l.route(req)
	return req
}

// route points a request at the peer's transport address.
func (l *leg) route(req *sip.Request) {
	req.SetTransport(l.tp.name)
	req.SetDestination(l.dest)
	if l.tp.laddr.IP != nil {
		req.Laddr = l.tp.laddr
	}
}

// respond builds a response to a request on this leg carrying our tag.
func (l *leg) response(req *sip.Request, code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if to := res.To(); to != nil && code > 100 && l.localTag != "" {
		to.Params.Add("tag", l.localTag)
	}
	if len(body) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if code >= 200 && code < 300 && (req.IsInvite()) {
		res.AppendHeader(l.tp.contact())
		res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	}
	return res
}

// do sends an in-dialog request and waits for its final response.
func (l *leg) do(ctx context.Context, s *Server, req *sip.Request) (*sip.Response, error) {
	tx, err := s.client.TransactionRequest(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("%s on leg %s: %w", req.Method, l.side, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, fmt.Errorf("%s on leg %s: %w", req.Method, l.side, err)
			}
			return nil, fmt.Errorf("%s on leg %s: transaction ended without response", req.Method, l.side)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s on leg %s: %w", req.Method, l.side, ctx.Err())
		}
	}
}

// bye ends this leg's dialog. It waits a bounded time for the answer so shutdown can be clean
// without hanging on a vanished phone.
func (l *leg) bye(s *Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	res, err := l.do(ctx, s, l.newRequest(sip.BYE, nil, ""))
	if err != nil {
		return err
	}
	if res.StatusCode >= 300 && res.StatusCode != 481 {
		return fmt.Errorf("BYE on leg %s: %d %s", l.side, res.StatusCode, res.Reason)
	}
	return nil
}
