package cluster

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// change is one key's latest value as a watch delivers it.
type change struct {
	key     string
	value   []byte
	rev     uint64
	deleted bool // deleted or purged
}

// watchHeartbeat is how often the server tells an idle watch it is still there; two missed
// and the watch is made again from where it was (its server died, or was restarted and forgot
// it), so a node stays current within about a second of losing a NATS server.
const watchHeartbeat = 500 * time.Millisecond

// follow watches every key of kv and hands each change to apply, in order (the key's latest
// value first, then every change as it is made). The returned channel is closed once the
// values there were at the start have been applied.
func (n *Node) follow(kv jetstream.KeyValue, apply func(change)) (<-chan struct{}, error) {
	return n.followStream("KV_"+kv.Bucket(), "$KV."+kv.Bucket()+".", apply)
}

// followStream is follow for the subjects under prefix of any stream (a KV bucket's, or an
// object store's metadata).
//
// It is the KV watch made by hand, on an ephemeral consumer of our own, for what the client's
// watches lack: the client's KV watch never came back after its server restarted, and its
// ordered consumer, though it restarts, gives each attempt ten seconds and backs off, so a
// bucket between leaders left a node behind for ten seconds and more under load. Here a
// missed heartbeat, a lost connection or a gap in the sequence makes the consumer again at
// once from the last revision applied, each attempt bounded by opTimeout.
func (n *Node) followStream(streamName, prefix string, apply func(change)) (<-chan struct{}, error) {
	ctx, cancel := context.WithTimeout(n.ctx, 2*opTimeout)
	defer cancel()
	stream, err := n.js.Stream(ctx, streamName)
	if err != nil {
		return nil, fmt.Errorf("cluster: watch %s: %w", streamName, err)
	}
	w := &watch{n: n, stream: stream, name: streamName, prefix: prefix, apply: apply, ready: make(chan struct{})}
	it, err := w.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("cluster: watch %s: %w", streamName, err)
	}
	w.cur = it
	stop := context.AfterFunc(n.ctx, w.stop)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer stop()
		w.run()
	}()
	return w.ready, nil
}

// watch is one followStream: its goroutine owns everything but cur, which stop may reach.
type watch struct {
	n            *Node
	stream       jetstream.Stream
	name, prefix string
	apply        func(change)
	ready        chan struct{}
	readyOnce    sync.Once

	last      uint64 // stream sequence of the last message applied
	delivered uint64 // consumer sequence of the last message received from the current consumer

	mu  sync.Mutex
	cur jetstream.MessagesContext
}

// open makes a consumer from where the watch is: every key's latest value at first, then from
// the message after the last one applied.
func (w *watch) open(ctx context.Context) (jetstream.MessagesContext, error) {
	cfg := jetstream.ConsumerConfig{
		FilterSubjects:    []string{w.prefix + ">"},
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: 30 * time.Second, // a consumer left behind by a restart goes by itself
	}
	if w.last == 0 {
		cfg.DeliverPolicy = jetstream.DeliverLastPerSubjectPolicy
	} else {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = w.last + 1
	}
	cons, err := w.stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if info := cons.CachedInfo(); w.last == 0 && info != nil && info.NumPending == 0 {
		w.readyOnce.Do(func() { close(w.ready) }) // nothing to replay
	}
	w.delivered = 0
	return cons.Messages(jetstream.PullHeartbeat(watchHeartbeat), jetstream.PullExpiry(5*time.Second),
		jetstream.WithMessagesErrOnMissingHeartbeat(true))
}

func (w *watch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cur != nil {
		w.cur.Stop()
	}
}

func (w *watch) run() {
	for {
		w.mu.Lock()
		it := w.cur
		w.mu.Unlock()
		m, err := it.Next()
		if err != nil {
			if w.n.ctx.Err() != nil {
				return
			}
			w.n.log.Debug("cluster: watch made again", zap.String("stream", w.name), zap.Error(err))
			if !w.reopen() {
				return
			}
			continue
		}
		meta, err := m.Metadata()
		if err != nil {
			continue
		}
		if meta.Sequence.Consumer != w.delivered+1 { // a message lost on the way: from the last one again
			w.n.log.Debug("cluster: watch made again after a gap", zap.String("stream", w.name))
			if !w.reopen() {
				return
			}
			continue
		}
		w.delivered, w.last = meta.Sequence.Consumer, meta.Sequence.Stream
		c := change{key: strings.TrimPrefix(m.Subject(), w.prefix), value: m.Data(), rev: meta.Sequence.Stream}
		switch m.Headers().Get("KV-Operation") {
		case "DEL", "PURGE":
			c.deleted = true
		}
		if m.Headers().Get(jetstream.MarkerReasonHeader) != "" {
			c.deleted = true // a key that reached its TTL
		}
		w.apply(c)
		if meta.NumPending == 0 {
			w.readyOnce.Do(func() { close(w.ready) })
		}
	}
}

// reopen replaces the current consumer with a new one from the last message applied, trying
// until it works or the node stops (false).
func (w *watch) reopen() bool {
	w.stop()
	var it jetstream.MessagesContext
	ok := w.n.retry("watching "+w.name, func() error {
		ctx, cancel := context.WithTimeout(w.n.ctx, opTimeout)
		defer cancel()
		var err error
		it, err = w.open(ctx)
		return err
	})
	if !ok {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n.ctx.Err() != nil {
		it.Stop()
		return false
	}
	w.cur = it
	return true
}
