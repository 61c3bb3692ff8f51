package media

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Without epoll (other systems, or a Linux where the set cannot be made) each socket gets a
// goroutine of its own: the relay carries audio both ways the same, and Stop ends those
// goroutines while leaving the sockets open.
func TestRelayWithGoroutineReaders(t *testing.T) {
	checkGoroutines(t)
	p := newPool(t, 4)
	p.readers.failed = true
	a, b, phoneA, phoneB := open(t, p), open(t, p), open(t, p), open(t, p)
	a.SetRemote(rtpAddr(phoneA))
	b.SetRemote(rtpAddr(phoneB))
	r := NewRelay(a, b, 0)
	r.Start(context.Background())
	for i := range 5 {
		seq := uint16(7 + i)
		payload := bytes.Repeat([]byte{byte(i)}, 160)
		send(t, phoneA.rtp.mustConn(), rtpAddr(a), marshalRTP(t, seq, payload))
		if got := recvRTP(t, phoneB.rtp.mustConn()); got.SequenceNumber != seq || !bytes.Equal(got.Payload, payload) {
			t.Fatalf("B got seq %d, want %d", got.SequenceNumber, seq)
		}
		send(t, phoneB.rtp.mustConn(), rtpAddr(b), marshalRTP(t, seq, payload))
		if got := recvRTP(t, phoneA.rtp.mustConn()); got.SequenceNumber != seq {
			t.Fatalf("A got seq %d, want %d", got.SequenceNumber, seq)
		}
	}
	r.Stop()
	if n, ok := r.Sent(b); !ok || n.Seq != 11 {
		t.Errorf("Sent(b) = %+v, %v; want seq 11", n, ok)
	}
	// Stopped: a packet is no longer relayed, and the socket still works for its owner.
	send(t, phoneA.rtp.mustConn(), rtpAddr(a), marshalRTP(t, 99, make([]byte, 160)))
	if _, ok := tryRecv(t, phoneB.rtp.mustConn(), 200*time.Millisecond); ok {
		t.Fatal("a packet was relayed after Stop")
	}
	a.rtp.mustConn().SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 2048)
	if _, _, err := a.rtp.mustConn().ReadFromUDPAddrPort(buf); err != nil {
		t.Fatalf("the endpoint's socket after Stop: %v", err)
	}
}

// A socket holding more datagrams than one read takes (on Linux pollBurst, 32, a recvmmsg)
// gives them all, in order: the level-triggered set reports the rest again. They wait in the
// socket before the relay starts, so the first read finds them all there.
func TestRelayReadsABacklogInOrder(t *testing.T) {
	checkGoroutines(t)
	p := newPool(t, 4)
	a, b, phoneA, phoneB := open(t, p), open(t, p), open(t, p), open(t, p)
	a.SetRemote(rtpAddr(phoneA))
	b.SetRemote(rtpAddr(phoneB))
	const backlog = 101
	for i := range backlog {
		send(t, phoneA.rtp.mustConn(), rtpAddr(a), marshalRTP(t, uint16(100+i), bytes.Repeat([]byte{byte(i)}, 160)))
	}
	r := NewRelay(a, b, 0)
	r.Start(context.Background())
	defer r.Stop()
	for i := range backlog {
		got := recvRTP(t, phoneB.rtp.mustConn())
		if got.SequenceNumber != uint16(100+i) || got.Payload[0] != byte(i) {
			t.Fatalf("packet %d: B got seq %d, want %d", i, got.SequenceNumber, 100+i)
		}
	}
}

// The package builds where there is no epoll: the goroutine readers above are what such a
// system runs, and nothing else checks that the code compiles there.
func TestBuildsWithoutEpoll(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the package for another system")
	}
	goTool, err := exec.LookPath("go") // go test puts its own toolchain first on PATH
	if err != nil {
		t.Skip(err)
	}
	for _, goos := range []string{"darwin"} {
		cmd := exec.Command(goTool, "build", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("GOOS=%s go build: %v\n%s", goos, err, out)
		}
	}
}
