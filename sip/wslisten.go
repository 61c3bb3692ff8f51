package sip

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// SIP over WebSocket (RFC 7118) is served by sipgo, which upgrades connections inside its
// accept loop and takes any subprotocol. wsListener stands in front of it: each connection's
// TLS handshake (wss) and HTTP upgrade request are read in a goroutine of its own, with a
// deadline and a size limit, so a slow or silent client stalls nobody; a request that is not a
// WebSocket upgrade offering the "sip" subprotocol is answered 400 and closed; a good one is
// handed to sipgo with the bytes already read put back in front of the stream.

const (
	wsHandshakeTimeout = 5 * time.Second
	wsHandshakeLimit   = 8 << 10
)

// wsListener is a net.Listener whose Accept returns only connections with a valid SIP
// WebSocket upgrade request waiting to be read.
type wsListener struct {
	inner   net.Listener
	tls     *tls.Config           // non-nil for wss
	onClose func(remote net.Addr) // called once when a handed-over connection closes
	ready   chan net.Conn         // checked connections for Accept
	done    chan struct{}         // closed by Close
	once    sync.Once
	wg      sync.WaitGroup        // the accept loop and the handshakes in progress
	mu      sync.Mutex            // guards pending
	pending map[net.Conn]struct{} // connections still in their handshake, closed by Close
}

func newWSListener(inner net.Listener, tlsConf *tls.Config, onClose func(net.Addr)) *wsListener {
	l := &wsListener{inner: inner, tls: tlsConf, onClose: onClose, ready: make(chan net.Conn),
		done: make(chan struct{}), pending: make(map[net.Conn]struct{})}
	l.wg.Add(1)
	go l.acceptLoop()
	return l
}

func (l *wsListener) acceptLoop() {
	defer l.wg.Done()
	for {
		c, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed
		}
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			_ = c.Close()
			return
		default:
		}
		l.pending[c] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handshake(c)
	}
}

// handshake checks one connection and hands it to Accept, or refuses it.
func (l *wsListener) handshake(raw net.Conn) {
	defer l.wg.Done()
	handed := false
	defer func() {
		l.mu.Lock()
		delete(l.pending, raw)
		l.mu.Unlock()
		if !handed {
			_ = raw.Close()
		}
	}()
	_ = raw.SetDeadline(time.Now().Add(wsHandshakeTimeout))
	conn := raw
	if l.tls != nil {
		tc := tls.Server(raw, l.tls)
		if err := tc.Handshake(); err != nil {
			return
		}
		conn = tc
	}
	head, err := readHead(conn)
	if err != nil {
		return
	}
	if err := checkUpgrade(head); err != nil {
		_, _ = io.WriteString(conn, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n"+
			fmt.Sprintf("Content-Length: %d\r\n\r\n%s\n", len(err.Error())+1, err.Error()))
		return
	}
	_ = raw.SetDeadline(time.Time{})
	c := &replayConn{Conn: conn, head: head, onClose: l.onClose}
	select {
	case l.ready <- c:
		handed = true
	case <-l.done:
	}
}

// readHead reads an HTTP request head, up to and including the blank line, and nothing more
// (the client sends nothing else before our answer).
func readHead(c net.Conn) ([]byte, error) {
	buf := make([]byte, 0, 1024)
	chunk := make([]byte, 1024)
	for {
		n, err := c.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if bytes.Contains(buf, []byte("\r\n\r\n")) {
			return buf, nil
		}
		if len(buf) > wsHandshakeLimit {
			return nil, errors.New("websocket handshake too long")
		}
		if err != nil {
			return nil, err
		}
	}
}

// checkUpgrade accepts a GET upgrading to WebSocket that offers the sip subprotocol (RFC 7118
// §4: a server must not complete a handshake without it).
func checkUpgrade(head []byte) error {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return fmt.Errorf("not an HTTP request: %v", err)
	}
	if req.Method != http.MethodGet || !headerHas(req.Header, "Upgrade", "websocket") ||
		!headerHas(req.Header, "Connection", "upgrade") || req.Header.Get("Sec-WebSocket-Key") == "" {
		return errors.New("not a WebSocket upgrade request")
	}
	if !headerHas(req.Header, "Sec-WebSocket-Protocol", "sip") {
		return errors.New(`the "sip" WebSocket subprotocol is required (RFC 7118)`)
	}
	return nil
}

// headerHas reports whether a comma-separated header lists token (case-insensitive).
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Accept returns the next connection that passed the handshake check.
func (l *wsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting, ends the handshakes in progress and waits for their goroutines.
// Connections already handed to sipgo are sipgo's to close.
func (l *wsListener) Close() error {
	var err error
	l.once.Do(func() {
		l.mu.Lock()
		close(l.done)
		for c := range l.pending {
			_ = c.Close()
		}
		l.mu.Unlock()
		err = l.inner.Close()
		l.wg.Wait()
	})
	return err
}

// Addr is the listening address.
func (l *wsListener) Addr() net.Addr { return l.inner.Addr() }

// replayConn is a checked connection: its first reads return the handshake already read, and
// closing it reports the peer gone.
type replayConn struct {
	net.Conn
	head    []byte
	onClose func(net.Addr)
	once    sync.Once
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(p, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *replayConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.onClose != nil {
			c.onClose(c.Conn.RemoteAddr())
		}
	})
	return err
}

// closeNotifier is a listener whose connections report their closing (a TLS phone's
// contacts go with its connection, as a WebSocket's do).
type closeNotifier struct {
	net.Listener
	onClose func(net.Addr)
}

func (l closeNotifier) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &replayConn{Conn: c, onClose: l.onClose}, nil
}
