package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/syncer"
)

// The digest of a case the server does not have is an error (NotFound), not the hash of no
// records, which a person would take for a real digest; a malformed id is Invalid.
func TestDigestOfAnUnknownCaseIsAnError(t *testing.T) {
	f := newFixture(t)
	if _, err := f.store.CaseDigest(f.ctx, syncer.NewID()); syncer.ErrorCode(err) != syncer.CodeNotFound {
		t.Fatalf("an unknown case: %v, want NotFound", err)
	}
	if _, err := f.store.CaseDigest(f.ctx, "not-a-case"); syncer.ErrorCode(err) != syncer.CodeInvalid {
		t.Fatalf("a malformed id: %v, want Invalid", err)
	}
	if _, err := f.store.CaseDigest(f.ctx, f.visitID); syncer.ErrorCode(err) != syncer.CodeNotFound {
		t.Fatalf("a visit's id: %v, want NotFound", err)
	}
	if d := f.digest(); len(d) != 64 {
		t.Fatalf("the fixture's case: digest %q", d)
	}
}

// A server does not start on an empty database file (0 bytes, or SQLite without tables) beside
// its keys, nor on a foreign one (not SQLite, or another program's SQLite database): it says what
// happened and what to do, and the file is left as it was. A new directory, and one whose
// database was closed normally, start.
func TestServerRefusesAnEmptyOrForeignDatabase(t *testing.T) {
	t.Setenv(KEKEnv, "") // the keys are kek.json in the directory
	dir := t.TempDir()
	st, err := OpenStore(dir, nil)
	mustDo(t, err)
	_, err = st.AddUser(context.Background(), "Sara", []string{"caseworker"})
	mustDo(t, err)
	mustDo(t, st.Close())
	st, err = OpenStore(dir, nil)
	mustDo(t, err) // a database closed normally reopens
	mustDo(t, st.Close())

	db := filepath.Join(dir, DBFile)
	otherProgram := filepath.Join(t.TempDir(), "other.db")
	other, err := sql.Open("sqlite", otherProgram)
	mustDo(t, err)
	_, err = other.Exec(`CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)`)
	mustDo(t, err)
	mustDo(t, other.Close())
	noTables := filepath.Join(t.TempDir(), "empty.db")
	empty, err := sql.Open("sqlite", noTables)
	mustDo(t, err)
	_, err = empty.Exec(`PRAGMA user_version = 7`) // a valid SQLite file without a table
	mustDo(t, err)
	mustDo(t, empty.Close())
	read := func(path string) []byte { b, err := os.ReadFile(path); mustDo(t, err); return b }

	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"0 bytes", nil, "is empty"},
		{"SQLite without tables", read(noTables), "is empty"},
		{"not SQLite", []byte("PK\x03\x04 a zip archive, not a database"), "not a Samvær database"},
		{"another program's SQLite", read(otherProgram), "not a Samvær database"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, suffix := range []string{"-wal", "-shm"} {
				os.Remove(db + suffix)
			}
			mustDo(t, os.WriteFile(db, tc.content, 0o600))
			st, err := OpenStore(dir, nil)
			if err == nil {
				st.Close()
				t.Fatal("the server started")
			}
			if syncer.ErrorCode(err) != syncer.CodeFailedPrecondition || !strings.Contains(syncer.ErrorMessage(err), tc.want) ||
				!strings.Contains(syncer.ErrorMessage(err), "Restore samvaer.db from a backup") {
				t.Fatalf("refusal %q (%s), want one saying %q", syncer.ErrorMessage(err), syncer.ErrorCode(err), tc.want)
			}
			if got := read(db); !bytes.Equal(got, tc.content) {
				t.Fatalf("the refused file was changed: %d bytes, was %d", len(got), len(tc.content))
			}
		})
	}
}

// An enrollment whose answer was lost can be asked again: the same code with the same public
// key is given the same device (one device, one audit entry), until the code expires; the used
// code still enrolls no other key, and a revoked device is not handed out again.
func TestEnrollmentRetryGetsTheSameDevice(t *testing.T) {
	f := newFixture(t)
	devicesOf := func(user string) []Device {
		var out []Device
		for _, d := range must(f.store.Devices(f.ctx)) {
			if d.UserName == user {
				out = append(out, d)
			}
		}
		return out
	}
	before := len(devicesOf("Kim Consultant"))
	code, _ := must2(f.store.NewEnrollmentCode(f.ctx, "Kim Consultant"))
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	mustDo(t, err)
	first, user := must2(f.store.Enroll(f.ctx, code, pub, "iPad 3"))
	f.clock.Add(time.Minute)
	again, againUser := must2(f.store.Enroll(f.ctx, strings.ToLower(code), pub, "iPad 3"))
	if again != first || againUser.ID != user.ID {
		t.Fatalf("the retry enrolled %s for %s, want %s for %s", again, againUser.ID, first, user.ID)
	}
	if n := len(devicesOf("Kim Consultant")); n != before+1 {
		t.Fatalf("%d new devices after an enrollment and its retry, want 1", n-before)
	}
	enrolled := 0
	for _, e := range must(f.store.AuditEntries(f.ctx, AuditFilter{})) {
		if e.Kind == AuditDeviceEnrolled && e.DeviceID == first {
			enrolled++
		}
	}
	if enrolled != 1 {
		t.Fatalf("%d enrollment audit entries for the device, want 1", enrolled)
	}
	other, _, err := ed25519.GenerateKey(rand.Reader)
	mustDo(t, err)
	if _, _, err := f.store.Enroll(f.ctx, code, other, "another tablet"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("the used code with another key: %v, want Unauthenticated", err)
	}
	f.clock.Add(EnrollmentCodeTTL)
	if _, _, err := f.store.Enroll(f.ctx, code, pub, "iPad 3"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("a retry after the code expired: %v, want Unauthenticated", err)
	}

	code2, _ := must2(f.store.NewEnrollmentCode(f.ctx, "Kim Consultant"))
	pub2, _, err := ed25519.GenerateKey(rand.Reader)
	mustDo(t, err)
	dev2, _ := must2(f.store.Enroll(f.ctx, code2, pub2, "iPad 4"))
	_, err = f.store.RevokeDevice(f.ctx, Actor{}, dev2, DeviceLost)
	mustDo(t, err)
	if _, _, err := f.store.Enroll(f.ctx, code2, pub2, "iPad 4"); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
		t.Fatalf("a retry for a revoked device: %v, want Unauthenticated", err)
	}
}
