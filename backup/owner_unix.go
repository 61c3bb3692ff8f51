//go:build unix

package backup

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// matchOwner gives everything under dir the owner and group of the data dir
// dataDir, when this process is root and they differ: root restoring into a
// service's data dir (systemd's DynamicUser, a dedicated account) must not
// leave files the service cannot open. Anyone else makes files as themselves,
// which is right when they are the service's user.
func matchOwner(dir, dataDir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || (st.Uid == 0 && st.Gid == 0) {
		return nil
	}
	err = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(st.Uid), int(st.Gid))
	})
	if err != nil {
		return fmt.Errorf("backup: giving the restored files %s's owner: %w", dataDir, err)
	}
	return nil
}
