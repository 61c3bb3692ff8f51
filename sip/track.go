package sip

import "slices"

// A call tells the status table and BLF watchers what its users are doing: the callee's phones
// ring (early), the call is answered (confirmed; both users busy), the call ends (terminated;
// both users free again). Every state set here is undone in cleanup, whatever way the call ends.

// dialogID names this call in every user's dialog-info.
func (c *call) dialogID() string { return c.id }

// trackDialog sets ext's view of this call and remembers it for cleanup.
func (c *call) trackDialog(ext, direction, state, remote string) {
	if _, ok := c.s.opts.Users.Secret(ext); !ok {
		return // trunk numbers and unknown callers have no lamps
	}
	c.mu.Lock()
	if c.tracked == nil {
		c.tracked = make(map[string]string)
	}
	c.tracked[ext] = direction
	c.mu.Unlock()
	var ids dialogIDs
	if c.a != nil && c.a.uas {
		ids = dialogIDs{localTag: c.a.localTag, remoteTag: c.a.remoteTag}
		if direction == "recipient" {
			ids.remoteName = c.s.opts.Users.DisplayName(c.caller)
		}
	}
	c.s.setDialog(ext, c.dialogID(), direction, state, remote, ids)
}

// untrackDialog ends ext's view of this call (a callee whose phones stopped ringing).
func (c *call) untrackDialog(ext string) {
	c.mu.Lock()
	_, ok := c.tracked[ext]
	delete(c.tracked, ext)
	c.mu.Unlock()
	if ok {
		c.s.setDialog(ext, c.dialogID(), "", dialogTerminated, "", dialogIDs{})
	}
}

// onCall marks ext busy for as long as this call lasts.
func (c *call) onCall(ext string) {
	if c.s.opts.Presence == nil {
		return
	}
	if _, ok := c.s.opts.Users.Secret(ext); !ok {
		return
	}
	c.mu.Lock()
	for _, e := range c.busy {
		if e == ext {
			c.mu.Unlock()
			return
		}
	}
	c.busy = append(c.busy, ext)
	c.mu.Unlock()
	// Watchers hear of it from the table's ordered feed (watchPresence).
	c.s.opts.Presence.CallStarted(ext, c.dialogID())
}

// offCall ends ext's part in this call (a user who transferred it away).
func (c *call) offCall(ext string) {
	c.mu.Lock()
	i := slices.Index(c.busy, ext)
	if i >= 0 {
		c.busy = slices.Delete(c.busy, i, i+1)
	}
	c.mu.Unlock()
	if i >= 0 && c.s.opts.Presence != nil {
		c.s.opts.Presence.CallEnded(ext, c.dialogID())
	}
}

// untrack undoes everything the call reported; called once from cleanup.
func (c *call) untrack() {
	c.mu.Lock()
	busy, tracked := c.busy, c.tracked
	c.busy, c.tracked = nil, nil
	c.mu.Unlock()
	for ext := range tracked {
		c.s.setDialog(ext, c.dialogID(), "", dialogTerminated, "", dialogIDs{})
	}
	if c.s.opts.Presence != nil {
		for _, ext := range busy {
			c.s.opts.Presence.CallEnded(ext, c.dialogID())
		}
	}
}
