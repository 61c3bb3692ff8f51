package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/switchboard-voip/switchboard/cluster"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// How a node of a cluster is wired: the adapters between cluster.Node and the packages that
// take it through interfaces of their own (serve hands the node itself to sip, flow and api).

// clusterRegistrations is whether a user has a phone registered here or at another node:
// routing rings (or sends to voicemail) by it.
type clusterRegistrations struct {
	local sbsip.Locations
	node  *cluster.Node
}

func (r clusterRegistrations) Registered(ext string) bool {
	return r.local.Registered(ext) || len(r.node.RegisteredAt(ext)) > 0
}

// sharedHistory stores each call's record here and shares it with the other nodes.
type sharedHistory struct {
	*history.Store
	node *cluster.Node
}

func (h sharedHistory) Add(r history.Record) (history.Record, error) {
	rec, err := h.Store.Add(r)
	if err != nil {
		return rec, err
	}
	if data, err := json.Marshal(rec); err == nil {
		h.node.ShareHistory(rec.ID, data)
	}
	return rec, nil
}

// importHistory stores a record another node shared; one already here is fine (it keeps its
// id wherever it is stored).
func importHistory(store *history.Store, data []byte) error {
	var r history.Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil // not a record: delivering it again would not help
	}
	if _, err := store.Add(r); err != nil && !errors.Is(err, history.ErrExists) {
		if errors.Is(err, history.ErrInvalid) {
			return nil
		}
		return err
	}
	return nil
}

// reachable is addr (host:port) with an unspecified host (a listener on every interface)
// replaced by host, the address phones reach the switch at.
func reachable(addr, host string) string {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(h); err == nil && ip.IsUnspecified() {
		return net.JoinHostPort(host, port)
	}
	return addr
}

// shareVoicemail tells the other nodes of every change made to this node's mailboxes: a new
// message (its WAV and details), heard or new again, deleted.
func shareVoicemail(store *mailbox.Store, node *cluster.Node) {
	store.OnChange(func(c mailbox.Change) {
		m := c.Message
		switch c.Kind {
		case mailbox.Added:
			if path, err := store.Path(m.Box, m.ID); err == nil {
				node.ShareVoicemail(m.Box, m.ID, voicemailMeta(m), path)
			}
		case mailbox.Heard:
			node.UpdateVoicemail(m.Box, m.ID, voicemailMeta(m))
		case mailbox.Deleted:
			node.DeleteVoicemail(m.Box, m.ID)
		}
	})
}

// applyVoicemail makes this node's store hold a message as the cluster has it: imported if
// missing, heard as there, deleted when deleted. Applying this node's own changes again
// changes nothing.
func applyVoicemail(store *mailbox.Store, v cluster.VoicemailMessage) error {
	if v.Deleted {
		if err := store.Delete(v.Box, v.ID); err != nil && !errors.Is(err, mailbox.ErrNotFound) {
			return err
		}
		return nil
	}
	m, ok := voicemailMessage(v.Box, v.ID, v.Meta)
	if !ok {
		return nil // not a message this version wrote: nothing to do with it
	}
	cur, err := store.Get(v.Box, v.ID)
	if err == nil {
		if cur.Heard != m.Heard {
			return store.SetHeard(v.Box, v.ID, m.Heard)
		}
		return nil
	}
	if !errors.Is(err, mailbox.ErrNotFound) {
		return err
	}
	audio, err := v.Audio()
	if err != nil {
		return err
	}
	if err := store.Import(m, bytes.NewReader(audio)); err != nil && !errors.Is(err, mailbox.ErrExists) {
		return err
	}
	return nil
}

// voicemailMeta is a message's details as the cluster's object metadata.
func voicemailMeta(m mailbox.Message) map[string]string {
	meta := map[string]string{
		"from":        m.From,
		"received":    m.Received.UTC().Format(time.RFC3339Nano),
		"duration_ms": strconv.FormatInt(m.DurationMS, 10),
		"heard":       strconv.FormatBool(m.Heard),
	}
	if m.FromName != "" {
		meta["from_name"] = m.FromName
	}
	if m.CutShort {
		meta["cut_short"] = "true"
	}
	return meta
}

// voicemailMessage reads voicemailMeta back; false if it is not that.
func voicemailMessage(box, id string, meta map[string]string) (mailbox.Message, bool) {
	received, err1 := time.Parse(time.RFC3339Nano, meta["received"])
	duration, err2 := strconv.ParseInt(meta["duration_ms"], 10, 64)
	heard, err3 := strconv.ParseBool(meta["heard"])
	if err1 != nil || err2 != nil || err3 != nil {
		return mailbox.Message{}, false
	}
	return mailbox.Message{ID: id, Box: box, From: meta["from"], FromName: meta["from_name"], Received: received,
		DurationMS: duration, Heard: heard, CutShort: meta["cut_short"] == "true"}, true
}
