package sip

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"github.com/switchboard-voip/switchboard/presence"
	"io"
	"strings"
	"time"
)

// featurePackage is as-feature-event, the DND synchronisation Polycom and Yealink desk phones use
// for their DND key (Broadsoft's "feature key synchronisation", CSTA ECMA-323 bodies): the phone
// sends SetDoNotDisturb in a SUBSCRIBE, the switch answers with DoNotDisturbEvent NOTIFYs
// whenever DND changes, from the phone or anywhere else.
type featurePackage struct{ s *Server }

func (featurePackage) contentType() string           { return "application/x-as-feature-event+xml" }
func (featurePackage) defaultExpires() time.Duration { return time.Hour }

// allowed: a phone syncs its own user's DND only.
func (featurePackage) allowed(subscriber, resource string) bool { return subscriber == resource }

func (p featurePackage) body(sub *subscription) []byte {
	st := sub.statusLocked()
	return fmt.Appendf(nil, `<?xml version="1.0" encoding="ISO-8859-1"?>`+"\r\n"+
		`<DoNotDisturbEvent xmlns="http://www.ecma-international.org/standards/ecma-323/csta/ed3">`+
		`<device>%s</device><doNotDisturbOn>%t</doNotDisturbOn></DoNotDisturbEvent>`+"\r\n", esc(sub.resource), st.DND)
}

// setDoNotDisturb is the request body a phone's DND key sends.
type setDoNotDisturb struct {
	XMLName xml.Name `xml:"SetDoNotDisturb"`
	Device  string   `xml:"device"`
	On      string   `xml:"doNotDisturbOn"`
}

// handleBody applies a SetDoNotDisturb from user's phone. Bodies for features Switchboard does
// not have (call forwarding) are accepted and ignored, so the phone keeps its subscription.
func (p featurePackage) handleBody(user string, body []byte) error {
	on, present, err := parseSetDND(body)
	if err != nil || !present {
		return err
	}
	if _, err := p.s.opts.Presence.Set(user, presence.Change{DND: on, Source: presence.SourcePhoneKey, By: user}); err != nil {
		return fmt.Errorf("set DND from DND key: %w", err)
	}
	return nil
}

// parseSetDND reads an as-feature-event body: present reports whether it is a SetDoNotDisturb
// (other features' bodies are not), on what it asks for. On error both are false.
func parseSetDND(body []byte) (on, present bool, err error) {
	if !strings.Contains(string(body), "SetDoNotDisturb") {
		return false, false, nil
	}
	var req setDoNotDisturb
	if err := decodeXML(body, &req); err != nil {
		return false, false, fmt.Errorf("as-feature-event body: %w", err)
	}
	return strings.EqualFold(strings.TrimSpace(req.On), "true"), true, nil
}

// decodeXML reads a phone's XML body. Desk phones declare ISO-8859-1; the elements Switchboard
// reads are ASCII, so any declared charset is read as it is rather than refused.
func decodeXML(body []byte, v any) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	return d.Decode(v)
}
