package server

import (
	"crypto/ed25519"
	"crypto/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// signer is an enrolled tablet whose key the test holds, so it can sign submissions.
type signer struct {
	id  Identity
	key ed25519.PrivateKey
	seq int64
}

func (f *fixture) enrollSigner(name string) *signer {
	f.t.Helper()
	u := must(f.store.UserByName(f.ctx, name))
	code, _, err := f.store.NewEnrollmentCode(f.ctx, u.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	deviceID, _, err := f.store.Enroll(f.ctx, code, pub, "test tablet")
	if err != nil {
		f.t.Fatal(err)
	}
	return &signer{id: Identity{UserID: u.ID, DeviceID: deviceID, Roles: u.Roles}, key: priv}
}

func (f *fixture) report() *v1.CommittedChange {
	f.t.Helper()
	return must(records.Load(f.ctx, f.store.read, f.store.sealer, f.reportID))
}

// push sends changes from the signer, numbering them.
func (f *fixture) push(s *signer, changes ...*v1.Change) []*v1.ChangeResult {
	f.t.Helper()
	for _, c := range changes {
		s.seq++
		c.DeviceSeq = s.seq
	}
	return must(f.store.Push(f.ctx, s.id, changes))
}

// submission signs the report as the signer sees it (sections as given).
func (f *fixture) submission(s *signer, sections map[string]string) *v1.Change {
	at := f.clock.Now().UnixMilli()
	digest := syncer.DocumentDigest(syncer.TypeReport, func(n string) string { return sections[n] })
	sig := ed25519.Sign(s.key, syncer.SubmissionPayload(syncer.TypeReport, f.reportID, s.id.DeviceID, digest, at))
	return &v1.Change{Op: v1.Op_OP_UPDATE, Hlc: f.hlc(), SchemaVersion: syncer.SchemaVersion,
		Record: &v1.RecordRef{Type: syncer.TypeReport, Id: f.reportID, CaseId: f.caseID},
		Fields: []*v1.FieldEdit{
			{Name: "digest", Value: digest},
			{Name: "signature", Value: syncer.EncodeSignature(sig)},
			{Name: "submitted_ms", Value: strconv.FormatInt(at, 10)},
		}}
}

func (f *fixture) caseworker() Identity {
	u := must(f.store.UserByName(f.ctx, "Sara Caseworker"))
	return Identity{UserID: u.ID, DeviceID: syncer.NewID(), Roles: u.Roles}
}

func TestReportLifecycle(t *testing.T) {
	f := newFixture(t)
	kim := f.enrollSigner("Kim Consultant")
	text := map[string]string{"interaction": "MARKER Mor leger med Ida."}
	res := f.push(kim, f.section(0, "interaction", text["interaction"], 0), f.submission(kim, text))
	if res[1].Result != v1.Result_RESULT_APPLIED {
		t.Fatalf("submission: %v %s", res[1].Result, res[1].Reason)
	}
	rep := f.report()
	if syncer.State(rep) != syncer.StateSubmitted || syncer.Value(rep, "submitted_by") != kim.id.UserID || !syncer.Locked(rep) {
		t.Fatalf("after submission: state %q by %q", syncer.State(rep), syncer.Value(rep, "submitted_by"))
	}

	// Delivered: the caseworker's inbox lists it as new, naming her as recipient.
	sara := f.caseworker()
	inbox := must(f.store.Reports(f.ctx, &sara, "", FilterNew))
	if len(inbox) != 1 || inbox[0].ID != f.reportID || len(inbox[0].Recipients) != 1 || inbox[0].Recipients[0] != sara.UserID {
		t.Fatalf("inbox = %+v", inbox)
	}
	// A consultant may not acknowledge; someone outside the case does not see it.
	if err := f.store.Acknowledge(f.ctx, kim.id, f.reportID); syncer.ErrorCode(err) != syncer.CodePermissionDenied {
		t.Fatalf("consultant acknowledged: %v", err)
	}
	_ = must(f.store.AddUser(f.ctx, "Other Caseworker", []string{"caseworker"}))
	other := must(f.store.UserByName(f.ctx, "Other Caseworker"))
	outsider := Identity{UserID: other.ID, DeviceID: syncer.NewID(), Roles: other.Roles}
	if err := f.store.Acknowledge(f.ctx, outsider, f.reportID); syncer.ErrorCode(err) != syncer.CodeNotFound {
		t.Fatalf("outsider acknowledged: %v", err)
	}
	if got := must(f.store.Reports(f.ctx, &outsider, "", FilterAll)); len(got) != 0 {
		t.Fatalf("outsider sees %d reports", len(got))
	}

	f.clock.Add(time.Hour)
	if err := f.store.Acknowledge(f.ctx, sara, f.reportID); err != nil {
		t.Fatal(err)
	}
	rep = f.report()
	if syncer.State(rep) != syncer.StateAcknowledged || syncer.Value(rep, "acknowledged_by") != sara.UserID ||
		syncer.Value(rep, "acknowledged_ms") != strconv.FormatInt(f.clock.Now().UnixMilli(), 10) {
		t.Fatalf("after acknowledgement: %v", rep.Fields)
	}
	if got := must(f.store.Reports(f.ctx, &sara, "", FilterAcknowledged)); len(got) != 1 {
		t.Fatalf("acknowledged filter: %d", len(got))
	}
	if got := must(f.store.Reports(f.ctx, &sara, "", FilterNew)); len(got) != 0 {
		t.Fatalf("still new: %d", len(got))
	}

	// Corrections are addenda; a parent's comment is its own document. The report is unchanged.
	before := f.report()
	addID := must(f.store.AddAddendum(f.ctx, kim.id, f.reportID, "interaction", "MARKER correction"))
	commentID := must(f.store.AddParentComment(f.ctx, sara, f.reportID, "MARKER the parent's view", 0))
	if after := f.report(); after.Seq != before.Seq {
		t.Fatal("an addendum or comment changed the report")
	}
	full := must(f.store.GetReport(f.ctx, sara, f.reportID, "prepare the follow-up meeting"))
	if len(full.Addenda) != 1 || full.Addenda[0].ID != addID || full.Addenda[0].State != syncer.StateSubmitted ||
		len(full.ParentComments) != 1 || full.ParentComments[0].ID != commentID {
		t.Fatalf("report view: addenda %+v, comments %+v", full.Addenda, full.ParentComments)
	}
	if full.Sections[4].Key != "interaction" || full.Sections[4].Text != text["interaction"] {
		t.Fatalf("sections: %+v", full.Sections)
	}
	// The addendum came in the acknowledgement's millisecond (the clock did not move): it came
	// after it all the same, so the report is new to the caseworker again.
	if !full.NewAddendum {
		t.Error("the report does not say an addendum came after the acknowledgement")
	}
	if got := must(f.store.Reports(f.ctx, &sara, "", FilterNew)); len(got) != 1 || !got[0].NewAddendum {
		t.Fatalf("the new reports after the addendum: %+v", got)
	}
}

func TestSubmissionIsRefusedUnlessItsSignatureAndDigestHold(t *testing.T) {
	f := newFixture(t)
	kim := f.enrollSigner("Kim Consultant")
	f.push(kim, f.section(0, "opening", "Mor kom til tiden.", 0))

	stale := f.submission(kim, map[string]string{"opening": "Something else."})
	forged := f.submission(kim, map[string]string{"opening": "Mor kom til tiden."})
	forged.Fields[2].Value = "1" // signed another time than it claims
	res := f.push(kim, stale, forged)
	for i, r := range res {
		if r.Result != v1.Result_RESULT_REJECTED {
			t.Fatalf("submission %d: %v", i, r.Result)
		}
		if strings.Contains(r.Reason, "Mor") {
			t.Fatalf("reason repeats the text: %q", r.Reason)
		}
	}
	if syncer.State(f.report()) != syncer.StateDraft {
		t.Fatal("a refused submission locked the report")
	}
}

// A tablet that was offline edits a report another tablet submitted in the meantime: the edit is
// not applied to the report; its text arrives intact in an addendum draft.
func TestEditOfASubmittedReportBecomesAnAddendumDraft(t *testing.T) {
	f := newFixture(t)
	a := f.enrollSigner("Kim Consultant")
	b := f.enrollSigner("Kim Consultant")
	text := map[string]string{"opening": "Mor kom til tiden."}
	f.push(a, f.section(0, "opening", text["opening"], 0), f.submission(a, text))
	submitted := f.report()

	offline := "MARKER Written offline: Ida var glad hele tiden."
	res := f.push(b, f.section(0, "ending", offline, 0))
	if res[0].Result != v1.Result_RESULT_CONFLICT || !strings.Contains(res[0].Reason, "addendum draft") || strings.Contains(res[0].Reason, "MARKER") {
		t.Fatalf("result %v %q", res[0].Result, res[0].Reason)
	}
	if after := f.report(); after.Seq != submitted.Seq || syncer.Value(after, "ending") != "" {
		t.Fatal("the submitted report changed")
	}
	drafts := must(records.Query(f.ctx, f.store.read, f.store.sealer, `SELECT id, state FROM records WHERE type = ?`, syncer.TypeAddendum))
	if len(drafts) != 1 {
		t.Fatalf("%d addenda", len(drafts))
	}
	d := drafts[0]
	for name, want := range map[string]string{"text": offline, "section": "ending", "state": syncer.StateDraft,
		"report_id": f.reportID, "visit_id": f.visitID, "author": b.id.UserID} {
		if got := syncer.Value(d, name); got != want {
			t.Errorf("draft %s = %q, want %q", name, got, want)
		}
	}
	// The draft is signed later like any document: it becomes a submitted addendum.
	at := f.clock.Now().UnixMilli()
	digest := syncer.DocumentDigest(syncer.TypeAddendum, func(n string) string { return syncer.Value(d, n) })
	sig := ed25519.Sign(b.key, syncer.SubmissionPayload(syncer.TypeAddendum, d.Record.Id, b.id.DeviceID, digest, at))
	res = f.push(b, &v1.Change{Op: v1.Op_OP_UPDATE, Hlc: f.hlc() + 10, SchemaVersion: syncer.SchemaVersion, Record: d.Record,
		Fields: []*v1.FieldEdit{{Name: "digest", Value: digest}, {Name: "signature", Value: syncer.EncodeSignature(sig)}, {Name: "submitted_ms", Value: strconv.FormatInt(at, 10)}}})
	if res[0].Result != v1.Result_RESULT_APPLIED {
		t.Fatalf("signing the draft: %v %s", res[0].Result, res[0].Reason)
	}
	if got := must(records.Load(f.ctx, f.store.read, f.store.sealer, d.Record.Id)); syncer.State(got) != syncer.StateSubmitted {
		t.Fatalf("addendum state %q", syncer.State(got))
	}
}

func TestSupportedVisitWithoutConsentCannotHaveAReport(t *testing.T) {
	f := newFixture(t)
	kim := f.enrollSigner("Kim Consultant")
	start := f.clock.Now().Add(48 * time.Hour)
	visitID := must(f.store.AddVisit(f.ctx, NewVisit{CaseID: f.caseID, Consultant: "Kim Consultant", Kind: syncer.KindSupported, Start: start, End: start.Add(time.Hour)}))
	reps := must(records.Query(f.ctx, f.store.read, f.store.sealer, `SELECT id, state FROM records WHERE visit_id = ? AND type = ?`, visitID, syncer.TypeReport))
	f.reportID = reps[0].Record.Id

	res := f.push(kim, f.submission(kim, nil))
	if res[0].Result != v1.Result_RESULT_REJECTED || !strings.Contains(res[0].Reason, "consented") {
		t.Fatalf("without a decision: %v %q", res[0].Result, res[0].Reason)
	}
	_ = must(f.store.SetDecision(f.ctx, nil, f.caseID, Decision{Kind: syncer.KindSupported, ConsentParents: true}))
	res = f.push(kim, f.submission(kim, nil))
	if res[0].Result != v1.Result_RESULT_APPLIED {
		t.Fatalf("with consent: %v %q", res[0].Result, res[0].Reason)
	}
}

func TestOverdueReportsAreFlagged(t *testing.T) {
	f := newFixture(t)
	// The fixture's supervised visit ends three hours from now.
	overdue := func() int { return len(must(f.store.Reports(f.ctx, nil, f.caseID, FilterOverdue))) }
	f.clock.Add(3*time.Hour + 72*time.Hour)
	if overdue() != 0 {
		t.Fatal("overdue at exactly 72 hours")
	}
	f.clock.Add(time.Millisecond)
	if overdue() != 1 {
		t.Fatal("not overdue after 72 hours")
	}
	f.store.ReportOverdue = 100 * time.Hour
	if overdue() != 0 {
		t.Fatal("the configured time was not used")
	}
	f.store.ReportOverdue = 0
	kim := f.enrollSigner("Kim Consultant")
	f.push(kim, f.submission(kim, nil))
	if overdue() != 0 {
		t.Fatal("a submitted report is overdue")
	}
}

func TestReadsAreLoggedWithTheirPurpose(t *testing.T) {
	f := newFixture(t)
	kim := f.enrollSigner("Kim Consultant")
	f.push(kim, f.submission(kim, nil))
	sara := f.caseworker()
	if _, err := f.store.GetReport(f.ctx, sara, f.reportID, " "); syncer.ErrorCode(err) != syncer.CodeInvalid {
		t.Fatalf("read without a purpose: %v", err)
	}
	f.clock.Add(time.Minute)
	_ = must(f.store.GetCase(f.ctx, sara, f.caseID, "plan the next visit"))
	f.clock.Add(time.Minute)
	_ = must(f.store.GetReport(f.ctx, sara, f.reportID, "prepare the follow-up meeting"))
	child := must(records.Query(f.ctx, f.store.read, f.store.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type = ?`, f.caseID, syncer.TypeChild))
	if len(child) != 1 {
		t.Fatalf("%d child records", len(child))
	}
	var entries []AccessEntry
	changes := 0
	for _, e := range must(f.store.AccessForChild(f.ctx, child[0].Record.Id)) {
		switch e.Kind {
		case AuditCaseRead:
			entries = append(entries, e)
		case AuditCaseChanged:
			changes++ // the case, its visit and the tablet's submission
		}
	}
	if len(entries) != 2 || changes == 0 {
		t.Fatalf("reads = %+v, %d changes", entries, changes)
	}
	want := []AccessEntry{
		{AtMs: 1_800_000_060_000, Kind: AuditCaseRead, CaseID: f.caseID, What: "case " + f.caseID, Purpose: "plan the next visit"},
		{AtMs: 1_800_000_120_000, Kind: AuditCaseRead, CaseID: f.caseID, What: "report " + f.reportID, Purpose: "prepare the follow-up meeting"},
	}
	for i := range want {
		if entries[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, entries[i], want[i])
		}
	}
	var who string
	must(0, f.store.read.QueryRow(`SELECT actor_user FROM audit_log WHERE kind = 'case.read' ORDER BY id LIMIT 1`).Scan(&who))
	if who != sara.UserID {
		t.Fatalf("logged user %q", who)
	}
}

func TestTwoVisitsCannotHoldTheSameRoomAtOnce(t *testing.T) {
	f := newFixture(t)
	start := f.clock.Now().Add(24 * time.Hour)
	add := func(room string, from, to time.Duration) error {
		_, err := f.store.AddVisit(f.ctx, NewVisit{CaseID: f.caseID, Consultant: "Kim Consultant", Kind: syncer.KindSupervised,
			Start: start.Add(from), End: start.Add(to), Room: room})
		return err
	}
	if err := add("Rum 1", 0, 2*time.Hour); err != nil {
		t.Fatal(err)
	}
	err := add("Rum 1", time.Hour, 3*time.Hour)
	if syncer.ErrorCode(err) != syncer.CodeFailedPrecondition || !strings.Contains(err.Error(), "Rum 1") {
		t.Fatalf("double booking: %v", err)
	}
	for _, ok := range []struct {
		room     string
		from, to time.Duration
	}{{"Rum 2", time.Hour, 3 * time.Hour}, {"Rum 1", 2 * time.Hour, 3 * time.Hour}, {"", 0, time.Hour}} {
		if err := add(ok.room, ok.from, ok.to); err != nil {
			t.Fatalf("%s %v–%v: %v", ok.room, ok.from, ok.to, err)
		}
	}
}

func TestAVisitWithASubmittedReportCannotBeCancelled(t *testing.T) {
	f := newFixture(t)
	kim := f.enrollSigner("Kim Consultant")
	f.push(kim, f.submission(kim, nil))
	if err := f.store.CancelVisit(f.ctx, f.visitID); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("cancel: %v", err)
	}
	if syncer.State(f.report()) != syncer.StateSubmitted || f.report().Deleted {
		t.Fatal("the submitted report was touched")
	}
}

// A coordinator changes the checklist template: visits planned from then on start with the new
// version, visits planned before keep theirs.
func TestVisitsKeepTheChecklistVersionTheyStartedWith(t *testing.T) {
	f := newFixture(t)
	_ = must(f.store.AddUser(f.ctx, "Cora Coordinator", []string{"coordinator"}))
	cora := must(f.store.UserByName(f.ctx, "Cora Coordinator"))
	items := []syncer.ChecklistItem{{Phase: "before", Key: "room_ready", Label: "Room ready"}, {Phase: "after", Key: "report_written", Label: "Report written"}}
	if _, err := f.store.SetChecklistTemplate(f.ctx, &f.tablet, items); syncer.ErrorCode(err) != syncer.CodePermissionDenied {
		t.Fatalf("a consultant changed the template: %v", err)
	}
	if _, err := f.store.SetChecklistTemplate(f.ctx, &Identity{UserID: cora.ID, Roles: cora.Roles}, []syncer.ChecklistItem{{Phase: "never", Key: "x", Label: "x"}}); syncer.ErrorCode(err) != syncer.CodeInvalid {
		t.Fatalf("a bad phase: %v", err)
	}
	version := must(f.store.SetChecklistTemplate(f.ctx, &Identity{UserID: cora.ID, Roles: cora.Roles}, items))
	if version != 1 {
		t.Fatalf("version %d", version)
	}
	start := f.clock.Now().Add(72 * time.Hour)
	newVisit := must(f.store.AddVisit(f.ctx, NewVisit{CaseID: f.caseID, Consultant: "Kim Consultant", Kind: syncer.KindSupervised, Start: start, End: start.Add(time.Hour)}))
	count := func(visitID string) (int, string) {
		var n int
		must(0, f.store.read.QueryRow(`SELECT COUNT(*) FROM records WHERE visit_id = ? AND type = ?`, visitID, syncer.TypeChecklistItem).Scan(&n))
		return n, syncer.Value(must(records.Load(f.ctx, f.store.read, f.store.sealer, visitID)), "checklist_version")
	}
	if n, v := count(f.visitID); n != len(syncer.DefaultChecklist) || v != "0" {
		t.Fatalf("the earlier visit: %d items, version %s", n, v)
	}
	if n, v := count(newVisit); n != 2 || v != "1" {
		t.Fatalf("the new visit: %d items, version %s", n, v)
	}
}

// Conditions are versioned: a report points at the version in force when it was submitted, and
// a later version does not move it.
func TestReportsKeepTheConditionsInForce(t *testing.T) {
	f := newFixture(t)
	first, v1n := must2(f.store.SetConditions(f.ctx, nil, f.caseID, "Visit ends at 15:00."))
	kim := f.enrollSigner("Kim Consultant")
	f.push(kim, f.submission(kim, nil))
	_, v2n := must2(f.store.SetConditions(f.ctx, nil, f.caseID, "Visit ends at 16:00."))
	if v1n != 1 || v2n != 2 {
		t.Fatalf("versions %d, %d", v1n, v2n)
	}
	if got := syncer.Value(f.report(), "conditions_id"); got != first {
		t.Fatalf("report points at %q, want the first version %q", got, first)
	}
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}

func TestADraftIsNotDeliveredBeforeItIsSubmitted(t *testing.T) {
	f := newFixture(t)
	sara := f.caseworker()
	if _, err := f.store.GetReport(f.ctx, sara, f.reportID, "curious"); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("a caseworker read a draft: %v", err)
	}
	kim := f.enrollSigner("Kim Consultant")
	if _, err := f.store.GetReport(f.ctx, kim.id, f.reportID, "write the report"); err != nil {
		t.Fatalf("the consultant could not read the draft: %v", err)
	}
	if err := f.store.Acknowledge(f.ctx, sara, f.reportID); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("a draft was acknowledged: %v", err)
	}
}

// Marks for the parents' copy change with the draft and are fixed with the submission, at the
// server too (a tablet that skips the library's check): an observation's mark is refused once
// its visit's report is submitted, a section's mark is dropped like any edit of a submitted report.
func TestMarksAreFixedWhenTheReportIsSubmitted(t *testing.T) {
	f := newFixture(t)
	a := f.enrollSigner("Kim Consultant")
	obs := f.observation(0, "Ida siger: jeg vil hjem.")
	mark := func(value string) *v1.Change {
		return &v1.Change{Op: v1.Op_OP_UPDATE, Hlc: f.hlc() + uint64(a.seq+1), SchemaVersion: syncer.SchemaVersion, Record: obs.Record,
			Fields: []*v1.FieldEdit{{Name: syncer.MarkField, Value: value}}}
	}
	res := f.push(a, obs, mark(syncer.MarkChildWords), f.section(0, "opening__mark", syncer.MarkPlacementAddress, 0))
	for i, r := range res {
		if r.Result != v1.Result_RESULT_APPLIED {
			t.Fatalf("change %d: %v %s", i, r.Result, r.Reason)
		}
	}
	if got := syncer.Value(must(records.Load(f.ctx, f.store.read, f.store.sealer, obs.Record.Id)), syncer.MarkField); got != syncer.MarkChildWords {
		t.Fatalf("observation mark %q", got)
	}
	f.push(a, f.submission(a, map[string]string{}))
	if syncer.State(f.report()) != syncer.StateSubmitted {
		t.Fatal("not submitted")
	}
	res = f.push(a, mark(""), f.section(0, "opening__mark", "", 0))
	if res[0].Result != v1.Result_RESULT_REJECTED || !strings.Contains(res[0].Reason, "submitted") {
		t.Fatalf("observation mark after submission: %v %s", res[0].Result, res[0].Reason)
	}
	if got := syncer.Value(must(records.Load(f.ctx, f.store.read, f.store.sealer, obs.Record.Id)), syncer.MarkField); got != syncer.MarkChildWords {
		t.Fatalf("observation mark changed after submission to %q", got)
	}
	if got := syncer.Value(f.report(), "opening__mark"); got != syncer.MarkPlacementAddress {
		t.Fatalf("section mark changed after submission to %q", got)
	}
}
