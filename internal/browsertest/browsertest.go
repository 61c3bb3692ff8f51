// Package browsertest starts the headless Chromium that the page's tests drive (api's page
// tests and cmd's whole-system tests), with the flags this closed-network machine needs.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// InCI reports whether the CI variable is set to something other than false: there, a missing
// browser is a failure (make deps installs it), elsewhere a skip.
func InCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Path finds Chromium. Without it the test is skipped, except under CI, where it fails.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if InCI() {
		t.Fatalf("chromium not found but CI=%s: make deps (apt-get install chromium) should have installed it",
			os.Getenv("CI"))
	}
	t.Skip("chromium not found: `make deps` installs it; skipping the browser tests")
	return ""
}

// Start launches Chromium with a fresh profile and returns its context (no deadline: that would
// stop the browser). It stops when the test ends, or once limit has passed. The browser has
// started when Start returns, so its start-up is not charged to the first page's wait.
func Start(t testing.TB, limit time.Duration) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Path(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// Without these, Chromium's connections out are refused by this machine's closed
		// network, many at a time, and slow every start.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 800),
	)
	budget, cancelBudget := context.WithTimeout(context.Background(), limit)
	alloc, cancelAlloc := chromedp.NewExecAllocator(budget, opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	stop := func() {
		cancel()
		cancelAlloc()
		cancelBudget()
	}
	if err := chromedp.Do(ctx); err != nil {
		stop()
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(stop)
	return ctx
}
