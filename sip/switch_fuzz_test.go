package sip_test

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// FuzzSwitchSurvives sends each input to a running switch's UDP port, then an OPTIONS: the
// switch answers it and no handler panicked. This reaches the handlers behind the gate.
func FuzzSwitchSurvives(f *testing.F) {
	sbsip.AddTortureSeeds(f)
	f.Add([]byte(rawRequest("INVITE", "UDP", "127.0.0.1:9", "", "Content-Type: application/sdp\r\n")))
	f.Add([]byte(rawRequest("SUBSCRIBE", "UDP", "127.0.0.1:9", "", "Event: presence\r\n")))
	core, logs := observer.New(zap.ErrorLevel)
	sw := startSwitch(f, func(o *switchOpts) { o.Logger = zap.New(core) })
	conn, err := net.Dial("udp", sw.srv.Addr("udp"))
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := conn.Write(data); err != nil {
			return // too big for a datagram
		}
		probe := "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + conn.LocalAddr().String() +
			";rport;branch=z9hG4bK" + sip.GenerateTagN(12) + "\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n" +
			"To: <sip:127.0.0.1>\r\nCall-ID: probe-" + sip.GenerateTagN(12) + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
		id := probe[strings.Index(probe, "Call-ID: ")+9 : strings.Index(probe, "\r\nCSeq")]
		if _, err := conn.Write([]byte(probe)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65536)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			k, err := conn.Read(buf)
			if err != nil {
				t.Fatalf("no answer to OPTIONS after %q: %v", data, err)
			}
			if bytes.Contains(buf[:k], []byte(id)) {
				break
			}
		}
		if p := logs.FilterMessage("handler panic").Len(); p > 0 {
			t.Fatalf("a handler panicked on %q", data)
		}
	})
}
