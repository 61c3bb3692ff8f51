package sip

import (
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/media"
)

// party is a phone that answered a Ring and is not bridged yet. While a flow talks to it
// (screening), its leg is a registered dialog, so its BYE and INFO reach the call, and the
// switch plays to it and hears its digits on the callee-facing endpoint.
type party struct {
	c   *call
	f   *fork
	res *sip.Response // the phone's 2xx

	stream *media.Stream
	rx     *media.Receiver
	stop   chan struct{}
	plays  uint64
	gone   bool // its BYE arrived
	done   bool // released or bridged

	// A user who picked the call up (pickup.go) instead of a phone rung: their INVITE waits
	// for its answer, on the leg and endpoint their own call handed over.
	picker    *leg
	pickerInv *sip.Request
	pickerTx  sip.ServerTransaction
	pickerEp  *media.Endpoint
	// The SDP answers settled before the pickup was taken (pickup.go).
	pickerAnswer, callerAnswer []byte
	pickerSess, callerSess     media.Session
}

// settle lets go of what answering the party needed once it is bridged: the flow that rang it
// keeps the party for the whole call, and through its fork the phone's 2xx, our INVITE, its
// transaction and the round of every phone rung with it (~8 KB a call) stayed as long. The
// fork's goroutine may still be sending its ACK: the fork is not changed, only let go.
func (p *party) settle() {
	p.res, p.pickerInv, p.pickerTx = nil, nil, nil
	if p.f != nil {
		p.f = &fork{binding: p.f.binding, leg: p.f.leg}
	}
}

// leg is the party's dialog.
func (p *party) leg() *leg {
	if p.picker != nil {
		return p.picker
	}
	return p.f.leg
}

// Ext implements flow.Party.
func (p *party) Ext() string {
	if p.picker != nil {
		return p.picker.user
	}
	return p.f.binding.AOR
}

// Play implements flow.Party.
func (p *party) Play(src media.Source) uint64 {
	if p.picker != nil {
		// A picker is never screened (flow.Rang.PickedUp); nothing to play to yet.
		p.plays++
		p.c.mail.post(flow.PlayDone{ID: p.plays, FromParty: true})
		return p.plays
	}
	if err := p.open(); err != nil {
		p.c.log.Warn("no media to the answering phone", zap.Error(err))
		p.plays++
		id := p.plays
		p.c.mail.post(flow.PlayDone{ID: id, FromParty: true})
		return id
	}
	p.plays++
	id := p.plays
	done := p.stream.Play(src)
	go p.c.whenDone(done, flow.PlayDone{ID: id, FromParty: true})
	return id
}

// open starts the switch's media towards the party, once.
func (p *party) open() error {
	if p.stream != nil {
		return nil
	}
	c := p.c
	sess, err := media.SessionOf(p.res.Body())
	if err != nil {
		return err
	}
	c.epB.SetRemote(sess.Remote)
	p.stream = c.s.pacer.NewStream(c.epB, sess)
	p.rx = media.NewReceiver(c.epB, sess)
	p.rx.Start(c.s.ctx, nil)
	p.stop = make(chan struct{})
	go c.pumpDigits(p.rx, p.stop, true)
	c.s.addDialog(p.f.leg) // the party's BYE and INFO reach this call meanwhile
	return nil
}

// closeMedia stops the switch's media towards the party (before a bridge or a release).
func (p *party) closeMedia() {
	if p.stream == nil {
		return
	}
	close(p.stop)
	p.rx.Stop()
	p.stream.Close()
	p.stream = nil
}

// Release implements flow.Party: the party is hung up.
func (p *party) Release() {
	if p.done {
		return
	}
	p.done = true
	if p.c.party == p {
		p.c.party = nil
	}
	if p.picker != nil {
		p.releasePicker()
		return
	}
	p.closeMedia()
	p.c.s.removeDialog(p.f.leg)
	if !p.gone {
		if err := p.f.leg.bye(p.c.s); err != nil {
			p.c.log.Debug("released party BYE", zap.Error(err))
		}
	}
}
