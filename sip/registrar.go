package sip

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// defaultExpires is what a phone gets when it names no expiry (RFC 3261 §10.2.1.1 suggests 3600).
const defaultExpires = time.Hour

// onRegister is the registrar (RFC 3261 §10.3): digest-authenticated users bind, refresh and
// remove the contacts of their own extension.
func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	to := req.To()
	if to == nil || req.CallID() == nil || req.CSeq() == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	aor := to.Address.User
	// An unknown extension is challenged like a known one, and its credentials fail the same
	// way: REGISTER tells a scanner nothing about which extensions exist.
	user, ok := s.authenticate(req, tx)
	if !ok {
		return
	}
	log := s.log.WithLazy(zap.String("ext", aor), zap.String("call_id", callIDOf(req)), zap.String("source", req.Source()))
	if user != aor {
		log.Warn("register for another user's extension refused", zap.String("user", user))
		_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
		return
	}

	headerExpires := time.Duration(-1)
	if h := headerNamed(req, "Expires"); h != nil {
		n, err := strconv.ParseUint(strings.TrimSpace(h.Value()), 10, 32)
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Expires", nil))
			return
		}
		headerExpires = time.Duration(n) * time.Second
	}

	contacts := headersNamed(req, "Contact")
	now := s.clock.Now()
	for _, h := range contacts {
		c, ok := h.(*sip.ContactHeader)
		if !ok {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Contact", nil))
			return
		}
		if c.Address.Wildcard {
			// "Contact: *" is only valid alone with Expires: 0 (§10.2.2).
			if len(contacts) != 1 || headerExpires != 0 {
				_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Invalid Wildcard Contact", nil))
				return
			}
			s.opts.Locations.RemoveAll(aor)
			log.Info("unregistered all contacts")
			s.respondBindings(req, tx, aor)
			return
		}
	}

	type change struct {
		contact string
		uri     sip.Uri
		expires time.Duration
	}
	changes := make([]change, 0, len(contacts))
	for _, h := range contacts {
		c := h.(*sip.ContactHeader)
		exp := headerExpires
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Contact Expires", nil))
				return
			}
			exp = time.Duration(n) * time.Second
		}
		if exp < 0 {
			exp = defaultExpires
		}
		if exp > 0 && exp < s.opts.MinExpires {
			res := sip.NewResponseFromRequest(req, 423, "Interval Too Brief", nil)
			res.AppendHeader(sip.NewHeader("Min-Expires", strconv.Itoa(int(s.opts.MinExpires/time.Second))))
			_ = tx.Respond(res)
			return
		}
		if exp > s.opts.MaxExpires {
			exp = s.opts.MaxExpires
		}
		changes = append(changes, change{contact: c.Address.String(), uri: c.Address, expires: exp})
	}

	if tooManyContacts(s.opts.Locations.Lookup(aor), changes, func(c change) (string, bool) { return c.contact, c.expires > 0 }) {
		log.Warn("registration refused: too many contacts", zap.Int("max", maxContactsPerUser))
		res := sip.NewResponseFromRequest(req, 503, "Too Many Registered Contacts", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", "60"))
		_ = tx.Respond(res)
		return
	}

	path, err := pathOf(req)
	if err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Path", nil))
		return
	}
	pathText := make([]string, 0, len(path))
	for _, u := range path {
		pathText = append(pathText, u.String())
	}
	ua := ""
	if h := headerNamed(req, "User-Agent"); h != nil {
		ua = h.Value()
	}
	for _, ch := range changes {
		if ch.expires == 0 {
			s.opts.Locations.Remove(aor, ch.contact)
			log.Info("contact unregistered", zap.String("contact", ch.contact))
			continue
		}
		dest, transport := destination(s.opts.NAT, req, ch.uri, path)
		if connectionBound(req.Transport()) && len(path) == 0 {
			// RFC 7118 §5: a WebSocket client is reached only over its own connection (its
			// Contact host is made up, "….invalid"); a TLS phone is called over the connection
			// it registered on (its Contact's port is seldom listening, and the connection is
			// the one it trusts).
			dest, transport = req.Source(), strings.ToUpper(req.Transport())
			s.bindSocket(req.Source(), aor, ch.contact)
		}
		if !strings.EqualFold(req.Transport(), "udp") {
			s.conns.hold(req.Source(), now.Add(ch.expires))
		}
		s.opts.Locations.Put(Binding{
			AOR: aor, Contact: ch.contact, Source: req.Source(), Dest: dest, Path: pathText, Transport: transport,
			Expires: now.Add(ch.expires), CallID: callIDOf(req), CSeq: req.CSeq().SeqNo, UserAgent: ua,
		})
		log.Info("contact registered", zap.String("contact", ch.contact), zap.Duration("expires", ch.expires),
			zap.String("dest", dest), zap.String("transport", transport))
	}
	s.obs.RegisterAccepted()
	s.respondBindings(req, tx, aor)
}

// supportsPath reports whether req lists the path extension in Supported.
func supportsPath(req *sip.Request) bool {
	for _, h := range headersNamed(req, "Supported") {
		for _, opt := range strings.Split(h.Value(), ",") {
			if strings.EqualFold(strings.TrimSpace(opt), "path") {
				return true
			}
		}
	}
	return false
}

// respondBindings answers 200 OK listing every current contact of aor with its remaining time.
func (s *Server) respondBindings(req *sip.Request, tx sip.ServerTransaction, aor string) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	now := s.clock.Now()
	for _, b := range s.opts.Locations.Lookup(aor) {
		var u sip.Uri
		if err := sip.ParseUri(b.Contact, &u); err != nil {
			continue
		}
		c := &sip.ContactHeader{Address: u, Params: sip.NewParams()}
		c.Params.Add("expires", strconv.Itoa(int(b.Expires.Sub(now).Round(time.Second)/time.Second)))
		res.AppendHeader(c)
	}
	res.AppendHeader(sip.NewHeader("Date", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")))
	// RFC 3327 §5.3: the Path is echoed to a registering UA that supports it.
	if supportsPath(req) {
		for _, h := range headersNamed(req, "Path") {
			res.AppendHeader(sip.NewHeader("Path", h.Value()))
		}
	}
	if err := tx.Respond(res); err != nil {
		s.log.Warn("register response not sent", zap.String("ext", aor), zap.Error(fmt.Errorf("respond: %w", err)))
	}
}

// maxContactsPerUser bounds one user's registered contacts (a desk phone, a mobile, a few
// browser tabs fit): one binding once held 300. Past it a REGISTER adding one more gets 503
// with Retry-After, as Kamailio's registrar answers (RFC 3261 names no code for it; a 503 makes
// a phone retry later instead of giving up).
const maxContactsPerUser = 20

// tooManyContacts reports whether applying changes (contact, and whether it stays) to the
// bindings would leave more than maxContactsPerUser contacts and more than there are now: a
// REGISTER that only refreshes or removes is never refused.
func tooManyContacts[C any](bindings []Binding, changes []C, of func(C) (contact string, keep bool)) bool {
	after := make(map[string]bool, len(bindings)+len(changes))
	for _, b := range bindings {
		after[b.Contact] = true
	}
	for _, c := range changes {
		contact, keep := of(c)
		if keep {
			after[contact] = true
		} else {
			delete(after, contact)
		}
	}
	return len(after) > maxContactsPerUser && len(after) > len(bindings)
}
