package clientlib

import (
	"context"
	"database/sql"
	"testing"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
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
