package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/cluster"
	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"
)

// voicemailNode is a cluster node with a mailbox store, wired as serve wires them.
func voicemailNode(t *testing.T, nats *natstest.Cluster, name string) *mailbox.Store {
	t.Helper()
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "switchboard.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	store, err := mailbox.Open(db, filepath.Join(dir, "voicemail"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	node, err := cluster.Connect(context.Background(), cluster.Config{Node: name, NATS: nats.URLs(0), NodeTTL: 5 * time.Second, Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = node.Close() })
	shareVoicemail(store, node)
	node.OnVoicemail(func(v cluster.VoicemailMessage) error { return applyVoicemail(store, v) })
	table, err := presence.NewTable([]presence.User{{Ext: "1002"}}, node)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Start(context.Background(), table); err != nil {
		t.Fatal(err)
	}
	return store
}

func wavOf(t *testing.T, s *mailbox.Store, box, id string) []byte {
	t.Helper()
	p, err := s.Path(box, id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestClusterVoicemailIsEveryNodes: a message left at node a is listed, played (the same WAV)
// and counted at node b; marked heard at b, it is heard at a; a node that joins later gets it;
// deleted at a, it is gone everywhere.
func TestClusterVoicemailIsEveryNodes(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	a, b := voicemailNode(t, nats, "a"), voicemailNode(t, nats, "b")
	r, err := a.Record("1002", "1001", "Alice")
	if err != nil {
		t.Fatal(err)
	}
	tone := make([]int16, 8000)
	for i := range tone {
		tone[i] = int16(i * 37)
	}
	if err := r.Write(tone); err != nil {
		t.Fatal(err)
	}
	m, err := r.Commit(0)
	if err != nil {
		t.Fatal(err)
	}
	poll.Require(t, 3*time.Second, "node b has the message", func() bool { _, err := b.Get("1002", m.ID); return err == nil })
	got, _ := b.Get("1002", m.ID)
	if got.From != "1001" || got.FromName != "Alice" || got.DurationMS != m.DurationMS || !got.Received.Equal(m.Received) || got.Heard {
		t.Fatalf("node b's copy %+v, want %+v", got, m)
	}
	if !bytes.Equal(wavOf(t, b, "1002", m.ID), wavOf(t, a, "1002", m.ID)) {
		t.Fatal("node b plays other audio than node a")
	}
	if n, _, _ := b.Counts("1002"); n != 1 {
		t.Fatalf("node b counts %d new messages, want 1 (its phones' MWI)", n)
	}

	if err := b.SetHeard("1002", m.ID, true); err != nil {
		t.Fatal(err)
	}
	poll.Require(t, 3*time.Second, "node a has it heard", func() bool { x, _ := a.Get("1002", m.ID); return x.Heard })

	c := voicemailNode(t, nats, "c")
	poll.Require(t, 3*time.Second, "node c, joining later, has it (heard)", func() bool { x, err := c.Get("1002", m.ID); return err == nil && x.Heard })

	if err := a.Delete("1002", m.ID); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*mailbox.Store{"b": b, "c": c} {
		poll.Require(t, 3*time.Second, "node "+name+" has it deleted", func() bool { l, _ := s.List("1002"); return len(l) == 0 })
	}
	if l, _ := a.List("1002"); len(l) != 0 {
		t.Fatalf("node a lists %+v after deleting it", l)
	}
}
