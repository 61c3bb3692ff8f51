package main

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/config"
	"github.com/switchboard-voip/switchboard/internal/poll"
	"github.com/switchboard-voip/switchboard/internal/sipphone"
	"github.com/switchboard-voip/switchboard/internal/testcert"
)

// sighup asks the switch to re-read its config, as `systemctl reload` does.
func (p *switchProcess) sighup(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the switch has logged n lines containing every one of words.
func (p *switchProcess) waitLog(t testing.TB, n int, words ...string) {
	t.Helper()
	poll.Require(t, 5*time.Second, fmt.Sprintf("%d log lines with %q", n, words), func() bool {
		found := 0
		for _, l := range strings.Split(p.log.String(), "\n") {
			if !slices.ContainsFunc(words, func(w string) bool { return !strings.Contains(l, w) }) {
				found++
			}
		}
		return found >= n
	})
}

// editConfig rewrites the config file at path with edit applied to its text.
func editConfig(t testing.TB, path string, edit func(string) string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := edit(string(src))
	if out == string(src) {
		t.Fatal("the edit changed nothing in the config")
	}
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sipFrom is a UDP socket on the loopback address ip, connected to the switch's SIP port.
func sipFrom(t testing.TB, ip string, port int) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// sendOptions sends an OPTIONS on c and returns its Call-ID.
func sendOptions(t testing.TB, c *net.UDPConn) string {
	t.Helper()
	la := c.LocalAddr().(*net.UDPAddr)
	id := fmt.Sprintf("reload-%d@%s", time.Now().UnixNano(), la.IP)
	req := fmt.Sprintf("OPTIONS sip:switchboard@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=z9hG4bK%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:probe@%s>;tag=p%d\r\nTo: <sip:switchboard@%s>\r\n"+
		"Call-ID: %s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		c.RemoteAddr(), la, time.Now().UnixNano(), la.IP, time.Now().UnixNano(), c.RemoteAddr(), id)
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return id
}

// optionsAnswered sends an OPTIONS on c and reports whether a 200 for it came back.
func optionsAnswered(t testing.TB, c *net.UDPConn) bool {
	t.Helper()
	id := sendOptions(t, c)
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	defer func() { _ = c.SetReadDeadline(time.Time{}) }()
	for {
		n, err := c.Read(buf)
		if err != nil {
			return false
		}
		if res := string(buf[:n]); strings.Contains(res, id) {
			return strings.HasPrefix(res, "SIP/2.0 200")
		}
	}
}

// optionsRefused sends an OPTIONS from refused, then one from served, and reports whether the
// first went unanswered once the second was answered: the switch reads its socket in order,
// and on loopback an answer to the first would be in by then.
func optionsRefused(t testing.TB, refused, served *net.UDPConn) bool {
	t.Helper()
	id := sendOptions(t, refused)
	if !optionsAnswered(t, served) {
		t.Fatal("the switch does not answer an address it serves")
	}
	buf := make([]byte, 4096)
	_ = refused.SetReadDeadline(time.Now())
	defer func() { _ = refused.SetReadDeadline(time.Time{}) }()
	for {
		n, err := refused.Read(buf)
		if err != nil {
			return true
		}
		if strings.Contains(string(buf[:n]), id) {
			return false
		}
	}
}

// TestSIGHUPAppliesSIPDenyAndKeepsItOverABrokenFile: a file that denies 127.0.0.2 and changes a
// setting that needs a restart is applied on SIGHUP (the deny at once, the other named in a
// warning); a broken file after it changes nothing, its bad key is logged, and the switch goes
// on serving with the settings it had.
func TestSIGHUPAppliesSIPDenyAndKeepsItOverABrokenFile(t *testing.T) {
	dir := t.TempDir()
	cfg, path := newSwitchConfig(t, dir, 8, 0)
	sw := startBinary(t, cfg, path)
	logOnFailure(t, sw, "config")
	other := sipFrom(t, "127.0.0.2", cfg.SIPPort)
	local := sipFrom(t, "127.0.0.1", cfg.SIPPort)
	if !optionsAnswered(t, other) {
		t.Fatal("127.0.0.2 not answered before any deny")
	}

	editConfig(t, path, func(s string) string {
		return strings.Replace(s, "  realm: switchboard\n",
			"  realm: switchboard\n  deny: [\"127.0.0.2/32\"]\n  nonce_ttl: 10m\n", 1)
	})
	sw.sighup(t)
	sw.waitLog(t, 1, "config reloaded", "sip.deny")
	if !optionsRefused(t, other, local) {
		t.Fatal("127.0.0.2 answered after a reload denied it")
	}
	sw.waitLog(t, 1, "WARN", "restart", "sip.nonce_ttl")
	phone := sipphone.New(t, cfg.SIPPort, "1001", testPassword(t, "1001"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	phone.Register(ctx) // 127.0.0.1 is not denied

	// A broken file: were it applied, 127.0.0.2 would be served again.
	editConfig(t, path, func(s string) string {
		return strings.Replace(s, "  deny: [\"127.0.0.2/32\"]\n", "  max_calls: lots\n", 1)
	})
	sw.sighup(t)
	sw.waitLog(t, 1, "ERROR", "nothing changed", "sip.max_calls")
	if !optionsRefused(t, other, local) {
		t.Fatal("127.0.0.2 answered after a broken file: the reload changed the settings")
	}
	if code, err := phone.TryRegister(ctx); err != nil || code != 200 {
		t.Fatalf("REGISTER after a broken file: %d %v, want 200", code, err)
	}
	if strings.Count(sw.log.String(), "config reloaded") != 1 {
		t.Fatal("a broken file was logged as reloaded")
	}
}

// presentedCert is the DER of the certificate the TLS server at addr presents.
func presentedCert(t testing.TB, addr string) []byte {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true}) //nolint:gosec // the test compares the bytes itself
	if err != nil {
		t.Fatalf("TLS handshake with %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw
}

// certDER is the DER of the PEM certificate file at path.
func certDER(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	return b.Bytes
}

// TestSIGHUPRenewsTheHTTPSCertificate: the certificate files are replaced (a renewal, the
// config unchanged) and SIGHUP makes new handshakes present the new certificate, on the HTTPS
// listener and on the SIP tls listener (which has its own); files that fail to load leave the
// certificate in force.
func TestSIGHUPRenewsTheHTTPSCertificate(t *testing.T) {
	dir := t.TempDir()
	cfg, path := newSwitchConfig(t, dir, 8, 0)
	certFile, keyFile, _ := testcert.Write(t, dir, "web")
	sipCertFile, _, _ := testcert.Write(t, dir, "sip")
	tlsPort := freePort(t)
	listen := fmt.Sprintf("  listen: \"127.0.0.1:%d\"\n", cfg.HTTPPort)
	editConfig(t, path, func(s string) string {
		s = strings.Replace(s, "  realm: switchboard\n", "  realm: switchboard\n  tls_cert: sip.crt\n  tls_key: sip.key\n", 1)
		s = strings.Replace(s, fmt.Sprintf("\"tcp:127.0.0.1:%d\"", cfg.SIPPort),
			fmt.Sprintf("\"tcp:127.0.0.1:%d\", \"tls:127.0.0.1:%d\"", cfg.SIPPort, tlsPort), 1)
		return strings.Replace(s, listen, listen+"  tls_cert: web.crt\n  tls_key: web.key\n", 1)
	})
	sw := startBinary(t, cfg, path)
	logOnFailure(t, sw, "config", "certificate")
	addr := fmt.Sprintf("127.0.0.1:%d", cfg.HTTPPort)
	sipAddr := fmt.Sprintf("127.0.0.1:%d", tlsPort)
	poll.Require(t, 5*time.Second, "the HTTPS listener up", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		return err == nil
	})
	old := certDER(t, certFile)
	if got := presentedCert(t, addr); !slices.Equal(got, old) {
		t.Fatal("the HTTPS listener does not present the configured certificate")
	}
	if got := presentedCert(t, sipAddr); !slices.Equal(got, certDER(t, sipCertFile)) {
		t.Fatal("the SIP tls listener does not present sip.tls_cert")
	}

	testcert.Write(t, dir, "web") // renewed: new key, new certificate, same files
	testcert.Write(t, dir, "sip")
	renewed, sipRenewed := certDER(t, certFile), certDER(t, sipCertFile)
	sw.sighup(t)
	poll.Require(t, 5*time.Second, "the renewed certificates presented", func() bool {
		return slices.Equal(presentedCert(t, addr), renewed) && slices.Equal(presentedCert(t, sipAddr), sipRenewed)
	})
	sw.waitLog(t, 1, "certificate reloaded", "web.crt")
	sw.waitLog(t, 1, "certificate reloaded", "sip.crt")

	// A key that is not the certificate's: the file is invalid (the loader checks the pair),
	// nothing changes and the renewed certificate stays.
	testcert.Write(t, dir, "other")
	if err := os.Rename(filepath.Join(dir, "other.key"), keyFile); err != nil {
		t.Fatal(err)
	}
	sw.sighup(t)
	sw.waitLog(t, 1, "ERROR", "nothing changed", "http.tls_cert")
	if !slices.Equal(presentedCert(t, addr), renewed) {
		t.Fatal("a key pair that failed to load replaced the certificate in force")
	}
}

// TestChangedKeysNamesEachSetting: the keys a reload compares are the dotted keys of the file,
// sections key by key, never the values the loader derives.
func TestChangedKeysNamesEachSetting(t *testing.T) {
	a, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Demo()
	if err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(a, b); len(got) != 0 {
		t.Fatalf("two loads of one file differ in %v", got)
	}
	b.SIP.Deny, b.SIP.Flood.Rate, b.HTTP.Listen, b.DataDir = []string{"10.0.0.0/8"}, 7, "127.0.0.1:1", "/elsewhere"
	b.SIP.DenyNets = nil // derived: not a key of its own
	b.Users = b.Users[1:]
	b.Cluster = &config.Cluster{Node: "a"}
	want := []string{"sip.deny", "sip.flood.rate", "http.listen", "data_dir", "users", "cluster"}
	if got := changedKeys(a, b); !slices.Equal(got, want) {
		t.Fatalf("changed keys %v, want %v", got, want)
	}
}
