package sip

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/presence"
)

// Presence is what the SIP layer reads from and reports to the status table (*presence.Table).
// In a cluster the table is kept in step with the other nodes' beneath it (package cluster),
// without the SIP layer noticing.
type Presence interface {
	Get(ext string) (presence.State, bool)
	Set(ext string, c presence.Change) (presence.State, error)
	// CallStarted and CallEnded put ext on and off the call callID (the caller's INVITE
	// Call-ID); both are idempotent, so a repeated report is harmless.
	CallStarted(ext, callID string)
	CallEnded(ext, callID string)
	SetRegistered(ext string, registered bool)
	// WatchOrdered follows every change in Seq order, not coalesced, with at most limit
	// pending; a reader further behind gets the latest state of each extension that changed.
	WatchOrdered(limit int) StatusFeed
}

var _ Presence = (*presence.Table)(nil)

// StatusFeed is the stream of status changes the notifier reads: Ready is signalled when
// Changes has something, and closed by Close. It is an alias of an interface literal (as
// presence.Feed is), so any table whose WatchOrdered returns that literal satisfies Presence.
type StatusFeed = interface {
	Ready() <-chan struct{}
	Changes() []presence.State
	Close()
}

// statusFeedLimit is how many status changes may wait for the notifier before the feed falls
// back to the latest state per user. The notifier only queues NOTIFYs, so it falls that far
// behind only in a burst (thousands of phones registering at once), where the latest state is
// what watchers need.
const statusFeedLimit = 4096

// presencePackage is the presence event package (RFC 3856): PIDF (RFC 3863) with RPID
// activities (RFC 4480), written the way phones read it: baresip looks for <basic>open</basic>
// and the literal "<rpid:busy/>" or "<rpid:on-the-phone/>", so the rpid prefix is fixed.
type presencePackage struct{ s *Server }

func (presencePackage) contentType() string           { return "application/pidf+xml" }
func (presencePackage) defaultExpires() time.Duration { return time.Hour }

// allowed: the whole team sees each other's status, as on the team page.
func (p presencePackage) allowed(subscriber, resource string) bool {
	_, ok := p.s.opts.Users.Secret(subscriber)
	return ok
}

func (p presencePackage) body(sub *subscription) []byte {
	return pidf(sub.statusLocked(), sub.resource, sub.tp.host)
}

// statusLocked is the status a body must show: the change being sent, else the table's.
func (sub *subscription) statusLocked() presence.State {
	if sub.state != nil {
		return *sub.state
	}
	st, _ := sub.s.opts.Presence.Get(sub.resource)
	return st
}

// presenceChanged sends a user's status change, as it happened, to their presence and DND-key
// watchers. Every change reaches it by one route, the table's ordered feed (watchPresence), so a
// short call's busy is sent before its available; a change older than one a subscription has
// already shown is dropped there (pushState). It returns how many subscriptions it went to.
func (s *Server) presenceChanged(st presence.State) (watchers int) {
	if st.Removed {
		return s.resourceRemoved(st)
	}
	for _, event := range []string{"presence", "as-feature-event"} {
		s.mu.Lock()
		subs := make([]*subscription, 0, len(s.watchers[event+"\x00"+st.Ext]))
		for sub := range s.watchers[event+"\x00"+st.Ext] {
			subs = append(subs, sub)
		}
		s.mu.Unlock()
		shared := &sharedBody{}
		for _, sub := range subs {
			sub.pushState(&st, "", false, shared)
		}
		watchers += len(subs)
	}
	return watchers
}

// userEvents are the event packages whose resource is a user's own state: presence, the DND
// key and BLF (dialog). They end when the user is removed from the directory.
var userEvents = [...]string{"presence", "as-feature-event", "dialog"}

// resourceRemoved ends every subscription to the state of a user removed from the directory, st
// being their last state: the resource no longer exists, so each gets a final NOTIFY with
// Subscription-State terminated;reason=noresource (RFC 6665 §4.1.3), after which the watcher
// may subscribe again and be told 404. It returns how many subscriptions it ended.
func (s *Server) resourceRemoved(st presence.State) int {
	var subs []*subscription
	s.mu.Lock()
	for _, event := range userEvents {
		for sub := range s.watchers[event+"\x00"+st.Ext] {
			subs = append(subs, sub)
		}
	}
	s.mu.Unlock()
	for _, sub := range subs {
		sub.endState(&st, "noresource")
	}
	return len(subs)
}

// sharedBody is one status change's PIDF, rendered once for every presence watcher of the user
// reached under the same host name rather than once per watcher (a popular user's change went
// to 1,000 watchers as 1,000 renders of one document). One goroutine uses it at a time.
type sharedBody struct {
	host string
	body []byte
}

// pidf renders one user's status. Available: open. Busy: open, on-the-phone. DND: closed, busy,
// with the note "Do Not Disturb" (what Linphone and desk phones display) and the user's reason
// after it; a DND's end is the RPID activities' until (RFC 4480 §3.1). A user removed from the
// directory (the final NOTIFY's body) is closed, "Unavailable": they can no longer be reached.
func pidf(st presence.State, ext, host string) []byte {
	entity := "sip:" + ext + "@" + host
	basic, activity, note := "open", "", "Available"
	switch {
	case st.Removed:
		basic, note = "closed", "Unavailable"
	case st.Status == presence.Busy:
		activity, note = "<rpid:on-the-phone/>", "On the phone"
	case st.Status == presence.DND:
		basic, activity, note = "closed", "<rpid:busy/>", "Do Not Disturb"
		if st.Reason != "" {
			note += ": " + st.Reason
		}
	}
	b := make([]byte, 0, 512+3*len(entity)+2*len(note))
	b = append(b, `<?xml version="1.0" encoding="UTF-8"?>`+"\r\n"...)
	b = append(b, `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="`...)
	b = appendEscaped(b, entity)
	b = append(b, "\">\r\n<tuple id=\""...)
	b = appendEscaped(b, ext)
	b = append(b, `"><status><basic>`...)
	b = append(b, basic...)
	b = append(b, `</basic></status><contact>`...)
	b = appendEscaped(b, entity)
	b = append(b, `</contact><note>`...)
	b = appendEscaped(b, note)
	b = append(b, "</note></tuple>\r\n"...)
	if activity != "" {
		b = append(b, `<dm:person id="p`...)
		b = appendEscaped(b, ext)
		b = append(b, `"><rpid:activities`...)
		if st.Status == presence.DND && !st.Until.IsZero() {
			b = append(b, ` until="`...)
			b = st.Until.UTC().AppendFormat(b, time.RFC3339)
			b = append(b, '"')
		}
		b = append(b, '>')
		b = append(b, activity...)
		b = append(b, `</rpid:activities><dm:note>`...)
		b = appendEscaped(b, note)
		b = append(b, "</dm:note></dm:person>\r\n"...)
	}
	return append(b, "</presence>\r\n"...)
}

// appendEscaped appends s with XML's five special characters escaped: a reason is the user's
// own text.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '"':
			b = append(b, "&quot;"...)
		case '\'':
			b = append(b, "&apos;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// watchPresence turns status changes into NOTIFYs for presence, dialog-less BLF and DND-key
// subscribers. It reads feed, opened before the
// server starts serving so that no change is missed, until the server shuts down, and closes
// it.
func (s *Server) watchPresence(feed StatusFeed) {
	defer s.wg.Done()
	defer feed.Close()
	// The embedded table's feed counts the steps it coalesced after falling statusFeedLimit
	// behind; another backend's feed need not.
	counter, _ := feed.(interface{ Dropped() uint64 })
	var dropped uint64
	for {
		select {
		case <-s.ctx.Done():
			return
		case _, ok := <-feed.Ready():
			if !ok {
				return // closed by the table
			}
			for _, st := range feed.Changes() {
				start := time.Now() // monotonic: a duration, whatever the call clock says
				if s.presenceChanged(st) > 0 {
					s.obs.PresenceFannedOut(time.Since(start))
				}
			}
			if counter != nil {
				if n := counter.Dropped(); n > dropped {
					s.log.Warn("status notifier fell behind: watchers got the latest status, not every step",
						zap.Uint64("dropped", n-dropped), zap.Int("limit", statusFeedLimit))
					dropped = n
				}
			}
		}
	}
}

// pidfDocument is what Switchboard reads of a PUBLISHed PIDF: the basic status, RPID activities
// and notes, whatever the namespace prefixes.
type pidfDocument struct {
	Tuples []struct {
		Basic string   `xml:"status>basic"`
		Notes []string `xml:"note"`
	} `xml:"tuple"`
	Persons []struct {
		Activities struct {
			Any []struct{ XMLName xml.Name } `xml:",any"`
		} `xml:"activities"`
		Notes []string `xml:"note"`
	} `xml:"person"`
	Notes []string `xml:"note"`
}

// dndFromPIDF decides what a phone's PIDF says about DND: on for basic closed, a busy activity
// or a note saying "do not disturb"; off for basic open without those; unknown otherwise.
func dndFromPIDF(body []byte) (on, known bool, err error) {
	var doc pidfDocument
	if err := decodeXML(body, &doc); err != nil {
		return false, false, fmt.Errorf("pidf: %w", err)
	}
	notes := append([]string(nil), doc.Notes...)
	open, closed := false, false
	for _, t := range doc.Tuples {
		switch strings.ToLower(strings.TrimSpace(t.Basic)) {
		case "open":
			open = true
		case "closed":
			closed = true
		}
		notes = append(notes, t.Notes...)
	}
	busy := false
	for _, p := range doc.Persons {
		for _, a := range p.Activities.Any {
			if strings.EqualFold(a.XMLName.Local, "busy") || strings.EqualFold(a.XMLName.Local, "do-not-disturb") {
				busy = true
			}
		}
		notes = append(notes, p.Notes...)
	}
	for _, n := range notes {
		n = strings.ToLower(n)
		if strings.Contains(n, "do not disturb") || strings.Contains(n, "donotdisturb") || strings.TrimSpace(n) == "dnd" {
			busy = true
		}
	}
	switch {
	case busy || closed:
		return true, true, nil
	case open:
		return false, true, nil
	}
	return false, false, nil
}

// onPublish takes presence published by a user's own phone (Linphone's "Do not disturb",
// baresip's open/closed) as a change of their DND setting (RFC 3903 framing: SIP-ETag,
// refreshes with SIP-If-Match, Expires).
func (s *Server) onPublish(req *sip.Request, tx sip.ServerTransaction) {
	if req.CallID() == nil || req.From() == nil || req.To() == nil || req.CSeq() == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	if eventName(req) != "presence" || s.opts.Presence == nil {
		res := sip.NewResponseFromRequest(req, 489, "Bad Event", nil)
		res.AppendHeader(sip.NewHeader("Allow-Events", "presence"))
		_ = tx.Respond(res)
		return
	}
	user, ok := s.authenticate(req, tx)
	if !ok {
		return
	}
	target := req.To().Address.User
	if target == "" {
		target = req.Recipient.User
	}
	if target != user {
		// A phone may only publish its own user's presence.
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}
	expires := time.Hour
	if h := headerNamed(req, "Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Expires", nil))
			return
		}
		expires = min(time.Duration(n)*time.Second, s.opts.MaxExpires)
	}
	log := s.log.WithLazy(zap.String("ext", user), zap.String("call_id", callIDOf(req)))
	if len(req.Body()) > 0 {
		if ct := req.ContentType(); ct == nil || !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/pidf+xml") {
			res := sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil)
			res.AppendHeader(sip.NewHeader("Accept", "application/pidf+xml"))
			_ = tx.Respond(res)
			return
		}
		on, known, err := dndFromPIDF(req.Body())
		if err != nil {
			log.Info("unreadable PUBLISH", zap.Error(err))
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad PIDF", nil))
			return
		}
		if known {
			apply := s.published.changed(user, on)
			if apply {
				if _, err := s.opts.Presence.Set(user, presence.Change{DND: on, Source: presence.SourcePublish, By: user}); err != nil {
					log.Error("DND not saved", zap.Error(err))
					_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
					return
				}
			}
			log.Info("status published by phone", zap.Bool("dnd", on), zap.Bool("applied", apply))
		}
	} else if headerNamed(req, "SIP-If-Match") == nil && expires > 0 {
		// A refresh names the publication it refreshes; a body-less initial PUBLISH is malformed.
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Missing Body", nil))
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("SIP-ETag", sip.GenerateTagN(12)))
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires/time.Second))))
	_ = tx.Respond(res)
}

// publications remembers what each user's phones last published. A phone starting up publishes
// "open" whatever the user's setting is (Linphone always does), so only a change in what a phone
// says is taken as the user's choice: a first "open" must not undo DND set by *78 or the web.
type publications struct {
	mu   sync.Mutex
	last map[string]bool // ext → DND in the last PUBLISH
}

// changed records a PUBLISH and reports whether it should change the user's DND.
func (p *publications) changed(ext string, dnd bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = make(map[string]bool)
	}
	prev, seen := p.last[ext]
	p.last[ext] = dnd
	if !seen {
		return dnd // a first "available" is a phone starting up, not a decision
	}
	return prev != dnd
}
