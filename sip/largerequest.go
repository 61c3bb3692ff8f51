package sip

import (
	"context"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// udpRequestMax is RFC 3261 §18.1.1's bound: a request longer than this is not sent over UDP
// (with the path MTU unknown, 1300 bytes), but over a congestion-controlled transport.
const udpRequestMax = 1300

// tcpTry bounds the attempt to reach a phone over TCP before a large request goes over UDP
// after all: a phone that takes no TCP refuses at once, one behind NAT never answers.
const tcpTry = 2 * time.Second

// transact starts the client transaction of req and returns the request as sent. A request for
// UDP longer than udpRequestMax goes over TCP to the same address when the switch has a TCP
// listener (its Via and Contact say so, §18.1.1); when the phone takes no TCP connection it goes
// over UDP as it was, fragmented by IP, rather than not at all.
func (s *Server) transact(ctx context.Context, req *sip.Request) (sip.ClientTransaction, *sip.Request, error) {
	if strings.EqualFold(req.Transport(), "UDP") {
		if tp, ok := s.transports["TCP"]; ok && len(req.String()) > udpRequestMax {
			big := req.Clone()
			big.SetTransport(tp.name)
			big.Laddr = sip.Addr{}
			if v := big.Via(); v != nil {
				v.Transport, v.Host, v.Port = tp.name, tp.host, tp.port
			}
			if c := big.Contact(); c != nil {
				c.Address = tp.contact().Address
			}
			dial, cancel := context.WithTimeout(ctx, tcpTry)
			tx, err := s.client.TransactionRequest(dial, big)
			cancel()
			if err == nil {
				return tx, big, nil
			}
		}
	}
	tx, err := s.client.TransactionRequest(ctx, req)
	return tx, req, err
}
