package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/switchboard-voip/switchboard/backup"
)

// backupCommand is `switchboard backup -o FILE [-config FILE]`: it writes an
// archive of the config's data_dir (DB, voicemail audio, uploaded greetings)
// to FILE ("-" for stdout). A running switch hands out a consistent
// snapshot on its socket in data_dir; a stopped one's data_dir is read
// directly. Every archive is verified as it is written (manifest, sizes,
// SHA-256s), and FILE appears only once it is whole: a failed backup never
// leaves a file that looks like one. Exit status: 0 written, 1 failed,
// 2 usage or config error.
func backupCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchboard backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the archive (tar.gz) to this file; - for stdout (required)")
	cfgPath := fs.String("config", "", "the switch's config file, which names data_dir (default: the embedded demo config)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: switchboard backup -o FILE [-config FILE]")
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	start := time.Now()
	src, how, err := openBackup(ctx, cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, "backup:", err)
		return 1
	}
	defer src.Close()
	report := stdout
	if *out == "-" {
		report = stderr // stdout is the archive
	}
	m, err := writeVerified(src, *out, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "backup:", err)
		return 1
	}
	fmt.Fprintf(report, "backup of %s (%s) written to %s: %d files, %d bytes of data, taken %s, in %s\n",
		cfg.DataDir, how, *out, len(m.Files), m.Bytes(), m.Created.Format(time.RFC3339), time.Since(start).Round(time.Millisecond))
	return 0
}

// openBackup returns the archive of dataDir as a stream: from the running
// switch's socket, else (no switch answers there) from the data dir itself.
// how says which, for the report.
func openBackup(ctx context.Context, dataDir string) (io.ReadCloser, string, error) {
	sock := filepath.Join(dataDir, backupSocket)
	body, err := fetchBackup(ctx, sock)
	if err == nil {
		return body, "from the running switch", nil
	}
	if !errors.Is(err, syscall.ENOENT) && !errors.Is(err, syscall.ECONNREFUSED) {
		return nil, "", err
	}
	// No switch listens: a stopped one, or a socket a killed one left.
	dbPath := filepath.Join(dataDir, backup.DBFile)
	if _, err := os.Stat(dbPath); err != nil {
		return nil, "", fmt.Errorf("nothing to back up in %s: %w", dataDir, err)
	}
	db, err := bbolt.Open(dbPath, 0o600, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, "", fmt.Errorf("%s is in use by a running switchboard, but it does not answer on %s (%v): is it an older version, or did it log \"online backups off\"?",
			dataDir, sock, syscall.ECONNREFUSED)
	}
	if err != nil {
		return nil, "", fmt.Errorf("opening %s: %w", dbPath, err)
	}
	snap, err := backup.Take(db, dataDir, version)
	if err != nil {
		_ = db.Close()
		return nil, "", err
	}
	pr, pw := io.Pipe()
	go func() {
		_, err := snap.WriteTo(pw)
		pw.CloseWithError(errors.Join(err, snap.Close(), db.Close()))
	}()
	return pr, "the switch is stopped: read from the data dir", nil
}

// fetchBackup asks the switch listening on the unix socket sock for an
// archive. A dial error is returned as it is, so the caller can tell "no
// switch" (ENOENT, ECONNREFUSED) from a failure.
func fetchBackup(ctx context.Context, sock string) (io.ReadCloser, error) {
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://switchboard/api/v1/backup", nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking the switch on %s: %w", sock, err)
	}
	if res.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		_ = res.Body.Close()
		return nil, fmt.Errorf("the switch on %s answered %s: %s", sock, res.Status, msg)
	}
	return res.Body, nil
}

// writeVerified copies the archive src to path ("-": stdout) while
// verifying it. A file is written beside path and renamed onto it only
// once verified and synced, so path is a whole archive or untouched.
func writeVerified(src io.Reader, path string, stdout io.Writer) (backup.Manifest, error) {
	if path == "-" {
		m, err := backup.Verify(io.TeeReader(src, stdout))
		if err != nil {
			return backup.Manifest{}, fmt.Errorf("the archive sent to stdout is not sound (discard it): %w", err)
		}
		return m, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("creating %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename, nothing to remove
	m, err := backup.Verify(io.TeeReader(src, tmp))
	if err == nil {
		// Verify stops at the gzip stream's end; anything after it is not ours.
		var n int64
		if n, err = io.Copy(io.Discard, src); err == nil && n > 0 {
			err = fmt.Errorf("%d bytes after the archive's end", n)
		}
	}
	if err == nil {
		err = tmp.Chmod(0o600) // voicemail is private
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return backup.Manifest{}, fmt.Errorf("writing %s: %w", path, err)
	}
	return m, nil
}

// restoreCommand is `switchboard restore -i FILE [-config FILE] [-force]`:
// it puts an archive written by `switchboard backup` into the config's
// data_dir. It refuses a data_dir a running switch uses, and one that holds
// files unless -force (which replaces them); it checks every file before
// anything moves into place. Exit status: 0 restored, 1 refused or failed,
// 2 usage or config error.
func restoreCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("switchboard restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("i", "", "the archive to restore; - for stdin (required)")
	cfgPath := fs.String("config", "", "the switch's config file, which names data_dir (default: the embedded demo config)")
	force := fs.Bool("force", false, "replace what data_dir holds")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *in == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: switchboard restore -i FILE [-config FILE] [-force]")
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	// A switch on this data_dir answers on its socket even before the DB's
	// lock is tried; say so plainly.
	if switchAnswers(ctx, filepath.Join(cfg.DataDir, backupSocket)) {
		fmt.Fprintf(stderr, "restore: %s is in use by a running switchboard: stop it first\n", cfg.DataDir)
		return 1
	}
	src := stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			fmt.Fprintln(stderr, "restore:", err)
			return 1
		}
		defer f.Close()
		src = f
	}
	m, err := backup.Restore(src, cfg.DataDir, *force)
	switch {
	case errors.Is(err, backup.ErrNotEmpty):
		fmt.Fprintf(stderr, "restore: %v\n(-force replaces what it holds; back it up first if it may matter)\n", err)
		return 1
	case errors.Is(err, backup.ErrInUse):
		fmt.Fprintf(stderr, "restore: %v\n", err)
		return 1
	case errors.Is(err, backup.ErrCorrupt):
		fmt.Fprintf(stderr, "restore: %s: %v\nnothing in %s was changed\n", *in, err, cfg.DataDir)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "restore: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s into %s: %d files, %d bytes, a backup taken %s by switchboard %s\n",
		*in, cfg.DataDir, len(m.Files), m.Bytes(), m.Created.Format(time.RFC3339), m.Switchboard)
	return 0
}

// switchAnswers reports whether a switch listens on the backup socket sock.
func switchAnswers(ctx context.Context, sock string) bool {
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
