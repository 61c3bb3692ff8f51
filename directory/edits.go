package directory

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboard-voip/switchboard/config"
)

// The edits an admin makes, as functions on a copy of the directory for Update. Each refuses
// with config.Problems whose paths are the entry's own keys ("ext", "members[1]") where a
// whole-directory check would blame another entry or say it less plainly; Update's checks then
// catch everything else, with whole-directory paths (see Blame).

// UserIndex returns the position of user ext in d, or -1.
func UserIndex(d *config.Directory, ext string) int {
	return slices.IndexFunc(d.Users, func(u config.User) bool { return u.Ext == ext })
}

// GroupIndex returns the position of group ext in d, or -1.
func GroupIndex(d *config.Directory, ext string) int {
	return slices.IndexFunc(d.Groups, func(g config.Group) bool { return g.Ext == ext })
}

// QueueIndex returns the position of queue ext in d, or -1.
func QueueIndex(d *config.Directory, ext string) int {
	return slices.IndexFunc(d.Queues, func(q config.Queue) bool { return q.Ext == ext })
}

// TrunkIndex returns the position of trunk name in d, or -1.
func TrunkIndex(d *config.Directory, name string) int {
	return slices.IndexFunc(d.Trunks, func(t config.Trunk) bool { return t.Name == name })
}

// Owner says what extension ext is in d ("user Alice", "group Sales"), or "" if it is free.
func Owner(d *config.Directory, ext string) string {
	if i := UserIndex(d, ext); i >= 0 {
		return "user " + d.Users[i].Name
	}
	if i := GroupIndex(d, ext); i >= 0 {
		return "group " + d.Groups[i].Name
	}
	if i := QueueIndex(d, ext); i >= 0 {
		return "queue " + d.Queues[i].Name
	}
	return ""
}

// ExtFree refuses ext (at key "ext") when another entry of d has it. self is the entry's
// current extension ("" for a new one), which it may keep.
func ExtFree(d *config.Directory, ext, self string) error {
	if ext == self {
		return nil
	}
	if who := Owner(d, ext); who != "" {
		return config.Problems{{Path: "ext", Message: fmt.Sprintf("extension %s is already %s", ext, who)}}
	}
	return nil
}

// Members checks a member list given for a group or queue (key "members"): each a user of
// d, named once. The checks of Update say the same with the directory's paths; this says it
// at the field the admin filled in.
func Members(d *config.Directory, members []string) error {
	var probs config.Problems
	for i, m := range members {
		p := "members[" + strconv.Itoa(i) + "]"
		switch {
		case slices.Index(members, m) < i:
			probs = append(probs, config.Problem{Path: p, Message: fmt.Sprintf("%s is listed twice", m)})
		case UserIndex(d, m) < 0:
			what := "no user has extension " + m
			if who := Owner(d, m); who != "" {
				what = m + " is " + who + ", not a user"
			}
			probs = append(probs, config.Problem{Path: p, Message: what})
		}
	}
	if len(probs) > 0 {
		return probs
	}
	return nil
}

// SetMemberships makes user ext a member of exactly groups and queues (keys "groups[i]",
// "queues[i]" for unknown ones), keeping its place in lists it stays in and adding it at the
// end of new ones.
func SetMemberships(d *config.Directory, ext string, groups, queues []string) error {
	var probs config.Problems
	for i, g := range groups {
		if GroupIndex(d, g) < 0 {
			probs = append(probs, config.Problem{Path: "groups[" + strconv.Itoa(i) + "]", Message: "no group has extension " + g})
		}
	}
	for i, q := range queues {
		if QueueIndex(d, q) < 0 {
			probs = append(probs, config.Problem{Path: "queues[" + strconv.Itoa(i) + "]", Message: "no queue has extension " + q})
		}
	}
	if len(probs) > 0 {
		return probs
	}
	for i := range d.Groups {
		d.Groups[i].Members = member(d.Groups[i].Members, ext, slices.Contains(groups, d.Groups[i].Ext))
	}
	for i := range d.Queues {
		d.Queues[i].Members = member(d.Queues[i].Members, ext, slices.Contains(queues, d.Queues[i].Ext))
	}
	return nil
}

// member returns list with ext in it or not.
func member(list []string, ext string, in bool) []string {
	has := slices.Contains(list, ext)
	switch {
	case in && !has:
		return append(list, ext)
	case !in && has:
		return slices.DeleteFunc(list, func(m string) bool { return m == ext })
	}
	return list
}

// Memberships returns the groups and queues user ext is a member of, in directory order.
func Memberships(d *config.Directory, ext string) (groups, queues []string) {
	groups, queues = []string{}, []string{}
	for _, g := range d.Groups {
		if slices.Contains(g.Members, ext) {
			groups = append(groups, g.Ext)
		}
	}
	for _, q := range d.Queues {
		if slices.Contains(q.Members, ext) {
			queues = append(queues, q.Ext)
		}
	}
	return groups, queues
}

// InUseError refuses to remove an entry that others lead to: a group or queue that would be
// left without members, a fallback or a trunk's number. Its message names them all.
type InUseError struct {
	What  string   // "user 1001"
	Users []string // where it is used, in words: "the fallback of group 600 (Sales)"
}

func (e *InUseError) Error() string {
	return e.What + " is in use: " + strings.Join(e.Users, "; ")
}

// RenameUser changes user old's extension to ext everywhere d refers to it: memberships,
// fallbacks (ext and voicemail:ext) and trunks' numbers, and records it in d.Renamed (the
// switch then moves the user's status, voicemail and greetings). The caller sets the new
// password: a digest hash is bound to the extension.
func RenameUser(d *config.Directory, old, ext string) {
	if i := UserIndex(d, old); i >= 0 {
		d.Users[i].Ext = ext
	}
	if d.Renamed == nil {
		d.Renamed = map[string]string{}
	}
	first := old
	for was, now := range d.Renamed {
		if now == old { // renamed twice in one edit: from the first
			first = was
		}
	}
	d.Renamed[first] = ext
	rename := func(list []string) {
		for i, m := range list {
			if m == old {
				list[i] = ext
			}
		}
	}
	for i := range d.Groups {
		rename(d.Groups[i].Members)
	}
	for i := range d.Queues {
		rename(d.Queues[i].Members)
	}
	Redirect(d, old, ext)
}

// Redirect sends to ext what d sent to old, an extension that changes (a user's, a group's
// or a queue's): fallbacks (old, and voicemail:old) and trunks' numbers. The entry itself is
// the caller's to change.
func Redirect(d *config.Directory, old, ext string) {
	fallback := func(fb *string) {
		switch *fb {
		case old:
			*fb = ext
		case "voicemail:" + old:
			*fb = "voicemail:" + ext
		}
	}
	for i := range d.Groups {
		fallback(&d.Groups[i].Fallback)
	}
	for i := range d.Queues {
		fallback(&d.Queues[i].Fallback)
	}
	for _, t := range d.Trunks {
		for did, target := range t.DIDs {
			if target == old {
				t.DIDs[did] = ext
			}
		}
	}
}

// RemoveUser takes user ext out of d and out of every group and queue. It is refused
// (*InUseError) when that would leave a group or queue without members, or when a fallback or a
// trunk's number leads to the user; ErrNotFound when there is no such user.
func RemoveUser(d *config.Directory, ext string) error {
	i := UserIndex(d, ext)
	if i < 0 {
		return ErrNotFound
	}
	var uses []string
	for _, g := range d.Groups {
		if len(g.Members) == 1 && g.Members[0] == ext {
			uses = append(uses, fmt.Sprintf("the only member of group %s (%s)", g.Ext, g.Name))
		}
	}
	for _, q := range d.Queues {
		if len(q.Members) == 1 && q.Members[0] == ext {
			uses = append(uses, fmt.Sprintf("the only member of queue %s (%s)", q.Ext, q.Name))
		}
	}
	uses = append(uses, leadsTo(d, ext)...)
	if len(uses) > 0 {
		return &InUseError{What: "user " + ext, Users: uses}
	}
	d.Users = slices.Delete(d.Users, i, i+1)
	return SetMemberships(d, ext, nil, nil)
}

// RemoveGroup takes group ext out of d, unless a fallback or a trunk's number leads to it.
func RemoveGroup(d *config.Directory, ext string) error {
	return removeUnused(&d.Groups, d, "group", ext, GroupIndex(d, ext))
}

// RemoveQueue takes queue ext out of d, unless a fallback or a trunk's number leads to it.
// Callers waiting in it are the switch's concern (it refuses while there are any).
func RemoveQueue(d *config.Directory, ext string) error {
	return removeUnused(&d.Queues, d, "queue", ext, QueueIndex(d, ext))
}

// removeUnused deletes entry i (-1: none) of list, one of d's, unless something leads to ext.
func removeUnused[E any](list *[]E, d *config.Directory, kind, ext string, i int) error {
	if i < 0 {
		return ErrNotFound
	}
	if uses := leadsTo(d, ext); len(uses) > 0 {
		return &InUseError{What: kind + " " + ext, Users: uses}
	}
	*list = slices.Delete(*list, i, i+1)
	return nil
}

// RemoveTrunk takes trunk name out of d.
func RemoveTrunk(d *config.Directory, name string) error {
	i := TrunkIndex(d, name)
	if i < 0 {
		return ErrNotFound
	}
	d.Trunks = slices.Delete(d.Trunks, i, i+1)
	return nil
}

// leadsTo lists the fallbacks and trunk numbers that send calls to ext.
func leadsTo(d *config.Directory, ext string) []string {
	var uses []string
	leads := func(fb string) bool { return fb == ext || fb == "voicemail:"+ext }
	for _, g := range d.Groups {
		if g.Ext != ext && leads(g.Fallback) {
			uses = append(uses, fmt.Sprintf("the fallback of group %s (%s)", g.Ext, g.Name))
		}
	}
	for _, q := range d.Queues {
		if q.Ext != ext && leads(q.Fallback) {
			uses = append(uses, fmt.Sprintf("the fallback of queue %s (%s)", q.Ext, q.Name))
		}
	}
	for _, t := range d.Trunks {
		dids := make([]string, 0, len(t.DIDs))
		for did, target := range t.DIDs {
			if target == ext {
				dids = append(dids, did)
			}
		}
		slices.Sort(dids)
		for _, did := range dids {
			uses = append(uses, fmt.Sprintf("number %s of trunk %s", did, t.Name))
		}
	}
	return uses
}

// Blame picks the problem of err to show beside one field of the entry at prefix (such as
// "users[3]"): the first problem under prefix, with the prefix cut off its path ("ext",
// "members[1]"), or the first problem elsewhere with its whole path. ok is false when err is
// not config.Problems.
func Blame(err error, prefix string) (field, message string, ok bool) {
	var probs config.Problems
	if !errors.As(err, &probs) || len(probs) == 0 {
		return "", "", false
	}
	for _, p := range probs {
		if rest, under := strings.CutPrefix(p.Path, prefix); under && (rest == "" || rest[0] == '.' || rest[0] == '[') {
			return strings.TrimPrefix(rest, "."), p.Message, true
		}
	}
	return probs[0].Path, probs[0].Message, true
}
