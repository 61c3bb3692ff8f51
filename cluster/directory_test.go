package cluster

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/poll"
)

// docInbox collects the directory documents a node is handed.
type docInbox struct {
	mu   sync.Mutex
	docs []string
}

func (d *docInbox) add(doc []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.docs = append(d.docs, string(doc))
	return nil
}

func (d *docInbox) got() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.docs)
}

// joinWithDirectory is join with OnDirectory set before Start.
func joinWithDirectory(t *testing.T, nats *natstest.Cluster, name string, in *docInbox) member {
	t.Helper()
	return joinWith(t, nats, name, func(n *Node) { n.OnDirectory(in.add) })
}

// The directory one node saves is what every node loads, and each node (the saving one too) is
// handed every version in order; a node started later is handed the latest at start.
func TestTheDirectoryReachesEveryNode(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	var inA, inB docInbox
	a := joinWithDirectory(t, nats, "a", &inA)
	b := joinWithDirectory(t, nats, "b", &inB)
	if doc, err := b.LoadDirectory(); err != nil || doc != nil {
		t.Fatalf("a new cluster's directory: %q, %v; want none", doc, err)
	}
	for _, doc := range []string{"users: [first]", "users: [second]"} {
		if err := a.SaveDirectory([]byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"users: [first]", "users: [second]"}
	poll.Require(t, 5*time.Second, "both nodes handed both versions", func() bool {
		return slices.Equal(inA.got(), want) && slices.Equal(inB.got(), want)
	})
	if doc, err := b.LoadDirectory(); err != nil || string(doc) != "users: [second]" {
		t.Fatalf("b loads %q, %v", doc, err)
	}
	var inC docInbox
	joinWithDirectory(t, nats, "c", &inC)
	poll.Require(t, 5*time.Second, "a late node handed the latest", func() bool {
		got := inC.got()
		return len(got) > 0 && got[len(got)-1] == "users: [second]"
	})
}
