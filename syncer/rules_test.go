package syncer

import (
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// A role holds every record type of a case or none, so Pull's scope changes are whole-case
// snapshots and purges (HoldsCase). A rule holding only some types, or some states, needs
// per-record purges first.
func TestHoldingIsWholeCases(t *testing.T) {
	for _, role := range CaseRoles {
		var held []string
		for typ := range Schema {
			for _, state := range []string{StateDraft, StateSubmitted, StateAcknowledged} {
				if Allowed([]string{role}, typ, state, OpHold) {
					held = append(held, typ+"/"+state)
				}
			}
		}
		if len(held) != 0 && len(held) != 3*len(Schema) {
			t.Fatalf("%s holds part of a case: %v", role, held)
		}
	}
	for _, p := range Rules {
		if p.Op == OpHold && p.States != nil {
			t.Fatalf("a hold rule for %s depends on the record's state", p.Type)
		}
	}
}

// The rules the product promises, spelled out: the table may change, these may not without a
// decision.
func TestRulesKeepTheProductsPromises(t *testing.T) {
	for _, c := range []struct {
		roles  []string
		typ    string
		state  string
		op     Operation
		fields []string
		want   bool
	}{
		{[]string{RoleConsultant}, TypeReport, StateDraft, OpRead, nil, true},
		{[]string{RoleCaseworker}, TypeReport, StateDraft, OpRead, nil, false},
		{[]string{RoleCoordinator}, TypeAddendum, StateDraft, OpRead, nil, false},
		{[]string{RoleCaseworker}, TypeReport, StateSubmitted, OpRead, nil, true},
		{[]string{RoleConsultant}, TypeReport, StateDraft, OpHold, nil, true},
		{[]string{RoleCaseworker}, TypeReport, StateSubmitted, OpHold, nil, false},
		{[]string{RoleCoordinator}, TypeVisit, "", OpHold, nil, false},
		{[]string{RoleConsultant}, TypeObservation, "", OpCreate, []string{"visit_id", "at_ms", "text"}, true},
		{[]string{RoleCaseworker}, TypeObservation, "", OpCreate, []string{"visit_id", "at_ms", "text"}, false},
		{[]string{RoleCaseworker}, TypeReport, StateDraft, OpUpdate, []string{"opening"}, false},
		{[]string{RoleCoordinator}, TypeChecklistItem, "", OpUpdate, []string{"checked"}, false},
		{[]string{RoleConsultant}, TypeChecklistItem, "", OpUpdate, []string{"checked"}, true},
		{[]string{RoleConsultant}, TypeChecklistItem, "", OpUpdate, []string{"checked", "label"}, false},
		{[]string{RoleCaseworker}, TypeReport, StateDraft, OpSubmit, []string{"submitted_ms", "digest", "signature"}, false},
		{[]string{RoleConsultant}, TypeReport, StateDraft, OpSubmit, []string{"submitted_ms", "digest", "signature"}, true},
		{[]string{RoleCaseworker}, TypeReport, StateSubmitted, OpAcknowledge, nil, true},
		{[]string{RoleConsultant}, TypeReport, StateSubmitted, OpAcknowledge, nil, false},
		{[]string{RoleCaseworker, RoleConsultant}, TypeReport, StateDraft, OpUpdate, []string{"opening"}, true},
		// Marks for the parents' copy: only a case's consultants set them, and an observation's
		// mark is the only thing about it that changes.
		{[]string{RoleConsultant}, TypeObservation, "", OpUpdate, []string{MarkField}, true},
		{[]string{RoleConsultant}, TypeObservation, "", OpUpdate, []string{"text"}, false},
		{[]string{RoleCaseworker}, TypeObservation, "", OpUpdate, []string{MarkField}, false},
		{[]string{RoleConsultant}, TypeReport, StateDraft, OpUpdate, []string{"opening", "opening__mark"}, true},
		{[]string{RoleCaseworker}, TypeReport, StateDraft, OpUpdate, []string{"opening__mark"}, false},
		{[]string{RoleCoordinator}, TypeReport, StateDraft, OpUpdate, []string{"opening__mark"}, false},
		{[]string{"admin"}, TypeCase, "", OpRead, nil, false},
		{nil, TypeCase, "", OpRead, nil, false},
	} {
		if got := Allowed(c.roles, c.typ, c.state, c.op, c.fields...); got != c.want {
			t.Errorf("%v %s %s/%s %v: allowed %v, want %v", c.roles, c.op, c.typ, c.state, c.fields, got, c.want)
		}
	}
	if HoldsCase([]string{RoleCaseworker, RoleCoordinator}) || !HoldsCase([]string{RoleCaseworker, RoleConsultant}) {
		t.Fatal("only a consultant's devices hold a case")
	}
}

// A refusal says who may do it and what the pusher's part is, and names no value.
func TestMayPushExplainsARefusal(t *testing.T) {
	c := &v1.Change{DeviceSeq: 7, Op: v1.Op_OP_UPDATE, Record: &v1.RecordRef{Type: TypeReport, Id: NewID(), CaseId: NewID()},
		Fields: []*v1.FieldEdit{{Name: "opening", Value: "SECRET words"}}}
	cur := &v1.CommittedChange{Record: c.Record}
	got := MayPush([]string{RoleCaseworker}, c, cur)
	want := `Change 7 was not applied: only a consultant of the case may change "opening" of a report; this tablet's user has the part of caseworker in the case.`
	if got != want {
		t.Fatalf("reason %q, want %q", got, want)
	}
	if MayPush([]string{RoleConsultant}, c, cur) != "" {
		t.Fatal("a consultant may write a section")
	}
	sub := &v1.Change{DeviceSeq: 8, Op: v1.Op_OP_UPDATE, Record: c.Record, Fields: []*v1.FieldEdit{{Name: "submitted_ms"}, {Name: "digest"}, {Name: "signature"}}}
	if MayPush([]string{RoleCoordinator}, sub, cur) == "" {
		t.Fatal("a coordinator submitted a report")
	}
}
