package sip

import (
	"strings"
	"testing"
)

// The parsers of what phones send: whatever the bytes, they return (no panic, no hang) and
// their answers are consistent.

func FuzzDNDFromPIDF(f *testing.F) {
	for _, seed := range []string{
		// Linphone's PUBLISH when the user picks "Do not disturb".
		`<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:1002@127.0.0.1"><tuple id="t1"><status><basic>open</basic></status></tuple><dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities></dm:person></presence>`,
		// baresip's "away"/"open" documents.
		`<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:1002@h"><tuple id="x"><status><basic>closed</basic></status></tuple></presence>`,
		`<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="x"><status><basic>open</basic></status><note>Online</note></tuple></presence>`,
		`<presence><note>Do Not Disturb</note></presence>`,
		`<presence xmlns:r="urn:ietf:params:xml:ns:pidf:rpid"><person><r:activities><r:on-the-phone/></r:activities></person></presence>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><presence/>`,
		``, `<`, `<presence><tuple>`, "\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		on, known, err := dndFromPIDF(body)
		if err != nil && (on || known) {
			t.Fatalf("an unreadable PIDF decided DND on=%t known=%t: %v", on, known, err)
		}
		if on && !known {
			t.Fatal("DND on but not known")
		}
	})
}

func FuzzSetDND(f *testing.F) {
	for _, seed := range []string{
		// Polycom and Yealink DND keys (ECMA-323).
		`<?xml version="1.0" encoding="ISO-8859-1"?><SetDoNotDisturb xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3"><device>1002</device><doNotDisturbOn>true</doNotDisturbOn></SetDoNotDisturb>`,
		`<SetDoNotDisturb><device>1002</device><doNotDisturbOn>false</doNotDisturbOn></SetDoNotDisturb>`,
		`<SetForwarding><device>1002</device><activateForward>true</activateForward></SetForwarding>`,
		`<SetDoNotDisturb><doNotDisturbOn> TRUE </doNotDisturbOn>`,
		``, `SetDoNotDisturb`, "<SetDoNotDisturb>\x00</SetDoNotDisturb>",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		on, present, err := parseSetDND(body)
		if err != nil && (on || present) {
			t.Fatalf("an unreadable body set DND on=%t present=%t: %v", on, present, err)
		}
		if present && !strings.Contains(string(body), "SetDoNotDisturb") {
			t.Fatal("a body without SetDoNotDisturb was read as one")
		}
		if on && !present {
			t.Fatal("DND on from a body that sets none")
		}
	})
}

func FuzzDTMFFromInfo(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"},
		{"application/dtmf-relay", "Signal= #\nDuration=100"},
		{"Application/DTMF-Relay", "signal=*"},
		{"application/dtmf", "7"},
		{"application/dtmf", "d"},
		{"application/dtmf-relay", "Duration=160"},
		{"text/plain", "55"},
		{"", ""},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		d, ok := dtmfFromInfo(contentType, body)
		if !ok {
			if d != 0 {
				t.Fatalf("no digit, but returned %q", d)
			}
			return
		}
		if !strings.ContainsRune("0123456789*#ABCD", rune(d)) {
			t.Fatalf("digit %q is not a DTMF key", d)
		}
	})
}
