package sip_test

import (
	"encoding/xml"
	"strings"
	"testing"

	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// FuzzDialogInfo: what a caller controls (its Call-ID, tags, display name and number) goes into
// the dialog-info documents desk phones read for their BLF keys and pickup. Whatever those hold,
// the document is well-formed XML with one dialog whose fields read back as they were given
// (characters XML cannot carry become U+FFFD, as encoding/xml writes them): a caller cannot
// inject markup or break a colleague's BLF key.
func FuzzDialogInfo(f *testing.F) {
	f.Add("a84b4c76e66710@pc33.example.com", "1928301774", "as6151", "Bob", "1002")
	f.Add(`x"/><dialog id="evil`, "<tag>", "&amp;", `"Mallory" <sip:1@x>`, "+1 (555) 010-0000")
	f.Add("\x00\r\n\t", "\xff\xfe", "]]>", "<!--", "1001&")
	f.Fuzz(func(t *testing.T, id, localTag, remoteTag, name, remote string) {
		doc := sbsip.EarlyDialogInfo("1001", "pbx.example", 7, id, localTag, remoteTag, name, remote)
		var got dialogInfo
		if err := xml.Unmarshal(doc, &got); err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, doc)
		}
		if got.XMLName != (xml.Name{Space: "urn:ietf:params:xml:ns:dialog-info", Local: "dialog-info"}) {
			t.Fatalf("root %v, want dialog-info in its namespace:\n%s", got.XMLName, doc)
		}
		if got.Version != 7 || len(got.Dialogs) != 1 {
			t.Fatalf("version %d, %d dialogs, want 7 and 1:\n%s", got.Version, len(got.Dialogs), doc)
		}
		d := got.Dialogs[0]
		want := func(field, got, gave string) {
			if w := xmlText(gave); got != w {
				t.Errorf("%s read back %q, want %q:\n%s", field, got, w, doc)
			}
		}
		want("id", d.ID, id)
		want("call-id", d.CallID, id)
		if localTag != "" {
			want("local-tag", d.LocalTag, localTag)
			want("remote-tag", d.RemoteTag, remoteTag)
		}
		if d.State != "early" {
			t.Errorf("state %q, want early", d.State)
		}
		if remote != "" {
			want("remote identity", d.Remote.Identity.URI, "sip:"+remote+"@pbx.example")
			want("display", d.Remote.Identity.Display, name)
		}
	})
}

// xmlText is s as XML carries it: encoding/xml writes a character XML 1.0 cannot hold (and
// invalid UTF-8) as U+FFFD; tabs and line ends are written as character references, so they
// read back as they were.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF {
			return r
		}
		return '\uFFFD'
	}, s)
}
