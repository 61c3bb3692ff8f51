package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/config"
	sbsip "github.com/switchboard-voip/switchboard/sip"
)

// SIGHUP re-reads the config file and applies what can change while the switch runs (see
// liveKeys); what cannot is named in the log as needing a restart. Users, groups, queues and
// trunks are not taken from the file at all: after the first start they live in the data store
// and change on the page or through the API (directory.go).

// isLive reports whether a reload applies the config key k: each takes effect for the next
// request, connection, call or TLS handshake.
func isLive(k string) bool {
	switch k {
	case "sip.permit", "sip.deny", "sip.flood.rate", "sip.flood.burst", "sip.flood.trust",
		"sip.max_calls", "sip.max_call_rate", "sip.retry_after":
		return true
	}
	return isCertificateKey(k)
}

// isCertificateKey reports whether k names a certificate's or its key's file.
func isCertificateKey(k string) bool {
	switch k {
	case "sip.tls_cert", "sip.tls_key", "http.tls_cert", "http.tls_key":
		return true
	}
	return false
}

// isDirectoryKey reports whether k is a section that seeds the data store on a data dir's
// first start and is never read from the file again.
func isDirectoryKey(k string) bool {
	switch k {
	case "users", "groups", "queues", "trunks":
		return true
	}
	return false
}

// reloadable is what a reload changes in the running switch.
type reloadable struct {
	cfg *config.Config // as the switch started with it; File "" is the embedded demo
	srv *sbsip.Server
	// httpCert and sipCert are the certificates of the HTTPS listener and of the SIP tls and
	// wss listeners; nil when there are none.
	httpCert, sipCert *keyPair
	log               *zap.Logger
}

// listenForReloads starts taking SIGHUP for startReloader, at the start of serve: a reload
// asked for while the switch starts waits in the channel and is applied once it serves, rather
// than ending the process (Go's default for SIGHUP). stop stops taking it.
func listenForReloads() (hup <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}

// startReloader applies the config file again on every SIGHUP from hup until ctx ends or the
// returned stop is called; stop waits for a reload under way to finish. serve owns the
// goroutine.
func startReloader(ctx context.Context, hup <-chan os.Signal, r reloadable) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	rl := &reloader{reloadable: r, applied: r.cfg}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				rl.reload()
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}

// reloader is the state of the reloads: only its goroutine touches it.
type reloader struct {
	reloadable
	applied *config.Config // the last good file, whose live settings are in force
}

// reload re-reads the file, and applies it if it is valid: a file with a problem changes
// nothing, so a typo made while editing cannot take the switch's settings away.
func (r *reloader) reload() {
	if r.cfg.File == "" {
		r.log.Info("SIGHUP: the switch runs the embedded demo config, there is no config file to re-read")
		return
	}
	next, err := config.Load(r.cfg.File)
	if err != nil {
		var problems config.Problems
		if errors.As(err, &problems) {
			for _, p := range problems {
				r.log.Error("config reload: invalid, nothing changed", zap.String("file", r.cfg.File),
					zap.String("problem", p.String()))
			}
		} else {
			r.log.Error("config reload: nothing changed", zap.String("file", r.cfg.File), zap.Error(err))
		}
		return
	}
	// Live keys against the last file applied; the rest against the file the switch started
	// with, so a change that waits for a restart is named on every reload until then.
	var applied, failed []string
	certs := r.reloadCertificates(next)
	for _, k := range changedKeys(r.applied, next) {
		err, reloaded := certs[k]
		switch {
		case !isLive(k) || isCertificateKey(k) && !reloaded:
			// Named below as needing a restart.
		case err != nil:
			failed = append(failed, k)
		default:
			applied = append(applied, k)
		}
	}
	r.srv.SetSources(sbsip.Sources{Permit: next.SIP.PermitNets, Deny: next.SIP.DenyNets})
	r.srv.SetFlood(sbsip.FloodLimit{Rate: next.SIP.Flood.Rate, Burst: next.SIP.Flood.Burst, Trust: next.SIP.Flood.TrustNets})
	r.srv.SetOverload(sbsip.Overload{MaxCalls: next.SIP.MaxCalls, MaxRate: next.SIP.MaxCallRate,
		RetryAfter: next.SIP.RetryAfter})

	var restart, directory []string
	for _, k := range changedKeys(r.cfg, next) {
		switch {
		case isDirectoryKey(k):
			directory = append(directory, k)
		case isLive(k) && !r.needsRestart(k, next):
		default:
			restart = append(restart, k)
		}
	}
	r.applied = next
	r.log.Info("config reloaded (users, groups, queues and trunks are not taken from the file: they live in the data store)",
		zap.String("file", r.cfg.File), zap.Strings("applied", applied))
	if len(failed) > 0 {
		r.log.Error("config reload: changed but not applied, the old certificate stays", zap.Strings("keys", failed))
	}
	if len(restart) > 0 {
		r.log.Warn("config reload: changed but applied only by a restart", zap.Strings("keys", restart))
	}
	if len(directory) > 0 {
		r.log.Warn("config reload: the file's directory sections changed but are not applied: "+
			"the switch reads users, groups, queues and trunks from the data store (change them on the page or through the API)",
			zap.Strings("keys", directory))
	}
}

// needsRestart reports whether the live key k cannot be applied to this switch: a certificate
// is swapped, but HTTPS or SIP over TLS is switched on or off only at start.
func (r *reloader) needsRestart(k string, next *config.Config) bool {
	switch {
	case strings.HasPrefix(k, "http.tls_"):
		return r.httpCert == nil || next.HTTP.TLSCert == ""
	case strings.HasPrefix(k, "sip.tls_"):
		return r.sipCert == nil
	}
	return false
}

// reloadCertificates loads every certificate in use again from next's files, changed or not:
// a renewal rewrites the files and leaves the config as it was. It returns, for each key
// naming the files of a certificate reloaded, nil or why it was not: a certificate that fails
// to load is logged and the old one stays.
func (r *reloader) reloadCertificates(next *config.Config) map[string]error {
	out := make(map[string]error)
	try := func(kp *keyPair, name, certFile, keyFile string, keys ...string) {
		if kp == nil || certFile == "" {
			return
		}
		err := kp.load(certFile, keyFile)
		for _, k := range keys {
			if out[k] == nil {
				out[k] = err
			}
		}
		if err != nil {
			r.log.Error("config reload: certificate not reloaded, the old one stays", zap.String("for", name), zap.Error(err))
			return
		}
		r.log.Info("certificate reloaded", zap.String("for", name), zap.String("file", certFile),
			zap.Time("expires", kp.expires()))
	}
	try(r.httpCert, "https", next.HTTP.TLSCert, next.HTTP.TLSKey, "http.tls_cert", "http.tls_key")
	if next.SIP.TLSCert != "" {
		try(r.sipCert, "sip tls/wss", next.SIP.TLSCert, next.SIP.TLSKey, "sip.tls_cert", "sip.tls_key")
	} else {
		// The SIP listeners serve the page's certificate (sipListeners).
		try(r.sipCert, "sip tls/wss", next.HTTP.TLSCert, next.HTTP.TLSKey,
			"sip.tls_cert", "sip.tls_key", "http.tls_cert", "http.tls_key")
	}
	return out
}

// changedKeys lists, as dotted config keys ("sip.deny", "sip.flood.rate", "data_dir"), the
// settings whose values differ between a and b: the top-level keys, and the keys inside sip,
// media and http (and sip.flood). Values the loader derives from others (yaml:"-") are
// compared through the keys they come from.
func changedKeys(a, b *config.Config) []string {
	var out []string
	diffFields(&out, "", reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), 0)
	return out
}

func diffFields(out *[]string, prefix string, a, b reflect.Value, depth int) {
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		key := prefix + name
		fa, fb := a.Field(i), b.Field(i)
		// Sections (sip, media, http, sip.flood) are compared key by key; lists, maps and the
		// cluster section, whose parts make sense only together, as a whole.
		if f.Type.Kind() == reflect.Struct && depth < 2 {
			diffFields(out, key+".", fa, fb, depth+1)
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			*out = append(*out, key)
		}
	}
}

// keyPair is a TLS certificate and key read from PEM files, swapped whole on a reload: new
// handshakes present the renewed certificate, the ones under way finish with the old.
type keyPair struct {
	cert atomic.Pointer[tls.Certificate]
}

// newKeyPair holds cert, already loaded.
func newKeyPair(cert tls.Certificate) *keyPair {
	kp := &keyPair{}
	kp.cert.Store(&cert)
	return kp
}

// load reads the key pair from its files and puts it in force; on an error the one in force
// stays.
func (kp *keyPair) load(certFile, keyFile string) error {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return fmt.Errorf("loading %s and %s: %w", certFile, keyFile, err)
	}
	kp.cert.Store(&cert)
	return nil
}

// expires is when the certificate in force stops being valid, for the log; zero if unknown.
func (kp *keyPair) expires() time.Time {
	c := kp.cert.Load()
	if c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	if len(c.Certificate) == 0 {
		return time.Time{}
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return time.Time{}
	}
	return leaf.NotAfter
}

// tlsConfig is a server config presenting the certificate in force at each handshake.
func (kp *keyPair) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.cert.Load(), nil }}
}

// liveSIPCertificate makes listen's tls and wss listeners present one reloadable certificate
// (the one sipListeners loaded) and returns it; nil when there is no such listener.
func liveSIPCertificate(listen []sbsip.Listen) *keyPair {
	i := slices.IndexFunc(listen, func(l sbsip.Listen) bool { return l.TLS != nil && len(l.TLS.Certificates) > 0 })
	if i < 0 {
		return nil
	}
	kp := newKeyPair(listen[i].TLS.Certificates[0])
	conf := kp.tlsConfig()
	for j := range listen {
		if listen[j].TLS != nil {
			listen[j].TLS = conf
		}
	}
	return kp
}
