// Package durable holds what the stores that write files share to make a write survive a
// crash: the file's own fsync is the writer's; the folder's, which makes a creation, a rename or
// a removal in it durable, is here.
package durable

import (
	"errors"
	"os"
)

// SyncDir fsyncs folder dir, which makes file creations, renames and removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
