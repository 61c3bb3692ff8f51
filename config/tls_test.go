package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard-voip/switchboard/internal/testcert"
)

func TestHTTPTLS(t *testing.T) {
	dir := t.TempDir()
	testcert.Write(t, dir, "web")
	testcert.Write(t, dir, "other")
	c, err := Parse([]byte(minimal+"http: {tls_cert: web.crt, tls_key: web.key}\n"), dir)
	if err != nil {
		t.Fatalf("a certificate and its key: %v", err)
	}
	if c.HTTP.TLSCert != filepath.Join(dir, "web.crt") || c.HTTP.TLSKey != filepath.Join(dir, "web.key") {
		t.Fatalf("paths not resolved against the config's directory: %q %q", c.HTTP.TLSCert, c.HTTP.TLSKey)
	}
	for yaml, want := range map[string]string{
		"http: {tls_cert: web.crt}\n":                          "http.tls_key: is required with http.tls_cert",
		"http: {tls_key: web.key}\n":                           "http.tls_cert: is required with http.tls_key",
		"http: {tls_cert: web.crt, tls_key: other.key}\n":      "http.tls_cert: with http.tls_key:",
		"http: {tls_cert: missing.crt, tls_key: web.key}\n":    "http.tls_cert: with http.tls_key:",
		"http: {tls_cert: web.crt, tls_key: ../nowhere.key}\n": "http.tls_cert: with http.tls_key:",
	} {
		_, err := Parse([]byte(minimal+yaml), dir)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s→ %v, want %q", yaml, err, want)
		}
	}
}

// TestSIPWebSocketListeners: ws, wss and tls listeners parse; wss and tls take sip.tls_cert, or
// else the page's certificate, and with neither the listener is named in the error.
func TestSIPWebSocketListeners(t *testing.T) {
	dir := t.TempDir()
	testcert.Write(t, dir, "sip")
	testcert.Write(t, dir, "web")
	const users = "users: [{ext: \"1001\", password: a}]\n"
	parse := func(sip, extra string) (*Config, error) {
		return Parse([]byte("sip: {"+sip+"}\n"+users+extra), dir)
	}
	_, err := parse(`listen: ["udp:127.0.0.1:5060", "ws:127.0.0.1:5066", "wss:[::1]:7443"]`, "")
	if err == nil || !strings.Contains(err.Error(), "sip.listen[2]: a wss listener needs a certificate") {
		t.Fatalf("wss without any certificate: %v", err)
	}
	c, err := parse(`listen: ["ws:127.0.0.1:5066", "wss:[::1]:7443"], tls_cert: sip.crt, tls_key: sip.key`, "")
	if err != nil {
		t.Fatalf("wss with sip.tls_cert: %v", err)
	}
	if got := c.SIP.Listeners; len(got) != 2 || got[0].Transport != "ws" || got[1].Transport != "wss" ||
		got[1].Host != "::1" || got[1].Port != 7443 || c.SIP.TLSCert != filepath.Join(dir, "sip.crt") {
		t.Fatalf("listeners %+v, cert %q", got, c.SIP.TLSCert)
	}
	if _, err := parse(`listen: ["tls:127.0.0.1:5061"]`, ""); err == nil ||
		!strings.Contains(err.Error(), "sip.listen[0]: a tls listener needs a certificate") {
		t.Fatalf("tls without any certificate: %v", err)
	}
	if _, err := parse(`listen: ["tls:127.0.0.1:5061", "wss:0.0.0.0:7443"]`, "http: {tls_cert: web.crt, tls_key: web.key}\n"); err != nil {
		t.Fatalf("wss sharing the page's certificate: %v", err)
	}
	if _, err := parse(`listen: ["ws:127.0.0.1:5066"], tls_cert: sip.crt`, ""); err == nil ||
		!strings.Contains(err.Error(), "sip.tls_key: is required with sip.tls_cert") {
		t.Fatalf("sip.tls_cert alone: %v", err)
	}
	if _, err := parse(`listen: ["wss:127.0.0.1:5066"], tls_cert: sip.crt, tls_key: web.key`, ""); err == nil ||
		!strings.Contains(err.Error(), "sip.tls_cert: with sip.tls_key") {
		t.Fatalf("a key of another certificate: %v", err)
	}
}
