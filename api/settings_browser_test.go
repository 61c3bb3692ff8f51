package api

import (
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard-voip/switchboard/internal/poll"
)

// newDirWebEnv is the default web env over a live directory of the same users (dirYAML).
func newDirWebEnv(t *testing.T) *webEnv {
	t.Helper()
	e := newDefaultWebEnv(t)
	e.dir = newDirectory(t)
	e.restart()
	return e
}

// TestWebAdminEditsUser: an admin opens Team → Edit on a user, sets DND and saves it, and
// makes the user a member of a group and a queue.
func TestWebAdminEditsUser(t *testing.T) {
	e := newDirWebEnv(t)
	b := newBrowser(t, e, 40*time.Second)
	alice := b.tab()
	alice.signIn("1001")
	alice.Do(chromedp.Click(chromedp.CSS(`#team .row[data-ext="1003"] .row-edit`)))
	alice.WaitFor(`!document.getElementById('panel-user').hidden && document.getElementById('panel-team').hidden &&
		document.getElementById('user-availability-status') !== null && document.getElementById('user-form-name').value === 'Carol'`, 5*time.Second)
	alice.Do(chromedp.SetValue(chromedp.CSS(`#user-availability-status`), "dnd"),
		chromedp.Click(chromedp.CSS(`#user-availability button[type=submit]`)))
	poll.Require(t, 5*time.Second, "1003 on DND", func() bool {
		st, _ := e.table.Get("1003")
		return st.DND
	})
	alice.Do(chromedp.Click(chromedp.CSS(`#user-form-groups input[value="600"]`)),
		chromedp.Click(chromedp.CSS(`#user-form-queues input[value="700"]`)),
		chromedp.Click(chromedp.CSS(`#user-form button[type=submit]`)))
	poll.Require(t, 5*time.Second, "1003 in group 600 and queue 700", func() bool {
		cfg := e.dir.Config()
		g, _ := cfg.Group("600")
		q, _ := cfg.Queue("700")
		return slices.Contains(g.Members, "1003") && slices.Contains(q.Members, "1003")
	})
	// Back to the team: the row shows the DND.
	alice.Do(chromedp.Click(chromedp.CSS(`#user-back`)))
	alice.WaitFor(`!document.getElementById('panel-team').hidden && document.getElementById('panel-user').hidden`, 5*time.Second)
	alice.WaitRow("1003", "dnd", 5*time.Second)
}

// TestWebAdminAddsUser: Add user with a taken extension shows the error beside the extension
// field; with a free one the user is added and their row appears in the team list.
func TestWebAdminAddsUser(t *testing.T) {
	e := newDirWebEnv(t)
	b := newBrowser(t, e, 40*time.Second)
	alice := b.tab()
	alice.signIn("1001")
	alice.Do(chromedp.Click(chromedp.CSS(`#add-user`)))
	alice.WaitFor(`document.getElementById('user-form-ext') !== null`, 5*time.Second)
	alice.Do(chromedp.SetValue(chromedp.CSS(`#user-form-name`), "Erin"),
		chromedp.SetValue(chromedp.CSS(`#user-form-ext`), "1002"),
		chromedp.SetValue(chromedp.CSS(`#user-form-password`), "erin-secret"),
		chromedp.Click(chromedp.CSS(`#user-form button[type=submit]`)))
	alice.WaitFor(`document.getElementById('user-form-ext-error').innerText.includes('already') &&
		document.getElementById('user-form-ext').getAttribute('aria-invalid') === 'true'`, 5*time.Second)
	if _, ok := e.dir.Config().User("1005"); ok {
		t.Fatal("1005 exists before it was asked for")
	}
	alice.Do(chromedp.SetValue(chromedp.CSS(`#user-form-ext`), "1005"),
		chromedp.Click(chromedp.CSS(`#user-form button[type=submit]`)))
	alice.WaitFor(`!document.getElementById('panel-team').hidden && document.querySelector('#team .row[data-ext="1005"]') !== null`, 5*time.Second)
	if u, ok := e.dir.Config().User("1005"); !ok || u.Name != "Erin" {
		t.Errorf("1005: %+v", u)
	}
}

// TestWebNonAdminHasNoEdit: a user who is not an admin sees no Edit buttons, no Add user and
// no Directory.
func TestWebNonAdminHasNoEdit(t *testing.T) {
	e := newDirWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	if !eval[bool](bob, `document.querySelectorAll('#team .row-edit').length === 0 &&
		document.getElementById('add-user').hidden && document.getElementById('tab-directory').hidden`) {
		t.Error("a user who is not an admin is offered the admins' controls")
	}
	alice := b.tab()
	alice.signIn("1001")
	if n := eval[int](alice, `document.querySelectorAll('#team .row-edit').length`); n != 4 {
		t.Errorf("the admin sees %d Edit buttons, want 4", n)
	}
}

// TestWebProfileNoAnswerTimeout: a user changes their own no-answer timeout on their Profile.
func TestWebProfileNoAnswerTimeout(t *testing.T) {
	e := newDirWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	bob := b.tab()
	bob.signIn("1002")
	bob.Do(chromedp.Click(chromedp.CSS(`#tab-profile`)))
	bob.WaitFor(`document.getElementById('profile-form-no_answer_timeout') !== null &&
		document.getElementById('profile-form-no_answer_timeout').value === '20'`, 5*time.Second)
	bob.Do(chromedp.SetValue(chromedp.CSS(`#profile-form-no_answer_timeout`), "35"),
		chromedp.Click(chromedp.CSS(`#profile-form button[type=submit]`)))
	poll.Require(t, 5*time.Second, "1002's timeout 35s", func() bool {
		u, _ := e.dir.Config().User("1002")
		return u.NoAnswerTimeout == 35*time.Second
	})
	// A wrong current password is shown beside its field.
	bob.Do(chromedp.SetValue(chromedp.CSS(`#password-form-current`), "not-it-at-all"),
		chromedp.SetValue(chromedp.CSS(`#password-form-password`), "bob-new-secret"),
		chromedp.Click(chromedp.CSS(`#password-form button[type=submit]`)))
	bob.WaitFor(`document.getElementById('password-form-current').getAttribute('aria-invalid') === 'true' &&
		document.getElementById('password-form-current-error').innerText !== ''`, 5*time.Second)
}

// TestWebDirectoryGroups: an admin adds a ring group on the Directory tab, members as
// checkboxes; a problem shows beside its field.
func TestWebDirectoryGroups(t *testing.T) {
	e := newDirWebEnv(t)
	b := newBrowser(t, e, 30*time.Second)
	alice := b.tab()
	alice.signIn("1001")
	alice.Do(chromedp.Click(chromedp.CSS(`#tab-directory`)))
	alice.WaitFor(`document.getElementById('add-group') !== null`, 5*time.Second)
	alice.Do(chromedp.Click(chromedp.CSS(`#add-group`)))
	alice.WaitFor(`document.getElementById('group-form-ext') !== null`, 5*time.Second)
	alice.Do(chromedp.SetValue(chromedp.CSS(`#group-form-ext`), "601"),
		chromedp.SetValue(chromedp.CSS(`#group-form-name`), "Night"),
		chromedp.Click(chromedp.CSS(`#group-form button[type=submit]`)))
	alice.WaitFor(`document.getElementById('group-form-members').getAttribute('aria-invalid') === 'true' &&
		document.getElementById('group-form-members-error').innerText.includes('member')`, 5*time.Second)
	alice.Do(chromedp.Click(chromedp.CSS(`#group-form-members input[value="1003"]`)),
		chromedp.Click(chromedp.CSS(`#group-form button[type=submit]`)))
	poll.Require(t, 5*time.Second, "group 601", func() bool {
		g, ok := e.dir.Config().Group("601")
		return ok && g.Name == "Night" && slices.Equal(g.Members, []string{"1003"})
	})
	alice.WaitFor(`document.querySelector('#directory-groups .row[data-key="601"]') !== null`, 5*time.Second)
}
