package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/testcert"
)

func TestServesThePageAndAPIOverHTTPS(t *testing.T) {
	dir := t.TempDir()
	cfg, path := newSwitchConfig(t, dir, 8, 0)
	_, _, pool := testcert.Write(t, dir, "web")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("  listen: \"127.0.0.1:%d\"\n", cfg.HTTPPort)
	withTLS := strings.Replace(string(src), listen, listen+"  tls_cert: web.crt\n  tls_key: web.key\n", 1)
	if withTLS == string(src) {
		t.Fatal("test config has no http.listen line to extend")
	}
	if err := os.WriteFile(path, []byte(withTLS), 0o600); err != nil {
		t.Fatal(err)
	}
	stop, logs := startInProcess(t, cfg, path)
	defer stop()

	client := &http.Client{Timeout: 5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := fmt.Sprintf("https://127.0.0.1:%d", cfg.HTTPPort)
	for _, p := range []string{"/healthz", "/"} {
		res, err := client.Get(base + p)
		if err != nil {
			t.Fatalf("GET %s over TLS: %v\n%s", p, err, logs)
		}
		_ = res.Body.Close()
		if res.StatusCode != 200 || res.TLS == nil {
			t.Fatalf("GET %s: %d, TLS %v", p, res.StatusCode, res.TLS != nil)
		}
	}
	// Plain HTTP on the TLS port gets no page.
	plain := &http.Client{Timeout: 5 * time.Second}
	if res, err := plain.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", cfg.HTTPPort)); err == nil {
		_ = res.Body.Close()
		if res.StatusCode == 200 {
			t.Fatal("plain HTTP served on the HTTPS listener")
		}
	}
	if !strings.Contains(logs.String(), "https://127.0.0.1:") {
		t.Fatalf("the start-up log does not say https:\n%s", logs)
	}
}
