// Package token issues and checks short-lived SIP credentials: the web phone registers with
// one its signed-in session gets from the API, so the user's password never sits in the page.
//
// A credential's user name carries the extension and the expiry ("1001.1767225600"); its
// password is an HMAC of that name under a key drawn at random when the Keyring is made. So
// nothing is stored, a credential works only for its extension and only until it expires, and a
// restart revokes them all (the page fetches a new one, as it does whenever registration fails;
// its sessions end with a restart too).
package token

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

// Credential is what a browser registers with.
type Credential struct {
	User     string    // the digest user name (authorization user)
	Password string    // the digest password
	Expires  time.Time // after this the credential is refused
}

// Keyring issues and checks credentials.
type Keyring struct {
	key   [32]byte
	clock clock.Clock
}

// New makes a keyring with a fresh random key; c nil means the wall clock.
func New(c clock.Clock) (*Keyring, error) {
	if c == nil {
		c = clock.Real()
	}
	k := &Keyring{clock: c}
	if _, err := rand.Read(k.key[:]); err != nil {
		return nil, fmt.Errorf("token: key: %w", err)
	}
	return k, nil
}

// Issue makes a credential for ext valid for ttl.
func (k *Keyring) Issue(ext string, ttl time.Duration) Credential {
	exp := k.clock.Now().Add(ttl).Truncate(time.Second)
	user := ext + "." + strconv.FormatInt(exp.Unix(), 10)
	return Credential{User: user, Password: k.sign(user), Expires: exp}
}

// Password returns the password of a credential's user name and the extension it stands for;
// ok is false for a name that is not a credential's, or whose time is up. A forged name gets a
// password its forger cannot know, so the digest check fails.
func (k *Keyring) Password(user string) (ext, password string, ok bool) {
	ext, expText, found := strings.Cut(user, ".")
	if !found || ext == "" {
		return "", "", false
	}
	exp, err := strconv.ParseInt(expText, 10, 64)
	if err != nil || !k.clock.Now().Before(time.Unix(exp, 0)) {
		return "", "", false
	}
	return ext, k.sign(user), true
}

func (k *Keyring) sign(user string) string {
	m := hmac.New(sha256.New, k.key[:])
	m.Write([]byte(user))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
