package cluster

import (
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/natstest"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/presence"
)

// A user added to every node's table while the cluster runs is reported like the others: a
// phone registered at one node shows at the other.
func TestAnAddedUserIsReportedToTheOtherNodes(t *testing.T) {
	nats := natstest.Start(t, 1, true)
	a := join(t, nats, "a", 0, 5*time.Second)
	b := join(t, nats, "b", 0, 5*time.Second)
	for _, m := range []member{a, b} {
		if _, err := m.table.Add(presence.User{Ext: "1009", Name: "Ivy"}); err != nil {
			t.Fatal(err)
		}
	}
	b.table.SetRegistered("1009", true)
	poll.Require(t, 5*time.Second, "node a shows Ivy registered at b", func() bool {
		st, ok := a.table.Get("1009")
		return ok && st.Registered
	})
}
