package sip

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ConnectionLimits bound the SIP TCP, TLS and WebSocket connections (sip.max_connections,
// sip.max_connections_per_source, sip.idle_timeout): 3,000 idle connections from one scanner
// were held open for ever before them.
type ConnectionLimits struct {
	Max       int           // open at once; 0 = 10000
	PerSource int           // open at once from one address; 0 = 100
	Idle      time.Duration // a connection that sends nothing this long is closed; 0 = 2m
}

// connections admits and tracks the stream connections of every listener: refused sources
// and connections past the caps are closed as they are accepted, and each admitted one is
// closed when it has been quiet for Idle, unless a phone registered over it, which keeps it
// for its registration's lifetime (the switch calls the phone over it).
type connections struct {
	limits  ConnectionLimits
	sources *liveSources
	notes   *notes
	log     *zap.Logger

	mu       sync.Mutex
	total    int
	bySource map[netip.Addr]int
	live     map[string]*heldConn // by remote address
}

func newConnections(l ConnectionLimits, sources *liveSources, n *notes, log *zap.Logger) *connections {
	if l.Max <= 0 {
		l.Max = 10000
	}
	if l.PerSource <= 0 {
		l.PerSource = 100
	}
	if l.Idle <= 0 {
		l.Idle = 2 * time.Minute
	}
	return &connections{limits: l, sources: sources, notes: n, log: log,
		bySource: make(map[netip.Addr]int), live: make(map[string]*heldConn)}
}

// listener wraps ln so that what it accepts passes admit.
func (c *connections) listener(ln net.Listener) net.Listener { return connListener{ln, c} }

type connListener struct {
	net.Listener
	c *connections
}

// Accept returns the next admitted connection; refused ones are closed on the way.
func (l connListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if h := l.c.admit(conn); h != nil {
			return h, nil
		}
	}
}

// admit counts conn in, or closes it and returns nil.
func (c *connections) admit(conn net.Conn) *heldConn {
	src := addrOf(conn.RemoteAddr())
	why := ""
	c.mu.Lock()
	switch {
	case c.sources.refused(src):
		why = "refused by sip.deny"
	case c.total >= c.limits.Max:
		why = "sip.max_connections reached"
	case c.bySource[src] >= c.limits.PerSource:
		why = "sip.max_connections_per_source reached"
	default:
		c.total++
		c.bySource[src]++
		h := &heldConn{Conn: conn, c: c, src: src}
		c.live[conn.RemoteAddr().String()] = h
		c.mu.Unlock()
		return h
	}
	c.mu.Unlock()
	_ = conn.Close()
	if n, log := c.notes.note("connection", src); log {
		c.log.Warn("sip connection refused", zap.String("source_ip", src.String()), zap.String("reason", why),
			zap.Int("refused_before", n))
	}
	return nil
}

// hold keeps the connection from remote open, however quiet, until until.
func (c *connections) hold(remote string, until time.Time) {
	c.mu.Lock()
	h := c.live[remote]
	c.mu.Unlock()
	if h != nil {
		h.until.Store(until.UnixNano())
		// The reader is already waiting, with the idle deadline: move it. A deadline the
		// layer above set stays, as it would on the next Read.
		if h.deadline.Load() == 0 {
			_ = h.Conn.SetReadDeadline(until)
		}
	}
}

// open is how many connections are open, from src alone when src is valid.
func (c *connections) open(src netip.Addr) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if src.IsValid() {
		return c.bySource[src]
	}
	return c.total
}

func (c *connections) release(h *heldConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.bySource[h.src]--; c.bySource[h.src] <= 0 {
		delete(c.bySource, h.src)
	}
	if remote := h.RemoteAddr().String(); c.live[remote] == h {
		delete(c.live, remote)
	}
}

// heldConn is an admitted connection: each Read may wait Idle (or until a registration's end),
// or until a deadline the layer above set (a WebSocket handshake's), whichever is first.
type heldConn struct {
	net.Conn
	c        *connections
	src      netip.Addr
	until    atomic.Int64 // unix nanoseconds; 0: no registration holds it
	deadline atomic.Int64 // the layer above's read deadline, unix nanoseconds; 0: none
	once     sync.Once
}

func (h *heldConn) Read(p []byte) (int, error) {
	now := time.Now()
	idle := now.Add(h.c.limits.Idle)
	if until := time.Unix(0, h.until.Load()); until.After(idle) {
		idle = until
	}
	d, own := idle, true
	if set := h.deadline.Load(); set != 0 && time.Unix(0, set).Before(d) {
		d, own = time.Unix(0, set), false
	}
	_ = h.Conn.SetReadDeadline(d)
	n, err := h.Conn.Read(p)
	var ne net.Error
	if err != nil && own && errors.As(err, &ne) && ne.Timeout() {
		// Quiet for too long: closed as if the far end had, so the reader ends without
		// logging an error for what is routine.
		_ = h.Close()
		return n, io.EOF
	}
	return n, err
}

// writeTimeout bounds one write: a peer that stops reading must not hold the writer (a call's
// owner sending it a BYE) for ever.
const writeTimeout = 10 * time.Second

func (h *heldConn) Write(p []byte) (int, error) {
	_ = h.Conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return h.Conn.Write(p)
}

func (h *heldConn) SetReadDeadline(t time.Time) error {
	h.deadline.Store(unixNanoOrZero(t))
	return h.Conn.SetReadDeadline(t)
}

func (h *heldConn) SetDeadline(t time.Time) error {
	h.deadline.Store(unixNanoOrZero(t))
	return h.Conn.SetDeadline(t)
}

func unixNanoOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func (h *heldConn) Close() error {
	err := h.Conn.Close()
	h.once.Do(func() { h.c.release(h) })
	return err
}

// Connections is how many SIP stream connections (TCP, TLS, WebSocket) are open from src, or in
// all when src is the zero Addr.
func (s *Server) Connections(src netip.Addr) int { return s.conns.open(src) }
