package sip

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"sort"
	"strings"
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
	ids       dialogIDs
	since     time.Time
}

// dialogIDs are the tags and caller name a desk phone needs to pick a ringing call up from a
// BLF key: it sends an INVITE with Replaces naming call-id (the dialog id) and these tags.
// They are the caller's dialog with the switch, which is what a pickup replaces.
type dialogIDs struct {
	localTag, remoteTag string
	remoteName          string
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
	_, ok := p.s.opts.Users.Secret(subscriber)
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
func (s *Server) setDialog(ext, id, direction, state, remote string, ids dialogIDs) {
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
		d = &blfDialog{id: id, direction: direction, remote: remote, ids: ids, since: time.Now()}
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
		fmt.Fprintf(&b, `<dialog id="%s" call-id="%s"`, esc(d.id), esc(d.id))
		if d.ids.localTag != "" {
			fmt.Fprintf(&b, ` local-tag="%s" remote-tag="%s"`, esc(d.ids.localTag), esc(d.ids.remoteTag))
		}
		fmt.Fprintf(&b, ` direction="%s"><state>%s</state>`, d.direction, d.state)
		if d.remote != "" {
			remote := "sip:" + d.remote + "@" + host
			display := ""
			if d.ids.remoteName != "" {
				display = fmt.Sprintf(` display="%s"`, escAttr(d.ids.remoteName))
			}
			fmt.Fprintf(&b, `<remote><identity%s>%s</identity><target uri="%s"/></remote>`, display, esc(remote), esc(remote))
		}
		fmt.Fprintf(&b, `<local><identity>%s</identity><target uri="%s"/></local>`, entity, entity)
		b.WriteString("</dialog>\r\n")
	}
	b.WriteString("</dialog-info>\r\n")
	return b.Bytes()
}

// escAttr escapes s for a double-quoted XML attribute.
func escAttr(s string) string { return strings.ReplaceAll(esc(s), `"`, "&quot;") }

func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
