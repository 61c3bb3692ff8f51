package sip_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// dropped stands for "no response" in a torture case's list of acceptable answers.
const dropped = 0

// tortureCases are RFC 4475's 49 messages (testdata/rfc4475, the RFC's bit-exact files) with
// the answers the RFC allows. Where it allows a liberal reading as well as a 400, both are
// listed; "processed" is what the switch answers that request when it is well formed: 401 to a
// REGISTER and 407 to an INVITE without credentials, 200 to an OPTIONS it answers itself.
var tortureCases = []struct {
	file    string
	section string
	want    []int
}{
	// 3.1.1 Valid messages: processed as any other.
	{"wsinv", "3.1.1.1 short tortuous INVITE", []int{407}},
	{"intmeth", "3.1.1.2 wide range of valid characters (unknown method)", []int{405, 501}},
	{"esc01", "3.1.1.3 valid use of the % escaping mechanism", []int{407}},
	{"escnull", "3.1.1.4 escaped nulls in URIs", []int{401}},
	{"esc02", "3.1.1.5 use of % when it is not an escape (unknown method)", []int{405, 501}},
	{"lwsdisp", "3.1.1.6 message with no LWS between display name and <", []int{200}},
	{"longreq", "3.1.1.7 long values in header fields", []int{407}},
	{"dblreq", "3.1.1.8 extra trailing octets in a UDP datagram", []int{401}},
	{"semiuri", "3.1.1.9 semicolon-separated parameters in URI user part", []int{200}},
	{"transports", "3.1.1.10 varied and unknown transport types", []int{200}},
	{"mpart01", "3.1.1.11 multipart MIME message (MESSAGE: not implemented)", []int{405, 501}},
	{"unreason", "3.1.1.12 unusual reason phrase (a response nobody asked for)", []int{dropped}},
	{"noreason", "3.1.1.13 empty reason phrase (a response nobody asked for)", []int{dropped}},
	// 3.1.2 Invalid messages.
	{"badinv01", "3.1.2.1 extraneous header field separators", []int{400}},
	{"clerr", "3.1.2.2 Content-Length larger than message", []int{400}},
	{"ncl", "3.1.2.3 negative Content-Length", []int{400}},
	{"scalar02", "3.1.2.4 request scalar fields with overlarge values", []int{400}},
	{"scalarlg", "3.1.2.5 response scalar fields with overlarge values", []int{dropped}},
	{"quotbal", "3.1.2.6 unterminated quoted string in display name", []int{400}},
	{"ltgtruri", "3.1.2.7 <> enclosing Request-URI", []int{400}},
	{"lwsruri", "3.1.2.8 malformed SIP Request-URI (embedded LWS)", []int{400}},
	{"lwsstart", "3.1.2.9 multiple SP separating Request-Line elements", []int{400}},
	{"trws", "3.1.2.10 SP characters at end of Request-Line", []int{400}},
	{"escruri", "3.1.2.11 escaped headers in SIP Request-URI", []int{400, 407}},
	{"baddate", "3.1.2.12 invalid time zone in Date header field", []int{400, 407}},
	{"regbadct", "3.1.2.13 failure to enclose name-addr URI in <>", []int{400, 401}},
	{"badaspec", "3.1.2.14 spaces within addr-spec", []int{400, 200}},
	{"baddn", "3.1.2.15 non-token characters in display name", []int{400, 200}},
	{"badvers", "3.1.2.16 unknown protocol version", []int{505}},
	{"mismatch01", "3.1.2.17 start line and CSeq method mismatch", []int{400}},
	{"mismatch02", "3.1.2.18 unknown method with CSeq method mismatch", []int{400, 501}},
	{"bigcode", "3.1.2.19 overlarge response code", []int{dropped}},
	// 3.2 Transaction layer semantics.
	{"badbranch", "3.2.1 missing transaction identifier", []int{400, 200}},
	// 3.3 Application layer semantics.
	{"insuf", "3.3.1 missing required header fields", []int{400}},
	{"unkscm", "3.3.2 Request-URI with unknown scheme", []int{416}},
	{"novelsc", "3.3.3 Request-URI with known but atypical scheme", []int{416}},
	{"unksm2", "3.3.4 unknown URI schemes in header fields (REGISTER)", []int{400}},
	{"bext01", "3.3.5 Proxy-Require and Require", []int{420}},
	{"invut", "3.3.6 unknown Content-Type", []int{415}},
	{"regaut01", "3.3.7 unknown authorization scheme", []int{401}},
	{"multi01", "3.3.8 multiple values in single value required fields", []int{400}},
	{"mcl01", "3.3.9 multiple Content-Length values", []int{400}},
	{"bcast", "3.3.10 200 OK response with broadcast Via", []int{dropped}},
	{"zeromf", "3.3.11 Max-Forwards of zero", []int{200, 483}},
	{"cparam01", "3.3.12 REGISTER with a Contact header parameter", []int{401}},
	{"cparam02", "3.3.13 REGISTER with a url parameter", []int{401}},
	{"regescrt", "3.3.14 REGISTER with a URL escaped header", []int{401}},
	{"sdp01", "3.3.15 unacceptable Accept offering", []int{406}},
	// 3.4 Backward compatibility.
	{"inv2543", "3.4.1 INVITE with RFC 2543 syntax", []int{407, 400}},
}

// TestRFC4475Torture sends each of RFC 4475's torture messages to the switch over UDP and checks
// the answer against what the RFC says; after each, the switch must still answer an OPTIONS.
// With SWITCHBOARD_TORTURE_TABLE=1 it prints the expected-vs-got table for the closing note.
func TestRFC4475Torture(t *testing.T) {
	if len(tortureCases) != 49 {
		t.Fatalf("%d torture cases, RFC 4475 has 49", len(tortureCases))
	}
	sw := startSwitch(t)
	// Most of the messages' Vias carry no rport, so answers go to the source address at the
	// Via's port: 5060 (RFC 3261 §18.2.2). The test listens there, on a loopback address of its
	// own (the process ID picks it) so that a switch on 127.0.0.1:5060 or a parallel run is
	// not in the way.
	pid := os.Getpid()
	local := &net.UDPAddr{IP: net.IPv4(127, 77, byte(pid>>8), byte(pid)|1), Port: 5060}
	remote, err := net.ResolveUDPAddr("udp", sw.srv.Addr("udp"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.DialUDP("udp", local, remote)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	answers := collectAnswers(t, conn)
	ids := make([]string, len(tortureCases))
	for i, tc := range tortureCases {
		msg, err := os.ReadFile(filepath.Join("testdata", "rfc4475", tc.file+".dat"))
		if err != nil {
			t.Fatal(err)
		}
		msg = uniqueBranch(msg, i)
		ids[i] = answerID(msg)
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(tc.want, dropped) {
			answers.await(t, ids[i], tc.file)
		}
		// The switch must keep serving; and answers to one datagram may overtake answers to
		// an earlier one, never by two round trips more.
		answers.probe(t, conn, i)
		answers.probe(t, conn, i)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| file | RFC 4475 | expected | got |\n|---|---|---|---|\n")
	for i, tc := range tortureCases {
		got := answers.final(ids[i])
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", tc.file, tc.section, codes(tc.want), codes(got))
		if len(got) > 1 {
			t.Errorf("%s (%s): %d final answers %v, want one", tc.file, tc.section, len(got), got)
			continue
		}
		answer := dropped
		if len(got) == 1 {
			answer = got[0]
		}
		if !slices.Contains(tc.want, answer) {
			t.Errorf("%s (%s): got %s, want %s", tc.file, tc.section, codes(got), codes(tc.want))
		}
	}
	if os.Getenv("SWITCHBOARD_TORTURE_TABLE") != "" {
		fmt.Print(table.String())
	}
}

// answers are the final responses the switch sent the test, by the id of what they answer.
type answers struct {
	mu   sync.Mutex
	by   map[string]map[string]int // id → response text → status (a retransmission is the same text)
	came chan struct{}             // a response arrived
}

// collectAnswers reads every response on conn until the test ends.
func collectAnswers(t *testing.T, conn *net.UDPConn) *answers {
	a := &answers{by: make(map[string]map[string]int), came: make(chan struct{}, 1)}
	done := make(chan struct{})
	t.Cleanup(func() { _ = conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			res := string(buf[:n])
			fields := strings.Fields(statusLine(res) + " x 0")
			code, _ := strconv.Atoi(fields[1])
			if code < 200 {
				continue
			}
			if !strings.HasPrefix(res, "SIP/2.0 ") {
				t.Errorf("an answer in another version: %q", statusLine(res))
			}
			id := answerID(buf[:n])
			a.mu.Lock()
			if a.by[id] == nil {
				a.by[id] = make(map[string]int)
			}
			a.by[id][res] = code
			a.mu.Unlock()
			select {
			case a.came <- struct{}{}:
			default:
			}
		}
	}()
	return a
}

// final lists the distinct final answers to id.
func (a *answers) final(id string) []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	var got []int
	for _, code := range a.by[id] {
		got = append(got, code)
	}
	slices.Sort(got)
	return got
}

// await waits for a final answer to id.
func (a *answers) await(t *testing.T, id, name string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(a.final(id)) == 0 {
		select {
		case <-a.came:
		case <-deadline:
			return // the check after the run reports it
		}
	}
}

// probe sends an OPTIONS and waits for its 200: the switch is still serving.
func (a *answers) probe(t *testing.T, conn *net.UDPConn, i int) {
	t.Helper()
	req := rawRequest("OPTIONS", "UDP", conn.LocalAddr().String(), "", "")
	id := answerID([]byte(req))
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for {
		if got := a.final(id); len(got) > 0 {
			if got[0] != 200 {
				t.Fatalf("probe after message %d (%s): %v", i, tortureCases[i].file, got)
			}
			return
		}
		select {
		case <-a.came:
		case <-deadline:
			t.Fatalf("the switch stopped answering after message %d (%s)", i, tortureCases[i].file)
		}
	}
}

// answerID is what ties an answer to its request: the top Via's branch, or the Call-ID when
// there is none (an RFC 2543 message; the switch's answer then carries a branch of its own).
// A retransmitted answer to an earlier message is not this one's.
func answerID(msg []byte) string {
	if m := branchRE.FindStringSubmatch(headerValue(string(msg), "Via", "v")); m != nil &&
		!strings.HasPrefix(m[1], "z9hG4bK-2543-") {
		return m[1]
	}
	return headerValue(string(msg), "Call-ID", "i")
}

func codes(c []int) string {
	if len(c) == 0 {
		return "dropped"
	}
	s := make([]string, len(c))
	for i, v := range c {
		if v == dropped {
			s[i] = "dropped"
		} else {
			s[i] = strconv.Itoa(v)
		}
	}
	return strings.Join(s, " or ")
}

// uniqueBranch makes the first RFC 3261 branch of msg its own: the RFC's messages are
// separate tests that reuse branches (z9hG4bKkdjuw in a dozen), and sent one after another to
// one switch they would be taken for retransmissions of each other (§17.2.3). A branch that is
// the bare magic cookie (badbranch) is what that message tests, and is left alone.
func uniqueBranch(msg []byte, i int) []byte {
	m := branchRE.FindSubmatchIndex(msg)
	if m == nil {
		return msg
	}
	out := append([]byte{}, msg[:m[3]]...)
	out = append(out, fmt.Sprintf(".t%d", i)...)
	return append(out, msg[m[3]:]...)
}

var branchRE = regexp.MustCompile(`branch\s*=\s*(z9hG4bK[^;,\s]+)`)

// headerValue is the value of the first header line named name (or its compact form), "" if none.
func headerValue(msg, name, compact string) string {
	head, _, _ := strings.Cut(msg, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n")[1:] {
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if ok && (strings.EqualFold(k, name) || strings.EqualFold(k, compact)) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
