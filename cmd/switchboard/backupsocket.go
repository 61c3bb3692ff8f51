package main

import (
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	"go.uber.org/zap"

	"github.com/switchboard-voip/switchboard/api"
	"github.com/switchboard-voip/switchboard/backup"
)

// backupSocket is the unix socket in data_dir on which the running switch
// serves GET /api/v1/backup to `switchboard backup`. The running switch
// holds the DB's lock, so no other process can copy the DB; it must hand
// out the copy itself. A socket rather than a route of the HTTP API: who
// can reach data_dir may have its data, so the file's mode is the whole
// authorisation (no admin password in a cron job), and it is never on the
// network.
const backupSocket = "switchboard.sock"

// serveBackups serves backups on data_dir's socket until the returned
// function is called. Online backups are a convenience, not a reason to
// refuse to start: a socket that cannot be made (a data_dir path longer
// than a unix socket's 107 bytes, say) is logged, and `switchboard
// backup` then says the switch does not answer.
func serveBackups(dataDir string, db *bbolt.DB, log *zap.Logger) (stop func()) {
	// Only one switch holds the DB (we do), so any staging folder or socket
	// here is a leftover of one that stopped mid-backup.
	if err := backup.RemoveLeftovers(dataDir); err != nil {
		log.Warn("backup leftovers", zap.Error(err))
	}
	path := filepath.Join(dataDir, backupSocket)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		log.Warn("online backups off: removing the old socket", zap.Error(err))
		return func() {}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		log.Warn("online backups off: `switchboard backup` works only while the switch is stopped", zap.Error(err))
		return func() {}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		log.Warn("online backups off: restricting the socket", zap.Error(err))
		return func() {}
	}
	srv := &http.Server{
		Handler:           api.BackupHandler(backupSource{db: db, dataDir: dataDir}, log),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          zap.NewStdLog(log),
	}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		_ = srv.Close() // a backup being served is cut off; its client says so
		_ = os.Remove(path)
	}
}

// backupSource snapshots the running switch's data for api.BackupHandler.
type backupSource struct {
	db      *bbolt.DB
	dataDir string
}

// Snapshot implements api.Backups.
func (s backupSource) Snapshot() (api.BackupArchive, error) {
	return backup.Take(s.db, s.dataDir, version)
}
