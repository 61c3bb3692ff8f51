package backup

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"time"
)

// Archive identity: Verify refuses anything else, and a later format gets a
// new FormatVersion that this code refuses by name rather than misreads.
const (
	formatName    = "switchboard-backup"
	formatVersion = 1
	manifestName  = "manifest.json"
	// maxManifest bounds the manifest Verify reads into memory: a line per
	// file, so megabytes are hundreds of thousands of messages.
	maxManifest = 64 << 20
)

// Manifest describes an archive; it is its first entry, manifest.json.
type Manifest struct {
	// Format is "switchboard-backup"; FormatVersion is 1.
	Format        string `json:"format"`
	FormatVersion int    `json:"format_version"`
	// Switchboard is the version of the switch that wrote the archive.
	Switchboard string `json:"switchboard"`
	// Created is when the DB was copied: the instant the archive shows.
	Created time.Time `json:"created"`
	// Files lists every other entry of the archive, in archive order.
	Files []File `json:"files"`
}

// File is one file of an archive.
type File struct {
	// Path is relative to the data dir, with slashes ("voicemail/1003/ID.wav").
	Path string `json:"path"`
	// Size is its length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of its content.
	SHA256 string `json:"sha256"`
}

// Bytes is the total size of the files.
func (m Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// decodeManifest parses and checks a manifest: a path that could escape the
// data dir, or a file listed twice, makes the whole archive corrupt.
func decodeManifest(data []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %s: %w", ErrCorrupt, manifestName, err)
	}
	if m.Format != formatName {
		return Manifest{}, fmt.Errorf("%w: not a Switchboard backup (%s format %q)", ErrCorrupt, manifestName, m.Format)
	}
	if m.FormatVersion != formatVersion {
		return Manifest{}, fmt.Errorf("%w: format version %d; this switchboard reads version %d (a newer switchboard wrote it?)",
			ErrCorrupt, m.FormatVersion, formatVersion)
	}
	seen := make(map[string]bool, len(m.Files))
	for _, f := range m.Files {
		if !safePath(f.Path) {
			return Manifest{}, fmt.Errorf("%w: %s lists %q, which is not a path inside a data dir", ErrCorrupt, manifestName, f.Path)
		}
		if seen[f.Path] {
			return Manifest{}, fmt.Errorf("%w: %s lists %s twice", ErrCorrupt, manifestName, f.Path)
		}
		seen[f.Path] = true
		if f.Size < 0 || len(f.SHA256) != 64 {
			return Manifest{}, fmt.Errorf("%w: %s: bad size or checksum for %s", ErrCorrupt, manifestName, f.Path)
		}
	}
	if !seen[DBFile] {
		return Manifest{}, fmt.Errorf("%w: %s lists no %s", ErrCorrupt, manifestName, DBFile)
	}
	return m, nil
}

// safePath reports whether p is a clean relative path with slashes that
// stays inside the folder it is joined to and names no hidden file (the
// switch's own temporary files are hidden, and a backup never holds one).
func safePath(p string) bool {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || strings.Contains(p, `\`) {
		return false
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." || strings.HasPrefix(part, ".") {
			return false
		}
	}
	return true
}
