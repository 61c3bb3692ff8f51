package cluster

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/presence"
)

// retryAfter is how soon the publisher tries again after NATS refused a write.
const retryAfter = 250 * time.Millisecond

// noteLocal is the table's observer: ext's calls or registration here changed. It runs with
// the table locked, so it only marks ext and wakes the publisher.
func (n *Node) noteLocal(ext string) {
	n.dirtyMu.Lock()
	n.dirty[ext] = struct{}{}
	n.dirtyMu.Unlock()
	n.poke()
}

// requestResync has the publisher rewrite every key of this node.
func (n *Node) requestResync() {
	n.dirtyMu.Lock()
	n.resync = true
	n.dirtyMu.Unlock()
	n.poke()
}

func (n *Node) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// publish writes this node's changes to the users bucket, one goroutine, latest state per user:
// a user whose calls start and end while a write is in flight is written once, as they are now.
// Writes that fail (NATS away) are kept and tried again.
func (n *Node) publish() {
	defer n.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.wake:
		case <-retry.C:
		}
		n.dirtyMu.Lock()
		resync, exts := n.resync, n.dirty
		n.resync, n.dirty = false, map[string]struct{}{}
		n.dirtyMu.Unlock()
		failed := false
		if resync {
			if err := n.rewrite(exts); err != nil {
				n.log.Debug("cluster: rewriting this node's keys", zap.Error(err))
				failed = true
				n.requestResync()
			}
		}
		for ext := range exts {
			if failed {
				n.noteLocal(ext) // keep it for the next try
				continue
			}
			if err := n.writeLocal(ext); err != nil {
				n.log.Debug("cluster: writing a user's state", zap.String("ext", ext), zap.Error(err))
				failed = true
				n.noteLocal(ext)
			}
		}
		if failed && n.ctx.Err() == nil {
			// Drain the wake our own noteLocal sent, so that the retry waits.
			select {
			case <-n.wake:
			default:
			}
			retry.Reset(retryAfter)
		}
	}
}

// rewrite deletes this node's keys the table no longer backs (as the users watch knows
// them: no listing, which would wait on a bucket between leaders) and adds every user the
// table has something to report about to exts.
func (n *Node) rewrite(exts map[string]struct{}) error {
	locals := n.table.Locals()
	ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
	defer cancel()
	for _, ext := range n.keys.of(n.cfg.Node) {
		if _, live := locals[ext]; live {
			continue
		}
		if err := deleteKey(ctx, n.users, userKey(n.cfg.Node, ext)); err != nil {
			return err
		}
	}
	for ext := range locals {
		exts[ext] = struct{}{}
	}
	return nil
}

// writeLocal writes ext's state here: a key while on a call or registered, none otherwise. A
// user removed from the table (presence.Table.Remove) has none: what this node reported about
// them must not outlive them.
func (n *Node) writeLocal(ext string) error {
	r, _ := n.table.Local(ext)
	ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
	defer cancel()
	key := userKey(n.cfg.Node, ext)
	if r == (presence.Remote{}) {
		return deleteKey(ctx, n.users, key)
	}
	_, err := n.users.PutString(ctx, key, encodeRemote(r))
	return err
}

// applyUser applies another node's report on one user.
func (n *Node) applyUser(c change) {
	node, ext, ok := splitUserKey(c.key)
	if !ok {
		return
	}
	var r presence.Remote
	if !c.deleted {
		r = decodeRemote(c.value)
	}
	n.keys.set(node, ext, r)
	if node == n.cfg.Node {
		return // our own keys echo what the table already knows
	}
	if r != (presence.Remote{}) {
		n.members.heardFirst(node, time.Now()) // a node with keys and no heartbeat still lapses
	}
	n.table.SetRemote(ext, node, r)
}

func encodeRemote(r presence.Remote) string {
	switch {
	case r.OnCall && r.Registered:
		return "cr"
	case r.OnCall:
		return "c"
	case r.Registered:
		return "r"
	}
	return ""
}

func decodeRemote(v []byte) presence.Remote {
	var r presence.Remote
	for _, c := range v {
		switch c {
		case 'c':
			r.OnCall = true
		case 'r':
			r.Registered = true
		}
	}
	return r
}

// userKeys is what each node reports in the users bucket, as the watch saw it.
type userKeys struct {
	mu     sync.Mutex
	byNode map[string]map[string]presence.Remote
}

// set records node's report on ext; a zero one is no key.
func (k *userKeys) set(node, ext string, r presence.Remote) {
	k.mu.Lock()
	defer k.mu.Unlock()
	exts := k.byNode[node]
	if r == (presence.Remote{}) {
		delete(exts, ext)
		if len(exts) == 0 {
			delete(k.byNode, node)
		}
		return
	}
	if exts == nil {
		if k.byNode == nil {
			k.byNode = map[string]map[string]presence.Remote{}
		}
		exts = map[string]presence.Remote{}
		k.byNode[node] = exts
	}
	exts[ext] = r
}

// of returns the extensions node has keys for.
func (k *userKeys) of(node string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]string, 0, len(k.byNode[node]))
	for ext := range k.byNode[node] {
		out = append(out, ext)
	}
	return out
}

// registeredAt returns the nodes other than self where ext has a phone registered, sorted.
func (k *userKeys) registeredAt(ext, self string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for node, exts := range k.byNode {
		if node != self && exts[ext].Registered {
			out = append(out, node)
		}
	}
	sort.Strings(out)
	return out
}

// RegisteredAt returns the other nodes where ext has a phone registered, sorted: where a call
// to ext arriving here is sent to ring them.
func (n *Node) RegisteredAt(ext string) []string { return n.keys.registeredAt(ext, n.cfg.Node) }
