package records

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/syncer"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE TABLE records (id TEXT PRIMARY KEY, type TEXT, case_id TEXT, visit_id TEXT, state BLOB)`); err != nil {
		t.Fatal(err)
	}
	return db
}

// testKey seals the states of every test store: digests compare over plaintext whatever the key.
var testKey = func() *seal.Key {
	k, err := seal.NewKey(make([]byte, seal.KeySize))
	if err != nil {
		panic(err)
	}
	return k
}()

func put(t *testing.T, db *sql.DB, rec *v1.CommittedChange) {
	t.Helper()
	blob, err := Encode(testKey, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?)`, rec.Record.Id, rec.Record.Type, rec.Record.CaseId, VisitOf(rec), blob); err != nil {
		t.Fatal(err)
	}
}

func rec(typ, id, caseID string, fields ...*v1.Field) *v1.CommittedChange {
	return &v1.CommittedChange{Seq: 1, Record: &v1.RecordRef{Type: typ, Id: id, CaseId: caseID}, Fields: fields}
}

// Two stores holding the same records have the same digest, whatever order they were written in;
// a record of another case does not count; any difference shows.
func TestDigestComparesStores(t *testing.T) {
	ctx := context.Background()
	a, b := open(t), open(t)
	visit := rec(syncer.TypeVisit, "v1", "c1", &v1.Field{Name: "place", Value: "Rum 2", Rev: 1})
	item := rec(syncer.TypeChecklistItem, "i1", "c1", &v1.Field{Name: "visit_id", Value: "v1", Rev: 1})
	other := rec(syncer.TypeCase, "c2", "c2")
	put(t, a, visit)
	put(t, a, item)
	put(t, b, item)
	put(t, b, other)
	put(t, b, visit)
	da, err := Digest(ctx, a, testKey, "c1", 0)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Digest(ctx, b, testKey, "c1", 0)
	if err != nil || da != db {
		t.Fatalf("digests %s / %s (%v)", da, db, err)
	}
	put(t, b, rec(syncer.TypeChecklistItem, "i1", "c1", &v1.Field{Name: "visit_id", Value: "v1", Rev: 2}))
	if db, _ = Digest(ctx, b, testKey, "c1", 0); db == da {
		t.Fatal("a changed revision must change the digest")
	}
	if got, _ := Load(ctx, a, testKey, "nope"); got != nil {
		t.Fatal("a missing record must load as nil")
	}
	if VisitOf(visit) != "v1" || VisitOf(item) != "v1" || VisitOf(other) != "" {
		t.Fatal("VisitOf")
	}
}

// A state moved to another record's row does not open, and says which record failed without
// its content.
func TestMovedStateFailsToOpen(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	put(t, db, rec(syncer.TypeObservation, "o1", "c1", &v1.Field{Name: "text", Value: "MARKER", Rev: 1}))
	put(t, db, rec(syncer.TypeObservation, "o2", "c1", &v1.Field{Name: "text", Value: "other", Rev: 1}))
	if got, err := Load(ctx, db, testKey, "o1"); err != nil || syncer.Value(got, "text") != "MARKER" {
		t.Fatalf("load: %v", err)
	}
	if _, err := db.Exec(`UPDATE records SET state = (SELECT state FROM records WHERE id = 'o1') WHERE id = 'o2'`); err != nil {
		t.Fatal(err)
	}
	_, err := Load(ctx, db, testKey, "o2")
	if err == nil {
		t.Fatal("a state moved to another row opened")
	}
	if strings.Contains(err.Error(), "MARKER") {
		t.Fatalf("error holds content: %v", err)
	}
	if _, err := Digest(ctx, db, testKey, "c1", 0); err == nil {
		t.Fatal("digest over a moved state succeeded")
	}
}

// A store that purged a delivered report's text has the digest of one that did not purge it yet:
// the digest is over what a device should hold. A draft's text counts.
func TestDigestIsOverWhatADeviceShouldHold(t *testing.T) {
	ctx := context.Background()
	full, purged := open(t), open(t)
	report := func(state string, text string) *v1.CommittedChange {
		fs := []*v1.Field{{Name: "visit_id", Value: "v1", Rev: 1}, {Name: "state", Value: state, Rev: 2}, {Name: "acknowledged_ms", Value: "1000", Rev: 2}}
		if text != "" {
			fs = append(fs, &v1.Field{Name: "opening", Value: text, Rev: 1})
		}
		return rec(syncer.TypeReport, "r1", "c1", fs...)
	}
	obs := func(text string) *v1.CommittedChange {
		fs := []*v1.Field{{Name: "visit_id", Value: "v1", Rev: 3}}
		if text != "" {
			fs = append(fs, &v1.Field{Name: "text", Value: text, Rev: 3})
		}
		return rec(syncer.TypeObservation, "o1", "c1", fs...)
	}
	put(t, full, report(syncer.StateAcknowledged, "Ida was glad."))
	put(t, full, obs("Ida waves."))
	put(t, purged, report(syncer.StateAcknowledged, ""))
	put(t, purged, obs(""))
	df, err := Digest(ctx, full, testKey, "c1", 2000)
	if err != nil {
		t.Fatal(err)
	}
	if dp, _ := Digest(ctx, purged, testKey, "c1", 2000); dp != df {
		t.Fatal("a purged acknowledged report changes the digest")
	}
	put(t, full, report(syncer.StateSubmitted, "Ida was glad."))
	put(t, purged, report(syncer.StateSubmitted, ""))
	df, _ = Digest(ctx, full, testKey, "c1", 2000)
	if dp, _ := Digest(ctx, purged, testKey, "c1", 2000); dp == df {
		t.Fatal("a submitted report that should still be held has no text, and the digest does not show it")
	}
}
