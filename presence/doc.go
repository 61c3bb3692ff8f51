// Package presence keeps the status table: for every user, whether they are Available, Busy
// (on a call) or DND, and who watches those statuses change.
//
// The effective status is DND if the user set Do Not Disturb, else Busy while the user is on
// at least one call, else Available. Registration never changes it. DND is the user's own
// setting and is stored durably (see Store) before a change is applied; Busy is derived from
// calls and never stored.
//
// The package does not log: it returns errors and leaves logging to its callers.
package presence
