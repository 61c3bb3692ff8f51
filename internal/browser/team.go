package browser

import (
	"fmt"
	"time"
)

// The team list of Switchboard's page: one row per user, data-status on the row, a pill with
// the status word and a coloured dot.

// RowJS is an expression for ext's row on the team list (or a stand-in without status).
func RowJS(ext string) string {
	return fmt.Sprintf(`(document.querySelector('#team .row[data-ext="%s"]') || {dataset: {}})`, ext)
}

// pills are the word and dot colour the page shows for each status.
var pills = map[string]struct{ text, dot string }{
	"available": {"Available", "rgb(26, 127, 55)"},
	"busy":      {"Busy", "rgb(207, 34, 46)"},
	"dnd":       {"DND", "rgb(209, 139, 0)"},
}

// WaitRow waits until ext's row has data-status status, then checks the pill's text and dot
// colour that go with it. It returns how long the wait took.
func (p *Page) WaitRow(ext, status string, within time.Duration) time.Duration {
	p.t.Helper()
	took := p.WaitFor(fmt.Sprintf(`%s.dataset.status === %q`, RowJS(ext), status), within)
	want := pills[status]
	got := Eval[[]string](p, fmt.Sprintf(`(() => {
		const p = document.querySelector('#team .row[data-ext="%s"] .pill');
		return [p.innerText.trim(), getComputedStyle(p.querySelector('.dot')).backgroundColor];
	})()`, ext))
	if got[0] != want.text || got[1] != want.dot {
		p.t.Errorf("row %s (%s): pill shows %q in %s, want %q in %s", ext, status, got[0], got[1], want.text, want.dot)
	}
	return took
}

// RowHint is the text under ext's name ("1002 · on a call").
func (p *Page) RowHint(ext string) string {
	p.t.Helper()
	return Eval[string](p, fmt.Sprintf(`document.querySelector('#team .row[data-ext="%s"] .ext').innerText`, ext))
}
