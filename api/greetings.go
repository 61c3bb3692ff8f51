package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/greeting"
)

// maxGreetingBody caps an uploaded greeting: minutes of CD-quality audio,
// far more than any greeting needs.
const maxGreetingBody = 10 << 20

// Greetings stores the greetings users upload; *greeting.Store satisfies
// it. Methods fail with an error matching media.ErrNotAudio (with the
// reason), greeting.ErrTooLong or greeting.ErrEmpty for audio they refuse,
// which the API answers with 400.
type Greetings interface {
	// Put stores a WAV file (any format media.ReadWAV reads) as the user's
	// greeting of a kind, converted to 8 kHz mono.
	Put(ext, kind string, wav []byte) error
	// Delete removes the uploaded greeting; callers hear the configured
	// one or the built-in prompt again.
	Delete(ext, kind string) error
	// Path is the uploaded greeting's file (8 kHz mono 16-bit WAV).
	Path(ext, kind string) (string, bool)
	// Greeting is what callers hear: the upload, else the configured
	// file, else nil for the built-in prompt.
	Greeting(ext, kind string) []int16
}

var _ Greetings = (*greeting.Store)(nil)

// Where a user's greeting comes from, in GET /api/v1/users/{ext}/greetings.
const (
	sourceUploaded   = "uploaded"
	sourceConfigured = "configured"
	sourceBuiltin    = "builtin"
)

// greetingInfo is one entry of GET /api/v1/users/{ext}/greetings.
type greetingInfo struct {
	Kind   string `json:"kind"`
	Source string `json:"source"` // uploaded | configured | builtin
}

func (s *Server) greetingSource(ext, kind string) string {
	if _, ok := s.greetings.Path(ext, kind); ok {
		return sourceUploaded
	}
	if s.greetings.Greeting(ext, kind) != nil {
		return sourceConfigured
	}
	return sourceBuiltin
}

// greetingKind is the {kind} of the request, or "" after answering 404.
func greetingKind(w http.ResponseWriter, r *http.Request) string {
	kind := r.PathValue("kind")
	if !greeting.ValidKind(kind) {
		writeError(w, http.StatusNotFound, `no such greeting; want "busy", "dnd" or "no_answer"`)
		return ""
	}
	return kind
}

// listGreetings answers GET /api/v1/users/{ext}/greetings:
// [{"kind":"dnd","source":"uploaded"},...], one entry per kind.
func (s *Server) listGreetings(w http.ResponseWriter, r *http.Request, ext string) {
	out := make([]greetingInfo, 0, len(greeting.Kinds))
	for _, kind := range greeting.Kinds {
		out = append(out, greetingInfo{Kind: kind, Source: s.greetingSource(ext, kind)})
	}
	writeJSON(w, http.StatusOK, out)
}

// getGreeting answers GET /api/v1/users/{ext}/greetings/{kind} with what
// callers hear, as audio/wav at 8 kHz: the uploaded file, else the
// configured one converted; 404 when callers hear the built-in prompt.
func (s *Server) getGreeting(w http.ResponseWriter, r *http.Request, ext string) {
	kind := greetingKind(w, r)
	if kind == "" {
		return
	}
	var (
		content io.ReadSeeker
		modTime time.Time
	)
	if path, ok := s.greetings.Path(ext, kind); ok {
		f, err := os.Open(path)
		if err == nil {
			defer f.Close()
			if fi, err := f.Stat(); err == nil {
				content, modTime = f, fi.ModTime()
			}
		}
	}
	if content == nil {
		samples := s.greetings.Greeting(ext, kind)
		if samples == nil {
			writeError(w, http.StatusNotFound, "no greeting of this kind: callers hear the built-in prompt")
			return
		}
		var b bytes.Buffer
		if err := media.WriteWAV(&b, samples); err != nil {
			s.fail(w, r, err)
			return
		}
		content = bytes.NewReader(b.Bytes())
	}
	h := w.Header()
	h.Set("Content-Type", "audio/wav")
	h.Set("Content-Disposition", `inline; filename="`+kind+`.wav"`)
	h.Set("Cache-Control", "private, no-cache") // replaced by uploads
	pw := &plainErrors{ResponseWriter: w, intercept: func(int) bool { return true }}
	http.ServeContent(pw, r, kind+".wav", modTime, content)
	pw.finish(true)
}

// putGreeting answers PUT /api/v1/users/{ext}/greetings/{kind} with a WAV
// body (at most maxGreetingBody bytes): 200 {"kind","source":"uploaded"};
// 400 with the reason for audio that cannot be used; 413 for a larger body.
func (s *Server) putGreeting(w http.ResponseWriter, r *http.Request, ext string) {
	kind := greetingKind(w, r)
	if kind == "" {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxGreetingBody))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		writeError(w, http.StatusRequestEntityTooLarge, "greeting too large (limit 10 MB)")
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "reading the upload failed: "+err.Error())
		return
	case len(body) == 0:
		writeError(w, http.StatusBadRequest, "request body is empty; want a WAV file")
		return
	}
	err = s.greetings.Put(ext, kind, body)
	switch {
	case errors.Is(err, media.ErrNotAudio), errors.Is(err, greeting.ErrTooLong), errors.Is(err, greeting.ErrEmpty):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, greetingInfo{Kind: kind, Source: sourceUploaded})
}

// deleteGreeting answers DELETE /api/v1/users/{ext}/greetings/{kind}: the
// upload is removed (if there was one) and the answer, 200, tells what
// callers hear now: {"kind","source":"configured"|"builtin"}.
func (s *Server) deleteGreeting(w http.ResponseWriter, r *http.Request, ext string) {
	kind := greetingKind(w, r)
	if kind == "" {
		return
	}
	if err := s.greetings.Delete(ext, kind); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, greetingInfo{Kind: kind, Source: s.greetingSource(ext, kind)})
}
