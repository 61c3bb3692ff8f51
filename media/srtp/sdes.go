package srtp

import (
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
// with (the receiver decrypts with them).
type Crypto struct {
	Tag   int
	Suite Suite
	Key   []byte
	Salt  []byte
}

// ParseCrypto reads the value of an a=crypto attribute, "tag suite inline:key||lifetime|mki
// [session params]" (RFC 4568 §9.1). Only one key, without MKI or session parameters the
// switch cannot honour, is accepted; a lifetime is allowed (the switch re-keys per call).
func ParseCrypto(value string) (Crypto, error) {
	f := strings.Fields(value)
	if len(f) < 3 {
		return Crypto{}, fmt.Errorf("%w: %q", ErrBadCrypto, value)
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || tag > 999999999 {
		return Crypto{}, fmt.Errorf("%w: tag %q", ErrBadCrypto, f[0])
	}
	suite, ok := suiteNamed(f[1])
	if !ok {
		return Crypto{}, fmt.Errorf("%w: suite %q", ErrBadCrypto, f[1])
	}
	if len(f) > 3 {
		return Crypto{}, fmt.Errorf("%w: session parameters %q", ErrBadCrypto, strings.Join(f[3:], " "))
	}
	params := f[2]
	if strings.Contains(params, ";") {
		return Crypto{}, fmt.Errorf("%w: more than one key", ErrBadCrypto)
	}
	inline, ok := strings.CutPrefix(params, "inline:")
	if !ok {
		return Crypto{}, fmt.Errorf("%w: key method of %q", ErrBadCrypto, params)
	}
	keySalt, rest, _ := strings.Cut(inline, "|")
	if rest != "" {
		lifetime, mki, hasMKI := strings.Cut(rest, "|")
		if hasMKI || strings.Contains(lifetime, ":") {
			return Crypto{}, fmt.Errorf("%w: MKI %q", ErrBadCrypto, mki)
		}
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
	return Crypto{Tag: tag, Suite: suite, Key: raw[:suite.keyLen], Salt: raw[suite.keyLen:]}, nil
}

// NewCrypto makes a fresh random master key and salt for suite, answering to tag.
func NewCrypto(tag int, suite Suite) (Crypto, error) {
	b := make([]byte, suite.keyLen+suite.saltLen)
	if _, err := rand.Read(b); err != nil {
		return Crypto{}, fmt.Errorf("srtp: new key: %w", err)
	}
	return Crypto{Tag: tag, Suite: suite, Key: b[:suite.keyLen], Salt: b[suite.keyLen:]}, nil
}

// String is the a=crypto attribute value.
func (c Crypto) String() string {
	return fmt.Sprintf("%d %s inline:%s", c.Tag, c.Suite.Name,
		base64.StdEncoding.EncodeToString(append(append([]byte(nil), c.Key...), c.Salt...)))
}
