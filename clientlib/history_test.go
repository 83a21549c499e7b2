package clientlib

import (
	"context"
	"database/sql"
	"testing"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

func (f *fixture) kept() int {
	f.t.Helper()
	var n int
	if err := f.tab.store.db.Read.QueryRow(`SELECT COUNT(*) FROM acknowledged`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// A change a pull confirmed is kept, sealed, for KeepAcknowledged — what a server restored from
// a backup that old gets back — and then goes; a purged case takes its kept changes with it.
func TestConfirmedChangesAreKeptForTheWindow(t *testing.T) {
	ctx := context.Background()
	f, _, _ := syncFixture(t)
	_, err := f.tab.Observe(ctx, f.visitID, "Ida griner.")
	must(t, err)
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog for Ida."))
	_, err = f.tab.Sync(ctx)
	must(t, err)
	if s := f.status(); s.Pending != 0 || s.Awaiting != 0 || f.kept() != 2 {
		t.Fatalf("after the sync: %+v, %d kept", s, f.kept())
	}
	kept, err := f.tab.store.readAcknowledged(ctx, f.tab.store.db.Read, 0)
	must(t, err)
	if kept[0].change.Fields[2].Value != "Ida griner." || kept[0].serverSeq == 0 {
		t.Fatalf("the kept change is not the change as written: %v", kept[0].change)
	}

	f.clock.Add(DefaultKeepAcknowledged - time.Hour)
	_, err = f.tab.Sync(ctx)
	must(t, err)
	if f.kept() != 2 {
		t.Fatalf("%d kept before the window ended, want 2", f.kept())
	}
	f.clock.Add(2 * time.Hour)
	_, err = f.tab.Sync(ctx)
	must(t, err)
	if f.kept() != 0 {
		t.Fatalf("%d kept after the window, want 0", f.kept())
	}

	_, err = f.tab.Observe(ctx, f.visitID, "Emil sover.")
	must(t, err)
	_, err = f.tab.Sync(ctx)
	must(t, err)
	if f.kept() != 1 {
		t.Fatalf("%d kept, want 1", f.kept())
	}
	must(t, f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		return f.tab.applyPage(ctx, tx, &v1.PullResponse{NextCursor: f.meta(metaCursor), PurgeCases: []string{f.caseID}}, nil)
	}))
	if f.kept() != 0 {
		t.Fatal("a purged case's kept changes stayed")
	}
}

// The pull positions kept to find what a restored server holds spread out with age: a tablet
// that synced every 10 minutes for two weeks still has one near an hour, a day and a week ago.
func TestPullPositionsSpreadOverTime(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	const step = 10 * 60_000
	start := f.clock.Now().UnixMilli()
	n := int64(14 * 24 * 6)
	must(t, f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		for i := int64(1); i <= n; i++ {
			if err := notePosition(ctx, tx, i, 1000+i, start+i*step); err != nil {
				return err
			}
		}
		return nil
	}))
	cps, err := checkpoints(ctx, f.tab.store.db.Read)
	must(t, err)
	if len(cps) != maxCheckpoints || cps[0][0] != 1 || cps[len(cps)-1][0] != n || cps[len(cps)-1][1] != 1000+n {
		t.Fatalf("kept %d positions from %v to %v", len(cps), cps[0], cps[len(cps)-1])
	}
	now := start + n*step
	for _, want := range []struct{ from, to time.Duration }{
		{0, time.Hour}, {18 * time.Hour, 30 * time.Hour}, {5 * 24 * time.Hour, 9 * 24 * time.Hour}} {
		found := false
		for _, cp := range cps {
			age := time.Duration(now-cp[2]) * time.Millisecond
			found = found || (age >= want.from && age <= want.to)
		}
		if !found {
			t.Errorf("no position kept between %v and %v ago: %v", want.from, want.to, cps)
		}
	}
}

// When a delivered report's text leaves the tablet, the changes kept for a restored server that
// hold its text leave with it.
func TestPurgedReportTakesItsKeptChanges(t *testing.T) {
	ctx := context.Background()
	f, fs, _ := syncFixture(t)
	_, err := f.tab.Observe(ctx, f.visitID, "Ida griner.")
	must(t, err)
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog for Ida."))
	_, err = f.tab.Sync(ctx)
	must(t, err)
	if f.kept() != 2 {
		t.Fatalf("%d kept, want 2", f.kept())
	}
	f.seq = fs.head
	f.pull(f.commit(syncer.TypeReport, f.reportID, "state", syncer.StateAcknowledged, "acknowledged_ms", "1"))
	n, err := f.tab.purgeDelivered(ctx)
	must(t, err)
	if n != 1 || f.kept() != 0 {
		t.Fatalf("purged %d reports, %d kept changes left", n, f.kept())
	}
}

// A snapshot cut off between its pages (the tablet killed, or the case leaving the user's scope
// in between) leaves records of a case the tablet does not hold in full, which no purge would
// ever name: the next pull drops them, and keeps the cases it holds.
func TestAPartlyReceivedCaseIsDroppedAtTheNextPull(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	known := []string{f.caseID}
	other := "01900000-0000-7000-8000-0000000000ff"
	page := &v1.PullResponse{NextCursor: f.meta(metaCursor), SnapshotCase: other, SnapshotAfter: "x", More: true,
		Snapshot: []*v1.CommittedChange{{Seq: 1, Record: &v1.RecordRef{Type: syncer.TypeVisit, Id: syncer.NewID(), CaseId: other}}}}
	must(t, f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error { return f.tab.applyPage(ctx, tx, page, known) }))
	count := func(caseID string) (n int) {
		must(t, f.tab.store.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE case_id = ?`, caseID).Scan(&n))
		return n
	}
	if count(other) != 1 || count(f.caseID) == 0 {
		t.Fatalf("before: %d records of the partly received case, %d of the held one", count(other), count(f.caseID))
	}
	must(t, f.tab.dropPartialCases(ctx, known))
	if count(other) != 0 || count(f.caseID) == 0 {
		t.Fatalf("after: %d records of the partly received case, %d of the held one", count(other), count(f.caseID))
	}
}
