// Package presence keeps the status table: for every user, whether they are Available, Busy
// (on a call) or DND, and who watches those statuses change.
//
// The effective status is DND if the user set Do Not Disturb, else Busy while the user is on
// at least one call, else Available. Registration never changes it. DND is a setting, with a
// reason, an end time and who made it (Change, Setting), stored durably with the history of
// changes (see Store) before it is applied; working hours (Hours) and ends of timed DND change
// it on the table's clock, in the order of precedence in precedence.go. Busy is derived from
// calls and never stored.
//
// A user's calls are a set of call ids, so reports of a call starting or ending are
// idempotent: a retried or redelivered report changes nothing, and the calls of an owner that is
// gone can be removed by id (EndCallsWhere).
//
// The users are the directory's, and may change while the switch runs: Add, Remove and Rename
// change a row and tell watchers like any other change (a removed user's last state has
// Removed set). Removing a user keeps their stored setting, so one added back gets it again.
//
// Readers follow changes through a Feed: Watch coalesces to the latest state per user (a web
// page), WatchOrdered delivers every change in order up to a bound (a SIP notifier, where a
// short call's busy must not be lost). Each consumer declares the methods it needs as its own
// interface; the Table here is the embedded, single-node backend.
//
// The package does not log: it returns errors and leaves logging to its callers.
package presence
