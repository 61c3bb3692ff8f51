package browser

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/internal/needs"
)

// Browser is one headless Chromium with a fresh profile.
type Browser struct {
	t    testing.TB
	ctx  context.Context // the browser's (no deadline of its own: it would stop the browser early)
	stop func()
}

// Kill ends the browser at once, as a crash or a closed laptop would: no page gets to say
// goodbye.
func (b *Browser) Kill() { b.stop() }

// Start starts Chromium with a fresh profile and the flags this closed-network machine needs.
// It stops at the end of the test, or when the test's time budget (limit) is spent.
func Start(t testing.TB, limit time.Duration) *Browser {
	t.Helper()
	return start(t, limit)
}

// StartWithMicrophone is Start for a browser that is a phone: its microphone is a fake device
// playing wav (looped; 16-bit PCM), granted to every page without asking, and pages may play
// audio without a user's gesture.
func StartWithMicrophone(t testing.TB, limit time.Duration, wav string) *Browser {
	t.Helper()
	return start(t, limit,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
}

func start(t testing.TB, limit time.Duration, extra ...chromedp.ExecAllocatorOption) *Browser {
	t.Helper()
	path := needs.Program(t, "chromium", "chromium", "chromium-browser", "google-chrome")
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
	opts = append(opts, extra...)
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
	stop := func() {
		cancel()
		cancelAlloc()
		cancelBudget()
	}
	t.Cleanup(stop)
	return &Browser{t: t, ctx: ctx, stop: stop}
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
