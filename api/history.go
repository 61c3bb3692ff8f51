package api

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard-voip/switchboard/history"
)

// History limits: the page size without ?limit=, and the largest allowed.
const (
	defaultHistoryLimit = 50
	maxHistoryLimit     = 500
)

// nextBeforeHeader carries the cursor of the next history page: the value
// to pass as ?before= to get the records after this page. It is absent on
// the last page.
const nextBeforeHeader = "X-Next-Before"

// History is the call history; *history.Store satisfies it. Its methods
// must be safe for concurrent use.
type History interface {
	// List returns at most limit records involving ext (all records when
	// ext is ""), newest first, with ids strictly below before ("" for
	// the newest). It fails with an error matching history.ErrInvalid
	// for arguments it refuses, which the API answers with 400.
	List(ext string, limit int, before string) ([]history.Record, error)
}

var _ History = (*history.Store)(nil)

// historyRecord is a call outcome as the API shows it: its own type, not
// history.Record, because the store keeps its records as JSON too and a
// change there must not change the API.
type historyRecord struct {
	ID         string    `json:"id"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Outcome    string    `json:"outcome"`
	AnsweredBy string    `json:"answered_by,omitempty"`
	Voicemail  string    `json:"voicemail,omitempty"`
	HeldMS     int64     `json:"held_ms,omitempty"`
	TalkMS     int64     `json:"talk_ms,omitempty"`
	Code       int       `json:"code,omitempty"`
	Via        string    `json:"via,omitempty"`
	Trace      []string  `json:"trace,omitempty"`
	// Skipped are the users whose phones did not ring, and why: the page
	// tells each of them in words.
	Skipped []skipped `json:"skipped,omitempty"`
}

// skipped is a user a call passed over, as the API shows it.
type skipped struct {
	Ext     string    `json:"ext"`
	Why     string    `json:"why"` // dnd | on_call | no_phone
	Via     string    `json:"via,omitempty"`
	ViaName string    `json:"via_name,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Source  string    `json:"source,omitempty"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

func toHistoryRecord(r history.Record) historyRecord {
	return historyRecord{
		ID:         r.ID,
		Started:    r.Started.UTC(),
		Ended:      r.Ended.UTC(),
		From:       r.From,
		To:         r.To,
		Outcome:    string(r.Outcome),
		AnsweredBy: r.AnsweredBy,
		Voicemail:  r.Voicemail,
		HeldMS:     r.HeldMS,
		TalkMS:     r.TalkMS,
		Code:       r.Code,
		Via:        r.Via,
		Trace:      r.Trace,
		Skipped:    toSkipped(r.Skipped),
	}
}

func toSkipped(in []history.Skip) []skipped {
	if len(in) == 0 {
		return nil
	}
	out := make([]skipped, 0, len(in))
	for _, s := range in {
		out = append(out, skipped{Ext: s.Ext, Why: s.Why, Via: s.Via, ViaName: s.ViaName, Reason: s.Reason, Source: s.Source, By: s.By, At: utc(s.At)})
	}
	return out
}

// listHistory answers GET /api/v1/history?limit=&before=&ext=: call
// outcomes, newest first, as a JSON array ([] when there are none).
//
// A user gets the calls they took part in (as caller, callee, the one who
// answered, or through a group or queue they dialled) and those that passed
// them over (skipped: on DND, on a call, no phone); an admin gets every
// call, or with ?ext= those of one extension or outside number. ?ext= from
// a user is allowed only for their own extension (403 otherwise).
//
// limit is 1 to 500 (default 50). When more records follow, the
// X-Next-Before header holds the cursor: repeat the request with
// ?before=<that value> for the next page. Pages neither repeat nor skip
// records, even while calls end. A malformed limit, before or ext is 400.
func (s *Server) listHistory(w http.ResponseWriter, r *http.Request, p principal) {
	q := r.URL.Query()
	limit := defaultHistoryLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxHistoryLimit {
			writeError(w, http.StatusBadRequest,
				"limit must be a whole number from 1 to "+strconv.Itoa(maxHistoryLimit))
			return
		}
		limit = n
	}
	before := q.Get("before")
	if before != "" && !history.ValidID(before) {
		writeError(w, http.StatusBadRequest, "before must be a record id, as sent in "+nextBeforeHeader)
		return
	}
	ext := p.ext
	if want := q.Get("ext"); p.admin {
		ext = want // "" is everyone's
	} else if want != "" && want != p.ext {
		writeError(w, http.StatusForbidden, "only an admin may read other users' history")
		return
	}

	// One more than asked for tells whether another page follows, so the
	// last page carries no cursor to an empty one.
	recs, err := s.history.List(ext, limit+1, before)
	if errors.Is(err, history.ErrInvalid) {
		writeError(w, http.StatusBadRequest, "bad history query: ext must be an extension or number")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(recs) > limit {
		recs = recs[:limit]
		w.Header().Set(nextBeforeHeader, recs[limit-1].ID)
	}
	out := make([]historyRecord, 0, len(recs))
	for _, rec := range recs {
		out = append(out, toHistoryRecord(rec))
	}
	writeJSON(w, http.StatusOK, out)
}
