package api

import (
	"io"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// Backups stages consistent copies of the switch's data (DB and audio) for
// GET /api/v1/backup; cmd adapts the backup package to it.
type Backups interface {
	// Snapshot copies the data as of one instant and returns the copy, to
	// be written once as an archive and closed.
	Snapshot() (BackupArchive, error)
}

// BackupArchive is a staged copy: WriteTo writes the archive (gzipped tar),
// Close removes the copy.
type BackupArchive interface {
	io.WriterTo
	io.Closer
}

// BackupHandler serves GET /api/v1/backup: the archive of a fresh snapshot,
// application/gzip. It authenticates nobody, so it is not one of Server's
// routes: the switch serves it on a unix socket in data_dir, where reaching
// the socket (the switch's user, or root) is the permission, the same people
// who could read data_dir's files anyway, and the network never sees it.
//
// A failure before the first byte answers 500; one after it (a disk error
// mid-way) can no longer change the status, so the connection is cut and
// the client, which verifies every archive it gets, sees it truncated.
func BackupHandler(b Backups, log *zap.Logger) http.Handler {
	if log == nil {
		log = zap.NewNop()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/backup", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		snap, err := b.Snapshot()
		if err != nil {
			log.Error("backup: snapshot", zap.Error(err))
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		defer func() {
			if err := snap.Close(); err != nil {
				log.Warn("backup: removing the snapshot", zap.Error(err))
			}
		}()
		w.Header().Set("Content-Type", "application/gzip")
		w.Header().Set("Content-Disposition", `attachment; filename="switchboard-`+start.UTC().Format("20060102T150405Z")+`.tar.gz"`)
		n, err := snap.WriteTo(w)
		if err != nil {
			log.Error("backup: writing the archive", zap.Int64("bytes", n), zap.Error(err))
			panic(http.ErrAbortHandler)
		}
		log.Info("backup served", zap.Int64("bytes", n), zap.Duration("took", time.Since(start)))
	})
	return jsonMuxErrors(mux)
}
