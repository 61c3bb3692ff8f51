package api

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-voip/switchboard/media"
	"github.com/switchboard-voip/switchboard/media/mailbox"
)

func TestListNewestFirstWithSpecFields(t *testing.T) {
	e := newEnv(t)
	first, _ := e.leave(t, "1002", "2001", "Reception", 8000) // 1 s
	second, _ := e.leave(t, "1002", "15551230000", "", 4000)  // 0.5 s
	third, _ := e.leave(t, "1002", "1003", "Carol", 12000)    // 1.5 s
	e.leave(t, "1003", "1002", "Bob", 800)                    // someone else's box
	if err := e.store.SetHeard("1002", second.ID, true); err != nil {
		t.Fatal(err)
	}
	second.Heard = true

	got := e.call(t, request{path: "/api/v1/voicemail/1002", ext: "1002"}, http.StatusOK)
	if ct := got.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var list []map[string]any
	if err := json.Unmarshal(got.body, &list); err != nil {
		t.Fatalf("%s: %v", got.body, err)
	}
	want := []mailbox.Message{third, second, first}
	if len(list) != len(want) {
		t.Fatalf("listed %d messages, want %d: %s", len(list), len(want), got.body)
	}
	fields := []string{"duration_ms", "from", "from_name", "heard", "id", "received"}
	for i, m := range want {
		item := list[i]
		if keys := slices.Sorted(maps.Keys(item)); !slices.Equal(keys, fields) {
			t.Errorf("item %d has fields %v, want %v", i, keys, fields)
		}
		received, err := time.Parse(time.RFC3339Nano, item["received"].(string))
		if err != nil || !received.Equal(m.Received) {
			t.Errorf("item %d received %v (%v), want %v", i, item["received"], err, m.Received)
		}
		if item["id"] != m.ID || item["from"] != m.From || item["from_name"] != m.FromName ||
			item["duration_ms"] != float64(m.DurationMS) || item["heard"] != m.Heard {
			t.Errorf("item %d = %v, want %+v", i, item, m)
		}
	}
	if list[0]["duration_ms"] != 1500.0 {
		t.Errorf("newest message lasts %v ms, want 1500", list[0]["duration_ms"])
	}
}

func TestEmptyListIsArray(t *testing.T) {
	e := newEnv(t)
	got := e.call(t, request{path: "/api/v1/voicemail/1004", ext: "1004"}, http.StatusOK)
	if s := strings.TrimSpace(string(got.body)); s != "[]" {
		t.Errorf("empty box listed as %q, want []", s)
	}
}

func TestFetchServesWAV(t *testing.T) {
	e := newEnv(t)
	m, samples := e.leave(t, "1002", "2001", "", 16000) // 2 s
	path, err := e.store.Path("1002", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	r := request{path: "/api/v1/voicemail/1002/" + m.ID, ext: "1002"}
	got := e.call(t, r, http.StatusOK)
	if ct := got.header.Get("Content-Type"); ct != "audio/wav" {
		t.Errorf("Content-Type %q, want audio/wav", ct)
	}
	if cl := got.header.Get("Content-Length"); cl != strconv.Itoa(len(file)) {
		t.Errorf("Content-Length %s, want %d", cl, len(file))
	}
	if got.header.Get("Accept-Ranges") != "bytes" {
		t.Errorf("Accept-Ranges %q", got.header.Get("Accept-Ranges"))
	}
	if !bytes.Equal(got.body, file) {
		t.Fatalf("served %d bytes that differ from the %d-byte file", len(got.body), len(file))
	}
	if string(got.body[0:4]) != "RIFF" || string(got.body[8:12]) != "WAVE" {
		t.Fatalf("not a RIFF/WAVE file: % x", got.body[:12])
	}
	if rate := binary.LittleEndian.Uint32(got.body[24:28]); rate != 8000 {
		t.Errorf("sample rate %d, want 8000", rate)
	}
	decoded, err := media.ReadWAV(bytes.NewReader(got.body))
	if err != nil {
		t.Fatalf("served WAV does not parse: %v", err)
	}
	if !slices.Equal(decoded, samples) {
		t.Errorf("served %d samples, want the %d recorded", len(decoded), len(samples))
	}

	// Fetching is not listening: only PATCH marks heard.
	if after, _ := e.store.Get("1002", m.ID); after.Heard {
		t.Error("GET marked the message heard")
	}
}

func TestFetchHonoursRange(t *testing.T) {
	e := newEnv(t)
	m, _ := e.leave(t, "1002", "2001", "", 8000)
	path, _ := e.store.Path("1002", m.ID)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	size := strconv.Itoa(len(file))

	for _, c := range []struct {
		rng, contentRange string
		from, to          int // of file, to exclusive
	}{
		{"bytes=0-43", "bytes 0-43/" + size, 0, 44},
		{"bytes=1000-1999", "bytes 1000-1999/" + size, 1000, 2000},
		{"bytes=-100", "bytes " + strconv.Itoa(len(file)-100) + "-" + strconv.Itoa(len(file)-1) + "/" + size, len(file) - 100, len(file)},
	} {
		r := request{path: "/api/v1/voicemail/1002/" + m.ID, ext: "1002", header: map[string]string{"Range": c.rng}}
		got := e.call(t, r, http.StatusPartialContent)
		if cr := got.header.Get("Content-Range"); cr != c.contentRange {
			t.Errorf("Range %s: Content-Range %q, want %q", c.rng, cr, c.contentRange)
		}
		if !bytes.Equal(got.body, file[c.from:c.to]) {
			t.Errorf("Range %s: got %d bytes, not file[%d:%d]", c.rng, len(got.body), c.from, c.to)
		}
	}

	// An unsatisfiable range is an error, in JSON like every other.
	r := request{path: "/api/v1/voicemail/1002/" + m.ID, ext: "1002", header: map[string]string{"Range": "bytes=999999-"}}
	got := e.call(t, r, http.StatusRequestedRangeNotSatisfiable)
	if cr := got.header.Get("Content-Range"); cr != "bytes */"+size {
		t.Errorf("416 with Content-Range %q", cr)
	}
}

func TestFetchConditional(t *testing.T) {
	e := newEnv(t)
	m, _ := e.leave(t, "1002", "2001", "", 800)
	r := request{path: "/api/v1/voicemail/1002/" + m.ID, ext: "1002"}
	etag := e.call(t, r, http.StatusOK).header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	r.header = map[string]string{"If-None-Match": etag}
	e.call(t, r, http.StatusNotModified)
}

func TestPatchHeard(t *testing.T) {
	e := newEnv(t)
	m, _ := e.leave(t, "1002", "2001", "Reception", 800)
	path := "/api/v1/voicemail/1002/" + m.ID
	for _, heard := range []bool{true, true, false} {
		body := `{"heard":` + strconv.FormatBool(heard) + `}`
		got := e.call(t, request{method: http.MethodPatch, path: path, ext: "1002", body: body}, http.StatusOK)
		var out voicemailMessage
		if err := json.Unmarshal(got.body, &out); err != nil {
			t.Fatal(err)
		}
		if out.ID != m.ID || out.Heard != heard || out.From != "2001" || out.FromName != "Reception" {
			t.Errorf("PATCH %s answered %+v", body, out)
		}
		if stored, _ := e.store.Get("1002", m.ID); stored.Heard != heard {
			t.Errorf("after PATCH %s the store says heard=%t", body, stored.Heard)
		}
	}
}

func TestPatchBadBody(t *testing.T) {
	e := newEnv(t)
	m, _ := e.leave(t, "1002", "2001", "", 800)
	path := "/api/v1/voicemail/1002/" + m.ID
	cases := map[string]string{
		"empty":         "",
		"not JSON":      "heard=true",
		"truncated":     `{"heard":`,
		"wrong type":    `{"heard":"yes"}`,
		"null":          `{"heard":null}`,
		"missing heard": `{}`,
		"unknown field": `{"heard":true,"listened":true}`,
		"two values":    `{"heard":true}{"heard":false}`,
		"array":         `[true]`,
		"JSON null":     `null`,
		"too large":     `{"heard":true,"pad":"` + strings.Repeat("x", 70<<10) + `"}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			got := e.call(t, request{method: http.MethodPatch, path: path, ext: "1002", body: body}, http.StatusBadRequest)
			if name == "too large" && !strings.Contains(string(got.body), "too large") {
				t.Errorf("body %s does not say the request was too large", got.body)
			}
		})
	}
	if stored, _ := e.store.Get("1002", m.ID); stored.Heard {
		t.Error("a bad PATCH marked the message heard")
	}
}

func TestDeleteThenGone(t *testing.T) {
	e := newEnv(t)
	keep, _ := e.leave(t, "1002", "2001", "", 800)
	gone, _ := e.leave(t, "1002", "2002", "", 800)
	path := "/api/v1/voicemail/1002/" + gone.ID

	got := e.call(t, request{method: http.MethodDelete, path: path, ext: "1002"}, http.StatusNoContent)
	if len(got.body) != 0 {
		t.Errorf("204 with a body: %q", got.body)
	}
	e.call(t, request{path: path, ext: "1002"}, http.StatusNotFound)
	e.call(t, request{method: http.MethodPatch, path: path, ext: "1002", body: `{"heard":true}`}, http.StatusNotFound)
	e.call(t, request{method: http.MethodDelete, path: path, ext: "1002"}, http.StatusNotFound)

	var list []voicemailMessage
	if err := json.Unmarshal(e.call(t, request{path: "/api/v1/voicemail/1002", ext: "1002"}, http.StatusOK).body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != keep.ID {
		t.Errorf("after DELETE the box lists %+v, want only %s", list, keep.ID)
	}
}

// TestBadMessageIDs: ids that are missing, malformed or try to climb out of
// the box's folder are all just 404, for every method.
func TestBadMessageIDs(t *testing.T) {
	e := newEnv(t)
	m, _ := e.leave(t, "1002", "2001", "", 800)
	other, _ := e.leave(t, "1003", "2001", "", 800)
	ids := []string{
		"20260101T000000000Z-deadbeef", // well formed, absent
		other.ID,                       // exists, in another box
		"..%2F..%2Fetc%2Fpasswd",
		"..%2F1003%2F" + other.ID,
		"..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
		"%2E%2E",
		"%2E%2E%2F%2E%2E%2Fdb",
		"..%5C..%5Cwindows",
		m.ID + ".wav",
		m.ID + "%00",
		m.ID + "%2F",
		"%2Fetc%2Fpasswd",
		strings.Repeat("a", 500),
	}
	for _, id := range ids {
		path := "/api/v1/voicemail/1002/" + id
		e.call(t, request{path: path, ext: "1002"}, http.StatusNotFound)
		e.call(t, request{path: path, ext: "1001"}, http.StatusNotFound)
		e.call(t, request{method: http.MethodPatch, path: path, ext: "1002", body: `{"heard":true}`}, http.StatusNotFound)
		e.call(t, request{method: http.MethodDelete, path: path, ext: "1002"}, http.StatusNotFound)
	}
	// Dot segments in the clear are cleaned by ServeMux (a redirect, which
	// the client follows) and land nowhere.
	e.call(t, request{path: "/api/v1/voicemail/1002/../../../etc/passwd", ext: "1002"}, http.StatusNotFound)
	// The box wildcard too.
	e.call(t, request{path: "/api/v1/voicemail/..%2F1003", ext: "1001"}, http.StatusNotFound)
	e.call(t, request{path: "/api/v1/voicemail/..%2F1003%2F" + other.ID, ext: "1001"}, http.StatusNotFound)

	for box, id := range map[string]string{"1002": m.ID, "1003": other.ID} {
		if stored, err := e.store.Get(box, id); err != nil || stored.Heard {
			t.Errorf("message %s/%s after the attempts: %+v, %v", box, id, stored, err)
		}
	}
}
