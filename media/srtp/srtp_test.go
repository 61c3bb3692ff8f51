package srtp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/pion/rtp"
)

// rfcKey is RFC 4568's example key and salt (§4, §5.1).
const rfcKey = "PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"

// TestParseCryptoRFC4568Examples: the lines of RFC 4568 §4 and §5.1 that the switch can honour
// are read, and written back as they were (a lifetime is not repeated: the switch does not
// enforce one, and no phone needs to be told).
func TestParseCryptoRFC4568Examples(t *testing.T) {
	for _, tc := range []struct {
		name, line string
		tag        int
		suite      string
		mki        []byte
		back       string
	}{
		{"§4", "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:32", 1, "AES_CM_128_HMAC_SHA1_80",
			append(make([]byte, 31), 1), "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1:32"},
		{"§5.1 offer", "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:4 FEC_ORDER=FEC_SRTP",
			1, "AES_CM_128_HMAC_SHA1_80", []byte{0, 0, 0, 1}, "1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|1:4"},
		{"§5.1 answer", "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:4", 1, "AES_CM_128_HMAC_SHA1_80",
			[]byte{0, 0, 0, 1}, "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1:4"},
		{"no lifetime, no MKI", "7 AES_CM_128_HMAC_SHA1_32 inline:" + rfcKey, 7, "AES_CM_128_HMAC_SHA1_32",
			nil, "7 AES_CM_128_HMAC_SHA1_32 inline:" + rfcKey},
		{"MKI without lifetime", "2 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|258:2", 2, "AES_CM_128_HMAC_SHA1_80",
			[]byte{1, 2}, "2 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|258:2"},
		{"decimal lifetime", "3 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|1048576", 3, "AES_CM_128_HMAC_SHA1_80",
			nil, "3 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey},
		{"GCM", "4 AEAD_AES_128_GCM inline:" + base64.StdEncoding.EncodeToString(make([]byte, 28)), 4, "AEAD_AES_128_GCM",
			nil, "4 AEAD_AES_128_GCM inline:" + base64.StdEncoding.EncodeToString(make([]byte, 28))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCrypto(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if c.Tag != tc.tag || c.Suite.Name != tc.suite || len(c.Key) != 16 || len(c.Salt) != c.Suite.saltLen ||
				!bytes.Equal(c.MKI, tc.mki) {
				t.Fatalf("tag %d suite %s key %d salt %d MKI %x", c.Tag, c.Suite.Name, len(c.Key), len(c.Salt), c.MKI)
			}
			if got := c.String(); got != tc.back {
				t.Fatalf("String() = %q, want %q", got, tc.back)
			}
			if again, err := ParseCrypto(c.String()); err != nil || !bytes.Equal(again.MKI, c.MKI) ||
				!bytes.Equal(again.Key, c.Key) || !bytes.Equal(again.Salt, c.Salt) {
				t.Fatalf("String() does not read back: %+v, %v", again.MKI, err)
			}
		})
	}
}

// TestParseCryptoRefusesWithoutShowingTheKey: every line the switch cannot honour is an
// ErrBadCrypto, and no error carries key material (the refusal is logged).
func TestParseCryptoRefusesWithoutShowingTheKey(t *testing.T) {
	bad := map[string]string{
		"§5.1's F8 line":    "2 F8_128_HMAC_SHA1_80 inline:MTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5QUJjZGVm|2^20|1:4;inline:QUJjZGVmMTIzNDU2Nzg5QUJDREUwMTIzNDU2Nzg5|2^20|2:4 FEC_ORDER=FEC_SRTP",
		"unknown suite":     "1 F8_128_HMAC_SHA1_80 inline:" + rfcKey,
		"not base64":        "1 AES_CM_128_HMAC_SHA1_80 inline:***" + rfcKey[3:],
		"short key":         "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey[:16],
		"long key":          "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "AAAA",
		"GCM with CM's key": "1 AEAD_AES_128_GCM inline:" + rfcKey,
		"two keys":          "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + ";inline:" + rfcKey,
		"session params":    "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " UNENCRYPTED_SRTP",
		"KDR":               "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " KDR=24",
		"no key method":     "1 AES_CM_128_HMAC_SHA1_80 " + rfcKey,
		"other key method":  "1 AES_CM_128_HMAC_SHA1_80 uri:" + rfcKey,
		"no tag":            "AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey,
		"out of order":      "1 inline:" + rfcKey + " AES_CM_128_HMAC_SHA1_80",
		"key as a param":    "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + " inline:" + rfcKey,
		"bad lifetime":      "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^x|1:4",
		"MKI too long":      "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:129",
		"MKI overflows":     "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|256:1",
		"empty MKI":         "1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|",
		"nothing":           "",
	}
	for name, v := range bad {
		_, err := ParseCrypto(v)
		if !errors.Is(err, ErrBadCrypto) {
			t.Errorf("%s: %v, want ErrBadCrypto", name, err)
			continue
		}
		for _, key := range []string{rfcKey, "MTIzNDU2Nzg5", "QUJjZGVm"} {
			if strings.Contains(err.Error(), key[:8]) {
				t.Errorf("%s: the error shows the key: %v", name, err)
			}
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

// TestCipherWithMKI: a phone that numbers its key (|1:4) sends the MKI in every packet; the
// switch, answering without one, opens them and its own packets carry none.
func TestCipherWithMKI(t *testing.T) {
	phoneKey, err := ParseCrypto("1 AES_CM_128_HMAC_SHA1_80 inline:" + rfcKey + "|2^20|1:4")
	if err != nil {
		t.Fatal(err)
	}
	swKey, err := NewCrypto(1, Suites[0])
	if err != nil {
		t.Fatal(err)
	}
	phone, err := NewCipher(phoneKey, swKey)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := NewCipher(swKey, phoneKey)
	if err != nil {
		t.Fatal(err)
	}
	plain := packet(t, 1)
	sealed, err := phone.Seal(nil, plain, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(plain) + 4 + 10; len(sealed) != want || !bytes.Equal(sealed[len(plain):len(plain)+4], []byte{0, 0, 0, 1}) {
		t.Fatalf("sealed %d bytes, want %d with the MKI 00000001 before the tag", len(sealed), want)
	}
	if got, err := sw.Open(sealed, false); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	back, err := sw.Seal(nil, plain, false)
	if err != nil || len(back) != len(plain)+10 {
		t.Fatalf("the switch's packet: %d bytes, %v; want %d (no MKI)", len(back), err, len(plain)+10)
	}
	if got, err := phone.Open(back, false); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("the phone opens the switch's packet: %v", err)
	}
}

// BenchmarkCipherPacket: one 20 ms PCMU packet sealed by the phone and opened by the switch,
// per suite: the cost SRTP adds to a relayed packet, twice over when both legs are SRTP.
func BenchmarkCipherPacket(b *testing.B) {
	for _, suite := range Suites {
		b.Run(suite.Name, func(b *testing.B) {
			phone, sw := pair(b, suite)
			plain := packet(b, 1)
			out := make([]byte, 0, 1500)
			in := make([]byte, 1500)
			seq := uint16(1)
			b.ReportAllocs()
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				seq++
				plain[2], plain[3] = byte(seq>>8), byte(seq)
				sealed, err := phone.Seal(out[:0], plain, false)
				if err != nil {
					b.Fatal(err)
				}
				n := copy(in, sealed)
				if _, err := sw.Open(in[:n], false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRekeyKeepsTheUnchangedDirection: past a sequence number wrap (the rollover count is 1
// on both sides), the phone re-keys its own direction only. The switch's packets, under its
// unchanged key, must still open at the phone: a fresh context would count them from 0. The
// phone's, under its new key, open at the switch, and its old key no longer does.
func TestRekeyKeepsTheUnchangedDirection(t *testing.T) {
	phoneKey, _ := NewCrypto(1, Suites[0])
	swKey, _ := NewCrypto(1, Suites[0])
	phone, err := NewCipher(phoneKey, swKey)
	if err != nil {
		t.Fatal(err)
	}
	sw, err := NewCipher(swKey, phoneKey)
	if err != nil {
		t.Fatal(err)
	}
	exchange := func(from, to *Cipher, seq uint16) error {
		t.Helper()
		plain := packet(t, seq)
		sealed, err := from.Seal(nil, plain, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := to.Open(sealed, false)
		if err == nil && !bytes.Equal(got, plain) {
			t.Fatalf("seq %d opened changed", seq)
		}
		return err
	}
	for seq := uint16(65530); seq != 6; seq++ { // across the wrap
		if err := exchange(sw, phone, seq); err != nil {
			t.Fatalf("switch to phone, seq %d: %v", seq, err)
		}
		if err := exchange(phone, sw, seq); err != nil {
			t.Fatalf("phone to switch, seq %d: %v", seq, err)
		}
	}
	newPhoneKey, _ := NewCrypto(2, Suites[0])
	oldPhone := phone
	phone, err = NewCipher(newPhoneKey, swKey) // the phone's new sending context; its...
	if err != nil {
		t.Fatal(err)
	}
	phone.in, phone.inKey = oldPhone.in, oldPhone.inKey // ...receiving one goes on counting
	if err := sw.Rekey(swKey, newPhoneKey); err != nil {
		t.Fatal(err)
	}
	for seq := uint16(6); seq < 10; seq++ {
		if err := exchange(sw, phone, seq); err != nil {
			t.Fatalf("switch to phone after the phone re-keyed, seq %d: %v", seq, err)
		}
		if err := exchange(phone, sw, seq); err != nil {
			t.Fatalf("phone to switch under its new key, seq %d: %v", seq, err)
		}
	}
	if err := exchange(oldPhone, sw, 20); err == nil {
		t.Fatal("a packet under the phone's old key was still taken")
	}
}
