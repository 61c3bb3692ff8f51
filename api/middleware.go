package api

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// requestInfo collects what the request log line needs from inside the
// handler chain.
type requestInfo struct {
	ext string // authenticated caller, if any
}

type requestInfoKey struct{}

// setLoggedExt records the authenticated extension for the request log.
func setLoggedExt(r *http.Request, ext string) {
	if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
		info.ext = ext
	}
}

// observe is the outermost layer: it logs each request at debug level and
// turns a panic in next into a logged 500 JSON error, so one bad request
// does not take the server down (net/http would recover too, but by
// dropping the connection without an answer).
//
// If the response had already started when the panic came, the status can
// no longer change; observe then aborts the response with
// http.ErrAbortHandler so the client sees a broken response, not a
// complete-looking truncated one. A handler panicking with
// http.ErrAbortHandler itself is let through the same way, unlogged.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		info := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))

		defer func() {
			v := recover()
			if v != nil && v != http.ErrAbortHandler {
				s.log.Error("panic serving http request",
					zap.String("method", r.Method), zap.String("path", r.URL.Path),
					zap.String("ext", info.ext), zap.Any("panic", v), zap.Stack("stack"))
				if !rec.started {
					clear(rec.Header()) // whatever the handler meant to send
					writeError(rec, http.StatusInternalServerError, "internal error")
					v = nil
				}
			}
			s.requests.count(rec.status())
			s.log.Debug("http request",
				zap.String("method", r.Method),
				zap.String("path", r.URL.Path),
				zap.String("pattern", r.Pattern),
				zap.Int("status", rec.status()),
				zap.Duration("duration", time.Since(start)),
				zap.String("ext", info.ext))
			if v != nil {
				panic(http.ErrAbortHandler)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// recorder remembers the status of a response.
type recorder struct {
	http.ResponseWriter
	code    int
	started bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.started && code >= 200 { // 1xx informational headers are not the status
		r.code, r.started = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.started {
		r.code, r.started = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer (for
// Flush in Server-Sent Events, deadlines).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// status is the response's status; 200 if the handler wrote nothing, as
// net/http then sends.
func (r *recorder) status() int {
	if !r.started {
		return http.StatusOK
	}
	return r.code
}
