//go:build !linux

package media

// add starts reading u into sink; the handle's remove stops it and waits until sink is
// no longer called. Without epoll every socket gets a goroutine.
func (p *poller) add(u *udpSocket, sink packetSink) pollHandle {
	return startGoReader(u, sink)
}

// Close stops the poller; there is nothing to stop without epoll.
func (p *poller) Close() error { return nil }

// pollWorker is Linux's epoll reader (poller_linux.go); elsewhere the poller has none.
type pollWorker struct{}
