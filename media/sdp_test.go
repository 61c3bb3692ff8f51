package media

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

var switchAddr = netip.MustParseAddr("203.0.113.5")

const switchPort = 30000

// crlf turns a readable SDP literal into wire form.
func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n"))
}

const linphoneOffer = `
v=0
o=alice 3458 1873 IN IP4 192.168.1.10
s=Talk
c=IN IP4 192.168.1.10
t=0 0
a=ice-pwd:31ec21eb38b2ec6d36e8dc7b
a=ice-ufrag:0ba8d4f1
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics
a=record:off
m=audio 7078 RTP/AVP 96 97 0 8 101 99
c=IN IP4 192.168.1.10
a=rtpmap:96 opus/48000/2
a=fmtp:96 useinbandfec=1
a=rtpmap:97 speex/16000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=rtpmap:99 telephone-event/48000
a=ptime:20
a=rtcp:7079
a=rtcp-mux
a=rtcp-fb:* trr-int 1000
a=candidate:1 1 UDP 2130706431 192.168.1.10 7078 typ host
a=candidate:1 2 UDP 2130706430 192.168.1.10 7079 typ host
a=candidate:2 1 UDP 1694498815 198.51.100.7 51234 typ srflx raddr 192.168.1.10 rport 7078
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
`

const sippOffer = `
v=0
o=user1 53655765 2353687637 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=audio 6000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
`

const g729Offer = `
v=0
o=- 1 1 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=audio 6000 RTP/AVP 18 101
a=rtpmap:18 G729/8000
a=fmtp:18 annexb=no
a=rtpmap:101 telephone-event/8000
`

const holdSendonlyOffer = `
v=0
o=- 1 2 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=audio 6000 RTP/AVP 8 0 101
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendonly
`

const oldHoldOffer = `
v=0
o=- 1 3 IN IP4 10.0.0.2
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 6000 RTP/AVP 0 8
`

const videoOffer = `
v=0
o=- 1 1 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=video 6002 RTP/AVP 96
a=rtpmap:96 H264/90000
m=audio 6000 RTP/AVP 0 8
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
m=audio 6004 RTP/AVP 0
`

const mediaLevelCOffer = `
v=0
o=- 1 1 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=audio 6000 RTP/AVP 8
c=IN IP4 10.0.0.9
a=recvonly
`

const sessionDirectionOffer = `
v=0
o=- 1 1 IN IP6 2001:db8::2
s=-
c=IN IP6 2001:db8::2
t=0 0
a=inactive
m=audio 6000 RTP/AVP 0
`

const savpOffer = `
v=0
o=- 1 1 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=audio 6000 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
`

const savpThenAVPOffer = `
v=0
o=- 1 1 IN IP4 10.0.0.2
s=-
c=IN IP4 10.0.0.2
t=0 0
m=audio 6000 RTP/SAVP 0
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
m=audio 6002 RTP/AVP 0
`

const noConnectionOffer = `
v=0
o=- 1 1 IN IP4 10.0.0.2
s=-
t=0 0
m=audio 6000 RTP/AVP 0
`

const hostnameOffer = `
v=0
o=- 1 1 IN IP4 10.0.0.2
s=-
c=IN IP4 phone.example.com
t=0 0
m=audio 6000 RTP/AVP 0
`

// mline is what a test expects of one m= line in the output.
type mline struct {
	media   string
	port    int
	formats []string
}

func TestRewriteOffer(t *testing.T) {
	tests := map[string]struct {
		offer      string
		wantErr    error
		wantRemote netip.AddrPort
		wantMLines []mline
		wantDir    string
		wantAttrs  []string // attributes of the relayed m= line, in order
	}{
		"linphone: opus, speex and 48k events dropped; ICE, crypto, rtcp-mux removed": {
			offer:      linphoneOffer,
			wantRemote: netip.MustParseAddrPort("192.168.1.10:7078"),
			wantMLines: []mline{{"audio", switchPort, []string{"0", "8", "101"}}},
			wantDir:    "sendrecv",
			wantAttrs: []string{
				"rtpmap:0 PCMU/8000", "rtpmap:8 PCMA/8000", "rtpmap:101 telephone-event/8000",
				"fmtp:101 0-16", "ptime:20", "sendrecv",
			},
		},
		"sipp: PCMU only": {
			offer:      sippOffer,
			wantRemote: netip.MustParseAddrPort("10.0.0.2:6000"),
			wantMLines: []mline{{"audio", switchPort, []string{"0"}}},
			wantDir:    "sendrecv",
			wantAttrs:  []string{"rtpmap:0 PCMU/8000", "sendrecv"},
		},
		"G.729 only": {
			offer:   g729Offer,
			wantErr: ErrNoCommonCodec,
		},
		"hold with sendonly is preserved": {
			offer:      holdSendonlyOffer,
			wantRemote: netip.MustParseAddrPort("10.0.0.2:6000"),
			wantMLines: []mline{{"audio", switchPort, []string{"8", "0", "101"}}},
			wantDir:    "sendonly",
			wantAttrs: []string{
				"rtpmap:8 PCMA/8000", "rtpmap:0 PCMU/8000", "rtpmap:101 telephone-event/8000",
				"fmtp:101 0-15", "sendonly",
			},
		},
		"old-style hold with c=0.0.0.0 becomes sendonly": {
			offer:      oldHoldOffer,
			wantRemote: netip.MustParseAddrPort("0.0.0.0:6000"),
			wantMLines: []mline{{"audio", switchPort, []string{"0", "8"}}},
			wantDir:    "sendonly",
		},
		"video and a second audio line rejected with port 0": {
			offer:      videoOffer,
			wantRemote: netip.MustParseAddrPort("10.0.0.2:6000"),
			wantMLines: []mline{
				{"video", 0, []string{"96"}},
				{"audio", switchPort, []string{"0", "8"}},
				{"audio", 0, []string{"0"}},
			},
			wantDir: "sendrecv",
		},
		"media-level c= wins over session-level": {
			offer:      mediaLevelCOffer,
			wantRemote: netip.MustParseAddrPort("10.0.0.9:6000"),
			wantMLines: []mline{{"audio", switchPort, []string{"8"}}},
			wantDir:    "recvonly",
		},
		"session-level direction and IPv6 address": {
			offer:      sessionDirectionOffer,
			wantRemote: netip.MustParseAddrPort("[2001:db8::2]:6000"),
			wantMLines: []mline{{"audio", switchPort, []string{"0"}}},
			wantDir:    "inactive",
		},
		"SRTP only": {
			offer:   savpOffer,
			wantErr: ErrNoCommonCodec,
		},
		"SRTP line rejected, plain RTP line relayed": {
			offer:      savpThenAVPOffer,
			wantRemote: netip.MustParseAddrPort("10.0.0.2:6002"),
			wantMLines: []mline{
				{"audio", 0, []string{"0"}},
				{"audio", switchPort, []string{"0"}},
			},
			wantDir: "sendrecv",
		},
		"no c= line": {
			offer:   noConnectionOffer,
			wantErr: ErrBadSDP,
		},
		"host name in c=": {
			offer:   hostnameOffer,
			wantErr: ErrBadSDP,
		},
		"garbage": {
			offer:   "INVITE sip:bob@example.com SIP/2.0\n",
			wantErr: ErrBadSDP,
		},
		"empty": {
			offer:   "",
			wantErr: ErrBadSDP,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, remote, err := RewriteOffer(crlf(tc.offer), switchAddr, switchPort, NewOrigin())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if remote != tc.wantRemote {
				t.Errorf("remote = %v, want %v", remote, tc.wantRemote)
			}
			sd := checkRewritten(t, out)
			if len(sd.MediaDescriptions) != len(tc.wantMLines) {
				t.Fatalf("%d m= lines, want %d:\n%s", len(sd.MediaDescriptions), len(tc.wantMLines), out)
			}
			for i, want := range tc.wantMLines {
				m := sd.MediaDescriptions[i].MediaName
				if m.Media != want.media || m.Port.Value != want.port || !slices.Equal(m.Formats, want.formats) {
					t.Errorf("m= line %d is %s %d %v, want %s %d %v", i, m.Media, m.Port.Value, m.Formats, want.media, want.port, want.formats)
				}
				if want.port == 0 && len(sd.MediaDescriptions[i].Attributes) != 0 {
					t.Errorf("rejected m= line %d kept attributes %v", i, sd.MediaDescriptions[i].Attributes)
				}
			}
			audio := sd.MediaDescriptions[relayedAudio(sd)]
			if got := direction(sd, audio); got != tc.wantDir {
				t.Errorf("direction %s, want %s", got, tc.wantDir)
			}
			if tc.wantAttrs != nil {
				var got []string
				for _, a := range audio.Attributes {
					got = append(got, a.String())
				}
				if !slices.Equal(got, tc.wantAttrs) {
					t.Errorf("audio attributes\n%q\nwant\n%q", got, tc.wantAttrs)
				}
			}
		})
	}
}

// checkRewritten checks what every SDP the switch sends must satisfy and
// returns it parsed.
func checkRewritten(t *testing.T, out []byte) *sdp.SessionDescription {
	t.Helper()
	if !strings.HasSuffix(string(out), "\r\n") || strings.Count(string(out), "\n") != strings.Count(string(out), "\r\n") {
		t.Errorf("lines not ended by CRLF:\n%q", out)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(out); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, out)
	}
	if sd.Origin.UnicastAddress != switchAddr.String() {
		t.Errorf("o= address %s, want %s", sd.Origin.UnicastAddress, switchAddr)
	}
	if sd.ConnectionInformation == nil || sd.ConnectionInformation.Address.Address != switchAddr.String() {
		t.Errorf("c= is %v, want %s", sd.ConnectionInformation, switchAddr)
	}
	if len(sd.Attributes) != 0 {
		t.Errorf("session attributes %v left in", sd.Attributes)
	}
	for _, m := range sd.MediaDescriptions {
		if m.ConnectionInformation != nil {
			t.Errorf("media-level c= %v left in", m.ConnectionInformation)
		}
		for _, a := range m.Attributes {
			if a.IsICECandidate() || strings.HasPrefix(a.Key, "ice-") || a.Key == "crypto" || a.Key == "rtcp-mux" || a.Key == "rtcp" {
				t.Errorf("attribute %s left in", a)
			}
		}
	}
	return &sd
}

func TestRewriteOfferSIPpGolden(t *testing.T) {
	o := NewOrigin()
	o.id = 42
	out, _, err := RewriteOffer(crlf(sippOffer), switchAddr, switchPort, o)
	if err != nil {
		t.Fatal(err)
	}
	want := crlf(`
v=0
o=- 42 1 IN IP4 203.0.113.5
s=-
c=IN IP4 203.0.113.5
t=0 0
m=audio 30000 RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=sendrecv
`)
	if string(out) != string(want) {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestRewriteAnswer(t *testing.T) {
	tests := map[string]struct {
		answer     string
		wantErr    error
		wantRemote netip.AddrPort
		wantDir    string
	}{
		"answerer picked PCMA and events": {
			answer: `
v=0
o=bob 1 1 IN IP4 10.0.0.3
s=-
c=IN IP4 10.0.0.3
t=0 0
m=audio 8000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
`,
			wantRemote: netip.MustParseAddrPort("10.0.0.3:8000"),
			wantDir:    "sendrecv",
		},
		"answer to a hold is recvonly": {
			answer: `
v=0
o=bob 1 2 IN IP4 10.0.0.3
s=-
c=IN IP4 10.0.0.3
t=0 0
m=audio 8000 RTP/AVP 0
a=recvonly
`,
			wantRemote: netip.MustParseAddrPort("10.0.0.3:8000"),
			wantDir:    "recvonly",
		},
		"answerer rejected audio": {
			answer: `
v=0
o=bob 1 1 IN IP4 10.0.0.3
s=-
c=IN IP4 10.0.0.3
t=0 0
m=audio 0 RTP/AVP 0
`,
			wantErr: ErrNoCommonCodec,
		},
		"only telephone-event left": {
			answer: `
v=0
o=bob 1 1 IN IP4 10.0.0.3
s=-
c=IN IP4 10.0.0.3
t=0 0
m=audio 8000 RTP/AVP 101
a=rtpmap:101 telephone-event/8000
`,
			wantErr: ErrNoCommonCodec,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, remote, err := RewriteAnswer(crlf(tc.answer), switchAddr, switchPort, NewOrigin())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if remote != tc.wantRemote {
				t.Errorf("remote = %v, want %v", remote, tc.wantRemote)
			}
			sd := checkRewritten(t, out)
			if got := direction(sd, sd.MediaDescriptions[0]); got != tc.wantDir {
				t.Errorf("direction %s, want %s", got, tc.wantDir)
			}
		})
	}
}

func TestOriginVersionIncrementsPerSDPSent(t *testing.T) {
	o := NewOrigin()
	var ids, versions []uint64
	for _, in := range []string{sippOffer, holdSendonlyOffer, sippOffer} {
		out, _, err := RewriteOffer(crlf(in), switchAddr, switchPort, o)
		if err != nil {
			t.Fatal(err)
		}
		var sd sdp.SessionDescription
		if err := sd.Unmarshal(out); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sd.Origin.SessionID)
		versions = append(versions, sd.Origin.SessionVersion)
	}
	// A failed rewrite sends nothing, so it must not use up a version.
	if _, _, err := RewriteOffer(crlf(g729Offer), switchAddr, switchPort, o); err == nil {
		t.Fatal("G.729 offer accepted")
	}
	out, _, err := RewriteAnswer(crlf(sippOffer), switchAddr, switchPort, o)
	if err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(out); err != nil {
		t.Fatal(err)
	}
	ids = append(ids, sd.Origin.SessionID)
	versions = append(versions, sd.Origin.SessionVersion)

	for _, id := range ids {
		if id != ids[0] || id == 0 || id >= 1<<31 {
			t.Fatalf("session ids %v, want one stable id in [1, 2^31)", ids)
		}
	}
	if want := []uint64{1, 2, 3, 4}; !slices.Equal(versions, want) {
		t.Errorf("versions %v, want %v", versions, want)
	}
	if other := NewOrigin(); other.id == o.id {
		t.Logf("two origins drew the same session id %d (1 in 2^31)", o.id)
	}
}

func TestRewriteAcceptsBareLF(t *testing.T) {
	offer := strings.TrimLeft(sippOffer, "\n")
	if _, _, err := RewriteOffer([]byte(offer), switchAddr, switchPort, NewOrigin()); err != nil {
		t.Errorf("LF-only offer: %v", err)
	}
}

// addOfferSeeds adds the offers phones send (the tests' own) to a fuzzer's seeds.
func addOfferSeeds(f *testing.F) {
	for _, s := range []string{
		linphoneOffer, sippOffer, g729Offer, holdSendonlyOffer, oldHoldOffer, videoOffer,
		mediaLevelCOffer, sessionDirectionOffer, savpOffer, savpThenAVPOffer, noConnectionOffer, hostnameOffer,
	} {
		f.Add(crlf(s))
	}
}

func FuzzRewriteOffer(f *testing.F) {
	addOfferSeeds(f)
	f.Fuzz(func(t *testing.T, offer []byte) {
		out, _, err := RewriteOffer(offer, switchAddr, switchPort, NewOrigin())
		if err != nil {
			if !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("error %v is neither ErrBadSDP nor ErrNoCommonCodec", err)
			}
			return
		}
		var sd sdp.SessionDescription
		if err := sd.Unmarshal(out); err != nil {
			t.Fatalf("output does not parse: %v\n%q", err, out)
		}
	})
}

// Direction reads what the phone asked for, the way the relay does: a
// media-level attribute, else a session-level one, else sendrecv, with
// receiving taken away by c=0.0.0.0.
func TestDirection(t *testing.T) {
	explicit := func(dir string) string {
		return sippOffer + "a=" + dir + "\n"
	}
	tests := map[string]struct {
		sdp  string
		want string
	}{
		"default":                    {sippOffer, "sendrecv"},
		"sendrecv":                   {explicit("sendrecv"), "sendrecv"},
		"sendonly (hold)":            {holdSendonlyOffer, "sendonly"},
		"recvonly":                   {mediaLevelCOffer, "recvonly"},
		"inactive":                   {explicit("inactive"), "inactive"},
		"session-level inactive":     {sessionDirectionOffer, "inactive"},
		"c=0.0.0.0 (old-style hold)": {oldHoldOffer, "sendonly"},
		"c=0.0.0.0 and recvonly":     {oldHoldOffer + "a=recvonly\n", "inactive"},
	}
	for name, tc := range tests {
		got, err := Direction(crlf(tc.sdp))
		if err != nil || got != tc.want {
			t.Errorf("%s: Direction = %q, %v; want %q", name, got, err, tc.want)
		}
	}
	for name, bad := range map[string]string{"not SDP": "hello", "no c= line": noConnectionOffer, "host name c": hostnameOffer} {
		if got, err := Direction(crlf(bad)); !errors.Is(err, ErrBadSDP) {
			t.Errorf("%s: Direction = %q, %v; want an ErrBadSDP", name, got, err)
		}
	}
	if got, err := Direction(crlf(savpOffer)); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("SRTP only: Direction = %q, %v; want an ErrNoCommonCodec", got, err)
	}
}

// TestReadAudio: the first audio stream of any profile, with its G.711 formats in order, its
// telephone-event, direction and address; none without G.711.
func TestReadAudio(t *testing.T) {
	browser := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111 8 0 126\r\nc=IN IP4 192.0.2.7\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n" +
		"a=rtpmap:126 telephone-event/8000\r\na=sendonly\r\n"
	a, err := ReadAudio([]byte(browser))
	if err != nil {
		t.Fatal(err)
	}
	want := []AudioFormat{{8, PCMA}, {0, PCMU}}
	if !slices.Equal(a.G711, want) || a.Event != 126 || a.Direction != "sendonly" ||
		a.Remote != netip.MustParseAddrPort("192.0.2.7:9") {
		t.Fatalf("ReadAudio = %+v", a)
	}
	opus := strings.Replace(strings.Replace(browser, " 111 8 0 126", " 111", 1), "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n", "", 1)
	if _, err := ReadAudio([]byte(opus)); !errors.Is(err, ErrNoCommonCodec) {
		t.Fatalf("Opus alone: %v, want ErrNoCommonCodec", err)
	}
	if _, err := ReadAudio([]byte("v=0\r\ngarbage")); !errors.Is(err, ErrBadSDP) {
		t.Fatalf("garbage: %v, want ErrBadSDP", err)
	}
}

// FuzzReadAudio: any offer a phone or browser sends is read or refused with ErrBadSDP or
// ErrNoCommonCodec; what is read has G.711 and a direction, and a remote address only if valid.
func FuzzReadAudio(f *testing.F) {
	addOfferSeeds(f)
	f.Fuzz(func(t *testing.T, offer []byte) {
		a, err := ReadAudio(offer)
		if err != nil {
			if !errors.Is(err, ErrBadSDP) && !errors.Is(err, ErrNoCommonCodec) {
				t.Fatalf("error %v is neither ErrBadSDP nor ErrNoCommonCodec", err)
			}
			return
		}
		if len(a.G711) == 0 {
			t.Fatal("read an audio stream without G.711")
		}
		switch a.Direction {
		case "sendrecv", "sendonly", "recvonly", "inactive":
		default:
			t.Fatalf("direction %q", a.Direction)
		}
	})
}
