package srtp

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

func TestParseCrypto(t *testing.T) {
	// RFC 4568 §4's key, with a lifetime and without the MKI the switch does not take.
	c, err := ParseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20")
	if err != nil {
		t.Fatal(err)
	}
	if c.Tag != 1 || c.Suite.Name != "AES_CM_128_HMAC_SHA1_80" || len(c.Key) != 16 || len(c.Salt) != 14 {
		t.Fatalf("%+v", c)
	}
	if got := c.String(); got != "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR" {
		t.Fatalf("String() = %q", got)
	}
	bad := map[string]string{
		"MKI":            "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32",
		"unknown suite":  "1 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"not base64":     "1 AES_CM_128_HMAC_SHA1_80 inline:***",
		"short key":      "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVm",
		"two keys":       "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR;inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"session params": "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP",
		"no key method":  "1 AES_CM_128_HMAC_SHA1_80 PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"no tag":         "AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR",
		"nothing":        "",
	}
	for name, v := range bad {
		if _, err := ParseCrypto(v); !errors.Is(err, ErrBadCrypto) {
			t.Errorf("%s: %v, want ErrBadCrypto", name, err)
		}
	}
}

// pair is a phone's cipher and the switch's for the same leg: what one seals the other opens.
func pair(t testing.TB, suite Suite) (phone, sw *Cipher) {
	phoneKey, err := NewCrypto(1, suite)
	if err != nil {
		t.Fatal(err)
	}
	swKey, err := NewCrypto(1, suite)
	if err != nil {
		t.Fatal(err)
	}
	if phone, err = NewCipher(phoneKey, swKey); err != nil {
		t.Fatal(err)
	}
	if sw, err = NewCipher(swKey, phoneKey); err != nil {
		t.Fatal(err)
	}
	return phone, sw
}

func packet(t testing.TB, seq uint16) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 0x1234},
		Payload: bytes.Repeat([]byte{byte(seq)}, 160)}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCipherRoundTripAndTamper(t *testing.T) {
	for _, suite := range Suites {
		t.Run(suite.Name, func(t *testing.T) {
			phone, sw := pair(t, suite)
			for seq := uint16(1); seq < 5; seq++ {
				plain := packet(t, seq)
				sealed, err := phone.Seal(nil, plain, false)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(sealed, plain[12:]) {
					t.Fatal("the payload went out in the clear")
				}
				buf := append(make([]byte, 0, 1500), sealed...)
				got, err := sw.Open(buf, false)
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("open: %v", err)
				}
				if _, err := sw.Open(append([]byte(nil), sealed...), false); err == nil {
					t.Fatal("a replayed packet was accepted")
				}
			}
			sealed, _ := phone.Seal(nil, packet(t, 9), false)
			sealed[20] ^= 1
			if _, err := sw.Open(sealed, false); err == nil {
				t.Fatal("a tampered packet was accepted")
			}
			// RTCP: a receiver report.
			rr := []byte{0x81, 201, 0, 7, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			s, err := sw.Seal(nil, rr, true)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := phone.Open(append([]byte(nil), s...), true); err != nil || !bytes.Equal(got, rr) {
				t.Fatalf("RTCP: %v", err)
			}
		})
	}
}

// TestCipherAllocatesNothingPerPacket: sealing and opening a packet, steady state.
func TestCipherAllocatesNothingPerPacket(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	phone, sw := pair(t, Suites[0])
	plain := packet(t, 1)
	out := make([]byte, 0, 1500)
	in := make([]byte, 1500)
	seq := uint16(1)
	step := func() {
		seq++
		plain[2], plain[3] = byte(seq>>8), byte(seq)
		sealed, err := phone.Seal(out[:0], plain, false)
		if err != nil {
			t.Fatal(err)
		}
		n := copy(in, sealed)
		if _, err := sw.Open(in[:n], false); err != nil {
			t.Fatal(err)
		}
	}
	step() // the stream's state is made on its first packet
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Fatalf("%.1f allocations per packet", a)
	}
}

const savpOffer = "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n" +
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n" +
	"a=crypto:2 F8_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n" +
	"a=crypto:3 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\na=sendrecv\r\n"

func TestPlainAndSecure(t *testing.T) {
	plain, offered, secure, err := Plain([]byte(savpOffer))
	if err != nil || !secure {
		t.Fatalf("Plain: secure %v, %v", secure, err)
	}
	if len(offered) != 2 || offered[0].Tag != 1 || offered[1].Tag != 3 {
		t.Fatalf("offered %+v, want tags 1 and 3 (2's suite is unknown)", offered)
	}
	if s := string(plain); !strings.Contains(s, "m=audio 4000 RTP/AVP 0 8 101") || strings.Contains(s, "crypto") {
		t.Fatalf("plain:\n%s", s)
	}
	back, err := Secure(plain, offered[0])
	if err != nil {
		t.Fatal(err)
	}
	if s := string(back); !strings.Contains(s, "m=audio 4000 RTP/SAVP 0 8 101") || !strings.Contains(s, "a=crypto:"+offered[0].String()) {
		t.Fatalf("secure:\n%s", s)
	}
	same, _, secure, err := Plain(plain)
	if err != nil || secure || !bytes.Equal(same, plain) {
		t.Fatalf("a plain SDP: secure %v, %v", secure, err)
	}
	noKey := strings.ReplaceAll(savpOffer, "a=crypto:", "a=x-crypto:")
	if _, _, _, err := Plain([]byte(noKey)); !errors.Is(err, ErrBadCrypto) {
		t.Fatalf("RTP/SAVP without a key: %v, want ErrBadCrypto", err)
	}
}
