package syncer

import (
	"crypto/ed25519"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

const visitID = "01900000-0000-7000-8000-000000000004"

func submittedReport(state string) *v1.CommittedChange {
	return record(TypeReport, reportID, 9, false,
		&v1.Field{Name: "interaction", Value: "Submitted text.", Rev: 5},
		&v1.Field{Name: "state", Value: state, Rev: 9},
		&v1.Field{Name: "visit_id", Value: visitID, Rev: 1},
	)
}

// An edit made offline to a report someone else submitted changes nothing in the report; the
// text arrives whole as an addendum draft for the same report and section.
func TestEditOfSubmittedReportBecomesAddendumDraft(t *testing.T) {
	for _, state := range []string{StateSubmitted, StateAcknowledged} {
		t.Run(state, func(t *testing.T) {
			text := "Written offline after the report was submitted elsewhere."
			c := update(TypeReport, reportID, 300, &v1.FieldEdit{Name: "interaction", Value: text, BaseRev: 5})
			out, err := Merge(submittedReport(state), c, "dev-b", fakeHistory{})
			if err != nil {
				t.Fatal(err)
			}
			if out.Effect != nil {
				t.Fatalf("the submitted report changed: %v", out.Effect)
			}
			if out.Result != v1.Result_RESULT_CONFLICT || !strings.Contains(out.Reason, "addendum draft") {
				t.Fatalf("result %v, reason %q", out.Result, out.Reason)
			}
			if len(out.Addenda) != 1 {
				t.Fatalf("%d addenda, want 1", len(out.Addenda))
			}
			a := out.Addenda[0]
			want := map[string]string{"report_id": reportID, "visit_id": visitID, "section": "interaction", "state": StateDraft, "text": text}
			for name, value := range want {
				if got := Value(a, name); got != value {
					t.Errorf("addendum %s = %q, want %q", name, got, value)
				}
			}
			if a.Record.Type != TypeAddendum || a.Record.CaseId != caseID || !ValidID(a.Record.Id) {
				t.Errorf("addendum ref %v", a.Record)
			}
			if FieldOf(a, "text").DeviceId != "dev-b" {
				t.Errorf("the addendum does not name the device that wrote it")
			}
		})
	}
}

func TestLockedDocumentRefusesASecondSubmissionAndIgnoresUnchangedText(t *testing.T) {
	sub := update(TypeReport, reportID, 300,
		&v1.FieldEdit{Name: "digest", Value: strings.Repeat("ab", 32)},
		&v1.FieldEdit{Name: "signature", Value: "x"},
		&v1.FieldEdit{Name: "submitted_ms", Value: "1"})
	out, _ := Merge(submittedReport(StateSubmitted), sub, "dev-b", fakeHistory{})
	if out.Result != v1.Result_RESULT_REJECTED {
		t.Fatalf("second submission: %v", out.Result)
	}
	same := update(TypeReport, reportID, 300, &v1.FieldEdit{Name: "interaction", Value: "Submitted text.", BaseRev: 1})
	out, _ = Merge(submittedReport(StateSubmitted), same, "dev-b", fakeHistory{})
	if out.Result != v1.Result_RESULT_MERGED || out.Effect != nil || len(out.Addenda) != 0 {
		t.Fatalf("unchanged text: %v %v %d", out.Result, out.Effect, len(out.Addenda))
	}
	// A draft is not locked: the edit applies.
	draft := update(TypeReport, reportID, 300, &v1.FieldEdit{Name: "interaction", Value: "New.", BaseRev: 5})
	out, _ = Merge(submittedReport(""), draft, "dev-b", fakeHistory{})
	if out.Result != v1.Result_RESULT_APPLIED || Value(out.Effect, "interaction") != "New." {
		t.Fatalf("draft edit: %v", out.Result)
	}
}

func TestConsentRule(t *testing.T) {
	visit := func(kind string) *v1.CommittedChange {
		return record(TypeVisit, visitID, 1, false, &v1.Field{Name: "kind", Value: kind})
	}
	decision := func(fields ...string) *v1.CommittedChange {
		d := record(TypeDecision, itemID, 1, false)
		for i := 0; i < len(fields); i += 2 {
			d.Fields = append(d.Fields, &v1.Field{Name: fields[i], Value: fields[i+1]})
		}
		return d
	}
	tests := []struct {
		name     string
		visit    *v1.CommittedChange
		decision *v1.CommittedChange
		ok       bool
	}{
		{"supervised needs no consent", visit(KindSupervised), nil, true},
		{"supported without a decision", visit(KindSupported), nil, false},
		{"supported without consent", visit(KindSupported), decision("consent_parents", "false"), false},
		{"supported with the parents' consent", visit(KindSupported), decision("consent_parents", "true"), true},
		{"young person did not consent", visit(KindSupported), decision("consent_parents", "true", "young_person", "true"), false},
		{"young person consented", visit(KindSupported), decision("consent_parents", "true", "young_person", "true", "consent_young_person", "true"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WrittenDescriptionsAllowed(tt.visit, tt.decision)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok = %v", err, tt.ok)
			}
			if err != nil && ErrorCode(err) != CodeFailedPrecondition {
				t.Fatalf("code %q", ErrorCode(err))
			}
		})
	}
}

func TestDecisionFor(t *testing.T) {
	older := record(TypeDecision, "01900000-0000-7000-8000-0000000000a1", 1, false, &v1.Field{Name: "kind", Value: KindSupported})
	newer := record(TypeDecision, "01900000-0000-7000-8000-0000000000a2", 1, false, &v1.Field{Name: "kind", Value: KindSupported})
	other := record(TypeDecision, "01900000-0000-7000-8000-0000000000a3", 1, false, &v1.Field{Name: "kind", Value: KindSupervised})
	visit := record(TypeVisit, visitID, 1, false, &v1.Field{Name: "kind", Value: KindSupported})
	if got := DecisionFor(visit, []*v1.CommittedChange{older, newer, other}); got != newer {
		t.Fatalf("picked %v, want the newest supported decision", got.GetRecord().GetId())
	}
	visit.Fields = append(visit.Fields, &v1.Field{Name: "decision_id", Value: older.Record.Id})
	if got := DecisionFor(visit, []*v1.CommittedChange{older, newer, other}); got != older {
		t.Fatalf("picked %v, want the decision the visit names", got.GetRecord().GetId())
	}
}

func TestReportOverdue(t *testing.T) {
	const end, after = 1_000_000, DefaultReportOverdueMs
	visit := func(kind string) *v1.CommittedChange {
		return record(TypeVisit, visitID, 1, false, &v1.Field{Name: "end_ms", Value: strconv.Itoa(end)}, &v1.Field{Name: "kind", Value: kind})
	}
	tests := []struct {
		name   string
		visit  *v1.CommittedChange
		report *v1.CommittedChange
		now    int64
		want   bool
	}{
		{"supervised, draft, within 72 hours", visit(KindSupervised), submittedReport(""), end + after, false},
		{"supervised, draft, past 72 hours", visit(KindSupervised), submittedReport(""), end + after + 1, true},
		{"supervised, submitted", visit(KindSupervised), submittedReport(StateSubmitted), end + after + 1, false},
		{"supported, draft", visit(KindSupported), submittedReport(""), end + after + 1, false},
	}
	for _, tt := range tests {
		if got := ReportOverdue(tt.visit, tt.report, after, tt.now); got != tt.want {
			t.Errorf("%s: overdue = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDocumentDigestCoversEverySection(t *testing.T) {
	fields := map[string]string{}
	base := DocumentDigest(TypeReport, func(n string) string { return fields[n] })
	seen := map[string]bool{base: true}
	for _, s := range ReportSections {
		fields = map[string]string{s: "x"}
		d := DocumentDigest(TypeReport, func(n string) string { return fields[n] })
		if seen[d] {
			t.Fatalf("section %s does not change the digest", s)
		}
		seen[d] = true
	}
}

func TestValidateSubmission(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	digest := strings.Repeat("ab", 32)
	sig := EncodeSignature(ed25519.Sign(priv, SubmissionPayload(TypeReport, reportID, "dev", digest, 1)))
	sub := func(extra ...*v1.FieldEdit) *v1.Change {
		c := update(TypeReport, reportID, uint64(MakeHLC(1000, 0)),
			&v1.FieldEdit{Name: "digest", Value: digest},
			&v1.FieldEdit{Name: "signature", Value: sig},
			&v1.FieldEdit{Name: "submitted_ms", Value: "1"})
		c.Fields = append(c.Fields, extra...)
		return c
	}
	if err := ValidateChange(sub(), 1000); err != nil {
		t.Fatalf("valid submission refused: %v", err)
	}
	if err := ValidateChange(sub(&v1.FieldEdit{Name: "opening", Value: "MARKER"}), 1000); ErrorCode(err) != CodeInvalid {
		t.Fatalf("submission with a section: %v", err)
	}
	c := sub()
	c.Fields = c.Fields[1:]
	if err := ValidateChange(c, 1000); ErrorCode(err) != CodeInvalid {
		t.Fatalf("submission without a digest: %v", err)
	}
	c = sub()
	c.Fields[1].Value = "bm90IGEgc2lnbmF0dXJl"
	if err := ValidateChange(c, 1000); ErrorCode(err) != CodeInvalid {
		t.Fatalf("malformed signature: %v", err)
	}
	c = update(TypeReport, reportID, uint64(MakeHLC(1000, 0)), &v1.FieldEdit{Name: "state", Value: StateAcknowledged})
	if err := ValidateChange(c, 1000); ErrorCode(err) != CodeInvalid {
		t.Fatalf("a tablet set the state: %v", err)
	}
}

// What the tablet has no business changing is read-only there: the decision, the conditions,
// the goals, the child's wishes, and the visit's plan; the consultant records the visit's actual
// times and who was present.
func TestTabletsCannotChangeTheCase(t *testing.T) {
	now := int64(1000)
	edit := func(op v1.Op, typ, field, value string) error {
		c := update(typ, itemID, uint64(MakeHLC(now, 0)), &v1.FieldEdit{Name: field, Value: value})
		c.Op = op
		return ValidateChange(c, now)
	}
	for _, tt := range []struct {
		typ, field string
	}{
		{TypeDecision, "consent_parents"}, {TypeConditions, "text"}, {TypeGoal, "text"}, {TypeWish, "text"},
		{TypeChild, "name"}, {TypeVisit, "kind"}, {TypeVisit, "room"}, {TypeVisit, "start_ms"}, {TypeParentComment, "text"},
	} {
		if err := edit(v1.Op_OP_UPDATE, tt.typ, tt.field, "1"); ErrorCode(err) != CodeInvalid {
			t.Errorf("a tablet set %s.%s: %v", tt.typ, tt.field, err)
		}
		if err := edit(v1.Op_OP_CREATE, tt.typ, tt.field, "1"); ErrorCode(err) != CodeInvalid {
			t.Errorf("a tablet created a %s: %v", tt.typ, err)
		}
	}
	for _, field := range []string{"actual_start_ms", "actual_end_ms", "present"} {
		if err := edit(v1.Op_OP_UPDATE, TypeVisit, field, "1"); err != nil {
			t.Errorf("visit.%s: %v", field, err)
		}
	}
}

// Changes from tablets of the first schema version still count.
func TestVersionOneChangesAreAccepted(t *testing.T) {
	c := update(TypeReport, reportID, uint64(MakeHLC(1000, 0)), &v1.FieldEdit{Name: "opening", Value: "x"})
	c.SchemaVersion = 1
	if err := ValidateChange(c, 1000); err != nil {
		t.Fatal(err)
	}
}
