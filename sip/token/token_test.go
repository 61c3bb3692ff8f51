package token

import (
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/clock"
)

func TestCredentialWorksForItsExtensionUntilItExpires(t *testing.T) {
	c := clock.NewFake(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	k, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	cred := k.Issue("1001", time.Hour)
	ext, pass, ok := k.Password(cred.User)
	if !ok || ext != "1001" || pass != cred.Password {
		t.Fatalf("Password(%q) = %q, %q, %t; want 1001 and the issued password", cred.User, ext, pass, ok)
	}
	// Another extension with the same expiry: a different password, which nobody was given.
	if _, pass, _ := k.Password("1002" + cred.User[4:]); pass == cred.Password {
		t.Fatal("a credential's password also works for another extension")
	}
	// A later expiry written in by hand: a different password too.
	if _, pass, _ := k.Password(cred.User + "0"); pass == cred.Password {
		t.Fatal("a credential's password survives a changed expiry")
	}
	for _, bad := range []string{"1001", "", ".1767225600", "1001.soon"} {
		if _, _, ok := k.Password(bad); ok {
			t.Errorf("Password(%q) accepted", bad)
		}
	}
	c.Advance(time.Hour)
	if _, _, ok := k.Password(cred.User); ok {
		t.Fatal("the credential still works after its hour")
	}
	other, _ := New(c)
	if _, pass, _ := other.Password(k.Issue("1001", time.Hour).User); pass == cred.Password {
		t.Fatal("another keyring (a restart) computes the same password")
	}
}
