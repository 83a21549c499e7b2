package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/samvaer/sync/server"
)

// filesHolding lists the files in dir whose raw bytes contain marker.
func filesHolding(t *testing.T, dir, marker string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	mustDo(t, err)
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		mustDo(t, err)
		if bytes.Contains(b, []byte(marker)) {
			out = append(out, e.Name())
		}
	}
	return out
}

// After a user is unassigned from a case and their tablet syncs, the case's data is gone from the
// tablet's files (tablet.db, its -wal and -shm): not hidden, gone. What a person wrote is sealed at
// rest, so its text is never in the files; the rows that held it are found by their ids, which
// are stored in the clear beside each sealed blob (the case, the visit, each observation).
func TestUnassignedCaseIsGoneFromTheTabletsFiles(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	st := w.srv.Store()
	const child, observation = "MARKER-CHILD-7c1f", "MARKER-OBSERVATION-9d2e"
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{child}, Parents: []string{"MARKER-PARENT-3a7b"}, Caseworker: "Sara"})
	mustDo(t, err)
	start := time.Now().Add(time.Hour)
	visitID, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "Kim", Kind: "supported", Start: start, End: start.Add(time.Hour)})
	mustDo(t, err)
	tb := enrollTablet(t, w.srv, "Kim")
	_, err = tb.Sync(ctx)
	mustDo(t, err)
	noted, err := tb.Observe(ctx, visitID, "Barnet "+observation+" leger.")
	mustDo(t, err)
	_, err = tb.Sync(ctx)
	mustDo(t, err)
	for _, id := range []string{caseID, visitID, noted.ID} {
		if len(filesHolding(t, tb.home, id)) == 0 {
			t.Fatalf("the test cannot see the rows of %s in the tablet's files before the purge", id)
		}
	}

	// Written offline while the admin unassigns Kim: the server refuses it, and the refused
	// change (a dead letter) goes with the case.
	const late = "MARKER-LATE-OBSERVATION-5e8a"
	lateNote, err := tb.Observe(ctx, visitID, late)
	mustDo(t, err)
	// And an observation she was still typing (a local draft, keyed by the visit's id).
	mustDo(t, tb.SetObservationDraft(ctx, visitID, "MARKER-DRAFT-2b6c"))
	mustDo(t, st.UnassignCase(ctx, server.Actor{}, caseID, "Kim"))
	r, err := tb.Sync(ctx)
	mustDo(t, err)
	if r.Rejected != 1 {
		t.Fatalf("the change written after the unassignment: %+v, want it rejected", r)
	}
	dead, err := tb.DeadLetters(ctx)
	mustDo(t, err)
	if len(dead) != 0 {
		t.Fatalf("dead letters of the purged case remain: %d", len(dead))
	}
	for _, m := range []string{caseID, visitID, noted.ID, lateNote.ID, child, observation, "MARKER-PARENT-3a7b", late, "MARKER-DRAFT-2b6c"} {
		if files := filesHolding(t, tb.home, m); len(files) > 0 {
			t.Fatalf("%s is still in %v after the case was unassigned", m, files)
		}
	}
	// The case Kim still works on is untouched.
	visits, err := tb.Visits(ctx)
	mustDo(t, err)
	if len(visits) != 1 || visits[0].ID != w.visitID {
		t.Fatalf("visits after the purge: %+v", visits)
	}
	// And it stays gone when the tablet is closed and its files are read at rest.
	mustDo(t, tb.Close())
	for _, m := range []string{child, observation} {
		if files := filesHolding(t, tb.home, m); len(files) > 0 {
			t.Fatalf("%s is in %v at rest", m, files)
		}
	}
}
