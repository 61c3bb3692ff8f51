package sip

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// Sources is sip.permit and sip.deny, in the manner of Asterisk's permit/deny: an address in
// Deny and not in Permit is refused (its datagrams dropped, its connections closed at once);
// with Deny empty nobody is. So "deny everything, permit the office and the carrier" is
// Deny 0.0.0.0/0 and ::/0 with Permit listing them.
type Sources struct {
	Permit []netip.Prefix
	Deny   []netip.Prefix
}

// refused reports whether the lists shut a out.
func (s Sources) refused(a netip.Addr) bool {
	return containsAddr(s.Deny, a) && !containsAddr(s.Permit, a)
}

// liveSources is the Sources in force, shared by the gate and the connection limiter and
// swapped whole by SetSources while they read it: a datagram or connection is judged by the
// old lists or the new, never by half of each.
type liveSources struct{ p atomic.Pointer[Sources] }

func newLiveSources(s Sources) *liveSources {
	l := &liveSources{}
	l.set(s)
	return l
}

// set puts s in force; its lists are copied, so the caller's slices may change afterwards.
func (l *liveSources) set(s Sources) {
	l.p.Store(&Sources{Permit: slices.Clone(s.Permit), Deny: slices.Clone(s.Deny)})
}

// refused reports whether the lists in force shut a out.
func (l *liveSources) refused(a netip.Addr) bool { return l.p.Load().refused(a) }

// SetSources puts new sip.permit and sip.deny lists in force (a config reload): every datagram
// read and connection accepted after it is judged by them. A connection already open from a
// newly denied address is refused at its next read.
func (s *Server) SetSources(src Sources) { s.sources.set(src) }

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// gate looks at every datagram before sipgo does (sipgo's transport read filter): refused
// sources and floods are dropped, a message sipgo could not parse is answered 400 (or 416, 505)
// when it is a request with a Via to answer, and dropped otherwise, and a request RFC 3261 says
// to refuse before any processing (wellformed.go) is refused here, statelessly. What passes is
// a well-formed message sipgo parses again: parsing twice costs a few microseconds a message,
// cheaper than answering torture and garbage through transactions.
type gate struct {
	sources *liveSources
	floods  *floods
	notes   *notes
	log     *zap.Logger
	level   zapcore.Level // of the lines about garbage and floods

	parsers sync.Pool

	mu    sync.RWMutex
	conns map[string]net.PacketConn // UDP listeners by local address, to answer from
}

func newGate(sources *liveSources, flood FloodLimit, level zapcore.Level, log *zap.Logger, c clock.Clock) *gate {
	g := &gate{sources: sources, floods: newFloods(flood, c), notes: newNotes(c, time.Minute), log: log,
		level: level, conns: make(map[string]net.PacketConn)}
	g.parsers.New = func() any { return sip.NewParser() }
	return g
}

// listen registers a UDP listener the gate may answer from.
func (g *gate) listen(conn net.PacketConn) {
	g.mu.Lock()
	g.conns[conn.LocalAddr().String()] = conn
	g.mu.Unlock()
}

// filter is the transport read filter. On streams (TCP, TLS, WebSocket) data is whatever one
// read returned, not a message; there the gate only refuses sources, and the listener
// (streamgate.go) has already closed their connections.
func (g *gate) filter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	src := addrOf(props.RemoteAddr)
	if g.sources.refused(src) {
		if !strings.EqualFold(props.Transport, "udp") {
			return nil, fmt.Errorf("source %s refused by sip.deny", src)
		}
		return nil, nil
	}
	if !strings.EqualFold(props.Transport, "udp") {
		return data, nil
	}
	if len(bytes.Trim(data, "\r\n")) == 0 {
		return data, nil // a keep-alive (RFC 5626 §4.4.1); sipgo knows it
	}
	if bytes.HasPrefix(data, []byte("SIP/")) {
		// A response: sipgo matches it to a transaction of ours or drops it, and its parse
		// errors are quietened (quietParseErrors). Parsing it here too cost a thousand
		// extra parses per status change seen by a thousand watchers.
		return data, nil
	}
	if !g.floods.allow(src) {
		if n, first := g.notes.note("flood", src); first {
			g.log.Log(g.level, "sip flood", zap.String("source_ip", src.String()), zap.Int("dropped_before", n),
				zap.Float64("rate", g.floods.rate()))
		}
		return nil, nil
	}
	p := g.parsers.Get().(*sip.Parser)
	msg, err := p.ParseSIP(data)
	g.parsers.Put(p)
	if err != nil {
		g.garbage(src, data, err)
		g.answerUnparsed(props, data)
		return nil, nil
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return data, nil // a response after leading blank lines
	}
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	_, head, _ = bytes.Cut(head, []byte("\n"))
	r := checkHeaderBlock(head)
	if r == nil {
		r = checkRequest(req, "UDP")
	}
	if r == nil {
		if v := req.Via(); v != nil {
			if b, _ := v.Params.Get("branch"); !strings.HasPrefix(b, "z9hG4bK") || b == "z9hG4bK" {
				out := rfc2543Branch(req)
				// sipgo reads its own writing of a header it parsed leniently (a From
				// whose "port" is not a number) less leniently: answer those here.
				p := g.parsers.Get().(*sip.Parser)
				_, err := p.ParseSIP(out)
				g.parsers.Put(p)
				if err != nil {
					g.answerUnparsed(props, data)
					return nil, nil
				}
				return out, nil
			}
		}
		return data, nil
	}
	if req.IsAck() {
		return nil, nil // an ACK is never answered
	}
	res := sip.NewResponseFromRequest(req, r.code, r.reason, nil)
	res.SipVersion = "SIP/2.0" // the version we speak, whatever the request claimed
	for _, h := range r.headers {
		res.AppendHeader(h)
	}
	g.send(props, []byte(res.String()))
	return nil, nil
}

// garbage notes a message that could not be parsed: once per source a minute, at the level
// sip.log_garbage names, with its first bytes quoted, never the whole of it.
func (g *gate) garbage(src netip.Addr, data []byte, err error) {
	n, first := g.notes.note("garbage", src)
	if !first {
		return
	}
	g.log.Log(g.level, "sip unparseable message", zap.String("source_ip", src.String()),
		zap.Int("bytes", len(data)), zap.String("start", fmt.Sprintf("%.48q", data)),
		zap.Int("dropped_before", n), zap.Error(err))
}

// answerUnparsed answers a request sipgo could not parse from its lines alone: the answer its
// Request-Line deserves (400, 416 for an unknown URI scheme, 505 for another SIP version), or
// 400 for what is wrong below it, with the Via, From, To, Call-ID and CSeq it carried. Without a
// Via and a CSeq there is no telling who to answer or what, and it is dropped (§18.2.1).
func (g *gate) answerUnparsed(props sip.TransportReadProps, data []byte) {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	lines := unfold(string(head))
	if len(lines) == 0 {
		return
	}
	r := checkRequestLine(lines[0])
	if r == nil {
		r = &refusal{code: 400, reason: "Bad Request"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", r.code, r.reason)
	var via, cseq bool
	for _, line := range lines[1:] {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch canon := strings.ToLower(strings.TrimSpace(name)); canon {
		case "via", "v":
			via = true
			fmt.Fprintf(&b, "Via: %s\r\n", strings.TrimSpace(value))
		case "from", "f", "call-id", "i", "cseq":
			cseq = cseq || canon == "cseq"
			fmt.Fprintf(&b, "%s: %s\r\n", strings.TrimSpace(name), strings.TrimSpace(value))
		case "to", "t":
			value = strings.TrimSpace(value)
			if !strings.Contains(strings.ToLower(value), "tag=") {
				value += ";tag=" + sip.GenerateTagN(10)
			}
			fmt.Fprintf(&b, "To: %s\r\n", value)
		}
	}
	if !via || !cseq {
		return
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	g.send(props, []byte(b.String()))
}

// send writes an answer from the listener the datagram came in on, back to where it came from.
func (g *gate) send(props sip.TransportReadProps, msg []byte) {
	g.mu.RLock()
	conn := g.conns[props.LocalAddr.String()]
	g.mu.RUnlock()
	if conn != nil {
		_, _ = conn.WriteTo(msg, props.RemoteAddr)
	}
}

// unfold splits a header block into lines, joining folded continuations (§7.3.1) to theirs.
func unfold(head string) []string {
	var out []string
	for _, line := range strings.Split(head, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if len(out) > 1 && line != "" && (line[0] == ' ' || line[0] == '\t') {
			out[len(out)-1] += " " + strings.TrimSpace(line)
			continue
		}
		out = append(out, line)
	}
	return out
}

// addrOf is the IP address of a transport's remote address.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// rfc2543Branch gives a request from an RFC 2543 element (a top Via without RFC 3261's magic
// cookie, or only the cookie: RFC 4475's wsinv, inv2543, badbranch) a branch sipgo's
// transaction layer can file it under, which it otherwise refuses with 400. The branch is made
// from what §17.2.3 matches such requests by: Request-URI, From tag, Call-ID, CSeq number, the
// top Via's sent-by and whatever branch it had. The To tag is left out, so the ACK for a
// failed INVITE (which carries ours) finds the INVITE's transaction. The answer carries the
// new branch; an RFC 2543 element matches answers by Call-ID, CSeq and tags, not by it.
func rfc2543Branch(req *sip.Request) []byte {
	v := req.Via()
	old, _ := v.Params.Get("branch")
	h := fnv.New64a()
	var fromTag string
	if f := req.From(); f != nil {
		fromTag, _ = f.Params.Get("tag")
	}
	var seq uint32
	if c := req.CSeq(); c != nil {
		seq = c.SeqNo
	}
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00%s:%d\x00%s", req.Recipient.String(), fromTag, callIDOf(req), seq,
		v.Host, v.Port, old)
	v.Params.Add("branch", fmt.Sprintf("z9hG4bK-2543-%016x", h.Sum64()))
	return []byte(req.String())
}

// quietParseErrors keeps sipgo's "failed to parse" lines out of the log at ERROR with the whole
// message in them (190 MB of log for 20 s of garbage): the gate answers and logs unparseable
// requests itself, once per address a minute; what is left for sipgo to fail on are responses,
// logged at debug without their bytes.
type quietParseErrors struct{ slog.Handler }

func (h quietParseErrors) Handle(ctx context.Context, r slog.Record) error {
	if r.Message != "failed to parse" {
		return h.Handler.Handle(ctx, r)
	}
	if !h.Handler.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	quiet := slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "data" {
			quiet.AddAttrs(a)
		}
		return true
	})
	return h.Handler.Handle(ctx, quiet)
}

func (h quietParseErrors) WithAttrs(as []slog.Attr) slog.Handler {
	return quietParseErrors{h.Handler.WithAttrs(as)}
}

func (h quietParseErrors) WithGroup(name string) slog.Handler {
	return quietParseErrors{h.Handler.WithGroup(name)}
}
