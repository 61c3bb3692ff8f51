package sip

import (
	"net/netip"
	"slices"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
)

// nodeHeader names, in an INVITE one node of a cluster sends another, the node it comes from.
// The call was routed there (statuses, hold, voicemail are that node's business); here it only
// rings the phones registered here, and answers for them.
const nodeHeader = "X-Switchboard-Node"

// Peers are the other nodes of a cluster, as the SIP layer needs them (*cluster.Node): where a
// user's phones registered elsewhere are reached, and whether a request that says it comes from
// a node does. Nil on a single node.
type Peers interface {
	// Name is this node's name, sent in the INVITEs it forwards.
	Name() string
	// RegisteredAt returns the other nodes where ext has a phone registered.
	RegisteredAt(ext string) []string
	// SIPAddr returns node's SIP address (host:port, UDP); false for a node not alive.
	SIPAddr(node string) (string, bool)
}

// peerBindings are ext's phones registered at other nodes, one binding per node: the node's
// SIP address as the contact, so that ringing them is an INVITE to that node.
func (s *Server) peerBindings(ext string) []Binding {
	if s.opts.Peers == nil {
		return nil
	}
	var out []Binding
	for _, node := range s.opts.Peers.RegisteredAt(ext) {
		addr, ok := s.opts.Peers.SIPAddr(node)
		if !ok {
			continue
		}
		out = append(out, Binding{AOR: ext, Contact: "sip:" + ext + "@" + addr, Source: addr, Dest: addr,
			Transport: "UDP", Peer: node})
	}
	return out
}

// fromPeer reports whether req was forwarded by another node: it names one in nodeHeader and
// comes from that node's SIP address, host and port (a node sends from its UDP listener, the
// address it advertises; a phone on the same host has another port). A request that names a
// node it does not come from is refused (403) and reported as handled.
func (s *Server) fromPeer(req *sip.Request, tx sip.ServerTransaction) (node string, ok, refused bool) {
	h := headerNamed(req, nodeHeader)
	if h == nil {
		return "", false, false
	}
	node = h.Value()
	if s.opts.Peers != nil && node != s.opts.Peers.Name() {
		if addr, alive := s.opts.Peers.SIPAddr(node); alive && sameAddr(addr, req.Source()) {
			return node, true, false
		}
	}
	s.log.Warn("INVITE claiming to come from a cluster node refused", zap.String("call_id", callIDOf(req)),
		zap.String("node", node), zap.String("source", req.Source()))
	_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
	return "", false, true
}

// sameAddr reports whether two host:port addresses are the same IP and port.
func sameAddr(a, b string) bool {
	pa, err1 := netip.ParseAddrPort(a)
	pb, err2 := netip.ParseAddrPort(b)
	return err1 == nil && err2 == nil && pa.Addr().Unmap() == pb.Addr().Unmap() && pa.Port() == pb.Port()
}

// EndCallsThrough hangs up every call with a leg to node, a cluster node that is gone: the
// media of that leg went through it, so nobody is there any more. It returns how many calls it
// asked to end; each call's owner ends it (BYE or CANCEL to the legs still here).
func (s *Server) EndCallsThrough(node string) int {
	if node == "" {
		return 0
	}
	s.mu.Lock()
	var calls []*call
	for _, l := range s.dialogs {
		if l.node == node {
			if c := l.owner.Load(); c != nil && !slices.Contains(calls, c) {
				calls = append(calls, c)
			}
		}
	}
	s.mu.Unlock()
	for _, c := range calls {
		c.mail.post(hangupRequest{why: "its other side was on cluster node " + node + ", which is gone", node: node})
	}
	return len(calls)
}
