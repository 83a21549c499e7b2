package server

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/samvaer/sync/syncer"
)

// A visit whose report is submitted took place as the report says: it cannot be moved either.
func TestAVisitWithASubmittedReportCannotBeMoved(t *testing.T) {
	f := newFixture(t)
	kim := f.enrollSigner("Kim Consultant")
	f.push(kim, f.submission(kim, nil))
	start := f.clock.Now().Add(48 * 3600e9)
	err := f.store.RescheduleVisit(f.ctx, nil, f.visitID, start, start.Add(3600e9), "")
	if syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("moving a visit with a submitted report: %v", err)
	}
}

// A parent's comment is filed with a submitted report, not with a consultant's draft.
func TestAParentCommentNeedsASubmittedReport(t *testing.T) {
	f := newFixture(t)
	if _, err := f.store.AddParentComment(f.ctx, f.caseworker(), f.reportID, "Vi er uenige.", 0); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("a comment on a draft: %v", err)
	}
	kim := f.enrollSigner("Kim Consultant")
	f.push(kim, f.submission(kim, nil))
	if _, err := f.store.AddParentComment(f.ctx, f.caseworker(), f.reportID, "Vi er uenige.", 0); err != nil {
		t.Fatalf("a comment on the submitted report: %v", err)
	}
}

// A draft addendum (an offline edit of a submitted report, kept as a draft) is the consultant's
// work in progress: the caseworker reading the report does not get it; the consultant does.
func TestDraftAddendaAreReadOnlyByTheConsultants(t *testing.T) {
	f := newFixture(t)
	a := f.enrollSigner("Kim Consultant")
	b := f.enrollSigner("Kim Consultant")
	f.push(a, f.submission(a, nil))
	f.push(b, f.section(0, "ending", "Skrevet offline.", 0))
	rep, err := f.store.GetReport(f.ctx, f.caseworker(), f.reportID, "reading")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Addenda) != 0 {
		t.Fatalf("the caseworker got %d draft addenda", len(rep.Addenda))
	}
	rep, err = f.store.GetReport(f.ctx, a.id, f.reportID, "reading")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Addenda) != 1 || rep.Addenda[0].State != syncer.StateDraft {
		t.Fatalf("the consultant's draft addenda: %+v", rep.Addenda)
	}
}

// Wrong passwords sent in parallel are checked at most SignInMaxFailures times in a lockout
// window: every attempt counts before its (slow) check, so a burst cannot buy more guesses.
func TestParallelSignInsCannotOutrunTheLockout(t *testing.T) {
	f := newFixture(t)
	if err := f.store.SetPassword(f.ctx, Actor{}, "Sara Caseworker", "the right long password"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { _, _ = f.store.SignIn(context.Background(), "Sara Caseworker", "a wrong guess") })
	}
	wg.Wait()
	entries, err := f.store.AuditEntries(f.ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	checked, locked := 0, 0
	for _, e := range entries {
		if e.Kind == AuditSignInFailed {
			switch e.Detail["reason"] {
			case "wrong password":
				checked++
			case "locked":
				locked++
			}
		}
	}
	if checked > SignInMaxFailures || checked+locked != 20 {
		t.Fatalf("%d guesses were checked and %d refused as locked; at most %d may be checked", checked, locked, SignInMaxFailures)
	}
}

// The audit page shows the newest entries.
func TestAuditEntriesNewestFirst(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		if err := f.store.Audit(f.ctx, AuditEvent{Kind: AuditUserEnabled}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := f.store.AuditEntries(f.ctx, AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	newest, err := f.store.AuditEntries(f.ctx, AuditFilter{Newest: true, Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(newest) != 2 || newest[0].ID != all[len(all)-1].ID || newest[1].ID != all[len(all)-2].ID {
		t.Fatalf("newest two: %+v", newest)
	}
}

// The room refusal says when the room is taken, never which visit (of maybe another case) holds it.
func TestARoomRefusalNamesNoOtherVisit(t *testing.T) {
	f := newFixture(t)
	start := f.clock.Now().Add(24 * 3600e9)
	nv := NewVisit{CaseID: f.caseID, Consultant: "Kim Consultant", Kind: "supervised", Start: start, End: start.Add(3600e9), Room: "Rum 9"}
	first, err := f.store.AddVisit(f.ctx, nv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.store.AddVisit(f.ctx, nv)
	if syncer.ErrorCode(err) != syncer.CodeFailedPrecondition || strings.Contains(err.Error(), first) {
		t.Fatalf("a double booking: %v", err)
	}
}
