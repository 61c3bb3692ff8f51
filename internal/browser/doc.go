// Package browser drives a real headless Chromium (Debian's chromium package; `make deps`
// installs it) over the DevTools protocol with chromedp, for the tests of Switchboard's web
// page in api and cmd/switchboard. Without Chromium a test is skipped, except under CI, where
// a missing browser is a failure (internal/needs).
//
// It is test support: its functions take a *testing.T and fail the test on error.
package browser
