package clientlib

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"unicode/utf8"

	"github.com/google/renameio/v2"

	"golang.org/x/crypto/argon2"

	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/syncer"
)

// The tablet's keys. Everything a person wrote is sealed with one random data key before it
// reaches SQLite (store.go). The data key is stored only wrapped twice, in home/data.key: first
// by a key derived from the user's PIN with Argon2id, then by the platform's KeyProvider (Android
// Keystore or iOS Keychain in the apps; a key file for the command-line tablet). Opening the
// tablet needs both. The device's signing key is sealed with the data key too, so a copied home
// can neither be read nor used to sign in as the tablet.

// Files in a tablet's home directory that hold keys.
const (
	dataKeyFile     = "data.key"     // the wrapped data key (JSON, see wrappedKeyFile)
	platformKeyFile = "platform.key" // FileKeyProvider's key, when no other provider is given
)

// KeyProvider protects the wrapped data key with a key the platform holds outside the app's
// files: the mobile apps implement it with Android Keystore or the iOS Keychain. Wrap and
// Unwrap must be inverse; Unwrap must fail for bytes Wrap did not make.
type KeyProvider interface {
	Wrap(plaintext []byte) ([]byte, error)
	Unwrap(wrapped []byte) ([]byte, error)
}

// FileKeyProvider is the command-line tablet's KeyProvider: a random key in a 0600 file. It
// protects against less than a hardware keystore (anyone who copies the whole home has it), so
// the PIN layer matters more there.
type FileKeyProvider struct {
	Path string
}

func (p FileKeyProvider) key(create bool) (*seal.Key, error) {
	raw, err := os.ReadFile(p.Path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if raw, err = seal.RandomKey(); err != nil {
			return nil, err
		}
		if err = writeFileAtomic(p.Path, raw); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("read platform key: %w", err)
	}
	if len(raw) != seal.KeySize {
		return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The tablet's platform key is damaged; the tablet must be wiped and enrolled again.")
	}
	return seal.NewKey(raw)
}

var platformAD = []byte("samvaer platform wrap")

// Wrap seals plaintext with the file's key, making the file when it is missing.
func (p FileKeyProvider) Wrap(plaintext []byte) ([]byte, error) {
	k, err := p.key(true)
	if err != nil {
		return nil, err
	}
	return k.Seal(plaintext, platformAD)
}

// Unwrap opens what Wrap sealed.
func (p FileKeyProvider) Unwrap(wrapped []byte) ([]byte, error) {
	k, err := p.key(false)
	if err != nil {
		return nil, err
	}
	return k.Open(wrapped, platformAD)
}

// KDFParams are the Argon2id parameters that turn a PIN into a wrapping key. They are stored
// with the wrapped key, so a tablet keeps opening after the defaults change.
type KDFParams struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// DefaultKDF is RFC 9106's second recommended setting (t=3, 64 MiB) with 2 lanes: about 0.1 s
// and 64 MiB per unlock on the 2-core development machine (BenchmarkPINUnlock,
// docs/benchmarks.md).
var DefaultKDF = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 2}

// DefaultMaxPINAttempts is how many wrong PINs in a row destroy the data key.
const DefaultMaxPINAttempts = 5

// MinPINLength is the shortest PIN accepted (in characters).
const MinPINLength = 4

// ValidatePIN checks a new PIN.
func ValidatePIN(pin string) error {
	if n := utf8.RuneCountInString(pin); n < MinPINLength || len(pin) > 256 {
		return syncer.Errorf(syncer.CodeInvalid, "A PIN must be at least %d characters (digits or letters) and at most 256 bytes.", MinPINLength)
	}
	return nil
}

// wrappedKeyFile is home/data.key.
type wrappedKeyFile struct {
	Version int       `json:"version"`
	KDF     KDFParams `json:"argon2id"`
	Salt    []byte    `json:"salt"`
	Wrapped []byte    `json:"wrapped"` // provider.Wrap(pinKey.Seal(data key))
}

var pinAD = []byte("samvaer data key")

func pinKey(pin string, salt []byte, p KDFParams) (*seal.Key, error) {
	k := argon2.IDKey([]byte(pin), salt, p.Time, p.MemoryKiB, p.Threads, seal.KeySize)
	defer seal.Wipe(k)
	return seal.NewKey(k)
}

// wrapDataKey writes home/data.key: dataKey wrapped by the PIN, then by the provider.
func wrapDataKey(home string, provider KeyProvider, pin string, kdf KDFParams, dataKey []byte) error {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return err
	}
	pk, err := pinKey(pin, salt, kdf)
	if err != nil {
		return err
	}
	inner, err := pk.Seal(dataKey, pinAD)
	if err != nil {
		return err
	}
	outer, err := provider.Wrap(inner)
	if err != nil {
		return fmt.Errorf("wrap the data key with the platform key: %w", err)
	}
	b, err := json.Marshal(wrappedKeyFile{Version: 1, KDF: kdf, Salt: salt, Wrapped: outer})
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(home, dataKeyFile), b)
}

// errWrongPIN: the PIN did not open the data key.
var errWrongPIN = errors.New("wrong PIN")

// unwrapDataKey opens home/data.key with the PIN.
func unwrapDataKey(home string, provider KeyProvider, pin string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(home, dataKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errKeyDestroyed
	}
	if err != nil {
		return nil, fmt.Errorf("read data key: %w", err)
	}
	var f wrappedKeyFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 || f.KDF.Time == 0 || f.KDF.MemoryKiB == 0 || f.KDF.Threads == 0 {
		return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The tablet's data key file is damaged; the tablet must be wiped and enrolled again.")
	}
	inner, err := provider.Unwrap(f.Wrapped)
	if err != nil {
		return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The platform key that protects this tablet's data is missing or does not match; the tablet must be wiped and enrolled again.")
	}
	pk, err := pinKey(pin, f.Salt, f.KDF)
	if err != nil {
		return nil, err
	}
	dataKey, err := pk.Open(inner, pinAD)
	if err != nil {
		return nil, errWrongPIN
	}
	return dataKey, nil
}

var errKeyDestroyed = syncer.Errorf(syncer.CodeFailedPrecondition,
	"This tablet's data key is gone (destroyed after too many wrong PINs, or never made): the data on it can no longer be read. Enroll the tablet again with a new code from an admin; enrolling clears the old data.")

// destroyFile overwrites a small key file with random bytes, syncs and removes it. On flash
// storage the overwrite is best effort; what makes the data unreadable is that no copy of the
// data key is left.
func destroyFile(path string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		junk := make([]byte, fi.Size())
		rand.Read(junk)
		f.Write(junk)
		f.Sync()
		f.Close()
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// writeFileAtomic writes a file with mode 0600 (whatever the umask) by rename, so a crash leaves
// the old or the new one, never half of one.
func writeFileAtomic(path string, b []byte) error {
	if err := renameio.WriteFile(path, b, 0o600, renameio.WithStaticPermissions(0o600)); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// Keys of the meta table for the PIN limit (plaintext: they hold no content).
const metaPINFailures = "pin_failures" // wrong PINs since the last right one

// FailedUnlock is a wrong PIN entered on this tablet.
type FailedUnlock struct {
	AtMs int64 `json:"at_ms"`
}

// unlock opens the data key with the PIN, counting wrong PINs: past the limit the wrapped data
// key is destroyed. Every wrong PIN is recorded (time only) for the server's audit log.
func unlock(ctx context.Context, home string, s *store, opts Options) ([]byte, error) {
	if opts.PIN == "" {
		return nil, syncer.Errorf(syncer.CodeInvalid, "This tablet's data is locked: give its PIN.")
	}
	dataKey, err := unwrapDataKey(home, opts.KeyProvider, opts.PIN)
	if err == nil {
		failures, err := metaInt(ctx, s.db.Read, metaPINFailures)
		if err == nil && failures != 0 {
			err = s.db.WriteTx(ctx, func(tx *sql.Tx) error { return setMeta(ctx, tx, metaPINFailures, "0") })
		}
		if err != nil {
			return nil, err
		}
		return dataKey, nil
	}
	if !errors.Is(err, errWrongPIN) {
		return nil, err
	}
	var failures int64
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if failures, err = metaInt(ctx, tx, metaPINFailures); err != nil {
			return err
		}
		failures++
		if _, err := tx.ExecContext(ctx, `INSERT INTO unlock_failures (at_ms) VALUES (?)`, opts.Now().UnixMilli()); err != nil {
			return fmt.Errorf("record wrong PIN: %w", err)
		}
		return setMeta(ctx, tx, metaPINFailures, strconv.FormatInt(failures, 10))
	})
	if err != nil {
		return nil, err
	}
	if left := int64(opts.MaxPINAttempts) - failures; left > 0 {
		return nil, syncer.Errorf(syncer.CodeUnauthenticated, "Wrong PIN. %d more wrong PIN(s) and this tablet's data is made unreadable for good.", left)
	}
	if err := destroyFile(filepath.Join(home, dataKeyFile)); err != nil {
		return nil, fmt.Errorf("destroy data key: %w", err)
	}
	return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "Wrong PIN, %d times in a row: this tablet's data key has been destroyed and the data on it can no longer be read. Enroll the tablet again with a new code from an admin.", failures)
}

// ChangePIN sets a new PIN: the data key is wrapped again (nothing is re-encrypted). The tablet
// is already open, so the old PIN has been given.
func (t *Tablet) ChangePIN(newPIN string) error {
	if err := ValidatePIN(newPIN); err != nil {
		return err
	}
	return wrapDataKey(t.home, t.opts.KeyProvider, newPIN, t.opts.KDF, t.dataKey)
}

// FailedUnlocks returns the wrong PINs entered on this tablet and not yet reported to the
// server's audit log (Sync reports them, unlockreport.go), oldest first. They hold only times.
func (t *Tablet) FailedUnlocks(ctx context.Context) ([]FailedUnlock, error) {
	rows, err := t.store.db.Read.QueryContext(ctx, `SELECT at_ms FROM unlock_failures ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("read failed unlocks: %w", err)
	}
	defer rows.Close()
	var out []FailedUnlock
	for rows.Next() {
		var f FailedUnlock
		if err := rows.Scan(&f.AtMs); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
