package api

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeBackups hands out an archive of fixed content, or fails.
type fakeBackups struct {
	content  string
	fail     error // Snapshot's error
	writeErr error // WriteTo's error, after the content
	opened   atomic.Int32
	closed   atomic.Int32
}

func (f *fakeBackups) Snapshot() (BackupArchive, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	f.opened.Add(1)
	return fakeArchive{f}, nil
}

type fakeArchive struct{ f *fakeBackups }

func (a fakeArchive) WriteTo(w io.Writer) (int64, error) {
	n, err := io.WriteString(w, a.f.content)
	if err == nil {
		err = a.f.writeErr
	}
	return int64(n), err
}

func (a fakeArchive) Close() error { a.f.closed.Add(1); return nil }

// TestBackupHandler: GET /api/v1/backup streams the archive as application/gzip and closes the
// snapshot; a snapshot that fails is a JSON 500; a failure mid-way cuts the response short (the
// client's verification catches it) and still closes the snapshot; other paths and methods are
// JSON errors.
func TestBackupHandler(t *testing.T) {
	f := &fakeBackups{content: "archive bytes"}
	srv := httptest.NewServer(BackupHandler(f, nil))
	defer srv.Close()

	res, err := http.Get(srv.URL + "/api/v1/backup")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/gzip" || string(body) != f.content ||
		!strings.Contains(res.Header.Get("Content-Disposition"), ".tar.gz") {
		t.Errorf("GET: %d %v %q", res.StatusCode, res.Header, body)
	}
	if o, c := f.opened.Load(), f.closed.Load(); o != 1 || c != 1 {
		t.Errorf("%d snapshots, %d closed, want 1 and 1", o, c)
	}

	f.writeErr = errors.New("disk on fire")
	// Cut before the headers went out (this archive is too small to have flushed) or after.
	res, err = http.Get(srv.URL + "/api/v1/backup")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Error("a failure mid-way gave a whole response, want it cut short")
	}
	// The handler closes before the connection is cut; the client may have retried the GET.
	if o, c := f.opened.Load(), f.closed.Load(); o != c {
		t.Errorf("%d snapshots, %d closed", o, c)
	}

	f.fail = errors.New("no space left on device")
	res, err = http.Get(srv.URL + "/api/v1/backup")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 500 || !strings.Contains(string(body), `"error":"no space left on device"`) {
		t.Errorf("failed snapshot: %d %s", res.StatusCode, body)
	}

	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/other"}, {"POST", "/api/v1/backup"}} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode < 400 || !strings.Contains(string(body), `"error"`) {
			t.Errorf("%s %s: %d %s", c.method, c.path, res.StatusCode, body)
		}
	}
}
