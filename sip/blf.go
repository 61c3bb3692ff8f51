package sip

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Dialog states of RFC 4235 that Switchboard reports.
const (
	dialogTrying     = "trying"
	dialogEarly      = "early"
	dialogConfirmed  = "confirmed"
	dialogTerminated = "terminated"
)

// blfDialog is one call as seen from one user's side, for busy-lamp fields.
type blfDialog struct {
	id        string
	direction string // "initiator" (the user called) or "recipient"
	state     string
	remote    string // the other party's extension or number
	since     time.Time
}

// blfTable tracks every user's calls for the dialog event package. Its lock also orders the
// NOTIFYs it triggers, so watchers see a call's states in the order they happened.
type blfTable struct {
	mu    sync.Mutex
	byExt map[string]map[string]*blfDialog
}

// dialogPackage is the dialog event package (RFC 4235) desk phones use for BLF keys: idle,
// ringing (early), on a call (confirmed).
type dialogPackage struct{ s *Server }

func (dialogPackage) contentType() string           { return "application/dialog-info+xml" }
func (dialogPackage) defaultExpires() time.Duration { return time.Hour }

func (p dialogPackage) allowed(subscriber, resource string) bool {
	_, ok := p.s.opts.Users.Password(subscriber)
	return ok
}

// body is called with sub.mu held (see eventPackage); it takes blf.mu after it, never before.
func (p dialogPackage) body(sub *subscription) []byte {
	dialogs := p.s.blf.snapshot(sub.resource)
	version := sub.version
	sub.version++
	return dialogInfo(sub.resource, sub.tp.host, version, dialogs)
}

// setDialog records ext's view of call id and notifies its watchers. The lock is not held
// while notifying (bodies take it), so a terminated dialog stays listed until its NOTIFYs are
// queued and is dropped after.
func (s *Server) setDialog(ext, id, direction, state, remote string) {
	if ext == "" {
		return
	}
	t := &s.blf
	t.mu.Lock()
	if t.byExt == nil {
		t.byExt = make(map[string]map[string]*blfDialog)
	}
	m := t.byExt[ext]
	if m == nil {
		m = make(map[string]*blfDialog)
		t.byExt[ext] = m
	}
	d := m[id]
	if d == nil {
		d = &blfDialog{id: id, direction: direction, remote: remote, since: time.Now()}
		m[id] = d
	}
	if d.state == state {
		t.mu.Unlock()
		return
	}
	d.state = state
	t.mu.Unlock()

	s.notifyWatchers("dialog", ext)

	if state == dialogTerminated {
		t.mu.Lock()
		if cur := t.byExt[ext][id]; cur == d && cur.state == dialogTerminated {
			delete(t.byExt[ext], id)
			if len(t.byExt[ext]) == 0 {
				delete(t.byExt, ext)
			}
		}
		t.mu.Unlock()
	}
}

// snapshot copies ext's dialogs, oldest first.
func (t *blfTable) snapshot(ext string) []blfDialog {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]blfDialog, 0, len(t.byExt[ext]))
	for _, d := range t.byExt[ext] {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].since.Before(out[j].since) })
	return out
}

// dialogInfo renders a full-state dialog-info document.
func dialogInfo(ext, host string, version int, dialogs []blfDialog) []byte {
	entity := "sip:" + ext + "@" + host
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\r\n")
	fmt.Fprintf(&b, `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="%d" state="full" entity="%s">`+"\r\n", version, entity)
	for _, d := range dialogs {
		fmt.Fprintf(&b, `<dialog id="%s" call-id="%s" direction="%s"><state>%s</state>`, esc(d.id), esc(d.id), d.direction, d.state)
		fmt.Fprintf(&b, `<local><identity>%s</identity></local>`, entity)
		if d.remote != "" {
			remote := "sip:" + d.remote + "@" + host
			fmt.Fprintf(&b, `<remote><identity>%s</identity><target uri="%s"/></remote>`, esc(remote), esc(remote))
		}
		b.WriteString("</dialog>\r\n")
	}
	b.WriteString("</dialog-info>\r\n")
	return b.Bytes()
}

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
