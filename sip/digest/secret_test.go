package digest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/switchboard-voip/switchboard/sip/digest"
)

// TestHA1KnownValues checks HA1 against RFC 2617 §3.5's worked example and the SHA-256
// of the same string.
func TestHA1KnownValues(t *testing.T) {
	if got := digest.HA1(false, "Mufasa", "testrealm@host.com", "Circle Of Life"); got != "939e7578ed9e3c518a452acee763bce9" {
		t.Errorf("MD5 HA1 = %s", got)
	}
	// sha256("Mufasa:http-auth@example.org:Circle of Life"), RFC 7616 §3.9.1's user.
	if got := digest.HA1(true, "Mufasa", "http-auth@example.org", "Circle of Life"); got != "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232" {
		t.Errorf("SHA-256 HA1 = %s", got)
	}
}

// TestVerifyFromStoredHA1 verifies phones' answers against a directory that holds only HA1s:
// a phone answering the SHA-256 challenge and one answering the MD5 one (and the -sess forms)
// with both hashes stored, in either case; a wrong password fails; a user stored with one
// algorithm's HA1 alone fails an answer in the other with ErrNoHash (there is nothing to check
// it with) and passes one in its own; hashes made for another realm fail.
func TestVerifyFromStoredHA1(t *testing.T) {
	s := newServer(newClock())
	hashed := func(user string) (digest.Secret, bool) {
		p, ok := users[user]
		return digest.SecretOf(user, realm, p), ok
	}
	upper := func(user string) (digest.Secret, bool) {
		sec, ok := hashed(user)
		return digest.Secret{HA1MD5: strings.ToUpper(sec.HA1MD5), HA1SHA256: strings.ToUpper(sec.HA1SHA256)}, ok
	}
	otherRealm := func(user string) (digest.Secret, bool) {
		p, ok := users[user]
		return digest.SecretOf(user, "elsewhere", p), ok
	}
	md5Only := func(user string) (digest.Secret, bool) {
		p, ok := users[user]
		return digest.Secret{HA1MD5: digest.HA1(false, user, realm, p)}, ok
	}
	shaOnly := func(user string) (digest.Secret, bool) {
		p, ok := users[user]
		return digest.Secret{HA1SHA256: digest.HA1(true, user, realm, p)}, ok
	}
	for _, alg := range []string{"MD5", "MD5-sess", "SHA-256", "SHA-256-sess"} {
		challenge := "MD5"
		if alg == "SHA-256" || alg == "SHA-256-sess" {
			challenge = "SHA-256"
		}
		c := creds{alg: alg, user: "alice", realm: realm, pass: "wonderland", method: "REGISTER",
			uri: "sip:" + realm, nonce: nonceOf(t, s, challenge, false), nc: "00000001", cnonce: "c", qop: "auth"}
		if _, err := s.Verify(c.method, c.header(), hashed); err != nil {
			t.Errorf("%s against stored HA1s: %v", alg, err)
		}
		c.nc = "00000002"
		if _, err := s.Verify(c.method, c.header(), upper); err != nil {
			t.Errorf("%s against uppercase HA1s: %v", alg, err)
		}
		c.nc, c.pass = "00000003", "wrong"
		if _, err := s.Verify(c.method, c.header(), hashed); !errors.Is(err, digest.ErrBadResponse) || errors.Is(err, digest.ErrNoHash) {
			t.Errorf("%s with a wrong password: %v, want ErrBadResponse", alg, err)
		}
		c.nc, c.pass = "00000004", "wonderland"
		if _, err := s.Verify(c.method, c.header(), otherRealm); !errors.Is(err, digest.ErrBadResponse) {
			t.Errorf("%s against another realm's HA1s: %v, want ErrBadResponse", alg, err)
		}
		for i, one := range []struct {
			alg    string
			lookup func(string) (digest.Secret, bool)
		}{{"MD5", md5Only}, {"SHA-256", shaOnly}} {
			c.nc = fmt.Sprintf("%08x", 5+i)
			_, err := s.Verify(c.method, c.header(), one.lookup)
			if challenge == one.alg && err != nil {
				t.Errorf("%s against a %s HA1 alone: %v", alg, one.alg, err)
			}
			if challenge != one.alg && (!errors.Is(err, digest.ErrNoHash) || !errors.Is(err, digest.ErrBadResponse)) {
				t.Errorf("%s against a %s HA1 alone: %v, want ErrNoHash (an ErrBadResponse)", alg, one.alg, err)
			}
		}
	}
}

// TestSecretMatches is the page's sign-in with the SIP password against stored hashes.
func TestSecretMatches(t *testing.T) {
	sec := digest.SecretOf("1001", "switchboard", "s3cret")
	if sec.Password != "" {
		t.Fatal("SecretOf kept the password")
	}
	if !sec.Matches("1001", "switchboard", "s3cret") {
		t.Error("the right password does not match")
	}
	for _, wrong := range []string{"", "s3cre", "s3cret ", "S3cret"} {
		if sec.Matches("1001", "switchboard", wrong) {
			t.Errorf("%q matches", wrong)
		}
	}
	if sec.Matches("1002", "switchboard", "s3cret") {
		t.Error("another user's name matches")
	}
	md5 := digest.Secret{HA1MD5: sec.HA1MD5}
	if !md5.Matches("1001", "switchboard", "s3cret") || md5.Matches("1001", "switchboard", "x") {
		t.Error("an MD5 HA1 alone does not check the password")
	}
	if sec.Matches("1001", "elsewhere", "s3cret") {
		t.Error("the password matches in another realm")
	}
	clear := digest.Secret{Password: "s3cret"}
	if !clear.Matches("1001", "switchboard", "s3cret") || clear.Matches("1001", "switchboard", "s3cret2") {
		t.Error("a clear password does not check the password")
	}
}
