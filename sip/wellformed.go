package sip

import (
	"bytes"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// refusal is the answer to a request that no handler should see: the status and what RFC 3261
// wants alongside it (Unsupported with a 420, Accept with a 415).
type refusal struct {
	code    int
	reason  string
	headers []sip.Header
}

// The checks below are the parts of RFC 3261 (§7, §8.2, §16.3) that the RFC 4475 torture
// messages showed sipgo's parser and transaction layer not to enforce: it accepts any protocol
// version and any Request-URI scheme it can read, keeps the first of several Content-Lengths
// or Call-IDs, ignores Require, and drops silently what it cannot parse or file under a
// transaction. They run on the raw bytes and the parsed request before sipgo acts on them.

// checkRequestLine reads a Request-Line the way §7.1 writes it: method SP Request-URI SP
// SIP-Version, exactly one space apart, nothing after. It returns nil for a well-formed line.
func checkRequestLine(line string) *refusal {
	method, rest, ok1 := strings.Cut(line, " ")
	uri, version, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || uri == "" || strings.ContainsAny(version, " \t") ||
		strings.ContainsAny(uri, " \t") {
		return &refusal{code: 400, reason: "Bad Request-Line"}
	}
	if !strings.HasPrefix(version, "SIP/") {
		return &refusal{code: 400, reason: "Bad Request-Line"}
	}
	if version != "SIP/2.0" {
		return &refusal{code: 505, reason: "Version Not Supported"}
	}
	scheme, _, ok := strings.Cut(uri, ":")
	if !ok || !isScheme(scheme) {
		return &refusal{code: 400, reason: "Bad Request-URI"}
	}
	if s := strings.ToLower(scheme); s != "sip" && s != "sips" {
		return &refusal{code: 416, reason: "Unsupported URI Scheme"}
	}
	return nil
}

// isScheme reports whether s is a URI scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func isScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && (c < '0' || c > '9') && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// singleValued are the header fields a request may carry once (§7.3.1, §20), by their long and
// compact names. A second Call-ID or Content-Length leaves the request meaning two things.
var singleValued = map[string]string{
	"call-id": "Call-ID", "i": "Call-ID",
	"cseq": "CSeq",
	"from": "From", "f": "From",
	"to": "To", "t": "To",
	"max-forwards":   "Max-Forwards",
	"content-length": "Content-Length", "l": "Content-Length",
	"content-type": "Content-Type", "c": "Content-Type",
}

// checkHeaderBlock looks at the raw header lines of a message (after the start line, up to the
// blank line) for single-valued fields given twice, which a parser keeping one of them hides.
func checkHeaderBlock(head []byte) *refusal {
	var seen [len(singleValuedOrder)]bool
	var lower [len("content-length")]byte // a name in lower case, on the stack: every line has one
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil
		}
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue // a folded continuation of the previous field
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimRight(name, " \t")
		if len(name) > len(lower) {
			continue // longer than any single-valued name
		}
		for i, c := range name {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower[i] = c
		}
		canon, ok := singleValued[string(lower[:len(name)])] // looked up without a copy
		if !ok {
			continue
		}
		i := indexOf(canon)
		if seen[i] {
			return &refusal{code: 400, reason: "Multiple " + canon + " Values"}
		}
		seen[i] = true
	}
	return nil
}

// singleValuedOrder numbers the canonical names of singleValued for checkHeaderBlock's array.
var singleValuedOrder = [...]string{"Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length", "Content-Type"}

func indexOf(canon string) int {
	for i, n := range singleValuedOrder {
		if n == canon {
			return i
		}
	}
	return 0
}

// maxBody bounds a request's body before anything reads it: the switch reads SDP (a browser's,
// candidates and all, is a few KiB), PIDF, as-feature-event and DTMF bodies, none near it.
const maxBody = 32 << 10

// supportedExtensions are the option tags a request may Require of the switch: Replaces (RFC
// 3891, attended transfer and pickup) and norefersub (RFC 4488, Refer-Sub: false).
var supportedExtensions = map[string]bool{"replaces": true, "norefersub": true}

// checkRequest applies §8.2's checks that come before any method's processing to a parsed
// request that came over transport: the version and Request-URI scheme it speaks, the headers every request needs, a CSeq naming the request's own method, the
// extensions it requires (420), and for an INVITE a body the switch can read (415) and an answer
// it may send (406). The order is §8.2's: headers, extensions, content.
func checkRequest(req *sip.Request, transport string) *refusal {
	if req.SipVersion != "SIP/2.0" {
		return &refusal{code: 505, reason: "Version Not Supported"}
	}
	switch s := strings.ToLower(req.Recipient.Scheme); {
	case s != "sip" && s != "sips":
		return &refusal{code: 416, reason: "Unsupported URI Scheme"}
	case s == "sips" && !strings.EqualFold(transport, "TLS") && !strings.EqualFold(transport, "WSS"):
		// RFC 3261 §26.2.2: a SIPS request travels over TLS, hop by hop; over a plain
		// transport it was already sent in the clear.
		return &refusal{code: 416, reason: "SIPS Request Over An Unsecured Transport"}
	}
	for _, name := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
		if headerNamed(req, name) == nil {
			return &refusal{code: 400, reason: "Missing " + name}
		}
	}
	if cseq := req.CSeq(); cseq == nil || !strings.EqualFold(string(cseq.MethodName), string(req.Method)) {
		return &refusal{code: 400, reason: "CSeq Method Mismatch"}
	}
	if req.Method == sip.REGISTER {
		// §10.3: the To of a REGISTER is the address of record, a SIP or SIPS URI.
		if to := req.To(); to == nil || !strings.EqualFold(to.Address.Scheme, "sip") && !strings.EqualFold(to.Address.Scheme, "sips") {
			return &refusal{code: 400, reason: "Bad Address of Record"}
		}
	}
	if len(req.Body()) > maxBody {
		return &refusal{code: 413, reason: "Request Entity Too Large"}
	}
	if req.IsAck() || req.IsCancel() {
		return nil // §8.2.2.3: Require is not checked on these, and they carry no offer
	}
	var unsupported []string
	for _, name := range []string{"Require", "Proxy-Require"} {
		for _, h := range headersNamed(req, name) {
			for _, tag := range strings.Split(h.Value(), ",") {
				tag = strings.TrimSpace(tag)
				if tag != "" && !supportedExtensions[strings.ToLower(tag)] {
					unsupported = append(unsupported, tag)
				}
			}
		}
	}
	if len(unsupported) > 0 {
		return &refusal{code: 420, reason: "Bad Extension",
			headers: []sip.Header{sip.NewHeader("Unsupported", strings.Join(unsupported, ", "))}}
	}
	if req.Method != sip.INVITE {
		return nil
	}
	if len(req.Body()) > 0 {
		ct := ""
		if h := req.ContentType(); h != nil {
			ct = strings.ToLower(h.Value())
		}
		// SDP inside multipart/mixed (SIP-I carriers add ISUP) is not read: refused the same way,
		// with the Accept that tells the carrier to send bare SDP.
		if !strings.HasPrefix(ct, "application/sdp") {
			return &refusal{code: 415, reason: "Unsupported Media Type",
				headers: []sip.Header{sip.NewHeader("Accept", "application/sdp")}}
		}
	}
	if accepts := headersNamed(req, "Accept"); len(accepts) > 0 && !acceptsSDP(accepts) {
		return &refusal{code: 406, reason: "Not Acceptable"}
	}
	return nil
}

// acceptsSDP reports whether Accept headers admit an SDP answer. An empty Accept admits nothing
// (§20.1), but phones send none at all rather than an empty one.
func acceptsSDP(accepts []sip.Header) bool {
	for _, h := range accepts {
		for _, r := range strings.Split(h.Value(), ",") {
			r, _, _ = strings.Cut(r, ";")
			switch strings.ToLower(strings.TrimSpace(r)) {
			case "application/sdp", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}
