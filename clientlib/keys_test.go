package clientlib

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/samvaer/sync/syncer"
)

// homeHolds reports which files under home hold marker.
func homeHolds(t *testing.T, home, marker string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) {
			found = append(found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// visibleObservations returns the texts of the first visit's observations.
func visibleObservations(t *testing.T, tab *Tablet) []string {
	t.Helper()
	visits, err := tab.Visits(context.Background())
	must(t, err)
	var out []string
	for _, o := range visits[0].Observations {
		out = append(out, o.Text)
	}
	return out
}

// What a person writes on the tablet reaches no file of its home in plaintext: not the
// database, its WAL, nor a key file; the names and places pulled from the server neither.
func TestTabletFilesHoldNoPlaintext(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.pull(f.commit(syncer.TypeCase, f.caseID, "children", "MARKER-child", "parents", "MARKER-parent"))
	_, err := f.tab.Observe(ctx, f.visitID, "MARKER-observation Ida hugs her mother")
	must(t, err)
	must(t, f.tab.SetReportSection(ctx, f.visitID, "opening", "MARKER-section"))
	if got := homeHolds(t, f.home, "MARKER"); len(got) > 0 {
		t.Fatalf("plaintext in %v", got)
	}
	if obs := visibleObservations(t, f.tab); len(obs) != 1 || !strings.HasPrefix(obs[0], "MARKER-observation") {
		t.Fatalf("observations %q", obs)
	}
	f.reopen()
	if got := homeHolds(t, f.home, "MARKER"); len(got) > 0 {
		t.Fatalf("plaintext after reopening in %v", got)
	}
}

// A ciphertext copied onto another row does not open: a record's state onto another record, an
// outbox change onto another change.
func TestTabletCiphertextMovedFailsToOpen(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	_, err := f.tab.Observe(ctx, f.visitID, "first")
	must(t, err)
	_, err = f.tab.Observe(ctx, f.visitID, "second")
	must(t, err)
	db := f.tab.store.db.Write
	if _, err := db.Exec(`UPDATE outbox SET change = (SELECT change FROM outbox WHERE seq = 1) WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tab.Visits(ctx); err == nil {
		t.Fatal("an outbox change moved to another seq opened")
	}
	if _, err := db.Exec(`DELETE FROM outbox`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE records SET state = (SELECT state FROM records WHERE id = ?) WHERE id = ?`, f.reportID, f.visitID); err != nil {
		t.Fatal(err)
	}
	_, err = f.tab.Visits(ctx)
	if err == nil {
		t.Fatal("a record state moved to another record opened")
	}
	if strings.Contains(err.Error(), "Mor læser") {
		t.Fatalf("the error holds content: %v", err)
	}
}

// A wrong PIN fails, counts and is recorded (time only); a right one resets the count; past the
// limit the wrapped data key is destroyed and the tablet says it must be enrolled again.
func TestPINLimitDestroysTheKey(t *testing.T) {
	f := newFixture(t, Options{MaxPINAttempts: 3})
	must(t, f.tab.Close())
	wrong := f.opts
	wrong.PIN = "0000"

	_, err := Open(f.home, wrong)
	if e := wantCode(t, err, syncer.CodeUnauthenticated); !strings.Contains(e.Message, "Wrong PIN. 2 more") {
		t.Fatalf("message %q", e.Message)
	}
	_, err = Open(f.home, Options{})
	wantCode(t, err, syncer.CodeInvalid) // no PIN at all: not counted
	var err2 error
	f.tab, err2 = Open(f.home, f.opts)
	must(t, err2)
	failed, err := f.tab.FailedUnlocks(context.Background())
	must(t, err)
	if len(failed) != 1 || failed[0].AtMs != f.clock.Now().UnixMilli() {
		t.Fatalf("failed unlocks %v", failed)
	}
	if n := f.pinAttempts(); n != 0 {
		t.Fatalf("PIN attempts counted after a right one: %d", n)
	}
	must(t, f.tab.Close())

	for i := 1; i <= 2; i++ {
		_, err = Open(f.home, wrong)
		wantCode(t, err, syncer.CodeUnauthenticated)
	}
	_, err = Open(f.home, wrong)
	if e := wantCode(t, err, syncer.CodeFailedPrecondition); !strings.Contains(e.Message, "destroyed") || !strings.Contains(e.Message, "Enroll the tablet again") {
		t.Fatalf("message %q", e.Message)
	}
	if _, err := os.Stat(filepath.Join(f.home, dataKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the wrapped data key is still there: %v", err)
	}
	// The right PIN cannot help any more.
	_, err = Open(f.home, f.opts)
	if e := wantCode(t, err, syncer.CodeFailedPrecondition); !strings.Contains(e.Message, "Enroll the tablet again") {
		t.Fatalf("message %q", e.Message)
	}
}

// Changing the PIN re-wraps the data key: the data stays, the old PIN stops working, and a new
// PIN must be valid.
func TestChangePINKeepsTheData(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	_, err := f.tab.Observe(ctx, f.visitID, "Ida smiler")
	must(t, err)
	wantCode(t, f.tab.ChangePIN("12"), syncer.CodeInvalid)
	must(t, f.tab.ChangePIN("new-pin-9"))
	must(t, f.tab.Close())
	_, err = Open(f.home, f.opts)
	wantCode(t, err, syncer.CodeUnauthenticated)
	f.opts.PIN = "new-pin-9"
	f.tab, err = Open(f.home, f.opts)
	must(t, err)
	if obs := visibleObservations(t, f.tab); len(obs) != 1 || obs[0] != "Ida smiler" {
		t.Fatalf("observations after a PIN change: %q", obs)
	}
}

// Another platform key does not open the data key, whatever the PIN, and does not count as a
// wrong PIN on the tablet's own.
func TestPlatformKeyIsNeeded(t *testing.T) {
	f := newFixture(t, Options{})
	must(t, f.tab.Close())
	other := f.opts
	otherKey := FileKeyProvider{Path: filepath.Join(t.TempDir(), "other.key")}
	_, err := otherKey.Wrap([]byte("something else"))
	must(t, err)
	other.KeyProvider = otherKey
	_, err = Open(f.home, other)
	wantCode(t, err, syncer.CodeFailedPrecondition)
	if n := f.pinAttempts(); n != 0 {
		t.Fatalf("another platform key counted on the tablet's own: %d", n)
	}
	f.tab, err = Open(f.home, f.opts)
	must(t, err)
}

// pinAttempts is the count of unlock attempts the tablet's FileKeyProvider keeps.
func (f *fixture) pinAttempts() int64 {
	f.t.Helper()
	st, err := FileKeyProvider{Path: filepath.Join(f.home, platformKeyFile)}.read()
	if err != nil {
		f.t.Fatal(err)
	}
	return st.UnlockAttempts
}

// checkingProvider counts how often the PIN is checked: every check unwraps the platform layer.
type checkingProvider struct {
	KeyProvider
	checks atomic.Int64
}

func (p *checkingProvider) Unwrap(wrapped []byte) ([]byte, error) {
	p.checks.Add(1)
	return p.KeyProvider.Unwrap(wrapped)
}

// Wrong PINs tried at the same moment from many goroutines get no more checks than the limit
// together: the attempt is counted before the slow Argon2id check, not after it. The limit
// then destroys the key, and the right PIN no longer opens the tablet.
func TestParallelUnlocksGetNoMoreGuessesThanTheLimit(t *testing.T) {
	const limit, guessers = 5, 16
	f := newFixture(t, Options{MaxPINAttempts: limit})
	must(t, f.tab.Close())
	provider := &checkingProvider{KeyProvider: FileKeyProvider{Path: filepath.Join(f.home, platformKeyFile)}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var wrongPIN atomic.Int64
	for i := range guessers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opts := f.opts
			opts.KeyProvider = provider
			opts.PIN = fmt.Sprintf("guess-%d", i)
			<-start
			tab, err := Open(f.home, opts)
			if err == nil {
				tab.Close()
				t.Error("a wrong PIN opened the tablet")
				return
			}
			var se *syncer.Error
			if errors.As(err, &se) && strings.HasPrefix(se.Message, "Wrong PIN") {
				wrongPIN.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := provider.checks.Load(); n > limit {
		t.Fatalf("%d PINs were checked in parallel; the limit is %d", n, limit)
	}
	if n := wrongPIN.Load(); n != limit {
		t.Fatalf("%d guessers were told their PIN was wrong, want exactly %d (the rest are refused unchecked)", n, limit)
	}
	_, err := Open(f.home, f.opts)
	if e := wantCode(t, err, syncer.CodeFailedPrecondition); !strings.Contains(e.Message, "Enroll the tablet again") {
		t.Fatalf("the right PIN after the limit: %q", e.Message)
	}
}

// saveFiles copies the named files of the home aside; restoreFiles copies them back (the
// database's -wal and -shm go: the tablet is closed, so its WAL was checkpointed).
func saveFiles(t *testing.T, home string, names ...string) map[string][]byte {
	t.Helper()
	saved := map[string][]byte{}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(home, name))
		must(t, err)
		saved[name] = b
	}
	return saved
}

func restoreFiles(t *testing.T, home string, saved map[string][]byte) {
	t.Helper()
	for name, b := range saved {
		must(t, os.WriteFile(filepath.Join(home, name), b, 0o600))
	}
	for _, name := range []string{"tablet.db-wal", "tablet.db-shm"} {
		if err := os.Remove(filepath.Join(home, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
}

// Copying tablet.db and data.key back from before some wrong PINs resets neither the count nor
// the lockout: the count is the key provider's, so the remaining attempts are what they were,
// and after the limit a copy of data.key (with the database beside it) opens nothing, not even
// with the right PIN, because the platform key that wrapped it is destroyed too.
func TestRestoredTabletFilesDoNotUndoThePINLimit(t *testing.T) {
	f := newFixture(t, Options{MaxPINAttempts: 5})
	must(t, f.tab.Close())
	saved := saveFiles(t, f.home, "tablet.db", dataKeyFile)
	wrong := f.opts
	wrong.PIN = "0000"
	for range 3 {
		_, err := Open(f.home, wrong)
		wantCode(t, err, syncer.CodeUnauthenticated)
	}
	restoreFiles(t, f.home, saved)
	_, err := Open(f.home, wrong)
	if e := wantCode(t, err, syncer.CodeUnauthenticated); !strings.Contains(e.Message, "Wrong PIN. 1 more") {
		t.Fatalf("after the files were restored: %q (the count went back)", e.Message)
	}
	_, err = Open(f.home, wrong)
	if e := wantCode(t, err, syncer.CodeFailedPrecondition); !strings.Contains(e.Message, "destroyed") {
		t.Fatalf("the fifth wrong PIN: %q", e.Message)
	}
	restoreFiles(t, f.home, saved)
	_, err = Open(f.home, f.opts)
	if e := wantCode(t, err, syncer.CodeFailedPrecondition); !strings.Contains(e.Message, "Enroll the tablet again") {
		t.Fatalf("a saved data.key after the lockout: %q", e.Message)
	}
	if _, err := os.Stat(filepath.Join(f.home, platformKeyFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the platform key is still there after the lockout: %v", err)
	}
}

// destroyCounter records Destroy calls on a provider.
type destroyCounter struct {
	KeyProvider
	destroyed atomic.Int64
}

func (p *destroyCounter) Destroy() error {
	p.destroyed.Add(1)
	return p.KeyProvider.Destroy()
}

// Wiping destroys the key provider's key too: for the apps that key is in the platform's
// keystore, not a file of the home, and it must not outlive the tablet's data.
func TestWipeDestroysThePlatformKey(t *testing.T) {
	f := newFixture(t, Options{})
	must(t, f.tab.Close())
	provider := &destroyCounter{KeyProvider: FileKeyProvider{Path: filepath.Join(t.TempDir(), "keystore")}}
	// The same data key, wrapped by a provider outside the home (as an app's keystore is).
	opts := f.opts
	opts.KeyProvider = FileKeyProvider{Path: filepath.Join(f.home, platformKeyFile)}
	tab, err := Open(f.home, opts)
	must(t, err)
	opts.KeyProvider = provider
	must(t, wrapDataKey(f.home, provider, opts.PIN, opts.KDF, tab.dataKey))
	must(t, tab.Close())
	tab, err = Open(f.home, opts)
	must(t, err)
	must(t, tab.Wipe())
	if provider.destroyed.Load() != 1 {
		t.Fatalf("Destroy called %d times by Wipe, want once", provider.destroyed.Load())
	}
	if _, err := provider.Unwrap([]byte("anything")); err == nil {
		t.Fatal("the keystore's key still unwraps after the wipe")
	}
}

// Wipe leaves no file of the tablet, and not its home.
func TestWipeLeavesNoFile(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	_, err := f.tab.Observe(ctx, f.visitID, "Ida smiler")
	must(t, err)
	must(t, f.tab.Wipe())
	if _, err := os.Stat(f.home); !errors.Is(err, fs.ErrNotExist) {
		entries, _ := os.ReadDir(f.home)
		t.Fatalf("the home is still there (%v): %v", err, entries)
	}
	_, err = Open(f.home, f.opts)
	wantCode(t, err, syncer.CodeFailedPrecondition)
}
