package server

import (
	"strconv"
	"strings"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/pgtest"
)

// pinFailures returns the tablet_failure_id and tablet_at_ms of every tablet.pin_failed entry,
// in audit order.
func pinFailures(f *fixture) [][2]string {
	var out [][2]string
	for _, e := range must(f.store.AuditEntries(f.ctx, AuditFilter{Kinds: []string{AuditPINFailed}})) {
		out = append(out, [2]string{e.Detail["tablet_failure_id"], e.Detail["tablet_at_ms"]})
	}
	return out
}

// The server logs each failure id of a device once, whatever ids it logged before: a failure
// with an id below one already logged (a tablet restored from an older copy of its home, or its
// random ids) is logged, one sent again is not, another device's same id is its own, and the
// entries follow the failures' times.
func TestUnlockFailuresAreLoggedOncePerID(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now().UnixMilli()
	report := func(id Identity, failures ...*v1.UnlockFailure) {
		t.Helper()
		through, err := f.store.ReportUnlockFailures(f.ctx, id, failures)
		if err != nil {
			t.Fatal(err)
		}
		if last := failures[len(failures)-1].Id; through != last {
			t.Fatalf("reported through %d, want the report's highest id %d", through, last)
		}
	}
	report(f.tablet, &v1.UnlockFailure{Id: 900, AtMs: now - 3000}, &v1.UnlockFailure{Id: 950, AtMs: now - 2000})
	// 400 is new although below 950; 950 is sent again (a lost response).
	report(f.tablet, &v1.UnlockFailure{Id: 400, AtMs: now - 500}, &v1.UnlockFailure{Id: 950, AtMs: now - 2000})
	// Times out of id order are logged in time order.
	report(f.tablet, &v1.UnlockFailure{Id: 10, AtMs: now - 100}, &v1.UnlockFailure{Id: 20, AtMs: now - 200})
	other := f.enroll(must(f.store.UserByName(f.ctx, "Kim Consultant")))
	report(other, &v1.UnlockFailure{Id: 900, AtMs: now - 50})

	want := [][2]string{{"900", "-3000"}, {"950", "-2000"}, {"400", "-500"}, {"20", "-200"}, {"10", "-100"}, {"900", "-50"}}
	got := pinFailures(f)
	if len(got) != len(want) {
		t.Fatalf("audit entries %v, want %v", got, want)
	}
	for i, w := range want {
		at, _ := strconv.ParseInt(w[1], 10, 64)
		if got[i][0] != w[0] || got[i][1] != strconv.FormatInt(now+at, 10) {
			t.Fatalf("audit entry %d: failure %s at %s, want %s at %d (all: %v)", i, got[i][0], got[i][1], w[0], now+at, got)
		}
	}
}

// The migration to per-id logging takes every failure already in the audit log as logged, so a
// report sent again after an upgrade logs nothing twice.
func TestUnlockFailuresLoggedBeforeTheMigrationStayLogged(t *testing.T) {
	f := newFixture(t)
	now := f.clock.Now().UnixMilli()
	if _, err := f.store.ReportUnlockFailures(f.ctx, f.tablet, []*v1.UnlockFailure{{Id: 1, AtMs: now - 10}, {Id: 2, AtMs: now - 5}}); err != nil {
		t.Fatal(err)
	}
	// What the migration found: the audit log's entries, without the table's rows.
	db := rawDB(t, f.dir)
	mustExec(t, db, `DELETE FROM unlock_failures_logged`)
	file := "migrations/0010_unlock_failure_ids.sql"
	if pgtest.DatabaseFor(t, f.dir) != "" {
		file = "migrations/postgres/0010_unlock_failure_ids.sql"
	}
	body, err := migrationFiles.ReadFile(file)
	mustDo(t, err)
	seed := string(body)[strings.Index(string(body), "INSERT INTO unlock_failures_logged"):]
	mustExec(t, db, seed)
	mustDo(t, db.Close())
	if _, err := f.store.ReportUnlockFailures(f.ctx, f.tablet, []*v1.UnlockFailure{{Id: 1, AtMs: now - 10}, {Id: 2, AtMs: now - 5}, {Id: 3, AtMs: now}}); err != nil {
		t.Fatal(err)
	}
	if got := pinFailures(f); len(got) != 3 || got[2][0] != "3" {
		t.Fatalf("audit entries after the report was sent again: %v, want failures 1, 2 and 3 once each", got)
	}
}
