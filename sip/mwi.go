package sip

import (
	"fmt"
	"time"
)

// Mailboxes gives message counts for message-waiting indication.
type Mailboxes interface {
	Counts(box string) (newCount, oldCount int, err error)
}

// mwiPackage is the message-summary event package (RFC 3842): a phone subscribes to its own
// mailbox and lights its message-waiting lamp from the NOTIFYs.
type mwiPackage struct{ s *Server }

func (mwiPackage) contentType() string           { return "application/simple-message-summary" }
func (mwiPackage) defaultExpires() time.Duration { return time.Hour }

// allowed: only the box's owner; message counts are private.
func (mwiPackage) allowed(subscriber, resource string) bool { return subscriber == resource }

func (p mwiPackage) body(sub *subscription) []byte {
	newCount, oldCount, err := p.s.opts.Mailboxes.Counts(sub.resource)
	if err != nil {
		newCount, oldCount = 0, 0
	}
	waiting := "no"
	if newCount > 0 {
		waiting = "yes"
	}
	return fmt.Appendf(nil, "Messages-Waiting: %s\r\nMessage-Account: sip:%s@%s\r\nVoice-Message: %d/%d (0/0)\r\n",
		waiting, sub.resource, sub.tp.host, newCount, oldCount)
}

// MessageWaiting tells every phone watching box's mailbox about its current counts. Call it after
// any change to the box.
func (s *Server) MessageWaiting(box string) {
	if _, ok := s.events["message-summary"]; ok {
		s.notifyWatchers("message-summary", box)
	}
}
