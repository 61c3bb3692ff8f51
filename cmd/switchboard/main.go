// Command switchboard runs the Switchboard softswitch.
//
//	switchboard                       run the embedded demo config
//	switchboard -config FILE          run with a YAML config
//	switchboard -check -config FILE   validate a config and exit (0 valid, 2 invalid)
//	switchboard -version              print the version
//	switchboard backup -o FILE [-config FILE]          archive data_dir, running or not (backup.go)
//	switchboard restore -i FILE [-config FILE] [-force]  put an archive into data_dir
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
	_ "time/tzdata" // working hours name IANA zones; a static binary in a bare image has none

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/net/netutil"

	"github.com/switchboard-voip/switchboard/api"
	"github.com/switchboard-voip/switchboard/backup"
	"github.com/switchboard-voip/switchboard/cluster"
	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/directory"
	"github.com/switchboard-voip/switchboard/flow"
	"github.com/switchboard-voip/switchboard/history"
	"github.com/switchboard-voip/switchboard/internal/clock"
	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
	"github.com/switchboard-voip/switchboard/media/webrtc"
	"github.com/switchboard-voip/switchboard/presence"
	"github.com/switchboard-voip/switchboard/routing"
	sbsip "github.com/switchboard-voip/switchboard/sip"
	"github.com/switchboard-voip/switchboard/sip/token"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// A reload asked for before serve listens for it (reading the config) must not end the
	// switch, as SIGHUP does a Go program by default; serve's Notify takes it over.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "hash-password" {
		os.Exit(hashPassword(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "backup" {
		os.Exit(backupCommand(ctx, os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "restore" {
		os.Exit(restoreCommand(ctx, os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit code so tests can drive it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML config file (default: the embedded demo config)")
	check := fs.Bool("check", false, "validate the config and exit")
	showVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "console", "console or json")
	pprofAddr := fs.String("pprof", "", "serve Go's profiler (net/http/pprof) on this address, e.g. 127.0.0.1:6060")
	// The subcommands are dispatched in main, before these flags: the usage names them so that
	// -h shows how to make the hashes a config's users may hold instead of passwords, and how
	// to back up and restore data_dir.
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: switchboard [flags]\n       switchboard hash-password -user EXT [-realm REALM | -config FILE] < password\n"+
			"       switchboard backup -o FILE [-config FILE]\n       switchboard restore -i FILE [-config FILE] [-force]\nflags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, "switchboard", version)
		return 0
	}

	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		var problems config.Problems
		if errors.As(err, &problems) {
			for _, p := range problems {
				fmt.Fprintln(stderr, p.String())
			}
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 2
	}
	if *check {
		fmt.Fprintln(stdout, "config OK")
		return 0
	}

	log, err := newLogger(*logLevel, *logFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	defer func() { _ = log.Sync() }()

	if *pprofAddr != "" {
		stopProfiler, err := serveProfiler(*pprofAddr, log)
		if err != nil {
			log.Error("profiler", zap.Error(err))
			return 1
		}
		defer stopProfiler()
	}
	if tuneGC(os.Getenv) {
		go followHeap(ctx, time.Second)
	}
	if n, set := addSignallingProc(os.Getenv); set {
		log.Debug("goroutines run on one CPU more than the runtime's default", zap.Int("gomaxprocs", n))
	}
	go trimMemory(ctx, trimLook, trimQuietLooks)
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("switchboard stopped", zap.Error(err))
		return 1
	}
	return 0
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Demo()
	}
	return config.Load(path)
}

func newLogger(level, format string, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch format {
	case "json":
		enc = zapcore.NewJSONEncoder(encCfg)
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("-log-format: want console or json, got %q", format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), lvl)), nil
}

// serve runs Switchboard until ctx ends, then shuts down cleanly.
func serve(ctx context.Context, cfg *config.Config, log *zap.Logger) error {
	hup, stopHUP := listenForReloads() // first: a reload asked for while starting is kept
	defer stopHUP()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data_dir: %w", err)
	}
	mediaAddr, err := netip.ParseAddr(cfg.Media.Address)
	if err != nil {
		return fmt.Errorf("media.address: %w", err)
	}
	ports, err := media.NewPorts(mediaAddr, cfg.Media.PortMin, cfg.Media.PortMax)
	if err != nil {
		return fmt.Errorf("media ports: %w", err)
	}
	defer ports.Close() // last: after the SIP server has ended every call
	if err := relayInKernel(ports, cfg.Media.KernelRelay, log); err != nil {
		return err
	}
	// The web phone registers with short-lived credentials its session gets from the API.
	keys, err := token.New(nil)
	if err != nil {
		return err
	}
	// Browsers' WebRTC media arrives on ports of the same pool, one pair per browser leg.
	gateways, err := webrtc.NewGateways(webrtc.Config{Ports: ports})
	if err != nil {
		return fmt.Errorf("webrtc: %w", err)
	}
	db, err := bbolt.Open(filepath.Join(cfg.DataDir, backup.DBFile), 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("open %s: %w (is another switchboard using this data_dir?)", cfg.DataDir, err)
	}
	defer db.Close()
	db.MaxBatchDelay = storeBatchDelay
	defer dropStorePagesEvery(db, storePagesInterval, log.Named("store"))()
	voicemail, err := mailbox.Open(db, filepath.Join(cfg.DataDir, backup.VoicemailDir))
	if err != nil {
		return fmt.Errorf("voicemail: %w", err)
	}
	defer voicemail.Close()
	defer serveBackups(cfg.DataDir, db, log.Named("backup"))() // `switchboard backup` while running
	// One node keeps DND settings and the directory in its bbolt file; a cluster's nodes share
	// them in NATS.
	var dndStore presence.Store
	var hoursStore presence.HoursStore
	var dirStore directory.Store
	var node *cluster.Node
	if cfg.Cluster != nil {
		node, err = cluster.Connect(ctx, cluster.Config{Node: cfg.Cluster.Node, NATS: cfg.Cluster.NATS,
			NodeTTL: cfg.Cluster.NodeTTL, Replicas: cfg.Cluster.Replicas, Log: log.Named("cluster")})
		if err != nil {
			return err
		}
		// Deferred before the SIP server's shutdown runs (below), so it runs after: the calls
		// have ended, and leaving deletes this node's keys at once.
		defer node.Close()
		dndStore, hoursStore, dirStore = node, node, node
		shareVoicemail(voicemail, node)
		node.OnVoicemail(func(v cluster.VoicemailMessage) error { return applyVoicemail(voicemail, v) })
	} else {
		bolt, err := presence.NewBoltStore(db)
		if err != nil {
			return fmt.Errorf("presence store: %w", err)
		}
		dndStore, hoursStore = bolt, bolt
		if dirStore, err = directory.NewBoltStore(db); err != nil {
			return err
		}
	}
	dir, seeded, err := openDirectory(cfg, dirStore)
	if err != nil {
		return err
	}
	switch {
	case seeded:
		log.Info("directory seeded from the config file: from now on users, groups, queues and trunks are changed on the page or through the API")
	case dir.dir.Differs():
		log.Warn("the config file's users, groups, queues or trunks differ from the directory in the data store, which is what the switch uses: " +
			"the file's sections only seed a new data dir (change the directory on the page or through the API)")
	}
	greets, err := loadGreetings(cfg.DataDir, dir.cfg)
	if err != nil {
		return err
	}
	people := make([]presence.User, 0, len(dir.cfg().Users))
	for _, u := range dir.cfg().Users {
		people = append(people, presence.User{Ext: u.Ext, Name: u.Name})
	}
	statuses, err := presence.NewTable(people, dndStore, presence.WithHours(hoursStore))
	if err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	// Stopped before the store closes: no timed DND or working-hours change is saved after.
	defer statuses.Close()
	pendingCallbacks, err := history.OpenCallbacks(db)
	if err != nil {
		return err
	}
	calls, err := history.Open(db)
	if err != nil {
		return fmt.Errorf("call history: %w", err)
	}
	// The wallboard's figures of the day, counted before any record is added (imports below).
	wallboardChanges := newChangeSignal()
	today, err := countQueueCalls(dir.cfg(), calls, wallboardChanges.Notify)
	if err != nil {
		return err
	}
	defer today.Close()
	locations := sbsip.NewMemoryLocations(nil)
	defer locations.Close()
	// The running switch follows the directory's changes from here on: a cluster's may come as
	// soon as the node starts, before the SIP server and the flows exist (set below).
	follower := &directoryFollower{dir: dir, rows: statuses, registrar: locations, today: today, log: log.Named("directory"),
		moves: extMover{statuses: statuses, greetings: greets}}
	if node == nil {
		follower.moves.mailboxes = voicemail // a cluster's nodes each keep every message: see extMover
	}
	dir.dir.OnChange(follower.apply)
	var callRecords sbsip.History = calls
	if node != nil {
		callRecords = sharedHistory{Store: calls, node: node}
		node.OnHistory(func(data []byte) error { return importHistory(calls, data) })
		node.OnDirectory(dir.dir.Replace)
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := node.Start(sctx, statuses)
		cancel()
		if err != nil {
			return err
		}
		log.Info("cluster joined", zap.String("node", node.Name()), zap.Strings("nodes", node.Nodes()))
	}
	// DND ends and working-hours boundaries that passed while the switch was down apply now.
	statuses.Start()

	listen, err := sipListeners(cfg)
	if err != nil {
		return err
	}
	sipCert := liveSIPCertificate(listen) // reload.go: SIGHUP renews it
	nat, err := sbsip.ParseNAT(cfg.SIP.NAT)
	if err != nil {
		return fmt.Errorf("sip.nat: %w", err)
	}
	garbageLevel, err := zapcore.ParseLevel(cfg.SIP.LogGarbage)
	if err != nil {
		return fmt.Errorf("sip.log_garbage: %w", err)
	}
	var registrations routing.Registrations = locations
	// The cluster as each layer sees it; on a single node nil interfaces (a nil *cluster.Node
	// in one would not be nil).
	var (
		peers      sbsip.Peers
		shared     flow.SharedQueues
		clusterAPI api.Cluster
	)
	if node != nil {
		registrations = clusterRegistrations{local: locations, node: node}
		peers, shared, clusterAPI = node, node, node
	}
	router := routing.New(dir, registrations, statuses)
	// One registry for /metrics, made here and handed down (metrics.go); nothing is global.
	registry := prometheus.NewRegistry()
	observe := newSwitchMetrics(registry)
	flows, err := flow.New(flow.Options{
		Router:   router,
		Statuses: statuses,
		// Ordered, so a hold line or a queue sees every step (a short call's end starts wrap-up).
		Watch:     func() flow.StatusFeed { return statuses.WatchOrdered(4096) },
		Greetings: greets,
		Voicemail: voicemail,
		Shared:    shared,
		// The wallboard's event streams follow callers, offers and wrap-ups.
		OnQueueChange: wallboardChanges.Notify,
		OnQueueLeft:   observe.queueLeft,
		Trunks:        dir,
		Callbacks:     pendingCallbacks,
		Log:           log.Named("flow"),
	})
	if err != nil {
		return err
	}
	defer flows.Close() // after the SIP server: its calls use the flows until they end
	follower.serveQueues(flows)
	srv, err := sbsip.NewServer(sbsip.Options{
		Listen:       listen,
		Realm:        cfg.SIP.Realm,
		NonceTTL:     cfg.SIP.NonceTTL,
		Algorithms:   cfg.SIP.DigestAlgorithms,
		SHA256Agents: cfg.SIP.DigestSHA256Agents,
		NAT:          nat,
		MediaAddr:    mediaAddr,
		Ports:        ports,
		RTPTimeout:   cfg.Media.RTPTimeout,
		Users:        dir,
		Router:       router,
		Flows:        flows,
		Locations:    locations,
		Voicemail:    voicemail,
		Presence:     statuses,
		Peers:        peers,
		Trunks:       dir,
		History:      callRecords,
		Browsers:     sbsip.WebRTC(gateways),
		Tokens:       keys,
		SRTP:         dir.SRTP,
		Observer:     observe,
		Logger:       log,

		Sources:      sbsip.Sources{Permit: cfg.SIP.PermitNets, Deny: cfg.SIP.DenyNets},
		Flood:        sbsip.FloodLimit{Rate: cfg.SIP.Flood.Rate, Burst: cfg.SIP.Flood.Burst, Trust: cfg.SIP.Flood.TrustNets},
		GarbageLevel: garbageLevel,
		Connections: sbsip.ConnectionLimits{Max: cfg.SIP.MaxConnections, PerSource: cfg.SIP.MaxConnectionsPerSource,
			Idle: cfg.SIP.IdleTimeout},
		Overload: sbsip.Overload{MaxCalls: cfg.SIP.MaxCalls, MaxRate: cfg.SIP.MaxCallRate, MaxDelay: cfg.SIP.OverloadDelay,
			MaxBacklog: cfg.SIP.OverloadBacklog << 10,
			RetryAfter: cfg.SIP.RetryAfter},
	})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	registerSwitchGauges(registry, srv, flows, ports)
	follower.serveCalls(srv)
	flows.SetOriginator(srv) // callbacks: the flows decide when, the SIP server places them
	if node != nil {
		// The other nodes send calls for phones registered here to this node's UDP listener.
		node.Advertise(reachable(srv.Addr("udp"), cfg.Media.Address))
		// A node that died took the media of the calls that went through it.
		node.OnNodeGone(func(name string) {
			if n := srv.EndCallsThrough(name); n > 0 {
				log.Warn("calls through a node that is gone ended", zap.String("node", name), zap.Int("calls", n))
			}
		})
	}
	httpLn, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return fmt.Errorf("http.listen %s: %w", cfg.HTTP.Listen, err)
	}
	scheme := "http"
	var httpCert *keyPair // reload.go: SIGHUP renews it
	if cfg.HTTP.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.HTTP.TLSCert, cfg.HTTP.TLSKey)
		if err != nil {
			_ = httpLn.Close()
			_ = srv.Shutdown(context.Background())
			return fmt.Errorf("http.tls_cert: %w", err)
		}
		httpCert = newKeyPair(cert)
		httpLn = tls.NewListener(httpLn, httpCert.tlsConfig())
		scheme = "https"
	}
	wallboard := wallboardView{cfg: dir.cfg, flows: flows, statuses: statuses, today: today, clock: clock.Real(),
		changes: wallboardChanges}
	apiServer := api.New(api.Options{Users: dir, Directory: dir.dir, Voicemail: voicemail, Presence: statuses, Stats: srv, History: calls,
		Queues:           queueView{cfg: dir.cfg, flows: flows, statuses: statuses},
		Wallboard:        wallboard,
		Calls:            callsView{srv: srv},
		Callbacks:        callbackView{cfg: dir.cfg, flows: flows},
		Greetings:        greets,
		PhoneCredentials: phoneCredentials{keys},
		PhoneWebSockets:  webSocketURLs(srv),
		Cluster:          clusterAPI,
		Metrics:          registry,
		Logger:           log.Named("http")})
	web := newWebServer(apiServer.Handler(), log, webIdleTimeout)
	httpLn = netutil.LimitListener(httpLn, maxHTTPConnections)
	web.RegisterOnShutdown(apiServer.Close) // event streams never end by themselves
	defer startReloader(ctx, hup, reloadable{cfg: cfg, srv: srv, httpCert: httpCert, sipCert: sipCert, log: log.Named("config")})()
	webDone := make(chan error, 1)
	go func() { webDone <- web.Serve(httpLn) }()
	log.Info("switchboard running", zap.String("version", version), zap.Int("users", len(dir.cfg().Users)),
		zap.String("http", scheme+"://"+httpLn.Addr().String()), zap.String("data_dir", cfg.DataDir))

	select {
	case <-ctx.Done():
	case err := <-webDone:
		log.Error("http server stopped", zap.Error(err))
	}
	log.Info("shutting down: ending active calls", zap.Int("calls", srv.ActiveCalls()))
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = web.Shutdown(sctx)
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// sipListeners turns the config's listeners into the SIP server's; tls and wss ones get
// sip.tls_cert, or http.tls_cert when the page's certificate serves both.
func sipListeners(cfg *config.Config) ([]sbsip.Listen, error) {
	listen := make([]sbsip.Listen, 0, len(cfg.SIP.Listeners))
	for _, l := range cfg.SIP.Listeners {
		sl := sbsip.Listen{Transport: l.Transport, Addr: l.Addr()}
		if l.Transport == "wss" || l.Transport == "tls" {
			certFile, keyFile, key := cfg.SIP.TLSCert, cfg.SIP.TLSKey, "sip.tls_cert"
			if certFile == "" {
				certFile, keyFile, key = cfg.HTTP.TLSCert, cfg.HTTP.TLSKey, "http.tls_cert"
			}
			cert, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("%s for %s: %w", key, l, err)
			}
			sl.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		listen = append(listen, sl)
	}
	return listen, nil
}

// webSocketURLs are the SIP server's bound ws and wss listeners as the web phone dials them.
func webSocketURLs(srv *sbsip.Server) []string {
	var urls []string
	for _, tp := range []string{"wss", "ws"} {
		if a := srv.Addr(tp); a != "" {
			urls = append(urls, tp+"://"+a)
		}
	}
	return urls
}

// phoneCredentials gives the API the web phone's credentials from the SIP server's keyring.
type phoneCredentials struct{ keys *token.Keyring }

// Issue implements api.PhoneCredentials.
func (p phoneCredentials) Issue(ext string, ttl time.Duration) (user, password string, expires time.Time) {
	c := p.keys.Issue(ext, ttl)
	return c.User, c.Password, c.Expires
}

// maxHTTPConnections caps the page's and API's connections at once; past it new ones wait in
// the kernel's backlog until one closes (an idle one closes after webIdleTimeout).
const maxHTTPConnections = 4096

// webIdleTimeout closes a keep-alive connection with no request this long: 3,000 idle ones
// were held for ever before it.
const webIdleTimeout = 2 * time.Minute

// newWebServer is the HTTP server of the page and API: a request's header must arrive in 10 s
// and fit in 64 KiB, and an idle keep-alive connection is closed. There is no whole-request
// read or write timeout: event streams and the web phone's long-lived requests last hours, and
// bodies are bounded by size in the handlers instead.
func newWebServer(h http.Handler, log *zap.Logger, idle time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
}
