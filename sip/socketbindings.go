package sip

import (
	"net"
	"strings"

	"go.uber.org/zap"
)

// connectionBound reports whether phones registered over a transport are called over their
// registration's connection: WebSocket and TLS.
func connectionBound(transport string) bool {
	return isWebSocket(transport) || strings.EqualFold(transport, "TLS")
}

// bindSocket remembers that aor's contact was registered over the WebSocket whose remote
// address is source.
func (s *Server) bindSocket(source, aor, contact string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.socketBindings[source]
	if m == nil {
		m = make(map[[2]string]struct{})
		s.socketBindings[source] = m
	}
	m[[2]string{aor, contact}] = struct{}{}
}

// socketClosed drops the contacts registered over a WebSocket that closed: nothing can reach
// those phones any more (a closed tab), and their users show as having no phone at once.
func (s *Server) socketClosed(remote net.Addr) {
	source := remote.String()
	s.mu.Lock()
	m := s.socketBindings[source]
	delete(s.socketBindings, source)
	s.mu.Unlock()
	for k := range m {
		aor, contact := k[0], k[1]
		for _, b := range s.opts.Locations.Lookup(aor) {
			if b.Contact == contact && b.Source == source {
				s.opts.Locations.Remove(aor, contact)
				s.log.Info("contact unregistered: its WebSocket closed", zap.String("ext", aor),
					zap.String("contact", contact))
			}
		}
	}
}
