package media

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// audioLine returns the output's audio m= line with its attributes.
func audioLine(t *testing.T, sd *sdp.SessionDescription) *sdp.MediaDescription {
	t.Helper()
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			return m
		}
	}
	t.Fatal("no enabled audio line")
	return nil
}

func hasAttr(m *sdp.MediaDescription, key, value string) bool {
	for _, a := range m.Attributes {
		if a.Key == key && a.Value == value {
			return true
		}
	}
	return false
}

const pcmaFirstOffer = `
v=0
o=- 7 7 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=video 6002 RTP/AVP 96
a=rtpmap:96 H264/90000
m=audio 6000 RTP/AVP 18 8 0 96
a=rtpmap:18 G729/8000
a=rtpmap:96 telephone-event/8000
a=fmtp:96 0-15
a=sendonly
`

func TestAnswerOffer(t *testing.T) {
	tests := map[string]struct {
		offer   string
		want    Session
		formats []string
		dir     string
	}{
		"PCMA offered first, telephone-event on 96": {
			offer:   pcmaFirstOffer,
			want:    Session{PT: 8, Codec: PCMA, DTMF: 96, Remote: netip.MustParseAddrPort("10.0.0.2:6000")},
			formats: []string{"8", "96"},
			dir:     "recvonly",
		},
		"linphone: opus skipped, PCMU, 101 at 8 kHz": {
			offer:   linphoneOffer,
			want:    Session{PT: 0, Codec: PCMU, DTMF: 101, Remote: netip.MustParseAddrPort("192.168.1.10:7078")},
			formats: []string{"0", "101"},
			dir:     "sendrecv",
		},
		"SIPp: PCMU alone": {
			offer:   sippOffer,
			want:    Session{PT: 0, Codec: PCMU, Remote: netip.MustParseAddrPort("10.0.0.2:6000")},
			formats: []string{"0"},
			dir:     "sendrecv",
		},
		"old-style hold": {
			offer:   oldHoldOffer,
			want:    Session{PT: 0, Codec: PCMU, Remote: netip.MustParseAddrPort("0.0.0.0:6000")},
			formats: []string{"0"},
			dir:     "recvonly",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := NewOrigin()
			answer, s, err := AnswerOffer(crlf(tc.offer), switchAddr, switchPort, o)
			if err != nil {
				t.Fatal(err)
			}
			if s != tc.want {
				t.Errorf("session %+v, want %+v", s, tc.want)
			}
			sd := checkRewritten(t, answer)
			m := audioLine(t, sd)
			if m.MediaName.Port.Value != switchPort || !slices.Equal(m.MediaName.Formats, tc.formats) {
				t.Errorf("m= port %d formats %v, want %d %v", m.MediaName.Port.Value, m.MediaName.Formats, switchPort, tc.formats)
			}
			if _, ok := m.Attribute(tc.dir); !ok {
				t.Errorf("answer lacks a=%s:\n%s", tc.dir, answer)
			}
			if s.DTMF != 0 && !hasAttr(m, "rtpmap", tc.formats[1]+" telephone-event/8000") {
				t.Errorf("answer lacks the telephone-event rtpmap:\n%s", answer)
			}
			if got, ok := SessionOf(answer); ok != nil || got.PT != s.PT || got.Codec != s.Codec || got.DTMF != s.DTMF {
				t.Errorf("SessionOf(answer) = %+v, %v; want the answered session", got, ok)
			}
		})
	}
}

func TestAnswerOfferErrors(t *testing.T) {
	tests := map[string]struct {
		offer string
		want  error
	}{
		"G.729 only":  {g729Offer, ErrNoCommonCodec},
		"SRTP only":   {savpOffer, ErrNoCommonCodec},
		"no c= line":  {noConnectionOffer, ErrBadSDP},
		"not SDP":     {"hello", ErrBadSDP},
		"host name c": {hostnameOffer, ErrBadSDP},
	}
	for name, tc := range tests {
		if _, _, err := AnswerOffer(crlf(tc.offer), switchAddr, switchPort, NewOrigin()); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if _, err := SessionOf(crlf(tc.offer)); !errors.Is(err, tc.want) {
			t.Errorf("SessionOf %s: %v, want %v", name, err, tc.want)
		}
	}
	if _, _, err := AnswerOffer(crlf(sippOffer), netip.Addr{}, switchPort, NewOrigin()); err == nil {
		t.Error("AnswerOffer advertised an invalid address")
	}
}

func TestNewOfferRoundTripsThroughSessionOf(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		for _, dtmf := range []bool{true, false} {
			o := NewOrigin()
			offer := NewOffer(switchAddr, switchPort, o, c, dtmf)
			sd := checkRewritten(t, offer)
			if len(sd.MediaDescriptions) != 1 {
				t.Fatalf("%d m= lines, want 1:\n%s", len(sd.MediaDescriptions), offer)
			}
			if !strings.Contains(string(offer), "a=ptime:20\r\n") || !strings.Contains(string(offer), "a=sendrecv\r\n") {
				t.Errorf("offer lacks ptime or direction:\n%s", offer)
			}
			s, err := SessionOf(offer)
			if err != nil {
				t.Fatal(err)
			}
			want := Session{PT: uint8(c), Codec: c, Remote: netip.AddrPortFrom(switchAddr, switchPort)}
			if dtmf {
				want.DTMF = DefaultEventPT
			}
			if s != want {
				t.Errorf("%v dtmf=%v: SessionOf(NewOffer) = %+v, want %+v", c, dtmf, s, want)
			}
			// The phone answers it; the switch's answer to a re-offer
			// from that phone keeps the same choice.
			answer, s2, err := AnswerOffer(offer, switchAddr, switchPort+2, NewOrigin())
			if err != nil || s2.Codec != c || s2.DTMF != want.DTMF {
				t.Errorf("AnswerOffer(NewOffer) = %+v, %v\n%s", s2, err, answer)
			}
			if v := sd.Origin.SessionVersion; v != 1 {
				t.Errorf("first offer has version %d, want 1", v)
			}
		}
	}
	if NewOffer(netip.IPv4Unspecified(), switchPort, NewOrigin(), PCMU, true) != nil {
		t.Error("NewOffer advertised 0.0.0.0")
	}
}

const bothOrdersOffer = `
v=0
o=- 1 1 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=audio 6000 RTP/AVP %s 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
`

// AnswerOfferWith takes the codec the switch asks for wherever the offer
// lists it, keeps telephone-event, and refuses an offer without it.
func TestAnswerOfferWith(t *testing.T) {
	for _, order := range []string{"0 8", "8 0", "18 8 0", "18 0 8"} {
		offer := crlf(strings.Replace(bothOrdersOffer, "%s", order, 1))
		for _, c := range []Codec{PCMU, PCMA} {
			answer, s, err := AnswerOfferWith(offer, switchAddr, switchPort, NewOrigin(), c)
			if err != nil {
				t.Fatalf("offer %q, %v: %v", order, c, err)
			}
			want := Session{PT: uint8(c), Codec: c, DTMF: 101, Remote: netip.MustParseAddrPort("10.0.0.2:6000")}
			if s != want {
				t.Errorf("offer %q, %v: session %+v, want %+v", order, c, s, want)
			}
			m := audioLine(t, checkRewritten(t, answer))
			pt := strconv.Itoa(int(c))
			if !slices.Equal(m.MediaName.Formats, []string{pt, "101"}) ||
				!hasAttr(m, "rtpmap", pt+" "+c.String()+"/8000") || !hasAttr(m, "rtpmap", "101 telephone-event/8000") {
				t.Errorf("offer %q, %v: answer\n%s", order, c, answer)
			}
		}
	}
	// A dynamic payload type carries the codec as its rtpmap says.
	dynamic := crlf(sippOffer[:strings.Index(sippOffer, "m=")] + "m=audio 6000 RTP/AVP 0 97\na=rtpmap:97 PCMA/8000\n")
	if _, s, err := AnswerOfferWith(dynamic, switchAddr, switchPort, NewOrigin(), PCMA); err != nil || s.PT != 97 || s.Codec != PCMA {
		t.Errorf("PCMA on 97: %+v, %v", s, err)
	}
	for name, tc := range map[string]struct {
		offer string
		c     Codec
	}{
		"PCMA wanted, PCMU offered": {sippOffer, PCMA},
		"PCMU wanted, PCMA offered": {mediaLevelCOffer, PCMU},
		"G.729 only":                {g729Offer, PCMU},
	} {
		if _, _, err := AnswerOfferWith(crlf(tc.offer), switchAddr, switchPort, NewOrigin(), tc.c); !errors.Is(err, ErrNoCommonCodec) {
			t.Errorf("%s: %v, want ErrNoCommonCodec", name, err)
		}
	}
	// AnswerOffer still takes the offerer's first.
	if _, s, err := AnswerOffer(crlf(strings.Replace(bothOrdersOffer, "%s", "8 0", 1)), switchAddr, switchPort, NewOrigin()); err != nil || s.Codec != PCMA {
		t.Errorf("AnswerOffer of 8 0: %+v, %v; want PCMA", s, err)
	}
}
