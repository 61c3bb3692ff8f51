package cluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// The queues bucket makes one queue of every node's callers and keeps an agent from being
// offered two calls at once:
//
//	c.<queue>.<node>.<id>   a caller waiting at node: "w" (waiting) or "r" (being offered),
//	                        then " <seq>" once changed; seq (the key's first revision) is the
//	                        caller's place in the cluster-wide order of arrival
//	a.<agent>               the node whose offer (or answered call) holds the agent: created
//	                        only if absent, so two nodes never hold one agent
//
// A node offers its oldest caller only when no caller waiting at another node arrived before
// it, and claims each agent it offers first; it lets go when the offer ends unanswered, or when
// the answered call ends. A node's keys go with it (Close, or the others clearing it).
const bucketQueues = "switchboard_queues"

// queuedCaller is one caller in the queues bucket, as the watch saw it.
type queuedCaller struct {
	queue, node string
	seq         uint64
	ringing     bool
}

// queueState is the bucket's content, as the watch saw it, plus this node's own claims (known
// before their echo arrives).
type queueState struct {
	mu       sync.Mutex
	callers  map[string]queuedCaller // by key
	claims   map[string]string       // agent → node holding them
	mine     map[string]bool         // agents this node holds
	onChange func()
}

// Join records a caller waiting in queue at this node and returns its place in the cluster's
// order of arrival.
func (n *Node) Join(queue, id string) (uint64, error) {
	ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
	defer cancel()
	key := callerKey(queue, n.cfg.Node, id)
	seq, err := n.queueKV.Create(ctx, key, []byte("w"))
	if err != nil {
		return 0, fmt.Errorf("cluster: queue %s: join: %w", queue, err)
	}
	n.queues.mu.Lock()
	n.queues.callers[key] = queuedCaller{queue: queue, node: n.cfg.Node, seq: seq}
	n.queues.mu.Unlock()
	return seq, nil
}

// Ringing records whether the caller is being offered to agents (a caller being offered does
// not hold back the callers after it).
func (n *Node) Ringing(queue, id string, seq uint64, on bool) {
	v := "w " + strconv.FormatUint(seq, 10)
	if on {
		v = "r " + strconv.FormatUint(seq, 10)
	}
	ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
	defer cancel()
	if _, err := n.queueKV.PutString(ctx, callerKey(queue, n.cfg.Node, id), v); err != nil {
		n.log.Debug("cluster: queue caller state not written", zap.String("queue", queue), zap.Error(err))
	}
}

// Leave takes the caller out of the cluster's queue.
func (n *Node) Leave(queue, id string) {
	key := callerKey(queue, n.cfg.Node, id)
	n.queues.mu.Lock()
	delete(n.queues.callers, key)
	n.queues.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := deleteKey(ctx, n.queueKV, key); err != nil {
		n.log.Debug("cluster: queue caller not deleted", zap.String("queue", queue), zap.Error(err))
	}
}

// Ahead reports whether a caller waiting for queue at another node, not being offered, arrived
// before seq: that caller is to be served first.
func (n *Node) Ahead(queue string, seq uint64) bool {
	n.queues.mu.Lock()
	defer n.queues.mu.Unlock()
	for _, c := range n.queues.callers {
		if c.queue == queue && c.node != n.cfg.Node && !c.ringing && c.seq < seq {
			return true
		}
	}
	return false
}

// Claim reserves agent for an offer from this node; false when a node (this one included)
// holds them already, or NATS cannot tell.
func (n *Node) Claim(agent string) bool {
	ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
	defer cancel()
	if _, err := n.queueKV.Create(ctx, claimKey(agent), []byte(n.cfg.Node)); err != nil {
		return false
	}
	n.queues.mu.Lock()
	n.queues.claims[agent] = n.cfg.Node
	n.queues.mine[agent] = true
	n.queues.mu.Unlock()
	return true
}

// Release lets go of agent, if this node holds them.
func (n *Node) Release(agent string) {
	n.queues.mu.Lock()
	mine := n.queues.mine[agent]
	delete(n.queues.mine, agent)
	if mine {
		delete(n.queues.claims, agent)
	}
	n.queues.mu.Unlock()
	if !mine {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := deleteKey(ctx, n.queueKV, claimKey(agent)); err != nil {
		n.log.Warn("cluster: agent not released; the others wait for node_ttl", zap.String("ext", agent), zap.Error(err))
	}
}

// Claimed reports whether another node holds agent (an offer or a call from its queue).
func (n *Node) Claimed(agent string) bool {
	n.queues.mu.Lock()
	defer n.queues.mu.Unlock()
	node, held := n.queues.claims[agent]
	return held && node != n.cfg.Node
}

// OnQueueChange sets f to be called when another node's queue callers or claims change (a
// caller left or is no longer offered, an agent was let go). Set it before Start.
func (n *Node) OnQueueChange(f func()) {
	n.queues.mu.Lock()
	n.queues.onChange = f
	n.queues.mu.Unlock()
}

// applyQueue follows the queues bucket.
func (n *Node) applyQueue(c change) {
	n.queues.mu.Lock()
	changed := false
	switch {
	case strings.HasPrefix(c.key, "c."):
		parts := strings.Split(c.key, ".")
		if len(parts) != 4 {
			break
		}
		queue, ok := extOf(parts[1])
		if !ok {
			break
		}
		node := parts[2]
		changed = node != n.cfg.Node
		if c.deleted {
			delete(n.queues.callers, c.key)
			break
		}
		qc := queuedCaller{queue: queue, node: node, seq: c.rev}
		state, seq, found := strings.Cut(string(c.value), " ")
		if found {
			if v, err := strconv.ParseUint(seq, 10, 64); err == nil {
				qc.seq = v
			}
		} else if old, known := n.queues.callers[c.key]; known {
			qc.seq = old.seq
		}
		qc.ringing = state == "r"
		n.queues.callers[c.key] = qc
	case strings.HasPrefix(c.key, "a."):
		agent, ok := extOf(strings.TrimPrefix(c.key, "a."))
		if !ok {
			break
		}
		if c.deleted {
			if !n.queues.mine[agent] {
				delete(n.queues.claims, agent)
				changed = true
			}
			break
		}
		n.queues.claims[agent] = string(c.value)
	}
	f := n.queues.onChange
	n.queues.mu.Unlock()
	if changed && f != nil {
		f()
	}
}

// clearQueues deletes node's callers and claims (it left or went silent).
func (n *Node) clearQueues(ctx context.Context, node string) error {
	n.queues.mu.Lock()
	var keys []string
	for key, c := range n.queues.callers {
		if c.node == node {
			keys = append(keys, key)
		}
	}
	for agent, holder := range n.queues.claims {
		if holder == node {
			keys = append(keys, claimKey(agent))
		}
	}
	n.queues.mu.Unlock()
	for _, key := range keys {
		if err := deleteKey(ctx, n.queueKV, key); err != nil {
			return err
		}
	}
	return nil
}

func callerKey(queue, node, id string) string {
	return "c." + keyOf(queue) + "." + node + "." + keyOf(id)
}
