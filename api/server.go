// Package api is Switchboard's HTTP API: JSON over HTTP, authenticated with
// HTTP Basic (extension and SIP password), as listed in the HTTP API section
// of the interface spec.
//
// Endpoints so far:
//
//	GET    /healthz                        200 {"status":"ok"}, no auth
//	GET    /api/v1/voicemail/{ext}         the box's messages, newest first
//	GET    /api/v1/voicemail/{ext}/{id}    the message's audio (audio/wav, Range works)
//	PATCH  /api/v1/voicemail/{ext}/{id}    {"heard":true|false} → the message
//	DELETE /api/v1/voicemail/{ext}/{id}    204
//
// Every /api/ route needs credentials (401 without them). A route with {ext}
// answers 404 for an unknown extension and 403 unless the caller is that
// extension or an admin. Every error, whoever produces it (a handler,
// ServeMux's 404 and 405, ServeContent's 416, a recovered panic), is JSON
// {"error":"..."}.
//
// Handlers live in one file per resource (voicemail.go, health.go); routes
// are all registered in routes, below, so the whole surface reads in one place.
package api

import (
	"net/http"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media/mailbox"
)

// Users is what the API needs to know about accounts; the config implements
// it in cmd. Its methods must be safe for concurrent use.
type Users interface {
	// Check verifies an extension's password (HTTP Basic uses the SIP
	// password) and tells whether the user is an admin. It must compare
	// passwords in constant time: PasswordsEqual does.
	Check(ext, password string) (ok, admin bool)
	// Exists reports whether ext is a user.
	Exists(ext string) bool
}

// Voicemail is the store of voicemail messages; *mailbox.Store satisfies it.
// Methods fail with an error matching mailbox.ErrNotFound for a missing
// message or an invalid box or id, which the API answers with 404.
type Voicemail interface {
	List(box string) ([]mailbox.Message, error)
	Get(box, id string) (mailbox.Message, error)
	Path(box, id string) (string, error)
	SetHeard(box, id string, heard bool) error
	Delete(box, id string) error
}

var _ Voicemail = (*mailbox.Store)(nil)

// Options configures a Server.
type Options struct {
	// Users authenticates callers. Required.
	Users Users
	// Voicemail serves /api/v1/voicemail; nil leaves those routes out
	// (they answer 404).
	Voicemail Voicemail
	// Logger receives one debug line per request and an error line per
	// failure the server is to blame for (5xx, panics). Nil logs nothing.
	Logger *zap.Logger
}

// Server is the HTTP API. Create it with New; serve Handler.
type Server struct {
	users     Users
	voicemail Voicemail
	log       *zap.Logger
	handler   http.Handler
}

// New returns a Server. It panics if o.Users is nil: without it no /api/
// request could ever be authorised, which is a wiring bug.
func New(o Options) *Server {
	if o.Users == nil {
		panic("api: Options.Users is nil")
	}
	s := &Server{users: o.Users, voicemail: o.Voicemail, log: o.Logger}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	mux := http.NewServeMux()
	s.routes(mux)

	// Basic credentials are sent by browsers on their own, so reject
	// cross-site unsafe requests (forms or scripts on another site posting
	// to the API with the user's cached credentials).
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))

	s.handler = s.observe(csrf.Handler(jsonMuxErrors(mux)))
	return s
}

// Handler returns the handler serving the whole API. It is safe for
// concurrent use and may be served by several http.Servers.
func (s *Server) Handler() http.Handler { return s.handler }

// routes registers every endpoint. A GET pattern also serves HEAD.
func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.healthz)

	if s.voicemail != nil {
		mux.Handle("GET /api/v1/voicemail/{ext}", s.ownerOrAdmin(s.listVoicemail))
		mux.Handle("GET /api/v1/voicemail/{ext}/{id}", s.ownerOrAdmin(s.getVoicemail))
		mux.Handle("PATCH /api/v1/voicemail/{ext}/{id}", s.ownerOrAdmin(s.patchVoicemail))
		mux.Handle("DELETE /api/v1/voicemail/{ext}/{id}", s.ownerOrAdmin(s.deleteVoicemail))
	}
}
