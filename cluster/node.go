// Package cluster joins several Switchboard nodes into one switch for one team, through NATS
// JetStream key-value buckets: an existing, replicated engine, so the nodes need no consensus
// of their own.
//
// Each node keeps its own presence table and the buckets keep the tables in step:
//
//	switchboard_dnd     ext → "dnd" | "available"        every node's DND settings (durable)
//	switchboard_users   <node>.<ext> → "c" | "r" | "cr"   on a call (c) / registered (r) there
//	switchboard_nodes   <node> → heartbeat                 who is alive, every node_ttl/4
//	switchboard_queues  queue callers and agents claimed   one queue of every node's callers
//	SWITCHBOARD_HISTORY (a stream) call history records     every node imports the others'
//	switchboard_voicemail (objects) each message's WAV      every node keeps every message
//
// A DND change is saved to the bucket first and comes back to every node in revision order
// (presence.Table.ApplyDND). A node writes only its own <node>.* keys, from its table's local
// changes, and applies the others' (presence.Table.SetRemote), so Busy means "on a call at any
// node". A node silent for 3/4 of node_ttl is cleared by the others (its keys deleted), so
// none of its users stays Busy longer than node_ttl after it died, and a node
// that starts, reconnects or finds itself cleared writes its keys again.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/presence"
)

// Bucket names; every node of a cluster uses the same.
const (
	bucketDND   = "switchboard_dnd"
	bucketUsers = "switchboard_users"
	bucketNodes = "switchboard_nodes"
	bucketHours = "switchboard_hours"
)

// opTimeout bounds one request to NATS (a put, a delete, a listing), so that an outage turns
// into an error rather than a wait.
const opTimeout = 2 * time.Second

// Config is a node's place in the cluster.
type Config struct {
	Node     string        // this node's name, unique in the cluster
	NATS     []string      // NATS server URLs
	NodeTTL  time.Duration // a node silent this long is cleared by the others
	Replicas int           // NATS servers keeping each bucket
	Log      *zap.Logger   // nil: no logs
}

// Table is the node's presence table, as replication needs it (*presence.Table).
type Table interface {
	ApplyDND(ext string, s presence.Setting, rev uint64)
	ApplyHours(ext string, h *presence.Hours) error
	SetRemote(ext, node string, r presence.Remote)
	ClearNode(node string) int
	ObserveLocal(f func(ext string)) error
	Local(ext string) (presence.Remote, bool)
	Locals() map[string]presence.Remote
}

var _ Table = (*presence.Table)(nil)

// Node is this process's membership of the cluster. Connect makes it; it is the presence
// table's DND store (presence.SharedStore) from then on, and Start begins replication.
type Node struct {
	cfg Config
	log *zap.Logger
	nc  *nats.Conn
	js  jetstream.JetStream

	dnd, users, nodes, queueKV, hours, directory jetstream.KeyValue

	// applyDirectoryDoc makes a directory document current here (OnDirectory); nil: none.
	applyDirectoryDoc func(doc []byte) error

	table  Table
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	// Local changes waiting to be written (the publisher drains them).
	dirtyMu sync.Mutex
	dirty   map[string]struct{}
	resync  bool          // rewrite every key of this node (start, reconnect, found cleared)
	wake    chan struct{} // capacity 1: there is work for the publisher

	beatSoon chan struct{} // capacity 1: the heartbeat goroutine beats now (beatNow)
	// putBeat writes a heartbeat: putHeartbeat, or a test's that holds one back.
	putBeat func(ctx context.Context, v []byte) error

	members members
	keys    userKeys
	queues  queueState

	sipMu sync.Mutex
	sip   string // this node's SIP address for the others (Advertise)

	onGone atomic.Pointer[func(node string)] // see OnNodeGone

	history       chan historyRecord // records to share (ShareHistory), published by shareHistory
	importHistory func(data []byte) error

	objects        jetstream.ObjectStore
	vmOut          chan vmOp // voicemail changes to share, carried out by shareVoicemail
	applyVoicemail func(VoicemailMessage) error

	outbox  atomic.Int64  // history records and voicemail changes queued, not yet shared
	drained chan struct{} // capacity 1: the outbox became empty

	downSince atomic.Int64 // unix nanoseconds when NATS was lost; 0 while connected
}

// Connect connects to NATS and opens (creating or updating) the buckets. It fails, with what it
// was doing, when no NATS server answers or JetStream is not enabled there, so that a
// misconfigured node does not start.
func Connect(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	n := &Node{cfg: cfg, log: cfg.Log, dirty: map[string]struct{}{}, wake: make(chan struct{}, 1),
		history: make(chan historyRecord, historyOutbox), vmOut: make(chan vmOp, historyOutbox),
		drained: make(chan struct{}, 1), beatSoon: make(chan struct{}, 1)}
	n.members.seen = map[string]time.Time{}
	n.putBeat = n.putHeartbeat
	n.queues.callers, n.queues.claims, n.queues.mine = map[string]queuedCaller{}, map[string]string{}, map[string]bool{}
	urls := strings.Join(cfg.NATS, ",")
	nc, err := nats.Connect(urls,
		nats.Name("switchboard "+cfg.Node),
		nats.Timeout(opTimeout),
		nats.MaxReconnects(-1), // a node keeps trying: its local calls go on meanwhile
		nats.ReconnectWait(250*time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.downSince.CompareAndSwap(0, time.Now().UnixNano())
			if !n.closed.Load() {
				n.log.Warn("cluster: NATS connection lost", zap.Error(err))
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.downSince.Store(0)
			n.members.heardAll(time.Now())
			n.log.Info("cluster: NATS connection back", zap.String("server", c.ConnectedUrlRedacted()))
			n.requestResync()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("cluster: connect to NATS %s: %w", strings.Join(cfg.NATS, ", "), err)
	}
	n.nc = nc
	// fail gives up on the connection: closed first, so that its handlers, which run later on
	// the client's goroutine, say nothing to a logger the caller may be done with.
	fail := func(err error) (*Node, error) {
		n.closed.Store(true)
		nc.Close()
		return nil, err
	}
	if n.js, err = jetstream.New(nc); err != nil {
		return fail(fmt.Errorf("cluster: JetStream on %s: %w", nc.ConnectedUrlRedacted(), err))
	}
	for _, b := range []struct {
		name    string
		kv      *jetstream.KeyValue
		what    string
		history uint8
	}{
		// The DND bucket keeps each user's latest changes: they are the history of changes
		// every node shows.
		{bucketDND, &n.dnd, "Switchboard: each user's DND setting", dndHistory},
		{bucketUsers, &n.users, "Switchboard: users on a call or registered, by node", 1},
		{bucketNodes, &n.nodes, "Switchboard: node heartbeats", 1},
		{bucketQueues, &n.queueKV, "Switchboard: queue callers and agents claimed, cluster-wide", 1},
		{bucketHours, &n.hours, "Switchboard: each user's working hours", 1},
		{bucketDirectory, &n.directory, "Switchboard: users, groups, queues and trunks", directoryHistory},
	} {
		cctx, cancel := context.WithTimeout(ctx, 2*opTimeout)
		kv, err := n.js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{
			Bucket:      b.name,
			Description: b.what,
			History:     b.history,
			Replicas:    cfg.Replicas,
			Storage:     jetstream.FileStorage,
		})
		cancel()
		if err != nil {
			if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
				return fail(fmt.Errorf("cluster: NATS at %s has no JetStream (start nats-server with -js): %w", nc.ConnectedUrlRedacted(), err))
			}
			return fail(fmt.Errorf("cluster: open bucket %s with %d replicas: %w", b.name, cfg.Replicas, err))
		}
		*b.kv = kv
	}
	cctx, cancel := context.WithTimeout(ctx, 2*opTimeout)
	defer cancel()
	if err := n.openHistory(cctx); err != nil {
		return fail(err)
	}
	if err := n.openVoicemail(cctx); err != nil {
		return fail(err)
	}
	return n, nil
}

// Name returns this node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Start begins replication into table: it follows DND settings, the other nodes' reports and
// heartbeats, and writes this node's own. It returns once the table holds the cluster's
// current state (or ctx ends). Close stops it.
func (n *Node) Start(ctx context.Context, table Table) error {
	if err := table.ObserveLocal(n.noteLocal); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	n.table = table
	n.ctx, n.stop = context.WithCancel(context.Background())
	started := false
	defer func() {
		if !started { // what did start stops again
			n.stop()
			n.wg.Wait()
		}
	}()
	var ready []<-chan struct{}
	for _, w := range []struct {
		kv    jetstream.KeyValue
		apply func(change)
	}{
		{n.dnd, n.applyDND},
		{n.hours, n.applyHours},
		{n.directory, n.applyDirectory},
		{n.users, n.applyUser},
		{n.nodes, n.applyNode},
		{n.queueKV, n.applyQueue},
	} {
		done, err := n.follow(w.kv, w.apply)
		if err != nil {
			return err
		}
		ready = append(ready, done)
	}
	for _, done := range ready {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("cluster: waiting for the cluster's state: %w", ctx.Err())
		}
	}
	// Callers and claims this node left behind when it last stopped without leaving (a crash)
	// are nobody's now.
	cctx, cancel := context.WithTimeout(ctx, 2*opTimeout)
	err := n.clearQueues(cctx, n.cfg.Node)
	cancel()
	if err != nil {
		return fmt.Errorf("cluster: clearing this node's old queue entries: %w", err)
	}
	cctx, cancel = context.WithTimeout(ctx, 2*opTimeout)
	err = n.followHistory(cctx)
	cancel()
	if err != nil {
		return err
	}
	// Every message in the bucket is applied as it comes, not before the node starts: a large
	// store takes a while to copy, and calls need not wait for it.
	if _, err := n.followVoicemail(); err != nil {
		return err
	}
	started = true
	n.wg.Add(5)
	go n.shareVoicemail()
	go n.shareHistory()
	go n.publish()
	go n.heartbeat()
	go n.reap()
	n.requestResync()
	return nil
}

// own stops a consumer when the node stops, on a goroutine the node waits for.
func (n *Node) own(cc jetstream.ConsumeContext) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		<-n.ctx.Done()
		cc.Stop()
		<-cc.Closed()
	}()
}

// retry runs do until it succeeds or the node stops, waiting retryAfter between tries and
// logging each failure (at debug: NATS away is reported by Health). It reports whether do
// succeeded.
func (n *Node) retry(what string, do func() error) bool {
	for {
		err := do()
		if err == nil {
			return true
		}
		if n.ctx.Err() != nil {
			return false
		}
		n.log.Debug("cluster: "+what, zap.Error(err))
		select {
		case <-n.ctx.Done():
			return false
		case <-time.After(retryAfter):
		}
	}
}

// Health reports a problem with the cluster (NATS unreachable), or nil. Local calls go on
// meanwhile; DND changes fail until NATS is back.
func (n *Node) Health() error {
	if n.nc.IsConnected() {
		return nil
	}
	if since := n.downSince.Load(); since != 0 {
		return fmt.Errorf("cluster: NATS unreachable for %s", time.Since(time.Unix(0, since)).Round(time.Second))
	}
	return errors.New("cluster: NATS not connected")
}

// Connected reports whether NATS is reachable now, for metrics.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

// Close leaves the cluster: replication stops and this node's keys are deleted, so the other
// nodes stop counting its calls and registrations at once rather than after node_ttl.
func (n *Node) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return nil
	}
	if n.stop != nil {
		n.drain(drainWait)
		n.stop()
		n.wg.Wait()
		n.leave()
	}
	n.nc.Close()
	return nil
}

// drainWait bounds how long Close waits for history records and voicemail changes still
// queued to reach NATS (it may be away: then they stay on this node only).
const drainWait = 3 * time.Second

// drain waits until nothing queued for sharing is left, or for at most d.
func (n *Node) drain(d time.Duration) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for n.outbox.Load() > 0 {
		select {
		case <-n.drained:
		case <-deadline.C:
			n.log.Warn("cluster: leaving with changes not shared", zap.Int64("waiting", n.outbox.Load()))
			return
		}
	}
}

// queued counts one change into the outbox; shared counts it out (sent, or given up).
func (n *Node) queued() { n.outbox.Add(1) }

func (n *Node) shared() {
	if n.outbox.Add(-1) == 0 {
		select {
		case n.drained <- struct{}{}:
		default:
		}
	}
}

// abandon drops the connection without leaving, as a killed process would (tests).
func (n *Node) abandon() {
	n.closed.Store(true)
	if n.stop != nil {
		n.stop()
	}
	n.nc.Close()
	n.wg.Wait()
}
