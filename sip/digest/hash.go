package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// algorithm is one of the hash algorithms a client may name.
type algorithm uint8

const (
	algMD5 algorithm = iota
	algMD5Sess
	algSHA256
	algSHA256Sess
)

// parseAlgorithm maps the algorithm parameter to an algorithm; absent means
// MD5 (RFC 7616 §3.3).
func parseAlgorithm(s string) (algorithm, error) {
	switch {
	case s == "", strings.EqualFold(s, "MD5"):
		return algMD5, nil
	case strings.EqualFold(s, "MD5-sess"):
		return algMD5Sess, nil
	case strings.EqualFold(s, "SHA-256"):
		return algSHA256, nil
	case strings.EqualFold(s, "SHA-256-sess"):
		return algSHA256Sess, nil
	}
	return 0, fmt.Errorf("%w algorithm %q", ErrUnsupported, clip(s))
}

func (a algorithm) sess() bool { return a == algMD5Sess || a == algSHA256Sess }

// name is the algorithm as RFC 7616 spells it, for error messages.
func (a algorithm) name() string {
	return [...]string{algMD5: "MD5", algMD5Sess: "MD5-sess", algSHA256: "SHA-256", algSHA256Sess: "SHA-256-sess"}[a]
}

// size is the digest length in bytes; a response is twice as many hex digits.
func (a algorithm) size() int {
	if a == algSHA256 || a == algSHA256Sess {
		return sha256.Size
	}
	return md5.Size
}

// sum hashes p into dst and returns the digest.
func (a algorithm) sum(dst *[sha256.Size]byte, p []byte) []byte {
	if a.size() == sha256.Size {
		*dst = sha256.Sum256(p)
		return dst[:sha256.Size]
	}
	s := md5.Sum(p)
	copy(dst[:], s[:])
	return dst[:md5.Size]
}

// Secret is what the server knows of a user's password: the password itself, or its HA1s —
// the MD5 and/or SHA-256 of "user:realm:password" in hex — so that a copy of the directory
// does not give the passwords away. HA1MD5 is what Kamailio's subscriber.ha1 column holds
// (its ha1b hashes "user@domain" as the user, for phones that send that as the username), and
// HA1SHA256 what that column holds when Kamailio's auth is set to SHA-256. An HA1 is bound to
// the realm: a Secret made for one realm fails every response in another. A response in an
// algorithm whose HA1 the Secret lacks, and no password, fails with ErrNoHash.
type Secret struct {
	// Password is the clear password, from which the HA1 of any algorithm is computed; short-
	// lived credentials derive theirs. When it is empty and an HA1 is set, the HA1s alone count.
	Password string
	// HA1MD5 is 32 hex digits, HA1SHA256 64; either case is accepted.
	HA1MD5    string
	HA1SHA256 string
}

// has reports whether s can check a response in algorithm a: it holds a's HA1 or the
// password (a Secret with neither password nor HA1 is the empty password).
func (s Secret) has(a algorithm) bool {
	return s.ha1(a) != "" || s.Password != "" || s.HA1MD5 == "" && s.HA1SHA256 == ""
}

// SecretOf hashes password for user in realm into both HA1s, dropping the password.
func SecretOf(user, realm, password string) Secret {
	return Secret{HA1MD5: HA1(false, user, realm, password), HA1SHA256: HA1(true, user, realm, password)}
}

// HA1 is the lowercase hex MD5 (or SHA-256) of "user:realm:password" (RFC 7616 §3.4.2).
func HA1(sha bool, user, realm, password string) string {
	alg := algMD5
	if sha {
		alg = algSHA256
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(alg.sum(&sum, []byte(user+":"+realm+":"+password)))
}

// Matches reports whether password is the one s was made from for user in realm: the page's
// sign-in and HTTP Basic with the SIP password. The typed password is hashed with the stored
// HA1's algorithm (SHA-256 when both are stored) and the hex compared in constant time; a
// clear Password is compared through SHA-256 sums, so that neither its contents nor its
// length show in the time taken.
func (s Secret) Matches(user, realm, password string) bool {
	switch {
	case s.HA1SHA256 != "":
		return hexEqual(s.HA1SHA256, HA1(true, user, realm, password))
	case s.HA1MD5 != "":
		return hexEqual(s.HA1MD5, HA1(false, user, realm, password))
	}
	w, g := sha256.Sum256([]byte(s.Password)), sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(w[:], g[:]) == 1
}

// hexEqual compares a stored HA1, in either case, with a computed lowercase one in constant
// time.
func hexEqual(stored, computed string) bool {
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(stored)), []byte(computed)) == 1
}

// ha1 is the stored HA1 hex for a, or "" when it must be computed from the password.
func (s Secret) ha1(a algorithm) string {
	if a.size() == sha256.Size {
		return s.HA1SHA256
	}
	return s.HA1MD5
}

// digestInput is everything the response covers.
type digestInput struct {
	alg      algorithm
	username string
	realm    string
	secret   Secret
	method   string
	uri      string
	nonce    string
	nc       string // empty with cnonce and qop for the RFC 2069 form
	cnonce   string
	qop      string
}

// compute writes the expected response's raw digest into dst and returns it
// (RFC 7616 §3.4.1–3.4.3, RFC 2617 §3.2.2). The hex it hashes is lowercase,
// as the RFCs require. Working in stack buffers keeps Verify free of
// allocations for ordinary header sizes.
func (in *digestInput) compute(dst *[sha256.Size]byte) []byte {
	var scratch [512]byte
	var ha1, ha2 [2 * sha256.Size]byte
	var sum [sha256.Size]byte
	n := 2 * in.alg.size()

	var buf []byte
	if stored := in.secret.ha1(in.alg); stored != "" {
		if len(stored) != n {
			return nil // a hash of the other size: no response can match it
		}
		copy(ha1[:], stored)
		// The response hashes the HA1 as lowercase hex (RFC 7616 §3.4.2): a stored uppercase
		// one is folded here, in the stack buffer, not by the caller on every lookup.
		for i, c := range ha1[:n] {
			if 'A' <= c && c <= 'F' {
				ha1[i] = c + 'a' - 'A'
			}
		}
		buf = scratch[:0]
	} else if in.secret.Password != "" || in.secret.HA1MD5 == "" && in.secret.HA1SHA256 == "" {
		buf = append(scratch[:0], in.username...)
		buf = append(buf, ':')
		buf = append(buf, in.realm...)
		buf = append(buf, ':')
		buf = append(buf, in.secret.Password...)
		hex.Encode(ha1[:], in.alg.sum(&sum, buf))
	} else {
		return nil // only the other algorithm's HA1 is known
	}

	if in.alg.sess() {
		buf = append(buf[:0], ha1[:n]...)
		buf = append(buf, ':')
		buf = append(buf, in.nonce...)
		buf = append(buf, ':')
		buf = append(buf, in.cnonce...)
		hex.Encode(ha1[:], in.alg.sum(&sum, buf))
	}

	buf = append(buf[:0], in.method...)
	buf = append(buf, ':')
	buf = append(buf, in.uri...)
	hex.Encode(ha2[:], in.alg.sum(&sum, buf))

	buf = append(buf[:0], ha1[:n]...)
	buf = append(buf, ':')
	buf = append(buf, in.nonce...)
	buf = append(buf, ':')
	if in.qop != "" {
		buf = append(buf, in.nc...)
		buf = append(buf, ':')
		buf = append(buf, in.cnonce...)
		buf = append(buf, ':')
		buf = append(buf, in.qop...)
		buf = append(buf, ':')
	}
	buf = append(buf, ha2[:n]...)
	return in.alg.sum(dst, buf)
}

// decodeHex decodes s into dst without allocating, accepting either case
// since some clients send uppercase hex.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
