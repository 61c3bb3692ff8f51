package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"
)

// capturedDatagram is one datagram the probe's capture saw (sipCapture).
type capturedDatagram struct {
	at       time.Time
	src, dst int // UDP ports
	payload  []byte
}

// setupShares splits each of the probe's calls, from the datagrams captured on their way, into
// the time the server held it and the rest: from the phone's first INVITE to the challenge, from
// the phone's authenticated INVITE to the INVITE the server sent the callee, and from the callee's
// 200 to the 200 the phone got. The rest is the phone's (answering the challenge) and the
// callee's (ringing and answering). It returns the server's shares in ms, sorted, of the calls
// seen whole, and each of the three parts of them, sorted on its own.
func setupShares(pkts []capturedDatagram, caller int, callees []int) (held []float64, parts [3][]float64) {
	type call struct {
		invite, challenge, authed, forwarded, answered time.Time
		callee                                         int
	}
	var c *call
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for _, p := range pkts {
		method, code, cseq, authed := sipSummary(p.payload)
		switch {
		case p.src == caller && method == "INVITE" && !authed:
			c = &call{invite: p.at}
		case c == nil:
		case p.dst == caller && cseq == "INVITE" && (code == 401 || code == 407) && c.challenge.IsZero():
			c.challenge = p.at
		case p.src == caller && method == "INVITE" && authed && !c.challenge.IsZero() && c.authed.IsZero():
			c.authed = p.at
		case slices.Contains(callees, p.dst) && method == "INVITE" && !c.authed.IsZero() && c.forwarded.IsZero():
			c.forwarded, c.callee = p.at, p.dst
		case p.src == c.callee && c.callee != 0 && cseq == "INVITE" && code == 200 && c.answered.IsZero():
			c.answered = p.at
		case p.dst == caller && cseq == "INVITE" && code == 200 && !c.answered.IsZero():
			ds := [3]time.Duration{c.challenge.Sub(c.invite), c.forwarded.Sub(c.authed), p.at.Sub(c.answered)}
			held = append(held, ms(ds[0]+ds[1]+ds[2]))
			for i, d := range ds {
				parts[i] = append(parts[i], ms(d))
			}
			c = nil
		}
	}
	slices.Sort(held)
	for _, p := range parts {
		slices.Sort(p)
	}
	return held, parts
}

// sipSummary reads a SIP message's request method or response code, its CSeq's method and
// whether it carries credentials.
func sipSummary(msg []byte) (method string, code int, cseq string, authed bool) {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	lines := bytes.Split(head, []byte("\r\n"))
	if first := lines[0]; bytes.HasPrefix(first, []byte("SIP/2.0 ")) && len(first) >= 11 {
		code, _ = strconv.Atoi(string(first[8:11]))
	} else if sp := bytes.IndexByte(first, ' '); sp > 0 {
		method = string(first[:sp])
	}
	for _, l := range lines[1:] {
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		switch string(bytes.ToLower(bytes.TrimSpace(name))) {
		case "cseq":
			if f := bytes.Fields(value); len(f) == 2 {
				cseq = string(f[1])
			}
		case "authorization", "proxy-authorization":
			authed = true
		}
	}
	return method, code, cseq, authed
}

func TestSetupShares(t *testing.T) {
	const caller, callee, server = 4000, 4001, 5060
	t0 := time.Unix(1000, 0)
	at := func(ms float64) time.Time { return t0.Add(time.Duration(ms * float64(time.Millisecond))) }
	req := func(method string, seq int, auth bool) []byte {
		m := method + " sip:x@127.0.0.1 SIP/2.0\r\nCSeq: " + strconv.Itoa(seq) + " " + method + "\r\n"
		if auth {
			m += "Proxy-Authorization: Digest username=\"x\"\r\n"
		}
		return []byte(m + "\r\n")
	}
	res := func(code int, method string) []byte {
		return []byte("SIP/2.0 " + strconv.Itoa(code) + " X\r\ncseq: 1 " + method + "\r\n\r\n")
	}
	pkts := []capturedDatagram{
		{at: at(0), src: caller, dst: server, payload: req("INVITE", 1, false)},
		{at: at(0.5), dst: caller, src: server, payload: res(407, "INVITE")}, // server 0.5
		{at: at(0.6), src: caller, dst: server, payload: req("ACK", 1, false)},
		{at: at(1.5), src: caller, dst: server, payload: req("INVITE", 2, true)},
		{at: at(1.7), dst: caller, src: server, payload: res(100, "INVITE")},
		{at: at(2.0), src: server, dst: callee, payload: req("INVITE", 1, false)}, // server 0.5
		{at: at(2.4), src: callee, dst: server, payload: res(180, "INVITE")},
		{at: at(3.0), src: callee, dst: server, payload: res(200, "INVITE")},
		{at: at(3.0), dst: caller, src: server, payload: res(180, "INVITE")},
		{at: at(4.0), dst: caller, src: server, payload: res(200, "INVITE")}, // server 1.0
		// A call the capture saw only from its challenge on is left out.
		{at: at(50), dst: caller, src: server, payload: res(407, "INVITE")},
		{at: at(51), src: caller, dst: server, payload: req("INVITE", 2, true)},
		{at: at(52), src: server, dst: callee, payload: req("INVITE", 1, false)},
		{at: at(53), src: callee, dst: server, payload: res(200, "INVITE")},
		{at: at(54), dst: caller, src: server, payload: res(200, "INVITE")},
	}
	got, parts := setupShares(pkts, caller, []int{callee})
	if len(got) != 1 || got[0] != 2.0 {
		t.Fatalf("server's shares %v ms, want [2.0]", got)
	}
	if want := [3][]float64{{0.5}, {0.5}, {1.0}}; fmt.Sprint(parts) != fmt.Sprint(want) {
		t.Errorf("parts %v, want %v", parts, want)
	}
}
