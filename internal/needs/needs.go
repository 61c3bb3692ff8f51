// Package needs lets a test ask for an outside program it drives (SIPp, baresip, Linphone,
// Chromium): without it the test is skipped on a developer's machine, but fails under CI,
// where `make deps` installs every one of them and a missing program is a broken setup.
package needs

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the CI variable is set to something truthy.
func InCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Program returns the path of the first of names on PATH. With none of them it skips the
// test, or fails it under CI; pkg is the Debian package that installs the program.
func Program(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if InCI() {
		t.Fatalf("%s is not on PATH but CI=%s: make deps (apt-get install %s) should have installed it", names[0], os.Getenv("CI"), pkg)
	}
	t.Skipf("%s not on PATH: install Debian package %s (make deps) to run this test", names[0], pkg)
	return ""
}
