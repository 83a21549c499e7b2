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
	"unicode/utf8"

	"github.com/gofrs/flock"
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

// KeyProvider is the platform's key store: it protects the wrapped data key with a key held
// outside the app's files (Android Keystore or the iOS Keychain in the apps; FileKeyProvider
// for the command-line tablet), and it keeps the count of unlock attempts where restoring the
// app's files cannot roll it back. Every method uses only byte slices, integers and errors, so
// a gomobile-bound app implements it directly.
//
//   - Wrap seals plaintext with the platform key, making the key (with a count of zero) when
//     there is none — at enrollment, and after Destroy.
//   - Unwrap opens what Wrap sealed; it must fail for bytes Wrap did not make and, once Destroy
//     has run, for everything.
//   - CountUnlockAttempt adds one to the count of unlock attempts since the last right PIN and
//     returns the new count. It is called before the PIN is checked, so it must be atomic
//     across threads and processes and durable before it returns: an attempt killed midway
//     stays counted. It fails when there is no platform key.
//   - ResetUnlockAttempts sets the count to zero; it is called after a right PIN.
//   - Destroy deletes the platform key for good (and its count). It is called when the limit
//     of wrong PINs is reached and at enrollment, so every enrollment starts with a new key;
//     destroying a key that does not exist is no error.
type KeyProvider interface {
	Wrap(plaintext []byte) ([]byte, error)
	Unwrap(wrapped []byte) ([]byte, error)
	CountUnlockAttempt() (int64, error)
	ResetUnlockAttempts() error
	Destroy() error
}

// FileKeyProvider is the command-line tablet's stand-in for a platform keystore: a random key
// and the count of unlock attempts in one 0600 JSON file (platform.key), changed under an
// exclusive lock on a file beside it (platform.key.lock), so processes sharing a home count one
// after another. It is weaker than a hardware keystore, and docs/security.md says how: the file
// lives in the home, so whoever copies the whole home and later copies platform.key back undoes
// the count and the destruction. Restoring tablet.db or data.key alone undoes neither.
type FileKeyProvider struct {
	Path string
}

// platformKeyState is the content of a FileKeyProvider's file.
type platformKeyState struct {
	Version        int    `json:"version"`
	Key            []byte `json:"key"`
	UnlockAttempts int64  `json:"unlock_attempts"`
}

// errNoPlatformKey: the provider's file is missing (destroyed, or never made).
var errNoPlatformKey = errors.New("no platform key")

func (p FileKeyProvider) read() (platformKeyState, error) {
	var st platformKeyState
	raw, err := os.ReadFile(p.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, errNoPlatformKey
	}
	if err != nil {
		return st, fmt.Errorf("read platform key: %w", err)
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Version != 1 || len(st.Key) != seal.KeySize || st.UnlockAttempts < 0 {
		return st, syncer.Errorf(syncer.CodeFailedPrecondition, "The tablet's platform key is damaged; the tablet must be wiped and enrolled again.")
	}
	return st, nil
}

func (p FileKeyProvider) write(st platformKeyState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeFileAtomic(p.Path, b)
}

// locked runs fn while holding the exclusive lock beside the key file (other processes wait).
func (p FileKeyProvider) locked(fn func() error) error {
	l := flock.New(p.Path+".lock", flock.SetPermissions(0o600))
	if err := l.Lock(); err != nil {
		return fmt.Errorf("lock platform key: %w", err)
	}
	defer l.Unlock()
	return fn()
}

func (p FileKeyProvider) key(create bool) (*seal.Key, error) {
	st, err := p.read()
	if errors.Is(err, errNoPlatformKey) && create {
		err = p.locked(func() error {
			if st, err = p.read(); !errors.Is(err, errNoPlatformKey) {
				return err
			}
			raw, err := seal.RandomKey()
			if err != nil {
				return err
			}
			st = platformKeyState{Version: 1, Key: raw}
			return p.write(st)
		})
	}
	if err != nil {
		return nil, err
	}
	return seal.NewKey(st.Key)
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

// CountUnlockAttempt adds one to the count in the file, under the lock, and returns it.
func (p FileKeyProvider) CountUnlockAttempt() (int64, error) {
	var n int64
	err := p.locked(func() error {
		st, err := p.read()
		if err != nil {
			return err
		}
		st.UnlockAttempts++
		n = st.UnlockAttempts
		return p.write(st)
	})
	return n, err
}

// ResetUnlockAttempts sets the count in the file to zero.
func (p FileKeyProvider) ResetUnlockAttempts() error {
	return p.locked(func() error {
		st, err := p.read()
		if err != nil || st.UnlockAttempts == 0 {
			return err
		}
		st.UnlockAttempts = 0
		return p.write(st)
	})
}

// Destroy overwrites and removes the key file.
func (p FileKeyProvider) Destroy() error {
	return p.locked(func() error { return destroyFile(p.Path) })
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

// FailedUnlock is a wrong PIN entered on this tablet.
type FailedUnlock struct {
	AtMs int64 `json:"at_ms"`
}

// unlock opens the data key with the PIN. The attempt is counted by the KeyProvider before the
// PIN is checked, so parallel attempts (threads or processes) together get no more checks than
// the limit, and an attempt killed during the slow Argon2id check stays counted. The attempt
// that reaches the limit with a wrong PIN, and any attempt past it, destroys the platform key
// and the wrapped data key. Every wrong PIN is also recorded (time only) for the server's audit
// log; that record is not the count.
func unlock(ctx context.Context, home string, s *store, opts Options) ([]byte, error) {
	if opts.PIN == "" {
		return nil, syncer.Errorf(syncer.CodeInvalid, "This tablet's data is locked: give its PIN.")
	}
	limit := int64(opts.MaxPINAttempts)
	attempt, err := opts.KeyProvider.CountUnlockAttempt()
	if err != nil {
		if errors.Is(err, errNoPlatformKey) {
			return nil, errKeyDestroyed
		}
		var se *syncer.Error
		if errors.As(err, &se) {
			return nil, err
		}
		return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The platform key that protects this tablet's data cannot count PIN attempts (%v); the tablet stays locked.", err)
	}
	if attempt > limit {
		// Attempts up to the limit are being checked (or were, and were wrong): this one is not
		// checked at all. It destroys nothing itself: one of those still being checked may be the
		// right PIN (which resets the count), and the limit-th wrong one destroys the keys. Were
		// the count left above the limit by a process killed mid-check, every later attempt is
		// refused unchecked, as here, until the tablet is enrolled again.
		return nil, errKeyDestroyed
	}
	dataKey, err := unwrapDataKey(home, opts.KeyProvider, opts.PIN)
	if err == nil {
		if err := opts.KeyProvider.ResetUnlockAttempts(); err != nil {
			return nil, fmt.Errorf("reset the count of PIN attempts: %w", err)
		}
		return dataKey, nil
	}
	if !errors.Is(err, errWrongPIN) {
		return nil, err
	}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO unlock_failures (at_ms) VALUES (?)`, opts.Now().UnixMilli())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("record wrong PIN: %w", err)
	}
	if left := limit - attempt; left > 0 {
		return nil, syncer.Errorf(syncer.CodeUnauthenticated, "Wrong PIN. %d more wrong PIN(s) and this tablet's data is made unreadable for good.", left)
	}
	if err := destroyKeys(home, opts.KeyProvider); err != nil {
		return nil, err
	}
	return nil, syncer.Errorf(syncer.CodeFailedPrecondition, "Wrong PIN, %d times in a row: this tablet's data key has been destroyed and the data on it can no longer be read. Enroll the tablet again with a new code from an admin.", attempt)
}

// destroyKeys destroys the platform key first (then a saved copy of data.key opens nothing)
// and the wrapped data key after it.
func destroyKeys(home string, provider KeyProvider) error {
	if err := provider.Destroy(); err != nil {
		return fmt.Errorf("destroy the platform key: %w", err)
	}
	if err := destroyFile(filepath.Join(home, dataKeyFile)); err != nil {
		return fmt.Errorf("destroy data key: %w", err)
	}
	return nil
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
