package sip

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
)

// The fuzzers below feed the parsers of what phones send (PUBLISHed PIDF, as-feature-event
// SUBSCRIBE bodies, SIP INFO DTMF) arbitrary bytes. Their seeds are bodies real phones send, so
// `go test` runs them as ordinary cases; `make fuzz` explores from them.

// Seed PIDF documents, as the phones named publish them.
var pidfSeeds = []string{
	// Linphone (liblinphone 5.x), "Do not disturb".
	`<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:1002@127.0.0.1">
 <tuple id="t1"><status><basic>open</basic></status></tuple>
 <dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities><dm:note>Do not disturb</dm:note></dm:person>
</presence>`,
	// Linphone on start-up: open and online.
	`<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:pidfonline="http://www.linphone.org/xsds/pidfonline.xsd" entity="sip:1002@127.0.0.1">
 <tuple id="ufmxfh"><status><basic>open</basic><pidfonline:online/></status><contact>sip:1002@127.0.0.1:5070</contact><timestamp>2026-01-05T10:00:00Z</timestamp></tuple>
</presence>`,
	// baresip, "pres closed".
	`<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf"
    xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
    xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"
    entity="sip:1001@127.0.0.1">
<tuple id="1234"><status><basic>closed</basic></status></tuple>
<dm:person id="p4159"><rpid:activities><rpid:busy/></rpid:activities></dm:person>
</presence>`,
	// Bria / Zoiper style: on the phone, with a person note.
	`<?xml version='1.0' encoding='UTF-8'?><presence xmlns='urn:ietf:params:xml:ns:pidf' xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' entity='sip:1003@example.com'><tuple id='c'><status><basic>open</basic></status><note>Available</note></tuple><dm:person id='p'><rpid:activities><rpid:on-the-phone/></rpid:activities><dm:note>DND</dm:note></dm:person></presence>`,
	// A desk phone declaring ISO-8859-1, with a top-level note.
	`<?xml version="1.0" encoding="ISO-8859-1"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:1004@pbx"><tuple id="1"><status><basic>open</basic></status></tuple><note>DoNotDisturb</note></presence>`,
	// No tuple status at all.
	`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:1005@pbx"/>`,
	// Garbage a test already sends.
	`<presence><not-closed`,
	``,
}

// FuzzDNDFromPIDF: dndFromPIDF never panics, is deterministic, claims DND only when it knows,
// and knows nothing when it fails.
func FuzzDNDFromPIDF(f *testing.F) {
	for _, s := range pidfSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		on, known, err := dndFromPIDF(body)
		if err != nil && (on || known) {
			t.Fatalf("error %v with on=%t known=%t", err, on, known)
		}
		if on && !known {
			t.Fatalf("on without known for %q", body)
		}
		on2, known2, err2 := dndFromPIDF(body)
		if on2 != on || known2 != known || (err2 == nil) != (err == nil) {
			t.Fatalf("two reads differ for %q: (%t %t %v) then (%t %t %v)", body, on, known, err, on2, known2, err2)
		}
	})
}

// FuzzPIDFRoundTrip builds a PIDF from a basic status, an RPID activity and a note (escaped as a
// phone would) and checks dndFromPIDF reads back what was written.
func FuzzPIDFRoundTrip(f *testing.F) {
	f.Add("open", "busy", "Do not disturb")
	f.Add("closed", "", "")
	f.Add("open", "on-the-phone", "Online")
	f.Add(" Open ", "do-not-disturb", "")
	f.Add("", "", "dnd")
	f.Add("unknown", "away", "<&>")
	f.Fuzz(func(t *testing.T, basic, activity, note string) {
		if !xmlSafe(basic) || !xmlSafe(note) || !xmlName(activity) {
			t.Skip()
		}
		var b bytes.Buffer
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"><tuple id="t"><status><basic>`)
		_ = xml.EscapeText(&b, []byte(basic))
		b.WriteString(`</basic></status></tuple><dm:person id="p">`)
		if activity != "" {
			b.WriteString(`<rpid:activities><rpid:` + activity + `/></rpid:activities>`)
		}
		b.WriteString(`<dm:note>`)
		_ = xml.EscapeText(&b, []byte(note))
		b.WriteString(`</dm:note></dm:person></presence>`)

		on, known, err := dndFromPIDF(b.Bytes())
		if err != nil {
			t.Fatalf("well-formed PIDF refused: %v\n%s", err, b.Bytes())
		}
		lowNote := strings.ToLower(note)
		wantOn := strings.ToLower(strings.TrimSpace(basic)) == "closed" ||
			strings.EqualFold(activity, "busy") || strings.EqualFold(activity, "do-not-disturb") ||
			strings.Contains(lowNote, "do not disturb") || strings.Contains(lowNote, "donotdisturb") ||
			strings.TrimSpace(lowNote) == "dnd"
		wantKnown := wantOn || strings.ToLower(strings.TrimSpace(basic)) == "open"
		if on != wantOn || known != wantKnown {
			t.Fatalf("read on=%t known=%t, want on=%t known=%t\n%s", on, known, wantOn, wantKnown, b.Bytes())
		}
	})
}

// Seed as-feature-event bodies: Polycom and Yealink DND keys, and a forwarding body they also send.
var featureSeeds = []string{
	`<?xml version="1.0" encoding="ISO-8859-1"?><SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><device>1002</device><doNotDisturbOn>false</doNotDisturbOn></SetDoNotDisturb>`,
	`<?xml version="1.0" encoding="ISO-8859-1"?>
<SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">
  <device>1001</device>
  <doNotDisturbOn>true</doNotDisturbOn>
</SetDoNotDisturb>`,
	`<?xml version="1.0" encoding="UTF-8"?><SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><device>1003</device><doNotDisturbOn> TRUE </doNotDisturbOn></SetDoNotDisturb>`,
	`<?xml version="1.0" encoding="ISO-8859-1"?><SetForwarding xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><device>1002</device><forwardingType>forwardImmediate</forwardingType><forwardStatus>true</forwardStatus><forwardTo>1003</forwardTo></SetForwarding>`,
	`<SetDoNotDisturb><doNotDisturbOn>true`,
	`<Other>SetDoNotDisturb</Other>`,
	``,
}

// FuzzParseSetDND: parseSetDND never panics, says on only for a SetDoNotDisturb it read, and
// reads back what a SetDoNotDisturb built from its fields says.
func FuzzParseSetDND(f *testing.F) {
	for _, s := range featureSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		on, present, err := parseSetDND(body)
		if err != nil && (on || present) {
			t.Fatalf("error %v with on=%t present=%t", err, on, present)
		}
		if on && !present {
			t.Fatalf("on without a SetDoNotDisturb in %q", body)
		}
		if present && !bytes.Contains(body, []byte("SetDoNotDisturb")) {
			t.Fatalf("present for a body without SetDoNotDisturb: %q", body)
		}
		if !present || !utf8Text(body) {
			return
		}
		// Round trip: the same request written out afresh reads the same.
		var req setDoNotDisturb
		if err := decodeXML(body, &req); err != nil {
			t.Fatalf("parseSetDND read what decodeXML refuses: %v", err)
		}
		out, err := xml.Marshal(req)
		if err != nil {
			t.Fatalf("marshal %+v: %v", req, err)
		}
		on2, present2, err := parseSetDND(out)
		if err != nil || !present2 || on2 != on {
			t.Fatalf("round trip of %q via %q: on=%t present=%t err=%v, want on=%t", body, out, on2, present2, err, on)
		}
	})
}

// FuzzDTMFFromInfo: dtmfFromInfo never panics, returns only DTMF digits (upper case), and the
// digit it read reads back the same from the body of either content type.
func FuzzDTMFFromInfo(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf-relay", []byte("Signal=#\r\nDuration=160\r\n"))
	f.Add("Application/DTMF-Relay", []byte("Signal= *\nDuration= 250\n"))
	f.Add("application/dtmf-relay", []byte("signal=a\r\nduration=100"))
	f.Add("application/dtmf-relay", []byte("Duration=160\r\nSignal=11\r\n"))
	f.Add("application/dtmf", []byte("7"))
	f.Add("application/dtmf", []byte(" D \r\n"))
	f.Add("text/plain", []byte("9"))
	f.Add("", []byte(""))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		d, ok := dtmfFromInfo(contentType, body)
		if !ok {
			if d != 0 {
				t.Fatalf("not ok but digit %q", d)
			}
			return
		}
		if !strings.ContainsRune("0123456789*#ABCD", rune(d)) {
			t.Fatalf("digit %q from %q %q", d, contentType, body)
		}
		relay := "Signal=" + string(d) + "\r\nDuration=160\r\n"
		if got, ok := dtmfFromInfo("application/dtmf-relay", []byte(relay)); !ok || got != d {
			t.Fatalf("relay body %q read %q %t, want %q", relay, got, ok, d)
		}
		if got, ok := dtmfFromInfo("application/dtmf", []byte{d}); !ok || got != d {
			t.Fatalf("dtmf body %q read %q %t, want %q", d, got, ok, d)
		}
	})
}

// xmlSafe reports whether s is text xml.EscapeText can write and a decoder reads back.
func xmlSafe(s string) bool {
	if !utf8Text([]byte(s)) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

// xmlName reports whether s can stand as an unprefixed element name (ASCII letters, digits and
// '-', starting with a letter), or is empty.
func xmlName(s string) bool {
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '-'):
		default:
			return false
		}
	}
	return true
}

func utf8Text(b []byte) bool { return bytes.Equal([]byte(strings.ToValidUTF8(string(b), "\uFFFD")), b) }
