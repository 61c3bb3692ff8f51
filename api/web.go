package api

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// The team page: plain HTML, CSS and JavaScript in web/, embedded in the
// binary; no build step. GET / serves web/index.html and GET /web/{file}
// the rest. The page talks to the API like any client, signing in with
// POST /api/v1/session.
//
//go:embed web
var webFiles embed.FS

// webAsset is one embedded file, ready to serve.
type webAsset struct {
	body        []byte
	contentType string
	etag        string
}

// webAssets are the embedded files by name ("index.html", "app.js", ...),
// read once.
var webAssets = func() map[string]webAsset {
	assets := map[string]webAsset{}
	err := fs.WalkDir(webFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := webFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct := mime.TypeByExtension(path.Ext(p))
		if path.Ext(p) == ".webmanifest" { // not in every system's MIME table
			ct = "application/manifest+json"
		}
		if ct == "" {
			ct = "application/octet-stream"
		}
		assets[path.Base(p)] = webAsset{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("api: reading embedded web files: " + err.Error())
	}
	return assets
}()

// pageSecurityHeaders keep the page to its own origin: scripts, styles,
// media and connections only from Switchboard itself, no framing.
func pageSecurityHeaders(h http.Header) {
	// connect-src adds WebSockets: the web phone's SIP listener is on a port of its own.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "+
		"connect-src 'self' ws: wss:; manifest-src 'self'; worker-src 'self'; "+
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// serveWeb serves the embedded file name. Browsers revalidate every time
// (Cache-Control: no-cache) against a content ETag, so a new binary's page
// is picked up at once and an unchanged one costs a 304.
// An empty name serves the {file} of the request.
func serveWeb(fixed string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := fixed
		if name == "" {
			name = r.PathValue("file")
		}
		a, ok := webAssets[name]
		if !ok || fixed == "" && name == "index.html" {
			writeError(w, http.StatusNotFound, "not found")
			return
		}
		h := w.Header()
		pageSecurityHeaders(h)
		h.Set("Content-Type", a.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	}
}
