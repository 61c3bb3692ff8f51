package api

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media/mailbox"
)

// voicemailMessage is a message as the API shows it. It is its own type,
// not mailbox.Message, because the mailbox also stores its records as JSON:
// a change there must not change the API. from_name is always present
// ("" when the caller gave no name).
type voicemailMessage struct {
	ID         string    `json:"id"`
	From       string    `json:"from"`
	FromName   string    `json:"from_name"`
	Received   time.Time `json:"received"`
	DurationMS int64     `json:"duration_ms"`
	Heard      bool      `json:"heard"`
	CutShort   bool      `json:"cut_short,omitempty"` // a crash interrupted the recording
}

func toVoicemailMessage(m mailbox.Message) voicemailMessage {
	return voicemailMessage{
		ID:         m.ID,
		From:       m.From,
		FromName:   m.FromName,
		Received:   m.Received.UTC(),
		DurationMS: m.DurationMS,
		Heard:      m.Heard,
		CutShort:   m.CutShort,
	}
}

// listVoicemail answers GET /api/v1/voicemail/{ext}: the box's messages,
// newest first; [] when there are none.
func (s *Server) listVoicemail(w http.ResponseWriter, r *http.Request, ext string) {
	msgs, err := s.voicemail.List(ext)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]voicemailMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, toVoicemailMessage(m))
	}
	writeJSON(w, http.StatusOK, out)
}

// getVoicemail answers GET /api/v1/voicemail/{ext}/{id} with the WAV file
// through http.ServeContent, so Range requests (an <audio> element seeking)
// and conditional requests work. Fetching does not mark the message heard:
// the web inbox does that with PATCH.
func (s *Server) getVoicemail(w http.ResponseWriter, r *http.Request, ext string) {
	id := r.PathValue("id")
	path, err := s.voicemail.Path(ext, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		err = mailbox.ErrNotFound // deleted since Path
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		s.fail(w, r, err)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Content-Disposition", `inline; filename="`+id+`.wav"`) // ids are [A-Za-z0-9_-]
	h.Set("Cache-Control", "private")
	h.Set("ETag", `"`+id+`"`) // a message's audio never changes
	// ServeContent answers some requests (bad Range, failed precondition)
	// with http.Error; keep those JSON like every other error.
	pw := &plainErrors{ResponseWriter: w, intercept: func(int) bool { return true }}
	http.ServeContent(pw, r, id+".wav", fi.ModTime(), f)
	pw.finish(true)
}

// heardRequest is the body of PATCH /api/v1/voicemail/{ext}/{id}.
type heardRequest struct {
	Heard *bool `json:"heard"`
}

// patchVoicemail answers PATCH /api/v1/voicemail/{ext}/{id} with body
// {"heard":true|false}: marks the message heard or new again and returns it.
func (s *Server) patchVoicemail(w http.ResponseWriter, r *http.Request, ext string) {
	id := r.PathValue("id")
	var req heardRequest
	if !decodeJSON(w, r, &req) {
		return
	}
	if req.Heard == nil {
		writeError(w, http.StatusBadRequest, `body must set "heard" to true or false`)
		return
	}
	if err := s.voicemail.SetHeard(ext, id, *req.Heard); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.voicemail.Get(ext, id)
	if err != nil {
		s.fail(w, r, err) // deleted in between: 404
		return
	}
	writeJSON(w, http.StatusOK, toVoicemailMessage(m))
}

// deleteVoicemail answers DELETE /api/v1/voicemail/{ext}/{id} with 204.
func (s *Server) deleteVoicemail(w http.ResponseWriter, r *http.Request, ext string) {
	id := r.PathValue("id")
	if err := s.voicemail.Delete(ext, id); err != nil {
		// The store deletes the record before the file: if only the file
		// removal failed, the message is gone all the same (and its file
		// is removed at the next start), so the client gets its 204.
		if errors.Is(err, mailbox.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
		if _, getErr := s.voicemail.Get(ext, id); !errors.Is(getErr, mailbox.ErrNotFound) {
			s.fail(w, r, err)
			return
		}
		s.log.Warn("voicemail deleted, but not its audio file",
			zap.String("box", ext), zap.String("id", id), zap.Error(err))
	}
	w.WriteHeader(http.StatusNoContent)
}
