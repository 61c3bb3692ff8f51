package cluster

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/presence"
)

// Stored DND values, as the embedded store writes them.
const (
	valueDND       = "dnd"
	valueAvailable = "available"
)

var _ presence.SharedStore = (*Node)(nil)

// LoadDND implements presence.Store: every user's setting in the bucket, by extension.
func (n *Node) LoadDND() (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*opTimeout)
	defer cancel()
	w, err := n.dnd.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("cluster: read DND settings: %w", err)
	}
	defer func() { _ = w.Stop() }()
	out := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: read DND settings: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("cluster: read DND settings: the watch ended")
			}
			if e == nil {
				return out, nil
			}
			ext, on, err := decodeDND(e.Key(), e.Value())
			if err != nil {
				return nil, err
			}
			out[ext] = on
		}
	}
}

// SaveDND implements presence.Store.
func (n *Node) SaveDND(ext string, on bool) error {
	_, err := n.SaveDNDRevision(ext, on)
	return err
}

// SaveDNDRevision implements presence.SharedStore: the setting is durable (acknowledged by
// the bucket's replicas) when it returns.
func (n *Node) SaveDNDRevision(ext string, on bool) (uint64, error) {
	v := valueAvailable
	if on {
		v = valueDND
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	rev, err := n.dnd.PutString(ctx, keyOf(ext), v)
	if err != nil {
		return 0, fmt.Errorf("cluster: save DND of %s: %w: %w", ext, presence.ErrUnavailable, err)
	}
	return rev, nil
}

// applyDND applies one replicated DND setting to the table.
func (n *Node) applyDND(c change) {
	if c.deleted {
		return // settings are only ever put; a purge by hand means nothing to the table
	}
	ext, on, err := decodeDND(c.key, c.value)
	if err != nil {
		n.log.Warn("cluster: DND setting ignored", zap.Error(err))
		return
	}
	n.table.ApplyDND(ext, on, c.rev)
}

func decodeDND(key string, value []byte) (ext string, on bool, err error) {
	ext, ok := extOf(key)
	if !ok {
		return "", false, fmt.Errorf("cluster: DND key %q is not an extension", key)
	}
	switch string(value) {
	case valueDND:
		return ext, true, nil
	case valueAvailable:
		return ext, false, nil
	}
	return "", false, fmt.Errorf("cluster: DND setting of %s is %q", ext, value)
}
