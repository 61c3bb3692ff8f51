package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Voicemail is every node's: each node keeps every message in its own mailbox store, so any
// node lists, plays and counts (MWI) them all. A node that records a message, marks one heard
// or deletes one shares the change through the JetStream object store switchboard_voicemail
// (one object per message: its WAV, with its details as metadata; heard is a metadata update,
// delete the object's deletion), and every node applies what the bucket says, in order, to its
// own store. A node that starts (or comes back) catches up with every message there.
const bucketVoicemail = "switchboard_voicemail"

// VoicemailMessage is one message as the bucket has it, for OnVoicemail.
type VoicemailMessage struct {
	Box, ID string
	// Meta is the message's details as the sharing node put them (the mailbox's, by name).
	Meta map[string]string
	// Deleted: the message is gone everywhere.
	Deleted bool
	// Audio fetches the WAV (only for a message not deleted).
	Audio func() ([]byte, error)
}

// vmOp is one change waiting to be shared.
type vmOp struct {
	box, id string
	meta    map[string]string // put (with path) or heard update
	path    string            // the WAV to upload, for a new message
	deleted bool
}

// ShareVoicemail queues a new message (its WAV at path) for the other nodes.
func (n *Node) ShareVoicemail(box, id string, meta map[string]string, path string) {
	n.queueVoicemail(vmOp{box: box, id: id, meta: maps.Clone(meta), path: path})
}

// UpdateVoicemail queues a change of a message's details (heard) for the other nodes.
func (n *Node) UpdateVoicemail(box, id string, meta map[string]string) {
	n.queueVoicemail(vmOp{box: box, id: id, meta: maps.Clone(meta)})
}

// DeleteVoicemail queues a message's deletion for the other nodes.
func (n *Node) DeleteVoicemail(box, id string) {
	n.queueVoicemail(vmOp{box: box, id: id, deleted: true})
}

func (n *Node) queueVoicemail(op vmOp) {
	n.queued()
	select {
	case n.vmOut <- op:
	default:
		n.shared()
		n.log.Warn("cluster: voicemail change not shared: too many waiting for NATS", zap.String("ext", op.box), zap.String("id", op.id))
	}
}

// OnVoicemail sets f to apply a message as the bucket has it to this node's store: f is called
// in the bucket's order, for every node's changes, this one's included (it must find those
// already applied). An error has f called again later. Set it before Start.
func (n *Node) OnVoicemail(f func(VoicemailMessage) error) { n.applyVoicemail = f }

func objectName(box, id string) string { return box + "/" + id }

// shareVoicemail carries out queued changes in order, retrying each while NATS is away.
func (n *Node) shareVoicemail() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case op := <-n.vmOut:
			n.retry("sharing a change of voicemail "+op.box+"/"+op.id, func() error { return n.doVoicemail(op) })
			n.shared()
		}
	}
}

func (n *Node) doVoicemail(op vmOp) error {
	ctx, cancel := context.WithTimeout(n.ctx, 4*opTimeout)
	defer cancel()
	name := objectName(op.box, op.id)
	switch {
	case op.deleted:
		err := n.objects.Delete(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil // gone already (the echo of another node's deletion)
		}
		return err
	case op.path != "":
		f, err := os.Open(op.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil // deleted here before it was shared: its deletion follows
		}
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = n.objects.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: op.meta}, f)
		return err
	default:
		info, err := n.objects.GetInfo(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if maps.Equal(info.Metadata, op.meta) {
			return nil // the bucket says so already (the echo of another node's change)
		}
		return n.objects.UpdateMeta(ctx, name, jetstream.ObjectMeta{Name: name, Metadata: op.meta})
	}
}

// openVoicemail creates or updates the object store.
func (n *Node) openVoicemail(ctx context.Context) error {
	obs, err := n.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      bucketVoicemail,
		Description: "Switchboard: every voicemail message, its WAV and details",
		Storage:     jetstream.FileStorage,
		Replicas:    n.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("cluster: open object store %s: %w", bucketVoicemail, err)
	}
	n.objects = obs
	return nil
}

// followVoicemail applies the bucket's messages, as they are and as they change, through
// OnVoicemail.
func (n *Node) followVoicemail() (<-chan struct{}, error) {
	if n.applyVoicemail == nil {
		done := make(chan struct{})
		close(done)
		return done, nil
	}
	return n.followStream("OBJ_"+bucketVoicemail, "$O."+bucketVoicemail+".M.", func(c change) {
		var info jetstream.ObjectInfo
		if err := json.Unmarshal(c.value, &info); err != nil || c.deleted {
			return
		}
		box, id, ok := strings.Cut(info.Name, "/")
		if !ok {
			return
		}
		m := VoicemailMessage{Box: box, ID: id, Meta: info.Metadata, Deleted: info.Deleted}
		m.Audio = func() ([]byte, error) {
			ctx, cancel := context.WithTimeout(n.ctx, 4*opTimeout)
			defer cancel()
			r, err := n.objects.Get(ctx, info.Name)
			if err != nil {
				return nil, err
			}
			defer r.Close()
			var b bytes.Buffer
			if _, err := io.Copy(&b, r); err != nil {
				return nil, err
			}
			return b.Bytes(), nil
		}
		tries := 0
		n.retry("applying voicemail "+info.Name, func() error {
			err := n.applyVoicemail(m)
			if tries++; err != nil && tries == 3 {
				n.log.Warn("cluster: voicemail message not applied here", zap.String("ext", box), zap.String("id", id), zap.Error(err))
				return nil // the next change of it, or the node's next start, tries again
			}
			return err
		})
	})
}
