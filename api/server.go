// Package api is Switchboard's HTTP API: JSON over HTTP, authenticated with
// HTTP Basic (extension and SIP password), as listed in the HTTP API section
// of the interface spec.
//
// Endpoints so far:
//
//	GET    /healthz                        200 {"status":"ok"}, no auth
//	GET    /metrics                        Prometheus text format, no auth
//	GET    /api/v1/presence                every user's presence, by extension
//	GET    /api/v1/presence/{ext}          one user's presence
//	PUT    /api/v1/presence/{ext}          {"status":"available"|"dnd"} → the new presence
//	GET    /api/v1/presence/events         Server-Sent Events: a snapshot, then each change
//	GET    /api/v1/voicemail/{ext}         the box's messages, newest first
//	GET    /api/v1/voicemail/{ext}/{id}    the message's audio (audio/wav, Range works)
//	PATCH  /api/v1/voicemail/{ext}/{id}    {"heard":true|false} → the message
//	DELETE /api/v1/voicemail/{ext}/{id}    204
//	GET    /api/v1/users/{ext}/greetings   [{"kind","source":"uploaded"|"configured"|"builtin"}...]
//	GET    /api/v1/users/{ext}/greetings/{kind}  what callers hear (audio/wav, 8 kHz); 404 built-in
//	PUT    /api/v1/users/{ext}/greetings/{kind}  WAV body (≤ 10 MB, any common WAV) → stored at 8 kHz
//	DELETE /api/v1/users/{ext}/greetings/{kind}  back to the configured or built-in greeting
//	POST   /api/v1/session                 {"ext","password"} → a session cookie (the web page)
//	DELETE /api/v1/session                 204, the session cookie removed
//	GET    /api/v1/me                      {"ext","name","admin"} of the caller
//	GET    /api/v1/history?limit=&before=&ext=  call outcomes, newest first (own; all or ?ext= for
//	                                       an admin); next page's ?before= in X-Next-Before
//	GET    /api/v1/queues                  each queue's callers waiting and members' states
//	                                       (?settings: each queue's settings, as below)
//	GET    /api/v1/users                   every user (admin), users.go; no password or hash
//	POST   /api/v1/users                   a new user with its "password" (admin) → 201
//	GET    /api/v1/users/{ext}             one user (own or admin)
//	PUT    /api/v1/users/{ext}             fields to change (admin; the user: voicemail,
//	                                       screening, no_answer_timeout) → the user
//	DELETE /api/v1/users/{ext}             204 (admin); 409 while in use or the last admin
//	PUT    /api/v1/users/{ext}/password    {"current","password"} own, {"password"} admin → 204
//	GET    /api/v1/groups[/{ext}]          ring groups (anyone), groups.go
//	POST   /api/v1/groups, PUT|DELETE /api/v1/groups/{ext}      (admin)
//	GET    /api/v1/queues/{ext}            a queue's settings (anyone), queueconfig.go
//	POST   /api/v1/queues, PUT|DELETE /api/v1/queues/{ext}      (admin)
//	GET|POST /api/v1/trunks, GET|PUT|DELETE /api/v1/trunks/{name} (admin), trunks.go
//	GET    /api/v1/queues/wallboard        each queue's live and today's figures (wallboard.go)
//	GET    /api/v1/queues/wallboard/events the same, as Server-Sent Events whenever it changes
//	GET    /api/v1/calls                   active calls, newest first (own; all for an admin)
//	DELETE /api/v1/calls/{id}              204 once the call is hung up (admin only)
//	POST   /api/v1/calls/{id}/transfer     {"to","party"?,"voicemail"?} → 202 {"id","to","voicemail"}
//	                                       (a party to the call, or an admin)
//	GET    /                               the team page (web.go; files under /web/)
//	GET    /phone                          the same page as a phone in a window of its own
//	GET    /manifest.webmanifest, /sw.js   the installable app's manifest and service worker
//	GET    /wallboard                      the queue wallboard, a page for a wall screen
//
// Every /api/ route but POST and DELETE /api/v1/session needs credentials:
// HTTP Basic or the session cookie (401 without them; 429 while the
// client's address waits after repeated wrong passwords, see ratelimit.go). Any user may read
// everyone's presence (the team page shows the whole team); the other routes
// with {ext}, and PUT presence, answer 404 for an unknown extension and 403
// unless the caller is that extension or an admin. Every error, whoever produces it (a handler,
// ServeMux's 404 and 405, ServeContent's 416, a recovered panic), is JSON
// {"error":"..."}.
//
// Handlers live in one file per resource (voicemail.go, presence.go,
// events.go, metrics.go, health.go, greetings.go, session.go, web.go,
// wallboard.go, users.go, groups.go, queueconfig.go, trunks.go); routes
// are all registered in routes, below, so the whole surface reads in one place.
package api

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/presence"
)

// Users is what the API needs to know about accounts; cmd implements it from
// the live directory. Its methods must be safe for concurrent use.
type Users interface {
	// Check verifies an extension's password (HTTP Basic uses the SIP
	// password) and tells whether the user is an admin. It must compare
	// passwords in constant time: digest.Secret.Matches does against stored
	// hashes, PasswordsEqual against clear text.
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

// Presence is the presence table; *presence.Table satisfies it. Its methods
// must be safe for concurrent use.
type Presence interface {
	// Get returns one user's presence; false for an unknown extension.
	Get(ext string) (presence.State, bool)
	// List returns every user's presence.
	List() []presence.State
	// Set applies a DND change, durably (it is stored before Set returns),
	// and returns the new presence. It fails with presence.ErrUnknownUser for
	// an unknown extension, presence.ErrBadChange for a malformed change.
	Set(ext string, c presence.Change) (presence.State, error)
	// Changes lists a user's latest DND changes, newest first.
	Changes(ext string, limit int) ([]presence.Setting, error)
	// SetHours sets or (nil) removes a user's working hours; Hours reads them.
	SetHours(ext string, h *presence.Hours) (presence.State, error)
	Hours(ext string) (presence.Hours, bool)
	// Watch starts following changes; the caller closes the watcher.
	Watch() StatusFeed
	// Watchers is the number of open watchers (a metric).
	Watchers() int
	// Counts is the number of users in each status (a metric).
	Counts() map[presence.Status]int
}

var _ Presence = (*presence.Table)(nil)

// Stats are the figures only the SIP side knows, for /metrics; cmd adapts
// the SIP server to it. Its methods must be safe for concurrent use and
// cheap: every scrape calls each once.
type Stats interface {
	// ActiveCalls is the number of calls in progress.
	ActiveCalls() int
	// Registrations is the number of registered contacts.
	Registrations() int
	// Subscriptions is the number of active SIP subscriptions (presence,
	// dialog, message-summary).
	Subscriptions() int
	// MediaPortsInUse is the number of RTP port pairs out of the pool: two per bridged
	// call, one per browser leg's WebRTC side; back to zero when no call is up (a leak
	// shows here).
	MediaPortsInUse() int
	// CallsRefused is the number of new calls refused with 503 for load since the start
	// (overload control: sip.overload_backlog and the other limits).
	CallsRefused() uint64
}

// Options configures a Server.
// Cluster is this node's membership of a cluster (*cluster.Node), for /healthz and /metrics.
type Cluster interface {
	// Health is nil while the cluster's store (NATS) is reachable, else what is wrong.
	Health() error
	// Nodes lists the nodes counted alive, this one included.
	Nodes() []string
}

type Options struct {
	// Users authenticates callers. Required.
	Users Users
	// Voicemail serves /api/v1/voicemail; nil leaves those routes out
	// (they answer 404).
	Voicemail Voicemail
	// Presence serves /api/v1/presence and the presence metrics; nil leaves
	// them out (the routes answer 404, /metrics omits those metrics).
	Presence Presence
	// Stats feeds the call, registration and subscription metrics; nil
	// omits them from /metrics.
	Stats Stats
	// Greetings serves /api/v1/users/{ext}/greetings; nil leaves those
	// routes out (they answer 404).
	Greetings Greetings
	// History serves /api/v1/history; nil leaves that route out (it
	// answers 404).
	History History
	// Queues serves /api/v1/queues; nil leaves that route out.
	Queues Queues
	// Wallboard serves /api/v1/queues/wallboard and its events; nil leaves those routes
	// out (they answer 404).
	Wallboard Wallboard
	// Calls serves /api/v1/calls; nil leaves those routes out (they
	// answer 404).
	Calls Calls
	// Callbacks serves /api/v1/callbacks; nil leaves those routes out
	// (they answer 404).
	Callbacks Callbacks
	// PhoneCredentials serves GET /api/v1/phone, the web phone's settings;
	// nil leaves that route out (it answers 404).
	PhoneCredentials PhoneCredentials
	// PhoneWebSockets are the switch's SIP-over-WebSocket listeners as URLs
	// ("ws://127.0.0.1:5066", "wss://0.0.0.0:7443"), for the web phone.
	PhoneWebSockets []string
	// Cluster reports a cluster's health in /healthz and /metrics; nil on a single node.
	Cluster Cluster
	// Directory serves /api/v1/users, /api/v1/groups, the queues' settings and
	// /api/v1/trunks, and is then where callers' roles come from (a session's admin flag
	// follows the directory); nil leaves those routes out (they answer 404).
	Directory Directory
	// Metrics is the registry /metrics serves; the API registers its own metrics in it (the
	// Stats, Presence and Cluster figures, HTTP responses) and cmd the rest of the switch's.
	// Nil: a registry of the API's metrics alone.
	Metrics *prometheus.Registry
	// Now tells the time that durations in requests ("until": "45m") count
	// from: the presence table's clock. Nil is time.Now.
	Now func() time.Time
	// Logger receives one debug line per request and an error line per
	// failure the server is to blame for (5xx, panics). Nil logs nothing.
	Logger *zap.Logger
}

// Server is the HTTP API. Create it with New; serve Handler.
type Server struct {
	users     Users
	voicemail Voicemail
	presence  Presence
	stats     Stats
	cluster   Cluster
	greetings Greetings
	history   History
	queues    Queues
	wallboard Wallboard
	calls     Calls
	callbacks Callbacks
	dir       Directory
	sessions  sessions // signs and checks session cookies
	now       func() time.Time

	phoneCreds   PhoneCredentials
	phoneSockets []string
	failures     *failureLimiter // slows down password guessing
	log          *zap.Logger
	handler      http.Handler
	requests     requestCounts // responses by status class, for /metrics
	metrics      http.Handler  // GET /metrics (metrics.go)

	closing   chan struct{} // closed by Close: event streams end
	closeOnce sync.Once
}

// New returns a Server. It panics if o.Users is nil: without it no /api/
// request could ever be authorised, which is a wiring bug.
func New(o Options) *Server {
	if o.Users == nil {
		panic("api: Options.Users is nil")
	}
	s := &Server{
		users:     o.Users,
		voicemail: o.Voicemail,
		presence:  o.Presence,
		stats:     o.Stats,
		cluster:   o.Cluster,
		greetings: o.Greetings,
		history:   o.History,
		queues:    o.Queues,
		wallboard: o.Wallboard,
		calls:     o.Calls,
		callbacks: o.Callbacks,
		dir:       o.Directory,
		sessions:  newSessions(),
		now:       o.Now,

		phoneCreds:   o.PhoneCredentials,
		phoneSockets: o.PhoneWebSockets,
		failures:     newFailureLimiter(),
		log:          o.Logger,
		closing:      make(chan struct{}),
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.now == nil {
		s.now = time.Now
	}
	registry := o.Metrics
	if registry == nil {
		registry = prometheus.NewRegistry()
	}
	registry.MustRegister(apiCollector{s})
	s.metrics = metricsHandler(registry)
	mux := http.NewServeMux()
	s.routes(mux)

	// Basic credentials and the session cookie are sent by browsers on
	// their own, so reject cross-site unsafe requests (forms or scripts on
	// another site posting to the API with the user's credentials): every
	// method but GET, HEAD and OPTIONS, the sign-in included. The cookie
	// is SameSite=Strict as well.
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

// Close ends every open event stream (GET /api/v1/presence/events and
// /api/v1/queues/wallboard/events) and makes new ones end right after their
// first event; every other route keeps working. http.Server.Shutdown waits
// for active requests, and an event stream never finishes on its own, so
// register Close with http.Server.RegisterOnShutdown. Close may be called
// more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// routes registers every endpoint. A GET pattern also serves HEAD.
func (s *Server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.Handle("GET /metrics", s.metrics)

	mux.HandleFunc("GET /{$}", serveWeb("index.html"))
	mux.HandleFunc("GET /phone", serveWeb("index.html")) // the web phone in a window of its own
	mux.HandleFunc("GET /manifest.webmanifest", serveWeb("manifest.webmanifest"))
	mux.HandleFunc("GET /sw.js", serveWeb("sw.js")) // at the root: its scope is the whole page
	mux.HandleFunc("GET /wallboard", serveWeb("wallboard.html"))
	mux.HandleFunc("GET /web/{file}", serveWeb(""))
	mux.HandleFunc("POST /api/v1/session", s.signIn)
	mux.HandleFunc("DELETE /api/v1/session", s.signOut)
	mux.Handle("GET /api/v1/me", s.authed(s.getMe))
	if s.phoneCreds != nil {
		mux.Handle("GET /api/v1/phone", s.authed(s.getPhone))
	}

	if s.presence != nil {
		mux.Handle("GET /api/v1/presence", s.authed(s.listPresence))
		mux.Handle("GET /api/v1/presence/events", s.authed(s.presenceEvents))
		mux.Handle("GET /api/v1/presence/{ext}", s.authed(s.getPresence))
		mux.Handle("PUT /api/v1/presence/{ext}", s.ownerOrAdminAs(s.putPresence))
		mux.Handle("GET /api/v1/presence/{ext}/history", s.ownerOrAdmin(s.listChanges))
		mux.Handle("GET /api/v1/users/{ext}/hours", s.ownerOrAdmin(s.getHours))
		mux.Handle("PUT /api/v1/users/{ext}/hours", s.ownerOrAdmin(s.putHours))
		mux.Handle("DELETE /api/v1/users/{ext}/hours", s.ownerOrAdmin(s.deleteHours))
	}

	if s.voicemail != nil {
		mux.Handle("GET /api/v1/voicemail/{ext}", s.ownerOrAdmin(s.listVoicemail))
		mux.Handle("GET /api/v1/voicemail/{ext}/{id}", s.ownerOrAdmin(s.getVoicemail))
		mux.Handle("PATCH /api/v1/voicemail/{ext}/{id}", s.ownerOrAdmin(s.patchVoicemail))
		mux.Handle("DELETE /api/v1/voicemail/{ext}/{id}", s.ownerOrAdmin(s.deleteVoicemail))
	}

	if s.greetings != nil {
		mux.Handle("GET /api/v1/users/{ext}/greetings", s.ownerOrAdmin(s.listGreetings))
		mux.Handle("GET /api/v1/users/{ext}/greetings/{kind}", s.ownerOrAdmin(s.getGreeting))
		mux.Handle("PUT /api/v1/users/{ext}/greetings/{kind}", s.ownerOrAdmin(s.putGreeting))
		mux.Handle("DELETE /api/v1/users/{ext}/greetings/{kind}", s.ownerOrAdmin(s.deleteGreeting))
	}

	if s.history != nil {
		mux.Handle("GET /api/v1/history", s.authed(s.listHistory))
	}
	if s.queues != nil || s.dir != nil {
		mux.Handle("GET /api/v1/queues", s.authed(s.queuesRoute))
	}
	if s.dir != nil {
		mux.Handle("GET /api/v1/users", s.adminOnly(s.listUsers))
		mux.Handle("POST /api/v1/users", s.adminOnly(s.createUser))
		mux.Handle("GET /api/v1/users/{ext}", s.authed(s.getUser))
		mux.Handle("PUT /api/v1/users/{ext}", s.authed(s.putUser))
		mux.Handle("DELETE /api/v1/users/{ext}", s.adminOnly(s.deleteUser))
		mux.Handle("PUT /api/v1/users/{ext}/password", s.authed(s.putPassword))
		mux.Handle("GET /api/v1/groups", s.authed(s.listGroups))
		mux.Handle("POST /api/v1/groups", s.adminOnly(s.createGroup))
		mux.Handle("GET /api/v1/groups/{ext}", s.authed(s.getGroup))
		mux.Handle("PUT /api/v1/groups/{ext}", s.adminOnly(s.putGroup))
		mux.Handle("DELETE /api/v1/groups/{ext}", s.adminOnly(s.deleteGroup))
		mux.Handle("POST /api/v1/queues", s.adminOnly(s.createQueue))
		mux.Handle("GET /api/v1/queues/{ext}", s.authed(s.getQueueConfig))
		mux.Handle("PUT /api/v1/queues/{ext}", s.adminOnly(s.putQueue))
		mux.Handle("DELETE /api/v1/queues/{ext}", s.adminOnly(s.deleteQueue))
		mux.Handle("GET /api/v1/trunks", s.adminOnly(s.listTrunks))
		mux.Handle("POST /api/v1/trunks", s.adminOnly(s.createTrunk))
		mux.Handle("GET /api/v1/trunks/{name}", s.adminOnly(s.getTrunk))
		mux.Handle("PUT /api/v1/trunks/{name}", s.adminOnly(s.putTrunk))
		mux.Handle("DELETE /api/v1/trunks/{name}", s.adminOnly(s.deleteTrunk))
	}
	if s.wallboard != nil {
		mux.Handle("GET /api/v1/queues/wallboard", s.authed(s.getWallboard))
		mux.Handle("GET /api/v1/queues/wallboard/events", s.authed(s.wallboardEvents))
	}
	if s.calls != nil {
		mux.Handle("GET /api/v1/calls", s.authed(s.listCalls))
		mux.Handle("DELETE /api/v1/calls/{id}", s.authed(s.hangUpCall))
		mux.Handle("POST /api/v1/calls/{id}/transfer", s.authed(s.transferCall))
	}
	if s.callbacks != nil {
		mux.Handle("GET /api/v1/callbacks", s.authed(s.listCallbacks))
		mux.Handle("DELETE /api/v1/callbacks/{id}", s.authed(s.cancelCallback))
	}
}
