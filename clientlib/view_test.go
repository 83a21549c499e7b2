package clientlib

import (
	"context"
	"database/sql"
	"slices"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// The visit shows what the server sent, in the order a consultant works through it.
func TestVisitsShowTheConfirmedVisit(t *testing.T) {
	f := newFixture(t, Options{})
	// A second visit that starts earlier, and a deleted one: sorted by start, deleted not shown.
	early, gone := syncer.NewID(), syncer.NewID()
	deleted := f.commit(syncer.TypeVisit, gone, "kind", "supported", "start_ms", "1")
	deleted.Deleted = true
	f.pull(f.commit(syncer.TypeVisit, early, "kind", "supported", "start_ms", "1000"), deleted)
	obsLate, obsEarly := syncer.NewID(), syncer.NewID()
	f.pull(f.commit(syncer.TypeObservation, obsLate, "visit_id", f.visitID, "at_ms", "2000", "text", "senere"),
		f.commit(syncer.TypeObservation, obsEarly, "visit_id", f.visitID, "at_ms", "1000", "text", "først"))

	visits, err := f.tab.Visits(context.Background())
	must(t, err)
	if len(visits) != 2 || visits[0].ID != early || visits[1].ID != f.visitID {
		t.Fatalf("visits %+v, want the early one, then the fixture's", visits)
	}
	v := visits[1]
	if v.CaseID != f.caseID || v.Kind != "supervised" || v.StartMs != visitStartMs || v.EndMs != visitStartMs+2*3600_000 ||
		v.Place != "Rum 2" || v.Consultant != "Kim" {
		t.Fatalf("visit %+v", v)
	}
	var keys []string
	for _, it := range v.Checklist {
		keys = append(keys, it.Key)
	}
	var want []string
	for _, it := range syncer.DefaultChecklist {
		want = append(want, it.Key)
	}
	if !slices.Equal(keys, want) || v.Checklist[0].Label != syncer.DefaultChecklist[0].Label || v.Checklist[0].Phase != "before" {
		t.Fatalf("checklist %+v", v.Checklist)
	}
	if len(v.Report) != len(syncer.ReportSections) || v.Report[4].Key != "interaction" || v.Report[4].Text != "Mor læser en bog." {
		t.Fatalf("report %+v", v.Report)
	}
	if len(v.Observations) != 2 || v.Observations[0].ID != obsEarly || v.Observations[1].Text != "senere" {
		t.Fatalf("observations %+v", v.Observations)
	}
	if len(visits[0].Checklist) != 0 || len(visits[0].Observations) != 0 || len(visits[0].Report) != len(syncer.ReportSections) {
		t.Fatalf("empty visit %+v", visits[0])
	}
}

// A pending edit made before someone else's newer text shows on top of it when the two merge
// cleanly, as the server will merge them; when they overlap it shows the tablet's own text.
func TestViewRebasesPendingEditsOverNewerConfirmedState(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	other := syncer.NewID()

	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog. Ida griner."))
	must(t, f.tab.Check(ctx, f.visitID, "room_ready", true))
	f.pull(f.commitBy(other, syncer.TypeReport, f.reportID, "interaction", "I dag: Mor læser en bog."),
		f.commitBy(other, syncer.TypeChecklistItem, f.items["room_ready"], "checked", "false"))
	if got := f.section("interaction"); got != "I dag: Mor læser en bog. Ida griner." {
		t.Fatalf("section shows %q, want both edits merged", got)
	}
	if !f.checked("room_ready") {
		t.Fatal("the tablet's pending tick is not shown")
	}

	// Editing the merged text continues the pending edit; it still merges over the newer text.
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "I dag: Mor læser en bog. Ida griner højt."))
	if got := f.section("interaction"); got != "I dag: Mor læser en bog. Ida griner højt." {
		t.Fatalf("section shows %q", got)
	}

	// Someone else rewrites the same words: the edits overlap, the tablet shows its own text.
	f.pull(f.commitBy(other, syncer.TypeReport, f.reportID, "interaction", "I dag: Far læser en avis."))
	if got := f.section("interaction"); got != "I dag: Mor læser en bog. Ida griner højt." {
		t.Fatalf("section shows %q, want the tablet's own text", got)
	}
	if d := f.record(f.reportID); syncer.Value(d, "interaction") != "I dag: Far læser en avis." {
		t.Fatal("the confirmed state changed")
	}
}

// Applying a pulled page moves the cursor and removes an acknowledged change only once the cursor
// reaches the commit that covers it, so the view never loses the edit in between.
func TestApplyPageConfirmsAcknowledgedChanges(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	head := f.seq
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog for Ida."))
	o, err := f.tab.Observe(ctx, f.visitID, "Ida griner.")
	must(t, err)
	must(t, f.tab.Check(ctx, f.visitID, "room_ready", true))
	// The server commits 1 at head+2 (after another device's change at head+1), 2 at head+3;
	// 3 is not acknowledged yet.
	f.settle(
		&v1.ChangeResult{DeviceSeq: 1, Result: v1.Result_RESULT_APPLIED, ServerSeq: head + 2},
		&v1.ChangeResult{DeviceSeq: 2, Result: v1.Result_RESULT_APPLIED, ServerSeq: head + 3},
	)
	if s := f.status(); s.Pending != 1 || s.Awaiting != 2 || s.Cursor != head {
		t.Fatalf("status %+v", s)
	}

	other := f.commitBy(syncer.NewID(), syncer.TypeReport, f.reportID, "assessment", "Godt.")
	f.apply(head+1, other)
	if s := f.status(); s.Awaiting != 2 || s.Cursor != head+1 || f.meta(metaCursor) != head+1 {
		t.Fatalf("status %+v after a page before the acknowledged commits", s)
	}
	if got := f.section("interaction"); got != "Mor læser en bog for Ida." {
		t.Fatalf("section shows %q between push and pull", got)
	}

	f.apply(head+2, f.commitBy(f.device, syncer.TypeReport, f.reportID, "interaction", "Mor læser en bog for Ida."))
	if s := f.status(); s.Pending != 1 || s.Awaiting != 1 || s.Cursor != head+2 {
		t.Fatalf("status %+v after the page with change 1", s)
	}
	if got := f.section("interaction"); got != "Mor læser en bog for Ida." {
		t.Fatalf("section shows %q after its confirmation", got)
	}
	// The observation is still shown from the outbox, then from the confirmed record.
	if v := f.visit(); len(v.Observations) != 1 || v.Observations[0].ID != o.ID {
		t.Fatalf("observations %+v", v.Observations)
	}
	f.apply(head+3, f.commitBy(f.device, syncer.TypeObservation, o.ID, "visit_id", f.visitID, "at_ms", itoa(o.AtMs), "text", "Ida griner.", "author", "kim"))
	if s := f.status(); s.Pending != 1 || s.Awaiting != 0 {
		t.Fatalf("status %+v after the page with change 2", s)
	}
	if v := f.visit(); len(v.Observations) != 1 || v.Observations[0] != o {
		t.Fatalf("observations %+v, want %+v", v.Observations, o)
	}
	if len(f.outbox()) != 1 || f.outbox()[0].seq != 3 {
		t.Fatal("the unacknowledged change was removed")
	}

	// A page the server's log is behind is refused, and nothing of it applied.
	err = f.tab.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		return f.tab.applyPage(ctx, tx, &v1.PullResponse{Changes: []*v1.CommittedChange{f.commit(syncer.TypeReport, f.reportID, "assessment", "x")}, NextCursor: head}, nil)
	})
	wantCode(t, err, syncer.CodeFailedPrecondition)
	if syncer.Value(f.record(f.reportID), "assessment") != "Godt." || f.meta(metaCursor) != head+3 {
		t.Fatal("a refused page was applied")
	}
}

// The digest covers the confirmed records of a case exactly as the server's does: stable, equal
// after a restart, blind to pending edits, and different when a record changes.
func TestDigest(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	d1, err := f.tab.Digest(ctx, f.caseID)
	must(t, err)

	// What the server computes: the case's records in id order.
	recs, err := records.Query(ctx, f.tab.store.db.Read, f.tab.store.keys, `SELECT id, state FROM records ORDER BY id`)
	must(t, err)
	server := syncer.NewDigester()
	for _, r := range recs {
		server.Add(r)
	}
	if d1 != server.Sum() {
		t.Fatalf("digest %s, server would have %s", d1, server.Sum())
	}

	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Noget nyt."))
	f.reopen()
	d2, err := f.tab.Digest(ctx, f.caseID)
	must(t, err)
	if d2 != d1 {
		t.Fatal("digest changed with a pending edit or a restart")
	}
	f.pull(f.commit(syncer.TypeChecklistItem, f.items["room_ready"], "checked", "true"))
	d3, err := f.tab.Digest(ctx, f.caseID)
	must(t, err)
	if d3 == d1 {
		t.Fatal("digest did not change when a record changed")
	}
	empty, err := f.tab.Digest(ctx, syncer.NewID())
	must(t, err)
	if empty != syncer.NewDigester().Sum() {
		t.Fatal("a case the tablet does not hold has records")
	}
}

// Status, Conflicts and DeadLetters show what awaits a person.
func TestStatusConflictsAndDeadLetters(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	if s := f.status(); s != (Status{Cursor: f.seq}) {
		t.Fatalf("fresh status %+v", s)
	}
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog for Ida."))
	_, err := f.tab.Observe(ctx, f.visitID, "Ida griner.")
	must(t, err)
	must(t, f.tab.Check(ctx, f.visitID, "room_ready", true))
	f.settle(
		&v1.ChangeResult{DeviceSeq: 1, Result: v1.Result_RESULT_CONFLICT, ServerSeq: f.seq + 3, Reason: "Change 1: field \"interaction\" was edited at the same place on another device."},
		&v1.ChangeResult{DeviceSeq: 2, Result: v1.Result_RESULT_REJECTED, Reason: "Change 2 is for a case this tablet's user is not assigned to."},
	)
	open, closed := syncer.NewID(), syncer.NewID()
	conflict := func(id, resolved string) *v1.CommittedChange {
		return f.commit(syncer.TypeConflict, id, "record_type", syncer.TypeReport, "record_id", f.reportID, "field", "interaction",
			"other_value", "Mor læser en bog for Ida.", "other_device", f.device, "resolved", resolved, "rule", "text")
	}
	f.pull(conflict(open, "false"), conflict(closed, "true"))

	want := Status{Pending: 1, Awaiting: 1, OpenConflicts: 1, DeadLetters: 1, Cursor: f.seq}
	if s := f.status(); s != want {
		t.Fatalf("status %+v, want %+v", s, want)
	}
	conflicts, err := f.tab.Conflicts(ctx)
	must(t, err)
	wantConflict := Conflict{ID: open, CaseID: f.caseID, RecordType: syncer.TypeReport, RecordID: f.reportID, Field: "interaction",
		CurrentValue: "Mor læser en bog.", OtherValue: "Mor læser en bog for Ida.", OtherDevice: f.device}
	if len(conflicts) != 1 || conflicts[0] != wantConflict {
		t.Fatalf("conflicts %+v, want %+v", conflicts, wantConflict)
	}
	dead, err := f.tab.DeadLetters(ctx)
	must(t, err)
	if len(dead) != 1 || dead[0].Seq != 2 || dead[0].RecordType != syncer.TypeObservation || dead[0].RecordID == "" ||
		dead[0].Reason != "Change 2 is for a case this tablet's user is not assigned to." || dead[0].AtMs != f.clock.Now().UnixMilli() {
		t.Fatalf("dead letters %+v", dead)
	}
	// The refused observation is no longer shown as if it would arrive.
	if v := f.visit(); len(v.Observations) != 0 {
		t.Fatalf("observations %+v", v.Observations)
	}
}
