package backup

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rewrite decodes an archive and encodes it again with edit applied to
// each entry's content (edit may change it, or return nil to drop the
// entry), giving an archive whose gzip and tar are whole.
func rewrite(t testing.TB, archive []byte, edit func(name string, data []byte) []byte, extra ...[2]string) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	put := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if data = edit(hdr.Name, data); data != nil {
			put(hdr.Name, data)
		}
	}
	for _, e := range extra {
		put(e[0], []byte(e[1]))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestDamagedArchivesAreRefusedByName: every kind of damage is ErrCorrupt
// with words that tell the operator what is wrong, and a restore of a
// damaged archive leaves the data dir without a single file.
func TestDamagedArchivesAreRefusedByName(t *testing.T) {
	d := newDataDir(t)
	m := d.message(t, "1003", 500*time.Millisecond)
	d.greeting(t, "1003", "dnd")
	good := d.archive(t)
	wav := "voicemail/1003/" + m.ID + ".wav"
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x40

	for _, c := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"cut in half", good[:len(good)/2], "truncated"},
		{"cut in the gzip trailer", good[:len(good)-4], "truncated"},
		{"one byte off the end", good[:len(good)-1], "truncated"},
		{"empty", nil, "not a gzip stream"},
		{"not gzip", []byte("PK\x03\x04 a zip file, say"), "not a gzip stream"},
		{"a byte flipped in the stream", flipped, "archive is corrupt"},
		{"a WAV altered", rewrite(t, good, func(name string, data []byte) []byte {
			if name == wav {
				data[len(data)-1] ^= 1
			}
			return data
		}), wav + ": SHA-256"},
		{"a WAV missing", rewrite(t, good, func(name string, data []byte) []byte {
			if name == wav {
				return nil
			}
			return data
		}), wav + " is missing"},
		{"a file the manifest does not list", rewrite(t, good, func(_ string, data []byte) []byte { return data },
			[2]string{"greetings/1001/busy.wav", "RIFF"}), "greetings/1001/busy.wav is not in manifest.json"},
		{"no manifest", rewrite(t, good, func(name string, data []byte) []byte {
			if name == manifestName {
				return nil
			}
			return data
		}), "not a Switchboard backup"},
		{"a path out of the data dir", rewrite(t, good, func(name string, data []byte) []byte {
			if name == manifestName {
				return bytes.Replace(data, []byte(`"`+wav+`"`), []byte(`"../../etc/cron.d/x"`), 1)
			}
			return data
		}), `"../../etc/cron.d/x"`},
		{"a newer format", rewrite(t, good, func(name string, data []byte) []byte {
			if name == manifestName {
				return bytes.Replace(data, []byte(`"format_version": 1`), []byte(`"format_version": 2`), 1)
			}
			return data
		}), "format version 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(c.archive))
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Verify: %v, want ErrCorrupt saying %q", err, c.want)
			}
			t.Log(err)
			dst := filepath.Join(t.TempDir(), "data")
			if _, err := Restore(bytes.NewReader(c.archive), dst, false); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Restore: %v, want ErrCorrupt", err)
			}
			des, err := os.ReadDir(dst)
			if err != nil {
				t.Fatal(err)
			}
			if len(des) != 0 {
				t.Errorf("a refused restore left %v in the data dir", des)
			}
		})
	}
}
