package clientlib

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// Revocation on the tablet. An admin revokes a lost or retired tablet on the server; the server
// then refuses the tablet with an Unauthenticated error that carries a v1.WipeInstruction detail.
// A tablet that meets it counts its unsent changes, sends a wipe confirmation signed with its
// device key (the server writes it to the audit log), and wipes itself.
// A retired tablet is allowed its final push first, so it is told to wipe when it pulls.

// ErrWiped is what a wiped tablet answers to every call.
var ErrWiped = syncer.Errorf(syncer.CodeUnauthenticated,
	"An admin revoked this tablet and its data has been deleted from it; it must be enrolled again with a new code.")

// errWipeRequired is a server's instruction to wipe, found on a refused call.
type errWipeRequired struct {
	revocation v1.Revocation
	cause      error
}

func (e *errWipeRequired) Error() string { return e.cause.Error() }
func (e *errWipeRequired) Unwrap() error { return e.cause }

// wipeInstruction returns the wipe instruction a refused call carries, or nil.
func wipeInstruction(err error) *errWipeRequired {
	var ce *connect.Error
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !errors.As(err, &ce) {
		return nil
	}
	for _, d := range ce.Details() {
		msg, derr := d.Value()
		if w, ok := msg.(*v1.WipeInstruction); derr == nil && ok {
			return &errWipeRequired{revocation: w.Revocation, cause: err}
		}
	}
	return nil
}

// Wipe erases the tablet: it checkpoints and closes the database, destroys the platform key
// (KeyProvider.Destroy) and the key files (the wrapped data key, the sealed device key) and removes every file in the
// tablet's home — the database with its -wal and -shm, anything else — and the home itself. What
// was sealed with the data key cannot be read once the key files are gone, whatever the storage
// keeps of the removed files. Every call on the Tablet answers ErrWiped afterwards.
func (t *Tablet) Wipe() error {
	if t.isWiped() {
		return nil
	}
	// A checkpoint first, so the WAL is empty when its file goes. Best effort: the files go
	// anyway, and without the data key what they held cannot be read.
	_ = t.store.db.Checkpoint(context.Background())
	cerr := t.Close()
	t.mu.Lock()
	t.wiped = true
	t.token, t.tokenExp = "", 0
	t.mu.Unlock()
	// The platform key first: a keystore's key (the apps') is not a file of the home.
	perr := t.opts.KeyProvider.Destroy()
	if err := wipeHome(t.home); err != nil {
		return err
	}
	if perr != nil {
		return fmt.Errorf("wipe: the files are gone, but destroying the platform key failed: %w", perr)
	}
	if cerr != nil && !errors.Is(cerr, os.ErrClosed) {
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

// isWiped reports whether the tablet has been wiped.
func (t *Tablet) isWiped() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wiped
}

// obeyWipe confirms the wipe to the server (best effort: the data goes whether or not the
// confirmation arrives) and wipes the tablet.
func (t *Tablet) obeyWipe(ctx context.Context) error {
	var unsent int64
	if err := t.store.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE server_seq = 0`).Scan(&unsent); err != nil {
		unsent = -1
	}
	if unsent >= 0 {
		now, nonce := t.nowMs(), syncer.NewID()
		_, _ = t.deviceRPC.ConfirmWipe(ctx, connect.NewRequest(&v1.ConfirmWipeRequest{
			DeviceId: t.device, Nonce: nonce, TimeMs: now, UnsentChanges: unsent,
			Signature: ed25519.Sign(t.key, syncer.WipeSigningPayload(t.device, nonce, now, unsent)),
		}))
	}
	if err := t.Wipe(); err != nil {
		return err
	}
	return ErrWiped
}
