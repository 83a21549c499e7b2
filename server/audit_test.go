package server

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/samvaer/sync/internal/pgdb"
	"github.com/samvaer/sync/internal/pgtest"
)

// rawDB opens the database of data directory dir directly, as a person with write access to it
// (not through the store) would.
func rawDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if address := pgtest.DatabaseFor(t, dir); address != "" {
		db, err = pgdb.OpenPool(address)
	} else {
		db, err = sql.Open("sqlite", "file:"+filepath.Join(dir, DBFile)+"?_pragma=busy_timeout(5000)")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatal(err)
	}
}

// auditFixture is a store with a handful of audit entries (enrollment, key, scope, revocation).
func auditFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	for i := 0; i < 4; i++ {
		f.clock.Add(time.Second)
		mustDo(t, f.store.Audit(f.ctx, AuditEvent{Kind: "test.event", ActorUserID: f.tablet.UserID, CaseID: f.caseID, Purpose: "test",
			Detail: map[string]string{"n": auditCount(int64(i))}}))
	}
	v := must(f.store.VerifyAudit(f.ctx))
	if len(v.Problems) != 0 || v.Entries < 5 {
		t.Fatalf("a fresh log: %+v", v)
	}
	return f
}

func mustDo(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditVerifyDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *sql.DB, last int64)
		want   string
	}{
		{"an edited entry", func(t *testing.T, db *sql.DB, last int64) {
			mustExec(t, db, `UPDATE audit_log SET purpose = 'other' WHERE id = ?`, last-2)
		}, "was changed"},
		{"an edited time", func(t *testing.T, db *sql.DB, last int64) {
			mustExec(t, db, `UPDATE audit_log SET at_ms = at_ms + 1 WHERE id = ?`, last-1)
		}, "was changed"},
		{"a deleted middle entry", func(t *testing.T, db *sql.DB, last int64) {
			mustExec(t, db, `DELETE FROM audit_log WHERE id = ?`, last-2)
		}, "missing"},
		{"a forged entry inserted in a gap", func(t *testing.T, db *sql.DB, last int64) {
			mustExec(t, db, `DELETE FROM audit_log WHERE id = ?`, last-2)
			mustExec(t, db, `INSERT INTO audit_log (id, at_ms, kind, prev_hash, hash)
				SELECT ?, at_ms, 'forged', prev_hash, hash FROM audit_log WHERE id = ?`, last-2, last-1)
		}, "entry"},
		{"a forged entry appended", func(t *testing.T, db *sql.DB, last int64) {
			mustExec(t, db, `INSERT INTO audit_log (id, at_ms, kind, prev_hash, hash) SELECT id + 1, at_ms, 'forged', hash, hash FROM audit_log WHERE id = ?`, last)
		}, "head"},
		{"the last entry deleted", func(t *testing.T, db *sql.DB, last int64) {
			mustExec(t, db, `DELETE FROM audit_log WHERE id = ?`, last)
		}, "missing"},
		{"the last entry deleted and the head rewritten", func(t *testing.T, db *sql.DB, last int64) {
			mustExec(t, db, `DELETE FROM audit_log WHERE id = ?`, last)
			mustExec(t, db, `UPDATE audit_head SET id = ?, hash = (SELECT hash FROM audit_log WHERE id = ?)`, last-1, last-1)
		}, "at the end are missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := auditFixture(t)
			v := must(f.store.VerifyAudit(f.ctx))
			tt.tamper(t, rawDB(t, f.dir), v.HeadID)
			got := must(f.store.VerifyAudit(f.ctx))
			if len(got.Problems) == 0 {
				t.Fatalf("tampering went unnoticed: %+v", got)
			}
			if all := strings.Join(got.Problems, "; "); !strings.Contains(all, tt.want) {
				t.Fatalf("problems %q lack %q", all, tt.want)
			}
			// Later entries still chain on, and verification keeps reporting the damage.
			mustDo(t, f.store.Audit(f.ctx, AuditEvent{Kind: "test.after"}))
			if again := must(f.store.VerifyAudit(f.ctx)); len(again.Problems) == 0 {
				t.Fatal("an entry appended after the tampering hid it")
			}
		})
	}
}

func TestAuditEntriesFilter(t *testing.T) {
	f := auditFixture(t)
	all := must(f.store.AuditEntries(f.ctx, AuditFilter{}))
	byCase := must(f.store.AuditEntries(f.ctx, AuditFilter{CaseID: f.caseID, Kinds: []string{"test.event"}}))
	if len(byCase) != 4 || len(all) <= len(byCase) {
		t.Fatalf("%d entries, %d of the case", len(all), len(byCase))
	}
	// Making the case was a change of its records, logged with counts.
	made := must(f.store.AuditEntries(f.ctx, AuditFilter{CaseID: f.caseID, Kinds: []string{AuditCaseChanged}}))
	if len(made) == 0 || made[0].Detail["records"] == "" || made[0].Detail["via"] == "" {
		t.Fatalf("the case's creation is not in the access log: %+v", made)
	}
	if byCase[0].Detail["n"] != "0" || byCase[0].Purpose != "test" || byCase[0].Hash == "" {
		t.Fatalf("first entry of the case: %+v", byCase[0])
	}
	since := time.UnixMilli(byCase[2].AtMs)
	if got := must(f.store.AuditEntries(f.ctx, AuditFilter{Since: since, CaseID: f.caseID})); len(got) != 2 {
		t.Fatalf("since the third: %d entries", len(got))
	}
	if got := must(f.store.AuditEntries(f.ctx, AuditFilter{DeviceID: f.tablet.DeviceID})); len(got) != 1 || got[0].Kind != AuditDeviceEnrolled {
		t.Fatalf("entries of the device: %+v", got)
	}
}

func TestAuditRefusesOversizedEvents(t *testing.T) {
	f := newFixture(t)
	if err := f.store.Audit(f.ctx, AuditEvent{Kind: "x", Purpose: strings.Repeat("p", 1000)}); err == nil {
		t.Fatal("an oversized purpose was stored")
	}
	if err := f.store.Audit(f.ctx, AuditEvent{}); err == nil {
		t.Fatal("an event without a kind was stored")
	}
}
