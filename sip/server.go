// Package sip is Switchboard's SIP face: transports, the registrar, digest authentication, the
// back-to-back user agent that bridges calls with anchored media, and the event notifier
// (presence, dialog, message-summary, as-feature-event). It decides nothing about calls: it asks
// a Router for a plan and hands it, with the call, to the call-flow applications (Flows), for
// which it implements flow.Call.
package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"

	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/routing"
	"github.com/switchboard-voip/switchboard/sip/digest"
)

// Listen is one transport to serve on.
type Listen struct {
	Transport string      // "udp", "tcp", "tls", "ws" or "wss" (SIP over WebSocket, RFC 7118)
	Addr      string      // host:port; port 0 picks a free one
	TLS       *tls.Config // the certificate of a tls or wss listener
}

// Router is the decision seam: routing.Router implements it, tests may fake it.
type Router interface {
	Decide(routing.Request) routing.Plan
}

// Flows carries out plans on calls; flow.Engine implements it. The plan is passed by pointer:
// it is a few hundred bytes, and a copy of it in each frame of a call's goroutine is stack
// that every call in progress keeps (see Server.onInvite).
type Flows interface {
	Run(c flow.Call, plan *routing.Plan)
}

// Tokens checks short-lived credentials (sip/token): the password of a credential's user name
// and the extension it stands for, false when it is none or has expired.
type Tokens interface {
	Password(user string) (ext, password string, ok bool)
}

// Users looks up what is known of extensions' SIP passwords (their digest HA1s, or the
// password) and their display names; ok=false for an extension that is no user.
type Users interface {
	Secret(ext string) (digest.Secret, bool)
	DisplayName(ext string) string
}

// Options configure a Server.
type Options struct {
	Listen     []Listen
	Realm      string
	NonceTTL   time.Duration // digest nonce lifetime; 0 = 5m
	Algorithms []string      // digest challenges, most preferred first; empty = digest.DefaultAlgorithms (MD5)
	// SHA256Agents are User-Agent substrings (any case) of phones challenged SHA-256 first, then
	// with the rest of Algorithms (RFC 8760's order), whatever Algorithms says for the others.
	SHA256Agents []string
	MinExpires   time.Duration // shortest registration accepted (423 below); 0 = 60s
	MaxExpires   time.Duration // registrations are capped to this; 0 = 1h
	NAT          NAT           // where calls to registered phones go (sip.nat)

	MediaAddr  netip.Addr    // written into SDP
	Ports      *media.Ports  // RTP port pairs
	RTPTimeout time.Duration // no media this long ends a call; 0 = 60s

	Users     Users
	Router    Router
	Flows     Flows
	Locations Locations
	Mailboxes Mailboxes                   // optional: message-summary subscriptions (defaults to Voicemail)
	Voicemail *mailbox.Store              // optional: voicemail boxes, watched for message-waiting NOTIFYs
	Presence  Presence                    // optional: the status table (busy while on a call, DND from phones)
	Peers     Peers                       // optional: the other nodes of a cluster (calls to phones registered there)
	Clock     clock.Clock                 // call timers (ringing, ACK wait); nil: the wall clock
	Trunks    InboundTrunks               // optional: carriers allowed in by address, with their DIDs
	History   History                     // optional: where every call's outcome is stored
	Browsers  BrowserMedia                // optional: WebRTC media for browsers (phones on a WebSocket)
	Tokens    Tokens                      // optional: short-lived credentials (the web phone's), besides passwords
	SRTP      func(ext string) SRTPPolicy // optional: users' media.srtp; nil: optional for all
	Observer  Observer                    // optional: what metrics count (calls, auth failures, …)
	Logger    *zap.Logger

	Sources      Sources       // sip.permit / sip.deny: addresses refused before anything is read
	Flood        FloodLimit    // sip.flood: requests a second per source address
	GarbageLevel zapcore.Level // sip.log_garbage: the level of lines about unparseable input and floods
	Connections  ConnectionLimits
	Overload     Overload // sip.max_calls, sip.max_call_rate, sip.overload_delay: 503 for new calls past them
}

// transportInfo is what a leg needs to send on one of our transports.
type transportInfo struct {
	name  string // "UDP" / "TCP" / "TLS" / "WS" / "WSS", as sipgo spells it
	host  string
	port  int
	laddr sip.Addr // set for UDP so requests leave from the listening socket (NAT pinholes)
}

// Server is a running Switchboard SIP service.
type Server struct {
	opts       Options
	log        *zap.Logger
	ua         *sipgo.UserAgent
	srv        *sipgo.Server
	client     *sipgo.Client
	auth       *digest.Server
	challenges challengeOrder // which digest challenges a phone gets
	guesses    *guesses       // failed digest attempts, for blocking password guessing
	byes       recentByes     // dialogs a BYE ended, for its retransmissions
	gate       *gate          // what every datagram passes before sipgo parses it
	admit      *admission     // new calls past Options.Overload get 503
	conns      *connections   // what every stream connection passes when accepted
	sources    *liveSources   // sip.permit / sip.deny, read by gate and conns, changed by SetSources
	pacer      *media.Pacer
	clock      clock.Clock
	obs        Observer // Options.Observer, or one that hears nothing

	transports map[string]transportInfo // by "UDP"/"TCP"/"TLS"/"WS"/"WSS"
	closers    []func() error

	ctx      context.Context // ends on Shutdown: calls hang up
	cancel   context.CancelFunc
	draining atomic.Bool
	wg       sync.WaitGroup // call goroutines and background senders

	events      map[string]eventPackage // by Event header value
	blf         blfTable                // every user's calls, for dialog (BLF) subscriptions
	published   publications            // what phones last PUBLISHed
	unwatch     func()                  // stops mailbox change notifications
	unwatchRegs func()                  // stops registration change notifications

	mu       sync.Mutex
	stopping bool            // Shutdown has begun: no new calls
	dialogs  map[string]*leg // by Call-ID of the leg
	calls    map[*call]struct{}
	subs     map[string]*subscription              // by Call-ID of the subscription dialog
	subsOf   map[string]int                        // subscriptions held or being set up, by subscriber
	watchers map[string]map[*subscription]struct{} // by event + "\x00" + resource
	// socketBindings are the contacts registered over each WebSocket, by the connection's
	// remote address: they are dropped when it closes (nothing can reach the phone then).
	socketBindings map[string]map[[2]string]struct{}
}

// NewServer builds a Server; Start binds its listeners.
func NewServer(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.NonceTTL <= 0 {
		o.NonceTTL = 5 * time.Minute
	}
	if o.MinExpires <= 0 {
		o.MinExpires = 60 * time.Second
	}
	if o.MaxExpires <= 0 {
		o.MaxExpires = time.Hour
	}
	if o.RTPTimeout <= 0 {
		o.RTPTimeout = 60 * time.Second
	}
	if o.Realm == "" {
		o.Realm = "switchboard"
	}
	if o.Users == nil || o.Router == nil || o.Flows == nil || o.Locations == nil || o.Ports == nil {
		return nil, errors.New("sip: Users, Router, Flows, Locations and Ports are required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	slogger := slog.New(quietParseErrors{zapslog.NewHandler(o.Logger.Named("sipgo").Core())})
	sources := newLiveSources(o.Sources)
	gate := newGate(sources, o.Flood, o.GarbageLevel, o.Logger, o.Clock)
	var s *Server // set below, before anything is received
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("Switchboard"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(slogger),
			sip.WithTransactionLayerUnhandledResponseHandler(func(res *sip.Response) { s.onStrayResponse(res) })),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(slogger),
			sip.WithTransportLayerReadFilter(gate.filter)),
	)
	if err != nil {
		return nil, fmt.Errorf("sip: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(slogger))
	if err != nil {
		return nil, fmt.Errorf("sip: server: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientLogger(slogger))
	if err != nil {
		return nil, fmt.Errorf("sip: client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s = &Server{
		opts:       o,
		log:        o.Logger,
		ua:         ua,
		srv:        srv,
		client:     client,
		auth:       digest.NewServer(digest.Options{Realm: o.Realm, NonceTTL: o.NonceTTL, Algorithms: o.Algorithms}),
		challenges: newChallengeOrder(o.Algorithms, o.SHA256Agents),
		guesses:    newGuesses(o.Clock),
		gate:       gate,
		admit:      newAdmission(o.Overload, o.Clock),
		conns:      newConnections(o.Connections, sources, gate.notes, o.Logger),
		sources:    sources,
		pacer:      media.NewPacer(runtime.GOMAXPROCS(0)),
		clock:      o.Clock,
		obs:        o.Observer,
		transports: make(map[string]transportInfo),
		ctx:        ctx,
		cancel:     cancel,
		dialogs:    make(map[string]*leg),
		calls:      make(map[*call]struct{}),
		events:     make(map[string]eventPackage),
		subs:       make(map[string]*subscription),
		subsOf:     make(map[string]int),
		watchers:   make(map[string]map[*subscription]struct{}),

		socketBindings: make(map[string]map[[2]string]struct{}),
	}
	if o.Mailboxes == nil && o.Voicemail != nil {
		o.Mailboxes = o.Voicemail
		s.opts.Mailboxes = o.Voicemail
	}
	if o.Mailboxes != nil {
		s.events["message-summary"] = mwiPackage{s: s}
	}
	s.events["dialog"] = dialogPackage{s: s}
	if o.Presence != nil {
		s.events["presence"] = presencePackage{s: s}
		s.events["as-feature-event"] = featurePackage{s: s}
	}
	if o.Voicemail != nil {
		s.unwatch = o.Voicemail.Watch(func(box string, _, _ int) { s.MessageWaiting(box) })
	}
	srv.OnRegister(s.guard(s.onRegister))
	srv.OnInvite(s.guard(s.onInvite))
	srv.OnAck(s.guard(s.onAck))
	srv.OnBye(s.guard(s.onBye))
	srv.OnCancel(s.guard(s.onCancel))
	srv.OnInfo(s.guard(s.onInfo))
	srv.OnRefer(s.guard(s.onRefer))
	srv.OnOptions(s.guard(s.onOptions))
	srv.OnSubscribe(s.guard(s.onSubscribe))
	srv.OnPublish(s.guard(s.onPublish))
	srv.OnNoRoute(s.guard(s.onUnknownMethod))
	return s, nil
}

// guard recovers a panicking handler into a 500 so one bad message cannot take the switch down.
func (s *Server) guard(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if fromScanner(req) {
			return // no answer at all; the transaction ends by itself
		}
		// The gate checked what came by UDP before sipgo did; streams hand sipgo whole
		// messages the gate never sees, so they are checked here.
		if !strings.EqualFold(req.Transport(), "udp") {
			if r := checkRequest(req, req.Transport()); r != nil {
				if !req.IsAck() {
					res := sip.NewResponseFromRequest(req, r.code, r.reason, nil)
					res.SipVersion = "SIP/2.0" // the version we speak, whatever the request claimed
					for _, h := range r.headers {
						res.AppendHeader(h)
					}
					_ = tx.Respond(res)
				}
				return
			}
		}
		defer func() {
			if r := recover(); r != nil {
				s.panicked(r, req, tx, !req.IsAck())
			}
		}()
		h(req, tx)
	}
}

// panicked logs a handler's or a call's recovered panic and, when answer is set, answers req
// with 500 on tx: the server goes on serving.
func (s *Server) panicked(r any, req *sip.Request, tx sip.ServerTransaction, answer bool) {
	s.log.Error("handler panic", zap.Any("panic", r), zap.String("method", string(req.Method)),
		zap.String("call_id", callIDOf(req)), zap.Stack("stack"))
	if answer && tx != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
	}
}

// Start binds every listener and serves them until Shutdown.
func (s *Server) Start() error {
	// Bind everything before serving anything: handlers read s.transports without a lock.
	var serve []func()
	var udpConns []*net.UDPConn
	for _, l := range s.opts.Listen {
		switch strings.ToLower(l.Transport) {
		case "udp":
			addr, err := net.ResolveUDPAddr("udp", l.Addr)
			if err != nil {
				return fmt.Errorf("sip: listen udp %s: %w", l.Addr, err)
			}
			conn, err := net.ListenUDP("udp", addr)
			if err != nil {
				return fmt.Errorf("sip: listen udp %s: %w", l.Addr, err)
			}
			// Answers to a status change's NOTIFYs to a thousand watchers arrive in one burst;
			// the kernel's default buffer (~208 KiB) drops half of them and every drop costs a
			// 500 ms retransmission. The kernel caps this at net.core.rmem_max.
			_ = conn.SetReadBuffer(udpReadBuffer)
			udpConns = append(udpConns, conn)
			s.gate.listen(conn)
			la := conn.LocalAddr().(*net.UDPAddr)
			s.transports["UDP"] = transportInfo{name: "UDP", host: la.IP.String(), port: la.Port,
				laddr: sip.Addr{IP: la.IP, Port: la.Port}}
			s.closers = append(s.closers, conn.Close)
			serve = append(serve, func() { _ = s.srv.ServeUDP(conn) })
		case "tcp":
			ln, err := net.Listen("tcp", l.Addr)
			if err != nil {
				return fmt.Errorf("sip: listen tcp %s: %w", l.Addr, err)
			}
			la := ln.Addr().(*net.TCPAddr)
			s.transports["TCP"] = transportInfo{name: "TCP", host: la.IP.String(), port: la.Port}
			s.closers = append(s.closers, ln.Close)
			gated := s.conns.listener(ln)
			serve = append(serve, func() { _ = s.srv.ServeTCP(gated) })
		case "tls":
			if l.TLS == nil {
				return fmt.Errorf("sip: listen tls %s: no certificate", l.Addr)
			}
			raw, err := net.Listen("tcp", l.Addr)
			if err != nil {
				return fmt.Errorf("sip: listen tls %s: %w", l.Addr, err)
			}
			// The handshake runs on the connection's first read, in its own goroutine: a
			// silent client holds up nobody's accept.
			ln := tls.NewListener(closeNotifier{Listener: s.conns.listener(raw), onClose: s.socketClosed}, l.TLS)
			la := raw.Addr().(*net.TCPAddr)
			s.transports["TLS"] = transportInfo{name: "TLS", host: la.IP.String(), port: la.Port}
			s.closers = append(s.closers, ln.Close)
			serve = append(serve, func() { _ = s.srv.ServeTLS(ln) })
		case "ws", "wss":
			secure := strings.EqualFold(l.Transport, "wss")
			if secure && l.TLS == nil {
				return fmt.Errorf("sip: listen wss %s: no certificate", l.Addr)
			}
			raw, err := net.Listen("tcp", l.Addr)
			if err != nil {
				return fmt.Errorf("sip: listen %s %s: %w", l.Transport, l.Addr, err)
			}
			var conf *tls.Config
			if secure {
				conf = l.TLS
			}
			ln := newWSListener(s.conns.listener(raw), conf, s.socketClosed)
			la := raw.Addr().(*net.TCPAddr)
			name := strings.ToUpper(l.Transport)
			s.transports[name] = transportInfo{name: name, host: la.IP.String(), port: la.Port}
			s.closers = append(s.closers, ln.Close)
			if secure {
				serve = append(serve, func() { _ = s.srv.ServeWSS(ln) })
			} else {
				serve = append(serve, func() { _ = s.srv.ServeWS(ln) })
			}
		default:
			return fmt.Errorf("sip: listen %q: unknown transport", l.Transport)
		}
		s.log.Info("sip listening", zap.String("transport", l.Transport), zap.String("addr", s.Addr(l.Transport)))
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.admit.watchScheduler(s.ctx, 100*time.Millisecond)
	}()
	go func() {
		defer s.wg.Done()
		s.admit.watchBacklog(s.ctx, udpConns, backlogInterval)
	}()
	if s.opts.Presence != nil {
		s.wg.Add(1)
		go s.watchPresence(s.opts.Presence.WatchOrdered(statusFeedLimit))
	}
	s.unwatchRegs = s.opts.Locations.Watch(s.registrationChanged)
	for _, f := range serve {
		go f()
	}
	return nil
}

// Addr returns the bound host:port of a transport ("udp", "tcp", "tls", "ws", "wss"), or "".
func (s *Server) Addr(transport string) string {
	t, ok := s.transports[strings.ToUpper(transport)]
	if !ok {
		return ""
	}
	return net.JoinHostPort(t.host, fmt.Sprint(t.port))
}

// ActiveCalls returns the number of calls in progress (ringing or talking).
func (s *Server) ActiveCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// Dialogs returns how many call legs in-dialog requests can reach now; with no call in
// progress it is zero (a leak shows here).
func (s *Server) Dialogs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.dialogs)
}

// Shutdown stops taking calls, hangs up every active call (BYE on both legs) and waits for the
// calls to end or ctx to expire.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.mu.Lock()
	s.stopping = true // no call is added from here on (addCall)
	s.mu.Unlock()
	s.cancel()
	s.endSubscriptions()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("sip: shutdown: %w", ctx.Err())
	}
	s.pacer.Close()
	if s.unwatch != nil {
		s.unwatch()
	}
	if s.unwatchRegs != nil {
		s.unwatchRegs()
	}
	for _, c := range s.closers {
		_ = c()
	}
	_ = s.ua.Close()
	return err
}

// onOptions answers keep-alive and capability probes.
func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	_ = tx.Respond(res)
}

// onUnknownMethod answers a method the switch does not implement (MESSAGE, UPDATE, …) with 405
// and the methods it does (RFC 3261 §21.4.6: a 405 must carry Allow).
func (s *Server) onUnknownMethod(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	_ = tx.Respond(res)
}

// onCancel answers a CANCEL that matched no INVITE transaction (the transaction layer handles the
// ones that do).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
}

// backlogInterval is how often the SIP UDP sockets' queues are looked at (Overload.MaxBacklog):
// two looks make a backlog, so a queue that stays full for 20 ms.
const backlogInterval = 10 * time.Millisecond

// udpReadBuffer is the SIP UDP socket's receive buffer.
const udpReadBuffer = 4 << 20

const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, REFER"

func callIDOf(m sip.Message) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// transportOf returns our transport a request arrived on, defaulting to UDP.
func (s *Server) transportOf(network string) transportInfo {
	if t, ok := s.transports[strings.ToUpper(network)]; ok {
		return t
	}
	return s.transports["UDP"]
}

// contactFor is the Contact we put in requests and responses on a transport.
func (t transportInfo) contact() *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: "switchboard", Host: t.host, Port: t.port}
	if t.name != "UDP" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", strings.ToLower(t.name))
	}
	return &sip.ContactHeader{Address: u}
}

// via is a fresh top Via for a request we originate on t.
func (t transportInfo) via() *sip.ViaHeader {
	v := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: t.name, Host: t.host, Port: t.port,
		Params: sip.NewParams()}
	v.Params.Add("branch", sip.GenerateBranchN(16))
	v.Params.Add("rport", "")
	return v
}

// registrationChanged tells the status table whether aor has a phone; the location store calls
// it, in order, for every register, unregister and expiry. Registration never changes a status:
// the team view only shows "no phone registered" beside it.
func (s *Server) registrationChanged(aor string, registered bool) {
	s.log.Info("registration changed", zap.String("ext", aor), zap.Bool("registered", registered))
	if s.opts.Presence != nil {
		s.opts.Presence.SetRegistered(aor, registered)
	}
}

// MediaPortsInUse returns the number of RTP port pairs out of the pool, for metrics.
func (s *Server) MediaPortsInUse() int { return s.opts.Ports.InUse() }

// CallsRefused returns the number of new calls refused with 503 for load, for metrics.
func (s *Server) CallsRefused() uint64 { return s.admit.refused.Load() }

// Registrations returns the number of registered phones, for metrics.
func (s *Server) Registrations() int { return s.opts.Locations.Count() }

func init() {
	// sipgo refuses to write a UDP message longer than UDPMTUSize-200 bytes and the message is
	// lost without a word: a 200 OK listing many contacts, a long SDP answer, RFC 4475's
	// longreq challenged. RFC 3261 §18.2.2 sends a response back over the transport the request
	// came on, whatever its size (IP fragments it), and §18.1.1's move of large requests to TCP
	// is the switch's own (largeRequest). So the cap is what a UDP datagram can hold.
	sip.UDPMTUSize = maxDatagram + 200
	// A finished transaction waits to absorb retransmissions: RFC 3261 says 32 s on UDP
	// (Timers D and J, RFC 6026's L and M), and what it holds (the messages, and through its
	// callbacks the call they belonged to) stayed with it. At 1,200 calls a second that is
	// 40,000 finished calls in memory, most of the switch's RSS. Kamailio keeps a finished
	// transaction 5 s (tm's wt_timer) and so does the switch now: a retransmission comes
	// within T2 (4 s) of the last, and one later still (after four lost answers in a row) is
	// answered as a request out of a transaction would be (481 for a BYE; the call is over).
	// A BYE's own transaction ends once answered: the dialog's name absorbs its
	// retransmissions for as long (recentByes). The timeouts (B, F, H: 32 s) are not touched.
	sip.Timer_D, sip.Timer_J = finishedTxLinger, finishedTxLinger
	// Timer L (a caller's INVITE we answered 2xx) need not absorb the INVITE's retransmissions
	// either: the caller's dialog does (Server.absorbed), and the call retransmits its 2xx itself
	// until the ACK (retransmitOK). While it ran, the transaction held the INVITE and the 2xx.
	sip.Timer_L = sip.T1
	// Timer M (a 2xx'd INVITE of ours) absorbs nothing here: the ACK ends the transaction and
	// the dialog answers a retransmitted 2xx (dialog.acknowledge). sipgo's Terminate does not
	// stop the timer, though, and until it fires the transaction keeps the INVITE and its 2xx:
	// at 5 s that was 7 KB for each of the 2,000 streaming calls of the load test, most of which
	// were younger than that. The fork reads the 2xx before the timer starts and ACKs at once.
	sip.Timer_M = sip.T1
}

// finishedTxLinger is how long a finished transaction absorbs retransmissions.
const finishedTxLinger = 5 * time.Second

// maxDatagram is the largest UDP payload over IPv4.
const maxDatagram = 65507
