// Package history keeps the outcome of every call in a bbolt database: who
// called whom, whether it was answered, went to voicemail, was missed,
// rejected or abandoned, and why. Records are listed newest first, a page at
// a time, either all of them (for an admin) or those of one extension.
//
// Each Add is one write transaction: the record, its index entries (one per
// extension it involves) and the record count change together, and the
// oldest records beyond the retention limit are pruned in the same
// transaction. So after a crash the index and the records always agree, the
// count is exact, and a record Add has returned for is on disk.
//
// The package returns errors and never logs.
package history

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/bbolt"

	"github.com/switchboard-voip/switchboard/internal/sortid"
)

// Bucket names. The DB is shared with the rest of the switch, so ours all
// start with "history".
var (
	// recordsBucket holds record id → JSON Record. Ids sort by time, so
	// the first key is the oldest record and the last the newest.
	recordsBucket = []byte("history.records")
	// indexBucket holds ext + 0x00 + id → nothing, one key per distinct
	// extension a record involves (From, To, AnsweredBy, Via), so one
	// user's records are a reverse key scan over their prefix.
	indexBucket = []byte("history.index")
	// metaBucket holds countKey → the number of records (big-endian
	// uint64), kept in the same transactions as the records.
	metaBucket = []byte("history.meta")
	countKey   = []byte("count")
)

// recordsFill is how full Add packs the records' pages. Ids grow with time, so records are
// appended: at bbolt's default (half) every page it split off stayed half empty for good,
// and the file and what the switch maps of it were twice the records (16.7 MB of pages for
// 7.8 MB of records after 24,000 calls). Packed full, a record that lands below the last
// page (one of several ended in the same millisecond) costs at worst one more split.
const recordsFill = 1.0

// DefaultMaxRecords is how many records a Store keeps unless
// WithMaxRecords says otherwise.
const DefaultMaxRecords = 100_000

// Limits on what a Record may hold, so one bad caller cannot bloat the DB.
const (
	maxPartyLen = 128 // From, To, AnsweredBy, Voicemail, Via
	maxTrace    = 64  // lines of Trace kept
	maxTraceLen = 512 // bytes kept per Trace line
	maxSkipped  = 64  // Skipped entries kept
)

// Outcome is how a call ended.
type Outcome string

// The outcomes a Record may have.
const (
	// Answered: a user (or queue agent) took the call.
	Answered Outcome = "answered"
	// Voicemail: the caller reached a voicemail box.
	Voicemail Outcome = "voicemail"
	// Missed: nobody answered and there was no voicemail.
	Missed Outcome = "missed"
	// Rejected: the call was refused with a SIP error (404, 480, 486,
	// 488, …), given in Record.Code.
	Rejected Outcome = "rejected"
	// Abandoned: the caller hung up first, while ringing, on hold or
	// queued.
	Abandoned Outcome = "abandoned"
	// Feature: a feature code (*78, *79, *97).
	Feature Outcome = "feature"
	// Callback: the caller, held for a busy user or queued, asked to be called back and hung
	// up (the callback is a call of its own, with its own record).
	Callback Outcome = "callback"
)

// Valid reports whether o is one of the outcomes above.
func (o Outcome) Valid() bool { return slices.Contains(Outcomes(), o) }

// Outcomes returns every outcome a Record may have, in a fresh slice: what a consumer counting
// calls by outcome (a metric) lists, so that an outcome added here is counted there too.
func Outcomes() []Outcome {
	return []Outcome{Answered, Voicemail, Missed, Rejected, Abandoned, Feature, Callback}
}

// Record is one call's outcome.
type Record struct {
	// ID orders records (newest is greatest) and is unique. Add assigns
	// one when it is empty: the UTC time of the Add to the millisecond
	// and a random suffix (20261125T074512123Z-1a2b3c4d), so records list
	// in the order they were added, which is the order calls ended.
	ID string `json:"id"`
	// Started is when the call came in; Ended when it ended.
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended"`
	// From is the caller's extension or number.
	From string `json:"from"`
	// To is the dialled extension, number or feature code.
	To string `json:"to"`
	// Outcome is how the call ended.
	Outcome Outcome `json:"outcome"`
	// AnsweredBy is the extension of the user who took the call.
	AnsweredBy string `json:"answered_by,omitempty"`
	// Voicemail is the box the message went to.
	Voicemail string `json:"voicemail,omitempty"`
	// HeldMS is the time spent on hold waiting for a busy user or in a
	// queue, in milliseconds.
	HeldMS int64 `json:"held_ms,omitempty"`
	// TalkMS is the time the call was connected, in milliseconds.
	TalkMS int64 `json:"talk_ms,omitempty"`
	// Code is the SIP status of a rejected call.
	Code int `json:"code,omitempty"`
	// Via is the group or queue extension the call came through.
	Via string `json:"via,omitempty"`
	// Trace is routing's reasons for what happened.
	Trace []string `json:"trace,omitempty"`
	// Skipped are the users whose phones did not ring for this call, and why: the answer to
	// "why didn't my phone ring?". The record is listed in each one's history.
	Skipped []Skip `json:"skipped,omitempty"`
}

// Why a user's phone did not ring.
const (
	SkipDND     = "dnd"      // on Do Not Disturb (the DND fields say whose doing)
	SkipOnCall  = "on_call"  // on another call
	SkipNoPhone = "no_phone" // no phone registered
)

// Skip is one user routing passed over.
type Skip struct {
	Ext string `json:"ext"`
	Why string `json:"why"` // SkipDND, SkipOnCall or SkipNoPhone
	// Via is the group the user was skipped in, ViaName its name; empty for a call to the user.
	Via     string `json:"via,omitempty"`
	ViaName string `json:"via_name,omitempty"`
	// The DND setting's reason, source, who set it and when (Why SkipDND).
	Reason string    `json:"reason,omitempty"`
	Source string    `json:"source,omitempty"`
	By     string    `json:"by,omitempty"`
	At     time.Time `json:"at,omitzero"`
}

// parties returns the distinct non-empty extensions r involves, which are
// the ones it is indexed under.
func (r *Record) parties() []string {
	out := make([]string, 0, 4+len(r.Skipped))
	add := func(p string) {
		if p != "" && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	add(r.From)
	add(r.To)
	add(r.AnsweredBy)
	add(r.Via)
	for _, s := range r.Skipped {
		add(s.Ext)
	}
	return out
}

// Store is the call history in buckets of a bbolt DB owned by the caller.
// Its methods are safe for concurrent use.
type Store struct {
	db  *bbolt.DB
	max uint64
	now func() time.Time // replaced by tests

	ids   sortid.Generator
	onAdd func(Record) // see OnAdd
}

// OnAdd sets f to be told of every record Add stores, after it is durable: the switch's own
// calls and records imported from other nodes alike, each once (an Add refused with ErrExists
// is not told). Figures kept beside the history (today's queue counts) follow it this way
// without reading the store again. f runs on the goroutine that called Add, so it must not
// wait. Set it once, before the store is used.
func (s *Store) OnAdd(f func(Record)) { s.onAdd = f }

// Option changes how Open sets up a Store.
type Option func(*Store) error

// WithMaxRecords sets how many records the Store keeps (DefaultMaxRecords
// without it); Add prunes the oldest beyond that. n must be at least 1.
func WithMaxRecords(n int) Option {
	return func(s *Store) error {
		if n < 1 {
			return fmt.Errorf("%w: max records %d, want at least 1", ErrInvalid, n)
		}
		s.max = uint64(n)
		return nil
	}
}

// Open returns the call history kept in db, creating its buckets if
// missing. The caller keeps ownership of db. If the limit is lower than the
// number of records already stored, the next Add prunes down to it.
func Open(db *bbolt.DB, opts ...Option) (*Store, error) {
	s := &Store{db: db, max: DefaultMaxRecords, now: time.Now}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		recs, err := tx.CreateBucketIfNotExists(recordsBucket)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(indexBucket); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		if meta.Get(countKey) == nil {
			// First open: count once (nothing, normally); from now on
			// every Add keeps the count.
			return writeCount(tx, uint64(recs.Stats().KeyN))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: creating buckets: %w", err)
	}
	return s, nil
}

// Add stores r and returns it as stored: with an id assigned if r.ID was
// empty, times in UTC, Ended set to now if it was zero, and Trace cut to 64
// lines of 512 bytes. The record is
// durable when Add returns (concurrent Adds share one commit). If the store
// then holds more than its limit, the oldest records are removed in the same
// transaction.
//
// Add fails with ErrInvalid if r is malformed (an id that is not ValidID,
// an unknown outcome, no To, a party longer than 128 bytes or holding
// control characters, Ended before Started, negative durations, a Code
// outside 100-699) and with ErrExists if r.ID is taken. From may be empty
// (a caller with no number).
func (s *Store) Add(r Record) (Record, error) {
	if r.ID == "" {
		var at time.Time
		r.ID, at = s.newID()
		if r.Ended.IsZero() {
			r.Ended = at
		}
	} else if r.Ended.IsZero() {
		r.Ended = s.now()
	}
	r.Ended = r.Ended.UTC()
	if !r.Started.IsZero() {
		r.Started = r.Started.UTC()
	}
	r.Trace = clampTrace(r.Trace)
	if len(r.Skipped) > maxSkipped {
		r.Skipped = r.Skipped[:maxSkipped:maxSkipped]
	}
	if err := validate(&r); err != nil {
		return Record{}, fmt.Errorf("history: adding record: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return Record{}, fmt.Errorf("history: encoding record %s: %w", r.ID, err)
	}
	parties := r.parties()

	// Batch, not Update: calls end concurrently, and a busy switch should
	// not pay one fsync per call. The function may run more than once
	// (bbolt retries a batch without a failing call), so it only touches
	// the transaction.
	err = s.db.Batch(func(tx *bbolt.Tx) error {
		recs := tx.Bucket(recordsBucket)
		recs.FillPercent = recordsFill
		if recs.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("%w: %s", ErrExists, r.ID)
		}
		if err := recs.Put([]byte(r.ID), data); err != nil {
			return err
		}
		idx := tx.Bucket(indexBucket)
		for _, p := range parties {
			if err := idx.Put(indexKey(p, r.ID), nil); err != nil {
				return err
			}
		}
		n := readCount(tx) + 1
		for n > s.max {
			if err := pruneOldest(tx); err != nil {
				return err
			}
			n--
		}
		return writeCount(tx, n)
	})
	if err != nil {
		return Record{}, fmt.Errorf("history: adding record: %w", err)
	}
	if s.onAdd != nil {
		s.onAdd(r)
	}
	return r, nil
}

// List returns at most limit records, newest first, whose ids are strictly
// less than before ("" starts at the newest record). With ext set it
// returns only records involving ext as From, To, AnsweredBy or Via,
// reading that extension's index (not every record); ext "" lists all.
//
// To page, pass the id of the last record of one page as before for the
// next: records added meanwhile have greater ids, so pages neither repeat
// nor skip records. List fails with ErrInvalid for a limit below 1 or a
// before that is not a well-formed id (see ValidID); an id that names no
// record is fine.
func (s *Store) List(ext string, limit int, before string) ([]Record, error) {
	if limit < 1 {
		return nil, fmt.Errorf("history: listing: %w: limit %d", ErrInvalid, limit)
	}
	if before != "" && !ValidID(before) {
		return nil, fmt.Errorf("history: listing: %w: before %q", ErrInvalid, before)
	}
	if ext != "" && !validParty(ext) {
		return nil, fmt.Errorf("history: listing: %w: extension %q", ErrInvalid, ext)
	}
	out := []Record{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		recs := tx.Bucket(recordsBucket)
		if ext == "" {
			c := recs.Cursor()
			for k, v := seekBefore(c, nil, before); k != nil && len(out) < limit; k, v = c.Prev() {
				r, err := decode(k, v)
				if err != nil {
					return err
				}
				out = append(out, r)
			}
			return nil
		}
		prefix := indexKey(ext, "")
		c := tx.Bucket(indexBucket).Cursor()
		for k, _ := seekBefore(c, prefix, before); k != nil && len(out) < limit; k, _ = c.Prev() {
			if !bytes.HasPrefix(k, prefix) {
				break
			}
			id := k[len(prefix):]
			v := recs.Get(id)
			if v == nil {
				// Cannot happen: entries and records change in the
				// same transactions. Listing the rest beats failing.
				continue
			}
			r, err := decode(id, v)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: listing: %w", err)
	}
	return out, nil
}

// seekBefore positions c on the greatest key below prefix+before (below
// everything starting with prefix when before is ""), which may lie outside
// prefix; nil if there is none.
func seekBefore(c *bbolt.Cursor, prefix []byte, before string) (k, v []byte) {
	var bound []byte
	if before != "" {
		bound = append(append(bound, prefix...), before...)
	} else if prefix != nil {
		// Ids are ASCII, so 0xff is above every key with the prefix.
		bound = append(append(bound, prefix...), 0xff)
	}
	if bound == nil {
		return c.Last()
	}
	if k, _ := c.Seek(bound); k == nil {
		return c.Last() // every key is below bound
	}
	return c.Prev() // the key found is ≥ bound
}

// pruneOldest removes the oldest record and its index entries.
func pruneOldest(tx *bbolt.Tx) error {
	recs := tx.Bucket(recordsBucket)
	k, v := recs.Cursor().First()
	if k == nil {
		return nil
	}
	id := string(k) // k is invalid after the Delete
	r, err := decode(k, v)
	if err != nil {
		return err
	}
	idx := tx.Bucket(indexBucket)
	for _, p := range r.parties() {
		if err := idx.Delete(indexKey(p, id)); err != nil {
			return err
		}
	}
	return recs.Delete([]byte(id))
}

// indexKey is the index key of id under ext. ext never contains 0x00
// (validate rejects it), so one extension's prefix never matches another's.
func indexKey(ext, id string) []byte {
	k := make([]byte, 0, len(ext)+1+len(id))
	k = append(k, ext...)
	k = append(k, 0)
	return append(k, id...)
}

func readCount(tx *bbolt.Tx) uint64 {
	v := tx.Bucket(metaBucket).Get(countKey)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func writeCount(tx *bbolt.Tx, n uint64) error {
	v := make([]byte, 8) // bbolt keeps the slice until commit: no reuse
	binary.BigEndian.PutUint64(v, n)
	return tx.Bucket(metaBucket).Put(countKey, v)
}

// decode parses a stored record; the key is the authority for the id.
func decode(id, v []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return Record{}, fmt.Errorf("decoding record %s: %w", id, err)
	}
	r.ID = string(id)
	return r, nil
}
