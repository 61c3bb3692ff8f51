package main

import (
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/queuestats"
	"github.com/switchboard-voip/switchboard/routing"
)

// statusRows is the presence table's side of the directory: a row per user.
type statusRows interface {
	Add(u presence.User) (presence.State, error)
	Remove(ext string) error
	Rename(ext, name string) error
}

// phoneRegistrar forgets a removed user's phones.
type phoneRegistrar interface {
	RemoveAll(aor string)
}

// callEnder hangs up a removed user's calls (*sip.Server).
type callEnder interface {
	EndCallsOf(ext, why string) int
}

// queueFollower gives a running queue its new settings (*flow.Engine).
type queueFollower interface {
	QueueChanged(q routing.Queue)
}

// directoryFollower keeps the running switch in step with the directory: a user added can
// register at once and shows on the team view; a user whose password changed has their phones
// forgotten (they register again with the new one); a user removed has their phones forgotten
// (their next REGISTER is refused), their calls ended and their row gone; a user whose
// extension changed is both, and keeps their status, greetings and voicemail (renames.go); a
// queue's new members are offered waiting callers at once. It runs in the directory's change listener,
// so changes arrive one at a time, in order. The SIP server and the flows are made after the
// directory (and a cluster's directory may change before they exist): until set, there is no
// call to end and no queue running.
type directoryFollower struct {
	dir       *switchDirectory
	rows      statusRows
	registrar phoneRegistrar
	today     *queuestats.Today
	moves     extMover // what a renamed user keeps
	log       *zap.Logger

	calls  atomic.Pointer[callEnder]
	queues atomic.Pointer[queueFollower]
}

// serveCalls sets the SIP server whose calls a removed user's calls are.
func (f *directoryFollower) serveCalls(c callEnder) { f.calls.Store(&c) }

// serveQueues sets the flows whose running queues follow the directory.
func (f *directoryFollower) serveQueues(q queueFollower) { f.queues.Store(&q) }

// apply follows one accepted change.
func (f *directoryFollower) apply(c directory.Change) {
	log := f.log.With(zap.String("by", c.By))
	for _, u := range c.New.Users {
		was, existed := c.Old.User(u.Ext)
		switch {
		case !existed:
			if _, err := f.rows.Add(presence.User{Ext: u.Ext, Name: u.Name}); err != nil {
				log.Error("user added to the directory, but not to the status table", zap.String("ext", u.Ext), zap.Error(err))
				continue
			}
			log.Info("user added", zap.String("ext", u.Ext), zap.String("name", u.Name))
		case was.HA1MD5 != u.HA1MD5 || was.HA1SHA256 != u.HA1SHA256:
			// A new password (often a reset after a leak): the phones registered with the old
			// one stop taking the user's calls now, not at their next REGISTER.
			f.registrar.RemoveAll(u.Ext)
			log.Info("password changed: the user's phones must register again", zap.String("ext", u.Ext))
		}
		if existed && was.Name != u.Name {
			if err := f.rows.Rename(u.Ext, u.Name); err != nil {
				log.Error("user renamed in the directory, but not in the status table", zap.String("ext", u.Ext), zap.Error(err))
			}
		}
	}
	// Both rows are in the table now: the new extension's added above, the old one's removed
	// below.
	for from, to := range c.Renamed {
		if err := f.moves.move(from, to); err != nil {
			log.Error("user's extension changed, but not all they had moved with it", zap.String("from", from),
				zap.String("ext", to), zap.Error(err))
			continue
		}
		log.Info("user's extension changed: status, hours, greetings and voicemail moved", zap.String("from", from),
			zap.String("ext", to))
	}
	for _, u := range c.Old.Users {
		if _, still := c.New.User(u.Ext); still {
			continue
		}
		f.registrar.RemoveAll(u.Ext)
		ended := 0
		if calls := f.calls.Load(); calls != nil {
			ended = (*calls).EndCallsOf(u.Ext, "user "+u.Ext+" was removed from the directory")
		}
		if err := f.rows.Remove(u.Ext); err != nil {
			log.Error("user removed from the directory, but not from the status table", zap.String("ext", u.Ext), zap.Error(err))
		}
		log.Info("user removed: phones unregistered, calls ended", zap.String("ext", u.Ext), zap.Int("calls", ended))
	}
	f.followQueues(c.Old, c.New)
}

// followQueues has the wallboard count every queue, and each running queue take its settings.
func (f *directoryFollower) followQueues(old, cur *config.Config) {
	exts := make([]string, 0, len(cur.Queues))
	for _, q := range cur.Queues {
		exts = append(exts, q.Ext)
	}
	f.today.SetQueues(exts)
	queues := f.queues.Load()
	if queues == nil {
		return
	}
	for _, q := range cur.Queues {
		if _, existed := old.Queue(q.Ext); !existed {
			continue // no caller has been in it: nothing runs yet
		}
		if rq, ok := f.dir.Queue(q.Ext); ok {
			(*queues).QueueChanged(rq)
		}
	}
}
