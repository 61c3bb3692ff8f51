package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Call history is every node's: a node writes each record to its own store, then shares it on
// the stream SWITCHBOARD_HISTORY (subject switchboard.history.<node>); every node imports the
// others' records into its store through a durable consumer of its own, which remembers, in
// NATS, how far the node got, so a node that was down catches up when it is back and nothing
// is read twice at each start. Records keep their ids, so an import delivered twice is one
// record.
const (
	historyStream  = "SWITCHBOARD_HISTORY"
	historySubject = "switchboard.history."
	// historyKeep is how many records the stream keeps for nodes that catch up late: as many
	// as a node's own store keeps by default.
	historyKeep = 100_000
	// historyOutbox bounds records waiting for NATS; past it the oldest wait is dropped (the
	// record stays in its own node's store).
	historyOutbox = 4096
)

// ShareHistory queues one record (id, and its JSON) for the other nodes. It never waits: a
// goroutine owned by the node publishes, retrying while NATS is away.
func (n *Node) ShareHistory(id string, data []byte) {
	n.queued()
	select {
	case n.history <- historyRecord{id: id, data: data}:
	default:
		n.shared()
		n.log.Warn("cluster: history record not shared: too many waiting for NATS", zap.String("id", id))
	}
}

type historyRecord struct {
	id   string
	data []byte
}

// OnHistory sets f to store a record another node shared (its JSON); an error other than the
// record being there already leaves the record to be delivered again. Set it before Start.
func (n *Node) OnHistory(f func(data []byte) error) { n.importHistory = f }

// openHistory creates or updates the stream.
func (n *Node) openHistory(ctx context.Context) error {
	_, err := n.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        historyStream,
		Description: "Switchboard: every node's call history records",
		Subjects:    []string{historySubject + ">"},
		Storage:     jetstream.FileStorage,
		Replicas:    n.cfg.Replicas,
		MaxMsgs:     historyKeep,
		Discard:     jetstream.DiscardOld,
		Duplicates:  time.Minute, // a retried publish of one record is stored once
	})
	if err != nil {
		return fmt.Errorf("cluster: open stream %s: %w", historyStream, err)
	}
	return nil
}

// shareHistory publishes queued records in order, retrying each until NATS takes it.
func (n *Node) shareHistory() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case r := <-n.history:
			n.retry("sharing history record "+r.id, func() error {
				ctx, cancel := context.WithTimeout(n.ctx, opTimeout)
				defer cancel()
				_, err := n.js.Publish(ctx, historySubject+n.cfg.Node, r.data, jetstream.WithMsgID(r.id))
				return err
			})
			n.shared()
		}
	}
}

// followHistory imports the other nodes' records through this node's durable consumer.
func (n *Node) followHistory(ctx context.Context) error {
	if n.importHistory == nil {
		return nil
	}
	cons, err := n.js.CreateOrUpdateConsumer(ctx, historyStream, jetstream.ConsumerConfig{
		Durable:       "history-" + n.cfg.Node,
		Description:   "Switchboard node " + n.cfg.Node + ": call history it has imported",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("cluster: history consumer: %w", err)
	}
	own := historySubject + n.cfg.Node
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if m.Subject() != own {
			if err := n.importHistory(m.Data()); err != nil {
				n.log.Warn("cluster: history record not imported; delivered again later", zap.Error(err))
				_ = m.NakWithDelay(5 * time.Second)
				return
			}
		}
		_ = m.Ack()
	}, jetstream.PullHeartbeat(watchHeartbeat), jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if !errors.Is(err, jetstream.ErrConsumerDeleted) {
				n.log.Debug("cluster: history consumer", zap.Error(err))
			}
		}))
	if err != nil {
		return fmt.Errorf("cluster: history consumer: %w", err)
	}
	n.own(cc)
	return nil
}
