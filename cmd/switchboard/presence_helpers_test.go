package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/internal/poll"
)

// Helpers for the presence tests against the real binary: the HTTP presence API and stopping
// the process (gracefully or not) so a second one can start on the same data_dir.

// presenceView is what GET /api/v1/presence/{ext} returns, as far as these tests read it.
type presenceView struct {
	Ext        string `json:"ext"`
	Status     string `json:"status"`
	DND        bool   `json:"dnd"`
	OnCall     bool   `json:"on_call"`
	Registered bool   `json:"registered"`
	Reason     string `json:"reason"`
	Until      string `json:"until"`
	Source     string `json:"source"`
}

// presenceAPI calls Switchboard's HTTP API as one user (HTTP Basic with the SIP password).
type presenceAPI struct {
	base       string // http://127.0.0.1:PORT
	user, pass string
	client     *http.Client
}

func newPresenceAPI(httpPort int, user, pass string) *presenceAPI {
	return &presenceAPI{base: "http://127.0.0.1:" + strconv.Itoa(httpPort), user: user, pass: pass,
		client: &http.Client{Timeout: 5 * time.Second}}
}

// do sends one request and returns the status and body.
func (a *presenceAPI) do(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(a.user, a.pass)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res.StatusCode, data, err
}

// get returns ext's presence; it fails the test on anything but 200 with a readable body.
func (a *presenceAPI) get(t testing.TB, ext string) presenceView {
	t.Helper()
	code, body, err := a.do(http.MethodGet, "/api/v1/presence/"+ext, nil)
	if err != nil {
		t.Fatalf("GET /api/v1/presence/%s: %v", ext, err)
	}
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/presence/%s: %d %s", ext, code, body)
	}
	var v presenceView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET /api/v1/presence/%s: %v in %s", ext, err, body)
	}
	return v
}

// put sets ext's status and returns the response's status code and body.
func (a *presenceAPI) put(t testing.TB, ext, status string) (int, string) {
	t.Helper()
	code, body, err := a.do(http.MethodPut, "/api/v1/presence/"+ext, fmt.Appendf(nil, `{"status":%q}`, status))
	if err != nil {
		t.Fatalf("PUT /api/v1/presence/%s: %v", ext, err)
	}
	return code, string(body)
}

// ready waits until the HTTP API answers /healthz: the switch binds SIP before HTTP, and
// startBinary only waits for SIP.
func (a *presenceAPI) ready(t testing.TB) {
	t.Helper()
	var code int
	var err error
	if !poll.Until(10*time.Second, func() bool {
		code, _, err = a.do(http.MethodGet, "/healthz", nil)
		return err == nil && code == http.StatusOK
	}) {
		t.Fatalf("HTTP API not ready after 10s: %d %v", code, err)
	}
}

// waitStatus polls ext's status until it is want or timeout passes; it returns the last view.
func (a *presenceAPI) waitStatus(t testing.TB, ext, want string, timeout time.Duration) (presenceView, bool) {
	t.Helper()
	var v presenceView
	ok := poll.Until(timeout, func() bool {
		v = a.get(t, ext)
		return v.Status == want
	})
	return v, ok
}

// sigterm stops the switch the way an operator does and waits for it to exit 0.
func (p *switchProcess) sigterm(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		t.Fatalf("switchboard still running 15s after SIGTERM\n%s", tail(p.log.String(), 40))
	}
	if p.err != nil {
		t.Fatalf("switchboard exit after SIGTERM: %v, want status 0\n%s", p.err, tail(p.log.String(), 40))
	}
}

// sigkill ends the switch without any chance to flush or close anything, as a power cut or the
// OOM killer would.
func (p *switchProcess) sigkill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("switchboard still running 5s after SIGKILL")
	}
}
