package browser

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds the browser. Without it the test is skipped, except when CI is set to something
// truthy, where make deps should have installed it and its absence is a failure.
func Path(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if InCI() {
		t.Fatalf("chromium not found but CI=%s: make deps (apt-get install chromium) should have installed it", os.Getenv("CI"))
	}
	t.Skip("chromium not found: `make deps` installs it; skipping the browser tests")
	return ""
}

// InCI reports whether the CI variable is set to something truthy.
func InCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Browser is one headless Chromium with a fresh profile.
type Browser struct {
	t   testing.TB
	ctx context.Context // the browser's (no deadline of its own: it would stop the browser early)
}

// Start starts Chromium with a fresh profile and the flags this closed-network machine needs.
// It stops at the end of the test, or when the test's time budget (limit) is spent.
func Start(t testing.TB, limit time.Duration) *Browser {
	t.Helper()
	path := Path(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
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
	// Start the browser now, so that its start-up is not charged to the first page's wait.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		cancelBudget()
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		cancelBudget()
	})
	return &Browser{t: t, ctx: ctx}
}

// Page is the browser's first tab, sharing the browser's cookies.
func (b *Browser) Page() *Page { return &Page{t: b.t, ctx: b.ctx} }

// Tab opens a page in its own browser context: its own cookies, so another session.
func (b *Browser) Tab() *Page {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	return &Page{t: b.t, ctx: ctx}
}
