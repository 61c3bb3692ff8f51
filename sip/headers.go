package sip

import (
	"strings"

	"github.com/emiago/sipgo/sip"
)

// headerNamed is req's first header called name in any case, or nil: sipgo's GetHeader without
// its allocations. sipgo lowers the name looked for and every header name it compares it with,
// and knows the lower forms of only the commonest by heart (Via, From, To…), so looking for
// Proxy-Authorization in an INVITE made a string for that name and one for each User-Agent,
// Allow or Supported on the way. The switch looks for a dozen such names in every INVITE:
// with SIPp's calls those strings were 7 % of what the switch allocated.
func headerNamed(req *sip.Request, name string) sip.Header {
	for _, h := range req.Headers() {
		if strings.EqualFold(h.Name(), name) {
			return h
		}
	}
	return nil
}

// headersNamed is every header of req called name in any case, in order (nil if none): sipgo's
// GetHeaders without its allocations (headerNamed).
func headersNamed(req *sip.Request, name string) []sip.Header {
	var hs []sip.Header
	for _, h := range req.Headers() {
		if strings.EqualFold(h.Name(), name) {
			hs = append(hs, h)
		}
	}
	return hs
}
