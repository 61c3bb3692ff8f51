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
