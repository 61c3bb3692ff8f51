package srtp

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/srtp/v3"
)

// ErrBadCrypto is wrapped by every error about an a=crypto line the switch cannot use.
var ErrBadCrypto = errors.New("srtp: unusable crypto attribute")

// Suite is an SRTP crypto suite of RFC 4568 §6.2 and what pion calls it.
type Suite struct {
	Name    string
	profile srtp.ProtectionProfile
	keyLen  int // master key bytes
	saltLen int // master salt bytes
}

// Suites are the suites the switch speaks, most preferred first: the two every SDES phone
// offers (RFC 4568's AES_CM_128 with an 80- or 32-bit tag) and AES-GCM (RFC 7714).
var Suites = []Suite{
	{"AES_CM_128_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80, 16, 14},
	{"AES_CM_128_HMAC_SHA1_32", srtp.ProtectionProfileAes128CmHmacSha1_32, 16, 14},
	{"AEAD_AES_128_GCM", srtp.ProtectionProfileAeadAes128Gcm, 16, 12},
}

func suiteNamed(name string) (Suite, bool) {
	for _, s := range Suites {
		if strings.EqualFold(s.Name, name) {
			return s, true
		}
	}
	return Suite{}, false
}

// Crypto is one a=crypto line: a tag, a suite and the master key and salt its sender encrypts
// with (the receiver decrypts with them). MKI, when the sender numbers its keys (RFC 4568
// §6.1's "|value:length"), is the identifier its packets carry, length bytes big-endian.
type Crypto struct {
	Tag   int
	Suite Suite
	Key   []byte
	Salt  []byte
	MKI   []byte
}

// defaultParams are the session parameters that only restate RFC 4568's defaults (§6.3): a
// line that carries them asks nothing of the switch that it does not already do. Any other
// (KDR=n, UNENCRYPTED_SRTP, WSH=…) changes the stream in ways pion does not follow.
var defaultParams = map[string]bool{"FEC_ORDER=FEC_SRTP": true, "KDR=0": true}

// ParseCrypto reads the value of an a=crypto attribute, "tag suite inline:key|lifetime|mki:len
// [session params]" (RFC 4568 §9.1). One key is accepted, with or without a lifetime (not
// enforced: the switch keys each call afresh, far below any lifetime a phone asks) and an MKI;
// session parameters only when they restate the defaults.
func ParseCrypto(value string) (Crypto, error) {
	// No error quotes the key parameter, nor the whole line: the refusal is logged, and a key
	// in a log is a key anyone reading it can decrypt the call with.
	f := strings.Fields(value)
	if len(f) < 3 {
		return Crypto{}, fmt.Errorf("%w: %d fields, want tag, suite and key", ErrBadCrypto, len(f))
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return Crypto{}, fmt.Errorf("%w: tag %s", ErrBadCrypto, shown(f[0]))
	}
	suite, ok := suiteNamed(f[1])
	if !ok {
		return Crypto{}, fmt.Errorf("%w: suite %s", ErrBadCrypto, shown(f[1]))
	}
	for _, p := range f[3:] {
		if !defaultParams[strings.ToUpper(p)] {
			return Crypto{}, fmt.Errorf("%w: session parameter %s", ErrBadCrypto, shown(p))
		}
	}
	params := f[2]
	if strings.Contains(params, ";") {
		return Crypto{}, fmt.Errorf("%w: more than one key", ErrBadCrypto)
	}
	inline, ok := strings.CutPrefix(params, "inline:")
	if !ok {
		method, _, _ := strings.Cut(params, ":")
		if method == params {
			method = "none"
		}
		return Crypto{}, fmt.Errorf("%w: key method %.12q, want inline", ErrBadCrypto, method)
	}
	keySalt, rest, _ := strings.Cut(inline, "|")
	mki, err := parseKeyInfo(rest)
	if err != nil {
		return Crypto{}, err
	}
	raw, err := base64.StdEncoding.DecodeString(keySalt)
	if err != nil {
		if raw, err = base64.RawStdEncoding.DecodeString(keySalt); err != nil {
			return Crypto{}, fmt.Errorf("%w: key is not base64", ErrBadCrypto)
		}
	}
	if len(raw) != suite.keyLen+suite.saltLen {
		return Crypto{}, fmt.Errorf("%w: %d key bytes for %s, want %d", ErrBadCrypto, len(raw), suite.Name,
			suite.keyLen+suite.saltLen)
	}
	return Crypto{Tag: tag, Suite: suite, Key: raw[:suite.keyLen], Salt: raw[suite.keyLen:], MKI: mki}, nil
}

// parseKeyInfo reads what follows the key: "", "lifetime", "mki:len" or "lifetime|mki:len";
// an MKI comes back as the bytes its packets carry.
func parseKeyInfo(rest string) ([]byte, error) {
	if rest == "" {
		return nil, nil
	}
	lifetime, mki, hasBoth := strings.Cut(rest, "|")
	if !hasBoth && strings.Contains(lifetime, ":") {
		lifetime, mki = "", lifetime
	}
	if lifetime != "" && !validLifetime(lifetime) {
		return nil, fmt.Errorf("%w: lifetime %s", ErrBadCrypto, shown(lifetime))
	}
	if mki == "" {
		if hasBoth {
			return nil, fmt.Errorf("%w: an empty MKI", ErrBadCrypto)
		}
		return nil, nil
	}
	v, l, ok := strings.Cut(mki, ":")
	value, err1 := strconv.ParseUint(v, 10, 64)
	length, err2 := strconv.Atoi(l)
	if !ok || err1 != nil || err2 != nil || length < 1 || length > 128 || length < 8 && value>>(8*length) != 0 {
		return nil, fmt.Errorf("%w: MKI %s, want value:length with length 1 to 128 bytes", ErrBadCrypto, shown(mki))
	}
	b := make([]byte, length)
	for i := length - 1; i >= 0 && value != 0; i-- {
		b[i], value = byte(value), value>>8
	}
	return b, nil
}

// validLifetime: a count of packets, decimal or "2^n".
func validLifetime(s string) bool {
	if n, ok := strings.CutPrefix(s, "2^"); ok {
		e, err := strconv.Atoi(n)
		return err == nil && e > 0 && e <= 64
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return err == nil && n > 0
}

// NewCrypto makes a fresh random master key and salt for suite, answering to tag.
func NewCrypto(tag int, suite Suite) (Crypto, error) {
	b := make([]byte, suite.keyLen+suite.saltLen)
	if _, err := rand.Read(b); err != nil {
		return Crypto{}, fmt.Errorf("srtp: new key: %w", err)
	}
	return Crypto{Tag: tag, Suite: suite, Key: b[:suite.keyLen], Salt: b[suite.keyLen:]}, nil
}

// String is the a=crypto attribute value. It carries the key: it belongs in SDP, never in a
// log line.
func (c Crypto) String() string {
	s := fmt.Sprintf("%d %s inline:%s", c.Tag, c.Suite.Name,
		base64.StdEncoding.EncodeToString(append(append([]byte(nil), c.Key...), c.Salt...)))
	if len(c.MKI) > 0 {
		var v uint64
		for _, b := range c.MKI[max(0, len(c.MKI)-8):] {
			v = v<<8 | uint64(b)
		}
		s += fmt.Sprintf("|%d:%d", v, len(c.MKI))
	}
	return s
}

// shown quotes a field of a refused a=crypto line for its error, unless it carries a key (a
// line with its fields out of order): that is named, never shown. Long fields are cut, as a
// log line is no place for them.
func shown(field string) string {
	if strings.Contains(strings.ToLower(field), "inline:") {
		return "(a key parameter, not shown)"
	}
	return fmt.Sprintf("%.24q", field)
}

// sameKey: c and o encrypt alike (suite, key, salt and MKI); the tag is only SDP's numbering.
func (c Crypto) sameKey(o Crypto) bool {
	return c.Suite.Name == o.Suite.Name && bytes.Equal(c.Key, o.Key) && bytes.Equal(c.Salt, o.Salt) &&
		bytes.Equal(c.MKI, o.MKI)
}

// clone is c with storage of its own: a caller's later change to its slices leaves c be.
func (c Crypto) clone() Crypto {
	c.Key, c.Salt, c.MKI = bytes.Clone(c.Key), bytes.Clone(c.Salt), bytes.Clone(c.MKI)
	return c
}
