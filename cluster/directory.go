package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// The directory (users, groups, queues and trunks) is one document in its own bucket, which
// every node follows: an admin's change at any node is saved there and every node makes it
// current as it arrives.
const (
	bucketDirectory = "switchboard_directory"
	directoryKey    = "current"
	// directoryHistory keeps a few earlier versions in the bucket, for an operator undoing a
	// mistake by hand (nats kv history).
	directoryHistory = 8
)

// LoadDirectory implements directory.Store: the cluster's directory, or nil when no node has
// saved one yet (the first node to start seeds it from its file).
func (n *Node) LoadDirectory() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	e, err := n.directory.Get(ctx, directoryKey)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("cluster: read the directory: %w", err)
	}
	return e.Value(), nil
}

// SaveDirectory implements directory.Store. Every node (this one too) gets the document
// through OnDirectory.
func (n *Node) SaveDirectory(doc []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := n.directory.Put(ctx, directoryKey, doc); err != nil {
		return fmt.Errorf("cluster: save the directory: %w", err)
	}
	return nil
}

// OnDirectory sets f to make a directory saved at any node current here; f is called in the
// bucket's order, with this node's own saves too (it must ignore a document it already has).
// Set it before Start.
func (n *Node) OnDirectory(f func(doc []byte) error) { n.applyDirectoryDoc = f }

// applyDirectory hands the bucket's latest directory to OnDirectory's function.
func (n *Node) applyDirectory(c change) {
	if c.deleted || c.key != directoryKey || n.applyDirectoryDoc == nil {
		return
	}
	if err := n.applyDirectoryDoc(c.value); err != nil {
		n.log.Warn("cluster: a directory saved by another node was refused here", zap.Uint64("revision", c.rev), zap.Error(err))
	}
}
