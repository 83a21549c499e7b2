package clientlib

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Wipe erases the tablet: it checkpoints and closes the database, destroys the key files (the
// wrapped data key, the platform key file, the sealed device key) and removes every file in the
// tablet's home — the database with its -wal and -shm, anything else — and the home itself. What
// was sealed with the data key cannot be read once the key files are gone, whatever the storage
// keeps of the removed files. The Tablet cannot be used afterwards.
func (t *Tablet) Wipe() error {
	// A checkpoint first, so the WAL is empty when its file goes. Best effort: the files go
	// anyway, and without the data key what they held cannot be read.
	_ = t.store.db.Checkpoint(context.Background())
	cerr := t.Close()
	t.mu.Lock()
	t.token, t.tokenExp = "", 0
	t.mu.Unlock()
	if err := wipeHome(t.home); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("wipe: the files are gone, but closing the database failed: %w", cerr)
	}
	return nil
}

// wipeHome destroys the key files of a tablet's home, then removes the home with everything in it.
func wipeHome(home string) error {
	for _, name := range []string{dataKeyFile, platformKeyFile, keyFile} {
		if err := destroyFile(filepath.Join(home, name)); err != nil {
			return fmt.Errorf("wipe: destroy %s: %w", name, err)
		}
	}
	if err := os.RemoveAll(home); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("wipe: remove the tablet's files: %w", err)
	}
	return nil
}
