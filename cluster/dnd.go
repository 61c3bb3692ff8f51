package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/presence"
)

// dndHistory is how many changes of each user the DND bucket keeps (JetStream's most).
const dndHistory = 64

var (
	_ presence.SharedStore = (*Node)(nil)
	_ presence.HoursStore  = (*Node)(nil)
)

// LoadDND implements presence.Store: every user's setting in the bucket, by extension.
func (n *Node) LoadDND() (map[string]presence.Setting, error) {
	out := map[string]presence.Setting{}
	err := n.loadAll(n.dnd, "DND settings", func(ext string, v []byte) error {
		s, err := presence.DecodeSetting(v)
		if err != nil {
			return fmt.Errorf("cluster: DND setting of %s: %w", ext, err)
		}
		out[ext] = s
		return nil
	})
	return out, err
}

// loadAll reads every key's latest value in kv, by extension.
func (n *Node) loadAll(kv jetstream.KeyValue, what string, f func(ext string, v []byte) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 4*opTimeout)
	defer cancel()
	w, err := kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("cluster: read %s: %w", what, err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: read %s: %w", what, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("cluster: read %s: the watch ended", what)
			}
			if e == nil {
				return nil
			}
			ext, ok := extOf(e.Key())
			if !ok {
				return fmt.Errorf("cluster: read %s: key %q is not an extension", what, e.Key())
			}
			if err := f(ext, e.Value()); err != nil {
				return err
			}
		}
	}
}

// SaveDND implements presence.Store.
func (n *Node) SaveDND(ext string, s presence.Setting) error {
	_, err := n.SaveDNDRevision(ext, s)
	return err
}

// SaveDNDRevision implements presence.SharedStore: the setting is durable (acknowledged by
// the bucket's replicas) when it returns.
func (n *Node) SaveDNDRevision(ext string, s presence.Setting) (uint64, error) {
	v, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("cluster: save DND of %s: %w", ext, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	rev, err := n.dnd.Put(ctx, keyOf(ext), v)
	if err != nil {
		return 0, fmt.Errorf("cluster: save DND of %s: %w: %w", ext, presence.ErrUnavailable, err)
	}
	return rev, nil
}

// SaveDNDIf implements presence.SharedStore with the bucket's compare-and-set: a create when
// rev is 0, else an update of revision rev.
func (n *Node) SaveDNDIf(ext string, s presence.Setting, rev uint64) (uint64, error) {
	v, err := json.Marshal(s)
	if err != nil {
		return 0, fmt.Errorf("cluster: save DND of %s: %w", ext, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var got uint64
	if rev == 0 {
		got, err = n.dnd.Create(ctx, keyOf(ext), v)
	} else {
		got, err = n.dnd.Update(ctx, keyOf(ext), v, rev)
	}
	switch {
	case err == nil:
		return got, nil
	case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		return 0, fmt.Errorf("cluster: save DND of %s at revision %d: %w", ext, rev, presence.ErrStale)
	}
	return 0, fmt.Errorf("cluster: save DND of %s: %w: %w", ext, presence.ErrUnavailable, err)
}

// DNDHistory implements presence.Store from the bucket's history of the key: the cluster keeps
// each user's last dndHistory changes.
func (n *Node) DNDHistory(ext string, limit int) ([]presence.Setting, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	entries, err := n.dnd.History(ctx, keyOf(ext))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: DND changes of %s: %w: %w", ext, presence.ErrUnavailable, err)
	}
	out := make([]presence.Setting, 0, len(entries))
	for _, e := range slices.Backward(entries) {
		if limit > 0 && len(out) == limit {
			break
		}
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		s, err := presence.DecodeSetting(e.Value())
		if err != nil {
			return nil, fmt.Errorf("cluster: DND change of %s: %w", ext, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// applyDND applies one replicated DND setting to the table.
func (n *Node) applyDND(c change) {
	if c.deleted {
		return // settings are only ever put; a purge by hand means nothing to the table
	}
	ext, ok := extOf(c.key)
	if !ok {
		n.log.Warn("cluster: DND setting ignored", zap.String("key", c.key))
		return
	}
	s, err := presence.DecodeSetting(c.value)
	if err != nil {
		n.log.Warn("cluster: DND setting ignored", zap.String("ext", ext), zap.Error(err))
		return
	}
	n.table.ApplyDND(ext, s, c.rev)
}

// LoadHours implements presence.HoursStore.
func (n *Node) LoadHours() (map[string]presence.Hours, error) {
	out := map[string]presence.Hours{}
	err := n.loadAll(n.hours, "working hours", func(ext string, v []byte) error {
		var h presence.Hours
		if err := json.Unmarshal(v, &h); err != nil {
			return fmt.Errorf("cluster: working hours of %s: %w", ext, err)
		}
		out[ext] = h
		return nil
	})
	return out, err
}

// SaveHours implements presence.HoursStore; every node's table gets the hours through its watch.
func (n *Node) SaveHours(ext string, h *presence.Hours) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	var err error
	if h == nil {
		err = n.hours.Delete(ctx, keyOf(ext))
	} else {
		var v []byte
		if v, err = json.Marshal(h); err == nil {
			_, err = n.hours.Put(ctx, keyOf(ext), v)
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: save working hours of %s: %w: %w", ext, presence.ErrUnavailable, err)
	}
	return nil
}

// applyHours applies one user's working hours set at any node.
func (n *Node) applyHours(c change) {
	ext, ok := extOf(c.key)
	if !ok {
		n.log.Warn("cluster: working hours ignored", zap.String("key", c.key))
		return
	}
	var h *presence.Hours
	if !c.deleted {
		h = new(presence.Hours)
		if err := json.Unmarshal(c.value, h); err != nil {
			n.log.Warn("cluster: working hours ignored", zap.String("ext", ext), zap.Error(err))
			return
		}
	}
	if err := n.table.ApplyHours(ext, h); err != nil {
		n.log.Warn("cluster: working hours ignored", zap.String("ext", ext), zap.Error(err))
	}
}
