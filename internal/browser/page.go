package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Page is one tab. Its methods fail the test, with what the page shows, on error.
type Page struct {
	t   testing.TB
	ctx context.Context
}

// Context is the tab's chromedp context, for steps this package has no method for.
func (p *Page) Context() context.Context { return p.ctx }

// Do runs steps.
func (p *Page) Do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v", p.Explain(err))
	}
}

// Explain adds the page's visible text to err, to make a failure readable.
func (p *Page) Explain(err error) error {
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	text, terr := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 800) : ""`))
	if terr != nil {
		return err
	}
	return fmt.Errorf("%w\npage shows: %q", err, strings.Join(strings.Fields(text), " "))
}

// Eval evaluates a JavaScript expression in p.
func Eval[T any](p *Page, js string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", js, p.Explain(err))
	}
	return v
}

// WaitFor waits until the expression is truthy, at most within; it returns how long it took.
func (p *Page) WaitFor(js string, within time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingTimeout(within), chromedp.WithPollingInterval(20*time.Millisecond)))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
			err = fmt.Errorf("not true within %v: %s (%w)", within, js, err)
		}
		p.t.Fatalf("wait: %v", p.Explain(err))
	}
	return time.Since(start)
}

// Screenshot sets the viewport to width×height (a phone: scale 2, mobile, portrait) and fails
// the test if the page is wider than that. With a dir it also captures the viewport into
// dir/name and returns the path; with "" it captures nothing and returns "".
func (p *Page) Screenshot(dir, name string, width, height int64, phone bool) string {
	p.t.Helper()
	var opts []chromedp.EmulateViewportOption
	if phone {
		opts = []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait}
	}
	p.Do(chromedp.EmulateViewport(width, height, opts...))
	// Let the layout settle at the new size.
	p.WaitFor(fmt.Sprintf(`window.innerWidth === %d`, width), 2*time.Second)
	path := ""
	if dir != "" {
		png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			p.t.Fatalf("screenshot %s: %v", name, err)
		}
		path = filepath.Join(dir, name)
		if err := os.WriteFile(path, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	if w := Eval[int](p, `document.documentElement.scrollWidth`); w > int(width) {
		p.t.Errorf("%s: the page is %d px wide in a %d px viewport", name, w, width)
	}
	return path
}
