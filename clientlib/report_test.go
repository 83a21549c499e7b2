package clientlib

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/syncer"
)

func TestSubmitSignsTheReportAndLocksIt(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	must(t, f.tab.SetReportSection(ctx, f.visitID, "opening", marker))
	if _, err := f.tab.AddAddendum(ctx, f.visitID, "", "too early"); err == nil {
		t.Fatal("an addendum to a draft report was accepted")
	}
	must(t, f.tab.Submit(ctx, f.visitID))

	out := f.outbox()
	sub := out[len(out)-1].change
	if !syncer.IsSubmission(sub) || sub.Record.Id != f.reportID {
		t.Fatalf("last outbox entry is not the submission: %v", sub)
	}
	want := syncer.DocumentDigest(syncer.TypeReport, func(n string) string {
		return map[string]string{"opening": marker, "interaction": "Mor læser en bog."}[n]
	})
	if got := editValue(sub, "digest"); got != want {
		t.Fatalf("digest %s does not cover the report as shown (%s)", got, want)
	}
	at, _ := strconv.ParseInt(editValue(sub, "submitted_ms"), 10, 64)
	if at != f.clock.Now().UnixMilli() {
		t.Fatalf("submitted_ms %d is not the tablet's clock", at)
	}
	sig, _ := syncer.DecodeSignature(editValue(sub, "signature"))
	pub := f.key.Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, syncer.SubmissionPayload(syncer.TypeReport, f.reportID, f.device, want, at), sig) {
		t.Fatal("the signature does not verify with the device key")
	}

	if v := f.visit(); v.ReportState != syncer.StateSubmitted {
		t.Fatalf("report state %q", v.ReportState)
	}
	err := f.tab.SetReportSection(ctx, f.visitID, "ending", "after submitting")
	if e := wantCode(t, err, syncer.CodeFailedPrecondition); !strings.Contains(e.Message, "addendum") {
		t.Fatalf("message %q", e.Message)
	}
	wantCode(t, f.tab.Submit(ctx, f.visitID), syncer.CodeFailedPrecondition)

	id, err := f.tab.AddAddendum(ctx, f.visitID, "opening", marker+" correction")
	must(t, err)
	v := f.visit()
	if len(v.Addenda) != 1 || v.Addenda[0].ID != id || v.Addenda[0].State != syncer.StateSubmitted || v.Addenda[0].Text != marker+" correction" {
		t.Fatalf("addenda %+v", v.Addenda)
	}
}

// When the server's copy of the report turns out to be submitted, the tablet shows it as
// submitted: its own pending edit does not show over it (the server keeps it as an addendum draft).
func TestALockedReportShowsAsSubmitted(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "offline edit"))
	f.pull(f.commit(syncer.TypeReport, f.reportID, "state", syncer.StateSubmitted))
	v := f.visit()
	if v.ReportState != syncer.StateSubmitted || f.section("interaction") != "Mor læser en bog." {
		t.Fatalf("state %q, interaction %q", v.ReportState, f.section("interaction"))
	}
	addendumID := syncer.NewID()
	f.pull(f.commit(syncer.TypeAddendum, addendumID, "report_id", f.reportID, "visit_id", f.visitID,
		"section", "interaction", "text", "offline edit", "state", syncer.StateDraft))
	if v := f.visit(); len(v.Addenda) != 1 || v.Addenda[0].State != syncer.StateDraft || v.Addenda[0].Text != "offline edit" {
		t.Fatalf("addenda %+v", v.Addenda)
	}
	must(t, f.tab.SignAddendum(ctx, addendumID))
	if v := f.visit(); v.Addenda[0].State != syncer.StateSubmitted {
		t.Fatalf("signed draft shows as %q", v.Addenda[0].State)
	}
}

func TestSupportedVisitWithoutConsentCannotBeSubmitted(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	visitID, reportID := syncer.NewID(), syncer.NewID()
	f.pull(
		f.commit(syncer.TypeVisit, visitID, "kind", syncer.KindSupported, "start_ms", "1", "end_ms", "2"),
		f.commit(syncer.TypeReport, reportID, "visit_id", visitID),
		f.commit(syncer.TypeDecision, syncer.NewID(), "kind", syncer.KindSupported, "consent_parents", "false"),
	)
	err := f.tab.Submit(ctx, visitID)
	if e := wantCode(t, err, syncer.CodeFailedPrecondition); !strings.Contains(e.Message, "internal notes") {
		t.Fatalf("message %q", e.Message)
	}
	if n := len(f.outbox()); n != 0 {
		t.Fatalf("%d changes stored", n)
	}
	f.pull(f.commit(syncer.TypeDecision, syncer.NewID(), "kind", syncer.KindSupported, "consent_parents", "true"))
	must(t, f.tab.Submit(ctx, visitID))
}

func TestDeliveredReportsLeaveTheTablet(t *testing.T) {
	f := newFixture(t, Options{PurgeAcknowledgedAfter: time.Hour})
	ctx := context.Background()
	_, err := f.tab.Observe(ctx, f.visitID, marker+" observation")
	must(t, err)
	obs := f.outbox()[0].change.Record.Id
	now := strconv.FormatInt(f.clock.Now().UnixMilli(), 10)
	addendumID := syncer.NewID()
	f.pull(
		f.commit(syncer.TypeObservation, obs, "visit_id", f.visitID, "at_ms", now, "text", marker+" observation"),
		f.commit(syncer.TypeReport, f.reportID, "state", syncer.StateSubmitted, "submitted_ms", now),
		f.commit(syncer.TypeAddendum, addendumID, "report_id", f.reportID, "visit_id", f.visitID, "text", marker+" addendum", "state", syncer.StateSubmitted),
	)
	purge := func() int {
		t.Helper()
		n, err := f.tab.purgeDelivered(ctx)
		must(t, err)
		return n
	}
	// The observation's outbox entry is not confirmed yet (no cursor past it): nothing goes.
	f.pull(f.commit(syncer.TypeReport, f.reportID, "state", syncer.StateAcknowledged, "acknowledged_ms", now))
	f.clock.Add(2 * time.Hour)
	if n := purge(); n != 0 {
		t.Fatalf("purged %d with a change waiting", n)
	}
	must(t, f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM outbox`)
		return err
	}))
	if n := purge(); n != 1 {
		t.Fatalf("purged %d, want the acknowledged report", n)
	}
	for _, id := range []string{f.reportID, obs, addendumID} {
		rec := f.record(id)
		for _, fl := range rec.Fields {
			if strings.Contains(fl.Value, marker) || strings.Contains(fl.Value, "Mor læser") {
				t.Fatalf("%s %s still holds text in %s", rec.Record.Type, id, fl.Name)
			}
		}
	}
	v := f.visit()
	if v.ReportState != syncer.StateAcknowledged || len(v.Checklist) != len(syncer.DefaultChecklist) {
		t.Fatalf("the visit lost more than text: %s, %d items", v.ReportState, len(v.Checklist))
	}
	if n := purge(); n != 0 {
		t.Fatalf("purged again: %d", n)
	}
}

func TestSubmittedReportsLeaveTheTabletAfterTheirTime(t *testing.T) {
	f := newFixture(t, Options{PurgeSubmittedAfter: 24 * time.Hour})
	ctx := context.Background()
	f.pull(f.commit(syncer.TypeReport, f.reportID, "state", syncer.StateSubmitted,
		"submitted_ms", strconv.FormatInt(f.clock.Now().UnixMilli(), 10)))
	f.clock.Add(23 * time.Hour)
	if n, _ := f.tab.purgeDelivered(ctx); n != 0 {
		t.Fatal("purged before its time")
	}
	f.clock.Add(time.Hour)
	if n, _ := f.tab.purgeDelivered(ctx); n != 1 || f.section("interaction") != "" {
		t.Fatalf("not purged after its time (%d)", n)
	}
}

func TestVisitTimesAreSetByTheClock(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	must(t, f.tab.StartVisit(ctx, f.visitID))
	f.clock.Add(90 * time.Minute)
	must(t, f.tab.EndVisit(ctx, f.visitID))
	must(t, f.tab.SetPresent(ctx, f.visitID, marker))
	v := f.visit()
	start := newTestClock().Now().UnixMilli()
	if v.ActualStartMs != start || v.ActualEndMs != start+90*60_000 || v.Present != marker {
		t.Fatalf("visit %d–%d, present %q", v.ActualStartMs, v.ActualEndMs, v.Present)
	}
}

func TestTheTabletShowsAnOverdueReport(t *testing.T) {
	f := newFixture(t, Options{})
	// The fixture's supervised visit ended at visitStartMs + 2 h, long before the test clock.
	if v := f.visit(); !v.ReportOverdue {
		t.Fatal("a draft report days after a supervised visit is not shown as overdue")
	}
	must(t, f.tab.Submit(context.Background(), f.visitID))
	if v := f.visit(); v.ReportOverdue {
		t.Fatal("a submitted report is shown as overdue")
	}
}
