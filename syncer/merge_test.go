package syncer

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// fakeHistory is an in-memory change log for merge tests.
type fakeHistory struct {
	values map[int64]map[string]string // rev -> field -> value
	own    map[int64]ownEdit           // device seq -> own edit
}

type ownEdit struct {
	value string
	rev   int64
}

func (h fakeHistory) ValueAt(_, field string, rev int64) (string, error) {
	return h.values[rev][field], nil
}

func (h fakeHistory) OwnEdit(_ string, seq int64, _, field string) (string, int64, bool, error) {
	e, ok := h.own[seq]
	return e.value, e.rev, ok, nil
}

const (
	caseID   = "01900000-0000-7000-8000-000000000001"
	reportID = "01900000-0000-7000-8000-000000000002"
	itemID   = "01900000-0000-7000-8000-000000000003"
)

func record(typ, id string, seq int64, deleted bool, fields ...*v1.Field) *v1.CommittedChange {
	return &v1.CommittedChange{Seq: seq, Deleted: deleted, Record: &v1.RecordRef{Type: typ, Id: id, CaseId: caseID}, Fields: fields}
}

func update(typ, id string, hlc uint64, edits ...*v1.FieldEdit) *v1.Change {
	return &v1.Change{DeviceSeq: 7, Op: v1.Op_OP_UPDATE, Hlc: hlc, SchemaVersion: SchemaVersion,
		Record: &v1.RecordRef{Type: typ, Id: id, CaseId: caseID}, Fields: edits}
}

func TestMergeRules(t *testing.T) {
	hist := fakeHistory{
		values: map[int64]map[string]string{5: {"interaction": "Mor leger med Ida. De bygger med klodser. Ida griner."}},
		own:    map[int64]ownEdit{6: {value: "Mor leger med Ida. De bygger med klodser.", rev: 9}},
	}
	report := func(value string, rev int64) *v1.CommittedChange {
		return record(TypeReport, reportID, rev, false, &v1.Field{Name: "interaction", Value: value, Rev: rev, Hlc: 100, DeviceId: "dev-a"})
	}
	item := func(checked string, hlc uint64) *v1.CommittedChange {
		return record(TypeChecklistItem, itemID, 8, false, &v1.Field{Name: "checked", Value: checked, Rev: 8, Hlc: hlc, DeviceId: "dev-a"})
	}
	tests := []struct {
		name       string
		cur        *v1.CommittedChange
		change     *v1.Change
		result     v1.Result
		value      string // the field's value after the effect; "" when there is no effect
		conflicts  int
		otherValue string // the first conflict record's other_value
	}{
		{
			name:   "fast-forward when the base is current",
			cur:    report("Mor leger med Ida. De bygger med klodser. Ida griner.", 5),
			change: update(TypeReport, reportID, 200, &v1.FieldEdit{Name: "interaction", Value: "Mor leger med Ida.", BaseRev: 5}),
			result: v1.Result_RESULT_APPLIED, value: "Mor leger med Ida.",
		},
		{
			// After a server restore: what the editor saw (here a sentence another tablet wrote,
			// then lost with the restore) is unknown, so even an edit whose base looks current
			// is kept for a person, never fast-forwarded or merged — merging a re-sent deletion
			// first would let the lost writing it deleted come back when its author re-sends it.
			name:   "an edit whose base a restore lost is kept as a conflict",
			cur:    record(TypeReport, reportID, 0, false),
			change: update(TypeReport, reportID, 200, &v1.FieldEdit{Name: "interaction", Value: "", BaseLost: true}),
			result: v1.Result_RESULT_CONFLICT, conflicts: 1, otherValue: "",
		},
		{
			name:   "a register edit whose base a restore lost is concurrent: the later clock wins",
			cur:    item("true", 300),
			change: update(TypeChecklistItem, itemID, 200, &v1.FieldEdit{Name: "checked", Value: "false", BaseRev: 8, BaseLost: true}),
			result: v1.Result_RESULT_CONFLICT, conflicts: 1, otherValue: "false",
		},
		{
			name:   "non-overlapping text edits merge",
			cur:    report("Mor leger med Ida. De bygger med klodser. Ida griner højt.", 8),
			change: update(TypeReport, reportID, 200, &v1.FieldEdit{Name: "interaction", Value: "Far leger med Ida. De bygger med klodser. Ida griner.", BaseRev: 5}),
			result: v1.Result_RESULT_MERGED, value: "Far leger med Ida. De bygger med klodser. Ida griner højt.",
		},
		{
			name:   "overlapping text edits keep both sides",
			cur:    report("Mor leger med Ida. De bygger et tårn. Ida griner.", 8),
			change: update(TypeReport, reportID, 200, &v1.FieldEdit{Name: "interaction", Value: "Mor leger med Ida. De tegner sammen. Ida griner.", BaseRev: 5}),
			result: v1.Result_RESULT_CONFLICT, conflicts: 1, otherValue: "Mor leger med Ida. De tegner sammen. Ida griner.",
		},
		{
			name:   "continuing one's own committed edit is not concurrent",
			cur:    report("Mor leger med Ida. De bygger med klodser.", 9),
			change: update(TypeReport, reportID, 200, &v1.FieldEdit{Name: "interaction", Value: "Helt ny tekst.", BaseRev: 5, AfterSeq: 6}),
			result: v1.Result_RESULT_APPLIED, value: "Helt ny tekst.",
		},
		{
			name:   "continuing one's own edit after someone else's is merged against one's own text",
			cur:    report("Mor leger med Ida. De bygger med klodser. Tilføjet af en anden.", 11),
			change: update(TypeReport, reportID, 200, &v1.FieldEdit{Name: "interaction", Value: "Far leger med Ida. De bygger med klodser.", BaseRev: 5, AfterSeq: 6}),
			result: v1.Result_RESULT_MERGED, value: "Far leger med Ida. De bygger med klodser. Tilføjet af en anden.",
		},
		{
			name:   "register: the later clock wins and the loser is kept",
			cur:    item("false", 100),
			change: update(TypeChecklistItem, itemID, 300, &v1.FieldEdit{Name: "checked", Value: "true", BaseRev: 3}),
			result: v1.Result_RESULT_MERGED, value: "true", conflicts: 1, otherValue: "false",
		},
		{
			name:   "register: an earlier clock loses and is kept",
			cur:    item("false", 500),
			change: update(TypeChecklistItem, itemID, 300, &v1.FieldEdit{Name: "checked", Value: "true", BaseRev: 3}),
			result: v1.Result_RESULT_CONFLICT, conflicts: 1, otherValue: "true",
		},
		{
			name:   "an edit restores a deleted record",
			cur:    record(TypeReport, reportID, 9, true, &v1.Field{Name: "interaction", Value: "gammel", Rev: 5}),
			change: update(TypeReport, reportID, 200, &v1.FieldEdit{Name: "interaction", Value: "ny", BaseRev: 5}),
			result: v1.Result_RESULT_MERGED, value: "ny",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Merge(tt.cur, tt.change, "dev-b", hist)
			if err != nil {
				t.Fatal(err)
			}
			if out.Result != tt.result {
				t.Fatalf("result = %v, want %v (reason %q)", out.Result, tt.result, out.Reason)
			}
			name := tt.change.Fields[0].Name
			switch {
			case tt.value == "" && out.Effect != nil && FieldOf(out.Effect, name) != nil:
				t.Fatalf("effect sets %s; want the current value kept", name)
			case tt.value != "":
				if out.Effect == nil || out.Effect.Deleted || Value(out.Effect, name) != tt.value {
					t.Fatalf("effect = %v, want %s = %q", out.Effect, name, tt.value)
				}
			}
			if len(out.Conflicts) != tt.conflicts {
				t.Fatalf("%d conflict records, want %d", len(out.Conflicts), tt.conflicts)
			}
			if tt.conflicts > 0 {
				c := out.Conflicts[0]
				if c.Record.Type != TypeConflict || c.Record.CaseId != caseID || Value(c, "record_id") != tt.cur.Record.Id {
					t.Fatalf("conflict record %v does not point at the record", c)
				}
				if got := Value(c, "other_value"); got != tt.otherValue {
					t.Fatalf("conflict keeps %q, want %q", got, tt.otherValue)
				}
			}
			if strings.Contains(out.Reason, "Ida") {
				t.Fatalf("reason %q repeats what a person wrote", out.Reason)
			}
		})
	}
}

func TestMergeDeleteLosesToUnseenEdit(t *testing.T) {
	cur := record(TypeVisit, reportID, 12, false, &v1.Field{Name: "place", Value: "Rum 2", Rev: 12})
	del := &v1.Change{DeviceSeq: 1, Op: v1.Op_OP_DELETE, Hlc: 10, BaseRev: 10, Record: cur.Record}
	out, err := Merge(cur, del, ServerDevice, fakeHistory{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result != v1.Result_RESULT_CONFLICT || out.Effect != nil {
		t.Fatalf("a delete of an edited record: result %v effect %v; want the edit kept", out.Result, out.Effect)
	}
	del.BaseRev = 12
	out, _ = Merge(cur, del, ServerDevice, fakeHistory{})
	if out.Effect == nil || !out.Effect.Deleted {
		t.Fatalf("a delete of a record as last seen must apply, got %v", out)
	}
}

func TestMergeRejects(t *testing.T) {
	cur := record(TypeReport, reportID, 5, false)
	create := &v1.Change{DeviceSeq: 1, Op: v1.Op_OP_CREATE, Hlc: 10, Record: cur.Record}
	if out, _ := Merge(cur, create, "d", fakeHistory{}); out.Result != v1.Result_RESULT_REJECTED {
		t.Fatalf("creating an existing record: %v", out.Result)
	}
	upd := update(TypeReport, reportID, 10, &v1.FieldEdit{Name: "opening", Value: "x"})
	if out, _ := Merge(nil, upd, "d", fakeHistory{}); out.Result != v1.Result_RESULT_REJECTED {
		t.Fatalf("updating a missing record: %v", out.Result)
	}
	wrongCase := update(TypeReport, reportID, 10, &v1.FieldEdit{Name: "opening", Value: "x"})
	wrongCase.Record = &v1.RecordRef{Type: TypeReport, Id: reportID, CaseId: itemID}
	if out, _ := Merge(cur, wrongCase, "d", fakeHistory{}); out.Result != v1.Result_RESULT_REJECTED {
		t.Fatalf("a change naming another case: %v", out.Result)
	}
}

func TestApplyCommittedKeepsFieldsSorted(t *testing.T) {
	rec := ApplyCommitted(nil, record(TypeReport, reportID, 3, false, &v1.Field{Name: "opening", Value: "b", Rev: 3}, &v1.Field{Name: "context", Value: "a", Rev: 3}))
	rec = ApplyCommitted(rec, record(TypeReport, reportID, 4, false, &v1.Field{Name: "ending", Value: "c", Rev: 4}))
	var names []string
	for _, f := range rec.Fields {
		names = append(names, f.Name)
	}
	if strings.Join(names, ",") != "context,ending,opening" || rec.Seq != 4 {
		t.Fatalf("fields %v seq %d", names, rec.Seq)
	}
}

func TestDigestDependsOnEveryPart(t *testing.T) {
	base := record(TypeReport, reportID, 3, false, &v1.Field{Name: "opening", Value: "b", Rev: 3, Hlc: 1, DeviceId: "d"})
	sum := func(rec *v1.CommittedChange) string {
		d := NewDigester()
		d.Add(rec)
		return d.Sum()
	}
	want := sum(base)
	if sum(ApplyCommitted(nil, base)) != want {
		t.Fatal("digest of an equal record differs")
	}
	variants := []*v1.CommittedChange{
		record(TypeReport, reportID, 3, true, &v1.Field{Name: "opening", Value: "b", Rev: 3, Hlc: 1, DeviceId: "d"}),
		record(TypeReport, reportID, 3, false, &v1.Field{Name: "opening", Value: "c", Rev: 3, Hlc: 1, DeviceId: "d"}),
		record(TypeReport, reportID, 3, false, &v1.Field{Name: "opening", Value: "b", Rev: 4, Hlc: 1, DeviceId: "d"}),
		record(TypeReport, reportID, 3, false, &v1.Field{Name: "openin", Value: "gb", Rev: 3, Hlc: 1, DeviceId: "d"}),
	}
	for i, v := range variants {
		if sum(v) == want {
			t.Fatalf("variant %d has the same digest", i)
		}
	}
}

// Committed changes applied out of order, or twice, leave the same state as in order: what a
// snapshot followed by the log it overlaps needs.
func TestApplyCommittedIsOrderInsensitive(t *testing.T) {
	changes := []*v1.CommittedChange{
		record(TypeReport, reportID, 3, false, &v1.Field{Name: "opening", Value: "a", Rev: 3}),
		record(TypeReport, reportID, 5, false, &v1.Field{Name: "opening", Value: "b", Rev: 5}, &v1.Field{Name: "ending", Value: "x", Rev: 5}),
		record(TypeReport, reportID, 7, true),
		record(TypeReport, reportID, 8, false, &v1.Field{Name: "ending", Value: "y", Rev: 8}),
	}
	var inOrder *v1.CommittedChange
	for _, c := range changes {
		inOrder = ApplyCommitted(inOrder, c)
	}
	for _, order := range [][]int{{3, 2, 1, 0}, {1, 0, 3, 2}, {0, 1, 2, 3, 1, 0, 2}, {2, 3, 0, 1}} {
		var got *v1.CommittedChange
		for _, i := range order {
			got = ApplyCommitted(got, changes[i])
		}
		if !proto.Equal(got, inOrder) {
			t.Fatalf("order %v gives %v, in order %v", order, got, inOrder)
		}
	}
	if inOrder.Deleted || Value(inOrder, "opening") != "b" || Value(inOrder, "ending") != "y" || inOrder.Seq != 8 {
		t.Fatalf("state %v", inOrder)
	}
}
