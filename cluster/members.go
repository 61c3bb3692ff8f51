package cluster

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// A node writes its heartbeat every node_ttl/4 and is cleared by the others after 3/4 of
// node_ttl without one (three missed), looked for every node_ttl/8: so a dead node's users are
// cleared within node_ttl of its last heartbeat, and one late heartbeat clears nobody.
const (
	beatsPerTTL  = 4
	missedBeats  = 3
	looksPerBeat = 2
)

// members is when each other node was last heard of, by this node's clock (never the other
// node's or the NATS server's, so clock skew between machines does not matter).
type members struct {
	mu   sync.Mutex
	seen map[string]time.Time
	sip  map[string]string // each node's SIP address for calls from the others, as it says
	self time.Time         // when this node's own heartbeat last came back through the watch
}

// heartbeatValue is what a node's heartbeat key holds.
type heartbeatValue struct {
	SIP string    `json:"sip"` // host:port where the other nodes send it calls (UDP)
	At  time.Time `json:"at"`  // when written, for people reading the bucket
}

// heard records node at now.
func (m *members) heard(node string, now time.Time) {
	m.mu.Lock()
	m.seen[node] = now
	m.mu.Unlock()
}

// heardFirst records node at now if it is not known yet.
func (m *members) heardFirst(node string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, known := m.seen[node]; !known {
		m.seen[node] = now
	}
}

// heardAll counts every known node as heard at now: after this node was cut off from NATS it
// heard no heartbeats, and that silence is its own, not theirs.
func (m *members) heardAll(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for node := range m.seen {
		m.seen[node] = now
	}
}

func (m *members) forget(node string) {
	m.mu.Lock()
	delete(m.seen, node)
	delete(m.sip, node)
	m.mu.Unlock()
}

// setSIP records node's SIP address.
func (m *members) setSIP(node, addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sip == nil {
		m.sip = map[string]string{}
	}
	m.sip[node] = addr
}

// SIPAddr returns the SIP address (host:port, UDP) node gave in its heartbeat; false for a node
// that gave none. A node whose heartbeat this one's watch has not brought yet is looked up in the
// heartbeat bucket (heartbeatAddr): one it has not heard of at all, and one it knows only from
// its users' keys, which a newcomer writes as it joins and which come by another watch (its
// first forwarded call was refused, 403, when its user keys came first).
func (n *Node) SIPAddr(node string) (string, bool) {
	n.members.mu.Lock()
	addr := n.members.sip[node]
	n.members.mu.Unlock()
	if addr != "" {
		return addr, true
	}
	return n.heartbeatAddr(node)
}

// heartbeatAddr reads node's SIP address from its heartbeat in the bucket. A node that has just
// joined learns of this one (and of its users' phones) before this node's watch brings it the
// newcomer's first heartbeat, and the first call it forwards here can arrive in between: it was
// refused as a forged one (403), and the caller went to voicemail. A node that left or was
// cleared has no heartbeat key, so it stays unknown. What is read is not recorded: this node
// counts a node alive only from its watch.
func (n *Node) heartbeatAddr(node string) (string, bool) {
	if node == "" || node == n.cfg.Node || n.nodes == nil || n.ctx == nil {
		return "", false
	}
	ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
	defer cancel()
	e, err := n.nodes.Get(ctx, node)
	if err != nil {
		return "", false // none (or not a key at all: the name came in a request)
	}
	var v heartbeatValue
	if json.Unmarshal(e.Value(), &v) != nil || v.SIP == "" {
		return "", false
	}
	return v.SIP, true
}

// heardSelf records this node's own heartbeat coming back at now.
func (m *members) heardSelf(now time.Time) {
	m.mu.Lock()
	m.self = now
	m.mu.Unlock()
}

// silent returns the nodes not heard of for missed heartbeats. Silence is measured against this
// node's own heartbeat, not the wall clock alone: while the heartbeat bucket is between
// leaders, or this node's watch is being made again, nobody's heartbeat arrives, ours
// included, and nobody is silent.
func (m *members) silent(now time.Time, ttl time.Duration) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.self.IsZero() {
		return nil // not heard ourselves yet: we cannot tell
	}
	beat := ttl / beatsPerTTL
	deadline := now
	if heard := m.self.Add(beat); heard.Before(now) {
		deadline = heard
	}
	deadline = deadline.Add(-missedBeats * beat)
	var out []string
	for node, at := range m.seen {
		if at.Before(deadline) {
			out = append(out, node)
		}
	}
	return out
}

// Nodes returns the nodes this one counts as alive, itself included, sorted.
func (n *Node) Nodes() []string {
	n.members.mu.Lock()
	out := []string{n.cfg.Node}
	for node := range n.members.seen {
		out = append(out, node)
	}
	n.members.mu.Unlock()
	sort.Strings(out)
	return out
}

// OnNodeGone sets f to be told the name of each node this one clears for silence (it died, or
// is cut off): the calls whose other side was there are over.
func (n *Node) OnNodeGone(f func(node string)) { n.onGone.Store(&f) }

// heartbeat puts this node's key every node_ttl/4, so that the others count it alive, and at
// once when asked (beatNow). It is the only writer of the key: beats written from two goroutines
// could land in the other order than their values were made, and a switch that advertised its
// address just after its first beat was made (with none yet) was left without one in the bucket
// until the next tick, node_ttl/4 later; a call forwarded to it meanwhile went to voicemail.
func (n *Node) heartbeat() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.NodeTTL / beatsPerTTL)
	defer tick.Stop()
	for {
		n.beat()
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		case <-n.beatSoon:
		}
	}
}

func (n *Node) beat() {
	v, err := json.Marshal(heartbeatValue{SIP: n.advertised(), At: time.Now().UTC()})
	if err != nil {
		return // cannot happen: two strings
	}
	ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
	defer cancel()
	if err := n.putBeat(ctx, v); err != nil {
		n.log.Debug("cluster: heartbeat not written", zap.Error(err))
	}
}

// putHeartbeat writes v as this node's heartbeat (Node.putBeat, which a test delays).
func (n *Node) putHeartbeat(ctx context.Context, v []byte) error {
	_, err := n.nodes.Put(ctx, n.cfg.Node, v)
	return err
}

// Advertise sets the SIP address (host:port, UDP) the other nodes send this node's calls to,
// and tells them at once.
func (n *Node) Advertise(sipAddr string) {
	n.sipMu.Lock()
	n.sip = sipAddr
	n.sipMu.Unlock()
	n.beatNow()
}

// beatNow has the heartbeat goroutine write a heartbeat now, not at the next tick.
func (n *Node) beatNow() {
	select {
	case n.beatSoon <- struct{}{}:
	default: // a beat is due already; it reads the address when it is made
	}
}

func (n *Node) advertised() string {
	n.sipMu.Lock()
	defer n.sipMu.Unlock()
	return n.sip
}

// applyNode follows the heartbeats: a put is a node alive; a delete is a node that left or was
// cleared. This node's own key deleted means the others cleared it (it was silent too long):
// it writes its keys again.
func (n *Node) applyNode(c change) {
	node := c.key
	if node == n.cfg.Node {
		if !c.deleted {
			n.members.heardSelf(time.Now())
		}
		if c.deleted && n.ctx.Err() == nil {
			n.log.Warn("cluster: this node was cleared by the others; writing its state again")
			n.requestResync()
			n.beatNow()
		}
		return
	}
	if !c.deleted {
		var v heartbeatValue
		_ = json.Unmarshal(c.value, &v) // an unreadable value is still a heartbeat
		n.members.setSIP(node, v.SIP)
		n.members.heard(node, time.Now())
		return
	}
	n.members.forget(node)
	if cleared := n.table.ClearNode(node); cleared > 0 {
		n.log.Info("cluster: node left", zap.String("node", node), zap.Int("users", cleared))
	}
}

// reap clears the nodes that went silent: their reports leave the table here and their keys
// the buckets (every surviving node does this; the deletes are idempotent).
func (n *Node) reap() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.NodeTTL / (beatsPerTTL * looksPerBeat))
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
		if !n.nc.IsConnected() {
			continue // we cannot hear anyone: silence says nothing about them
		}
		for _, node := range n.members.silent(time.Now(), n.cfg.NodeTTL) {
			cleared := n.table.ClearNode(node)
			n.members.forget(node)
			n.log.Warn("cluster: node silent, its calls and registrations cleared",
				zap.String("node", node), zap.Duration("node_ttl", n.cfg.NodeTTL), zap.Int("users", cleared))
			// The calls first: deleting the keys takes NATS round trips (up to 2×opTimeout when
			// NATS is slow), and the callers should not wait for them in silence.
			if f := n.onGone.Load(); f != nil {
				(*f)(node)
			}
			if err := n.clearKeys(node); err != nil {
				n.log.Debug("cluster: deleting a silent node's keys", zap.String("node", node), zap.Error(err))
			}
		}
	}
}

// clearKeys deletes node's keys from the users, queues and nodes buckets.
func (n *Node) clearKeys(node string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	defer cancel()
	for _, ext := range n.keys.of(node) {
		if err := deleteKey(ctx, n.users, userKey(node, ext)); err != nil {
			return err
		}
	}
	if err := n.clearQueues(ctx, node); err != nil {
		return err
	}
	return deleteKey(ctx, n.nodes, node)
}

// leave deletes this node's keys as it stops.
func (n *Node) leave() {
	if err := n.clearKeys(n.cfg.Node); err != nil {
		n.log.Warn("cluster: leaving: keys not deleted; the others clear them after node_ttl", zap.Error(err))
	}
}
