package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/switchboard-voip/switchboard/media/greeting"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"
)

// A user whose extension an admin changes keeps what the switch holds under the extension:
// their DND setting and working hours, their uploaded greetings and their voicemail. The
// node where the change was made moves them (a cluster's others get the DND setting and the
// hours through their buckets).

// extStatuses is the presence table's part a move needs.
type extStatuses interface {
	Get(ext string) (presence.State, bool)
	Set(ext string, c presence.Change) (presence.State, error)
	Hours(ext string) (presence.Hours, bool)
	SetHours(ext string, h *presence.Hours) (presence.State, error)
}

// extGreetings is the greeting store's part a move needs (*greeting.Store).
type extGreetings interface {
	Path(ext, kind string) (string, bool)
	Put(ext, kind string, wav []byte) error
	Delete(ext, kind string) error
}

// extMailboxes is the voicemail store's part a move needs (*mailbox.Store).
type extMailboxes interface {
	List(box string) ([]mailbox.Message, error)
	Path(box, id string) (string, error)
	Import(m mailbox.Message, wav io.Reader) error
	Delete(box, id string) error
}

// extMover moves what a renamed user had from one extension to another. Mailboxes is nil in a
// cluster: every node keeps each message and replicates recordings and deletions, not moves,
// so there the messages stay in the old extension's box (an admin still reads it).
type extMover struct {
	statuses  extStatuses
	greetings extGreetings
	mailboxes extMailboxes
}

// move carries from's DND setting, working hours, greetings and voicemail to to, whose row is
// already in the table. It does all it can and returns every failure.
func (m extMover) move(from, to string) error {
	var errs []error
	if st, ok := m.statuses.Get(from); ok && st.DND {
		c := presence.Change{DND: true, Reason: st.Reason, Until: st.Until, Source: st.Source, By: st.By}
		if _, err := m.statuses.Set(to, c); err != nil {
			errs = append(errs, fmt.Errorf("DND setting: %w", err))
		}
	}
	if h, ok := m.statuses.Hours(from); ok {
		if _, err := m.statuses.SetHours(to, &h); err != nil {
			errs = append(errs, fmt.Errorf("working hours: %w", err))
		}
	}
	for _, kind := range greeting.Kinds {
		path, ok := m.greetings.Path(from, kind)
		if !ok {
			continue
		}
		wav, err := os.ReadFile(path)
		if err == nil {
			err = m.greetings.Put(to, kind, wav)
		}
		if err == nil {
			err = m.greetings.Delete(from, kind)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s greeting: %w", kind, err))
		}
	}
	if m.mailboxes != nil {
		errs = append(errs, m.moveVoicemail(from, to))
	}
	return errors.Join(errs...)
}

// moveVoicemail moves every message of box from into box to: each is copied in (Import, which
// syncs it) before it is deleted from the old box, so a crash in between leaves it in both,
// never in neither.
func (m extMover) moveVoicemail(from, to string) error {
	msgs, err := m.mailboxes.List(from)
	if err != nil {
		return fmt.Errorf("voicemail of %s: %w", from, err)
	}
	var errs []error
	for _, msg := range msgs {
		if err := m.moveMessage(msg, to); err != nil {
			errs = append(errs, fmt.Errorf("voicemail %s: %w", msg.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (m extMover) moveMessage(msg mailbox.Message, to string) error {
	path, err := m.mailboxes.Path(msg.Box, msg.ID)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	moved := msg
	moved.Box = to
	if err := m.mailboxes.Import(moved, f); err != nil && !errors.Is(err, mailbox.ErrExists) {
		return err
	}
	return m.mailboxes.Delete(msg.Box, msg.ID)
}
