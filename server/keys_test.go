package server

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/seal"
)

// dataDirHolds reports whether any file in dir holds marker.
func dataDirHolds(t *testing.T, dir, marker string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(marker)) {
			return true
		}
	}
	return false
}

// What a person wrote is sealed in the server's database; a sealed value copied onto another row
// (of the same or another column) does not open, and the error holds no content.
func TestServerSealsAndBindsToTheRow(t *testing.T) {
	f := newFixture(t)
	must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.observation(1, "MARKER-observation Ida smiler."), f.section(2, "opening", "MARKER-section", 0)}))
	if dataDirHolds(t, f.dir, "MARKER") {
		t.Fatal("a marker is readable in the data directory")
	}
	if _, err := f.store.CaseDigest(f.ctx, f.caseID); err != nil {
		t.Fatal(err)
	}
	var obsID string
	if err := f.store.read.QueryRow(`SELECT id FROM records WHERE type = 'observation'`).Scan(&obsID); err != nil {
		t.Fatal(err)
	}
	// The observation's state onto the report's row.
	f.store.tamper(t, `UPDATE records SET state = (SELECT state FROM records WHERE id = ?) WHERE id = ?`, obsID, f.reportID)
	_, err := f.store.CaseDigest(f.ctx, f.caseID)
	if err == nil {
		t.Fatal("a state moved to another record opened")
	}
	if strings.Contains(err.Error(), "MARKER") {
		t.Fatalf("the error holds content: %v", err)
	}

	// A change's effect onto another log row, and into the submitted column of its own row.
	g := newFixture(t)
	must(g.store.Push(g.ctx, g.tablet, []*v1.Change{g.observation(1, "MARKER-a"), g.observation(2, "MARKER-b")}))
	head := g.head()
	g.store.tamper(t, `UPDATE changes SET effect = (SELECT effect FROM changes WHERE seq = ?) WHERE seq = ?`, head, head-1)
	if _, err := g.store.Pull(g.ctx, g.tablet, &v1.PullRequest{}); err == nil {
		t.Fatal("an effect moved to another log row opened")
	}
}

// Rotation keeps old data readable (also for a server that was running when another process
// rotated); re-wrap moves every value to the new key; retiring refuses a key in use and then
// drops it; everything still reads after a restart.
func TestKEKRotateRewrapRetire(t *testing.T) {
	f := newFixture(t)
	must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.observation(1, "Ida smiler."), f.section(2, "opening", "Mor kom.", 0)}))
	digest := f.digest()
	fi, err := os.Stat(filepath.Join(f.dir, KEKFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
	oldKID := f.store.keys.Primary()

	// The admin command is another process on the same data directory.
	admin := MustOpenStore(t, f.dir, f.clock)
	newKID := must(admin.RotateKEK(f.ctx))
	if newKID == oldKID {
		t.Fatal("rotation kept the key id")
	}
	if f.digest() != digest {
		t.Fatal("old data changed after rotation")
	}
	// The running server seals its next write under the new key.
	must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.observation(3, "Emil leger.")}))
	use := must(admin.KEKUse(f.ctx))
	if use[oldKID] == 0 || use[newKID] == 0 {
		t.Fatalf("use after rotation and a push: %v", use)
	}
	err = admin.RetireKEK(f.ctx, oldKID)
	if err == nil || !strings.Contains(err.Error(), "rewrap") {
		t.Fatalf("retiring a key in use: %v", err)
	}
	if err := admin.RetireKEK(f.ctx, newKID); err == nil {
		t.Fatal("retired the primary key")
	}
	if n := must(admin.RewrapKEK(f.ctx)); n != use[oldKID] {
		t.Fatalf("re-wrapped %d values, %d were under the old key", n, use[oldKID])
	}
	if use := must(admin.KEKUse(f.ctx)); use[oldKID] != 0 {
		t.Fatalf("after re-wrap: %v", use)
	}
	if err := admin.RetireKEK(f.ctx, oldKID); err != nil {
		t.Fatal(err)
	}
	digest = f.digest()
	f.store.Close()
	restarted := MustOpenStore(t, f.dir, f.clock)
	if got := must(restarted.CaseDigest(f.ctx, f.caseID)); got != digest {
		t.Fatal("the digest changed after rotate, re-wrap, retire and a restart")
	}
	if list := must(restarted.KEKs(f.ctx)); len(list) != 1 || list[0].ID != newKID || !list[0].Primary {
		t.Fatalf("keys after retiring: %+v", list)
	}
}

// A KEK from the environment takes precedence: no key file is written, and the data does not
// open without that key.
func TestKEKFromEnvironment(t *testing.T) {
	key := make([]byte, seal.KeySize)
	key[0] = 7
	t.Setenv(KEKEnv, base64.StdEncoding.EncodeToString(key))
	f := newFixture(t)
	must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.observation(1, "Ida smiler.")}))
	if _, err := os.Stat(filepath.Join(f.dir, KEKFile)); !os.IsNotExist(err) {
		t.Fatalf("a key file was written although %s is set: %v", KEKEnv, err)
	}
	if _, err := f.store.RotateKEK(f.ctx); err == nil {
		t.Fatal("rotated a key that comes from the environment")
	}
	f.store.Close()
	key[0] = 8
	t.Setenv(KEKEnv, base64.StdEncoding.EncodeToString(key))
	// The store opens its own secrets when it starts, so another key is refused at once.
	if other, err := openTestStore(t, f.dir, f.clock.Now); err == nil {
		other.Close()
		t.Fatal("opened the data with another key")
	} else if !strings.Contains(err.Error(), "key-encryption key") {
		t.Fatalf("opening with another key: %v", err)
	}
	t.Setenv(KEKEnv, "")
	if _, err := openTestStore(t, f.dir, f.clock.Now); err == nil || !strings.Contains(err.Error(), "no key-encryption key") {
		t.Fatalf("a database without its key: %v", err)
	}
	t.Setenv(KEKEnv, "not base64")
	if _, err := openTestStore(t, f.dir, f.clock.Now); err == nil || !strings.Contains(err.Error(), KEKEnv) {
		t.Fatalf("a malformed %s: %v", KEKEnv, err)
	}
}
