package sip

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// NAT says where calls to a registered phone go.
type NAT int

// The NAT modes of sip.nat.
const (
	// NATAuto sends to the Contact unless the REGISTER shows the phone is behind NAT, then to
	// the REGISTER's source (see behindNAT).
	NATAuto NAT = iota
	// NATAlways sends to the REGISTER's source, whatever the Contact says.
	NATAlways
	// NATNever sends to the Contact, whatever the source was.
	NATNever
)

// ParseNAT reads a sip.nat setting: "auto" (or empty), "always" or "never".
func ParseNAT(s string) (NAT, error) {
	switch s {
	case "", "auto":
		return NATAuto, nil
	case "always":
		return NATAlways, nil
	case "never":
		return NATNever, nil
	}
	return NATAuto, fmt.Errorf("want auto, always or never, got %q", s)
}

// behindNAT reports whether a REGISTER arrived through NAT: its Contact host is a private or
// non-routable address that differs from the packet's source, or its top Via was rewritten on
// the way (the host, or for UDP the port, it wrote is not where the packet came from). A third-
// party registration (RFC 3261 §10.2: one host registers another's Contact, as SIPp load tests
// do) shows neither, so its calls go to the Contact. Hostnames cannot be compared and count as
// not rewritten. Over TCP the source port is the connection's, never the Via's, so only hosts
// are compared.
func behindNAT(contact sip.Uri, via *sip.ViaHeader, transport, source string) bool {
	srcHost, srcPortText, err := net.SplitHostPort(source)
	if err != nil {
		return false
	}
	src, err := netip.ParseAddr(srcHost)
	if err != nil {
		return false
	}
	src = src.Unmap()
	srcPort, _ := strconv.Atoi(srcPortText)
	if via != nil {
		if wrote, err := netip.ParseAddr(via.Host); err == nil {
			if wrote.Unmap() != src {
				return true
			}
			port := via.Port
			if port == 0 {
				port = 5060
			}
			if strings.EqualFold(transport, "UDP") && port != srcPort {
				return true
			}
		}
	}
	if c, err := netip.ParseAddr(contact.Host); err == nil {
		c = c.Unmap()
		if nonRoutable(c) && c != src {
			return true
		}
	}
	return false
}

// cgnat is the shared address space of carrier-grade NAT (RFC 6598).
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// nonRoutable reports whether a is an address that cannot be reached from elsewhere: private
// (RFC 1918, RFC 4193), carrier-grade NAT, loopback, link-local or unspecified.
func nonRoutable(a netip.Addr) bool {
	return a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() || cgnat.Contains(a)
}

// destination is where requests to a phone registered by req go, and over which transport:
// the first hop of its Path, else the Contact, or the REGISTER's source when mode says so.
func destination(mode NAT, req *sip.Request, contact sip.Uri, path []sip.Uri) (dest, transport string) {
	transport = strings.ToUpper(req.Transport())
	if len(path) > 0 {
		return hostPort(path[0]), uriTransport(path[0], transport)
	}
	useSource := mode == NATAlways || (mode == NATAuto && behindNAT(contact, req.Via(), transport, req.Source()))
	if useSource {
		return req.Source(), transport
	}
	return hostPort(contact), uriTransport(contact, transport)
}

// hostPort is the host:port a SIP URI points at (RFC 3263 without DNS: the port defaults to
// 5060, 5061 for sips).
func hostPort(u sip.Uri) string {
	port := u.Port
	if port == 0 {
		port = 5060
		if u.Scheme == "sips" {
			port = 5061
		}
	}
	return net.JoinHostPort(u.Host, strconv.Itoa(port))
}

// uriTransport is the transport a URI asks for (its transport parameter), else def.
func uriTransport(u sip.Uri, def string) string {
	if u.UriParams != nil {
		if t, ok := u.UriParams.Get("transport"); ok && t != "" {
			return strings.ToUpper(t)
		}
	}
	return def
}

// pathOf reads the Path headers of a REGISTER (RFC 3327), in order: the proxies a call to the
// phone must pass through, first hop first.
func pathOf(req *sip.Request) ([]sip.Uri, error) {
	var out []sip.Uri
	for _, h := range headersNamed(req, "Path") {
		for _, v := range splitHeaderList(h.Value()) {
			v = strings.TrimSpace(v)
			if i := strings.IndexByte(v, '<'); i >= 0 {
				j := strings.IndexByte(v, '>')
				if j < i {
					return nil, fmt.Errorf("path %q: unterminated <", v)
				}
				v = v[i+1 : j]
			}
			var u sip.Uri
			if err := sip.ParseUri(v, &u); err != nil {
				return nil, fmt.Errorf("path %q: %w", v, err)
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// splitHeaderList splits a comma-separated header value, keeping commas inside <…> and quotes.
func splitHeaderList(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '<':
			if !quoted {
				depth++
			}
		case '>':
			if !quoted && depth > 0 {
				depth--
			}
		case ',':
			if !quoted && depth == 0 {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}
