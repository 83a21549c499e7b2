package syncer

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// The rules of who may do what with a case's records: one table, Rules, consulted by every door
// — the server's RPC handlers and pages (through server.authorize), Push (MayPush), Pull
// (HoldsCase), the digest (HeldDigest) and the shape check both ends run (ValidateChange derives
// which fields a change may carry at all from it). It lives here, in the shared core, so the
// tablet reads the same table as the server; nothing else in the code states a role rule.

// The roles a person can hold in a case (case_members.role). The admin role holds no case role.
const (
	RoleConsultant  = "consultant"
	RoleCaseworker  = "caseworker"
	RoleCoordinator = "coordinator"
)

// CaseRoles are the roles a person can hold in a case.
var CaseRoles = []string{RoleConsultant, RoleCaseworker, RoleCoordinator}

// Operation is something a person does with a record.
type Operation string

const (
	// OpRead: read through a logged RPC or page, with a purpose (GetCase, GetReport, the pages).
	OpRead Operation = "read"
	// OpHold: hold the record on a device, delivered by Pull. Holding is decided per case (see
	// HoldsCase): a role holds every record of a case or none.
	OpHold Operation = "hold"
	// OpCreate: create the record with the listed fields, over Push or through the RPC that
	// makes it (Fields nil: only through the server's own operation).
	OpCreate Operation = "create"
	// OpUpdate: set the listed fields of an existing record over Push.
	OpUpdate Operation = "update"
	// OpSubmit: sign and submit a document (a change setting submitted_ms, digest, signature).
	OpSubmit Operation = "submit"
	// OpAcknowledge: acknowledge a delivered report.
	OpAcknowledge Operation = "acknowledge"
	// OpEdit: set up the case through the case operations (CaseService, the case pages, admin).
	OpEdit Operation = "edit"
)

// Permission is one row of the table: the roles that may do Op to records of Type in one of
// States (nil: in any state), setting only Fields (create and update).
type Permission struct {
	Type   string
	States []string
	Op     Operation
	Fields []string
	Roles  []string
}

// The groups of roles the table names.
var (
	everyCaseRole = CaseRoles
	consultants   = []string{RoleConsultant}
	caseworkers   = []string{RoleCaseworker}
	planners      = []string{RoleCaseworker, RoleCoordinator}
	delivered     = []string{StateSubmitted, StateAcknowledged}
	drafts        = []string{StateDraft}
	submission    = []string{"submitted_ms", "digest", "signature"}
)

// caseTypes are the records that set up a case; planners edit them, every case role reads them.
var caseTypes = []string{TypeCase, TypeChild, TypeDecision, TypeConditions, TypeGoal, TypeWish, TypeVisit, TypeChecklistItem}

// Rules is the table. Consultants hold their cases offline and do the visit's work there;
// caseworkers and coordinators work online through logged reads with a purpose, so their devices
// hold no case records; an admin holds no case role and sees no case data.
var Rules = func() []Permission {
	var r []Permission
	for _, t := range caseTypes {
		r = append(r, Permission{Type: t, Op: OpRead, Roles: everyCaseRole})
		if t != TypeChecklistItem {
			r = append(r, Permission{Type: t, Op: OpEdit, Roles: planners})
		}
	}
	for _, t := range []string{TypeReport, TypeAddendum} {
		// A draft is the consultant's work in progress: delivered when submitted.
		r = append(r,
			Permission{Type: t, States: drafts, Op: OpRead, Roles: consultants},
			Permission{Type: t, States: delivered, Op: OpRead, Roles: everyCaseRole})
	}
	r = append(r,
		Permission{Type: TypeObservation, Op: OpRead, Roles: everyCaseRole},
		Permission{Type: TypeParentComment, Op: OpRead, Roles: everyCaseRole},
		Permission{Type: TypeConflict, Op: OpRead, Roles: consultants},
	)
	for t := range Schema {
		r = append(r, Permission{Type: t, Op: OpHold, Roles: consultants})
	}
	r = append(r,
		// Creating a case is not about a case the caller is part of: it needs the role alone.
		Permission{Type: TypeCase, Op: OpCreate, Roles: planners},
		Permission{Type: TypeObservation, Op: OpCreate, Fields: []string{"visit_id", "at_ms", "text"}, Roles: consultants},
		Permission{Type: TypeVisit, Op: OpUpdate, Fields: []string{"actual_start_ms", "actual_end_ms", "present"}, Roles: consultants},
		Permission{Type: TypeChecklistItem, Op: OpUpdate, Fields: []string{"checked"}, Roles: consultants},
		Permission{Type: TypeObservation, Op: OpUpdate, Fields: []string{MarkField}, Roles: consultants},
		Permission{Type: TypeReport, Op: OpUpdate, Fields: append(slices.Clip(ReportSections), SectionMarkFields()...), Roles: consultants},
		Permission{Type: TypeReport, Op: OpSubmit, Fields: submission, Roles: consultants},
		Permission{Type: TypeReport, Op: OpAcknowledge, Roles: caseworkers},
		// A caseworker adds a correction through ReportService (submitted at once); a consultant
		// writes and signs one on the tablet.
		Permission{Type: TypeAddendum, Op: OpCreate, Fields: []string{"report_id", "visit_id", "section", "text"}, Roles: []string{RoleConsultant, RoleCaseworker}},
		Permission{Type: TypeAddendum, Op: OpUpdate, Fields: []string{"report_id", "visit_id", "section", "text"}, Roles: consultants},
		Permission{Type: TypeAddendum, Op: OpSubmit, Fields: submission, Roles: consultants},
		Permission{Type: TypeParentComment, Op: OpCreate, Roles: caseworkers},
		Permission{Type: TypeConflict, Op: OpUpdate, Fields: []string{"resolved"}, Roles: consultants},
	)
	return r
}()

// Allowed reports whether any of roles may do op to a record of type typ in state (for records
// without a lifecycle any state matches), setting fields (all of them must be allowed).
func Allowed(roles []string, typ, state string, op Operation, fields ...string) bool {
	for _, p := range Rules {
		if p.matches(typ, state, op) && slices.ContainsFunc(p.Roles, func(r string) bool { return slices.Contains(roles, r) }) &&
			!slices.ContainsFunc(fields, func(f string) bool { return !slices.Contains(p.Fields, f) }) {
			return true
		}
	}
	return false
}

// RolesFor lists the roles that may do op to a record of type typ in state ("": in some
// state), in CaseRoles order.
func RolesFor(typ, state string, op Operation) []string {
	var out []string
	for _, role := range CaseRoles {
		for _, p := range Rules {
			if p.Type == typ && p.Op == op && (state == "" || p.States == nil || slices.Contains(p.States, state)) && slices.Contains(p.Roles, role) {
				out = append(out, role)
				break
			}
		}
	}
	return out
}

func (p Permission) matches(typ, state string, op Operation) bool {
	return p.Type == typ && p.Op == op && (p.States == nil || slices.Contains(p.States, state))
}

// pushable reports whether any role may set field of a typ record over Push with op (create, or
// update and submit); ValidateChange refuses any other field as "only the server sets".
func pushable(typ string, op v1.Op, field string) bool {
	for _, p := range Rules {
		if p.Type != typ || len(p.Fields) == 0 {
			continue
		}
		if (op == v1.Op_OP_CREATE && p.Op == OpCreate) || (op == v1.Op_OP_UPDATE && (p.Op == OpUpdate || p.Op == OpSubmit)) {
			if field == "" || slices.Contains(p.Fields, field) {
				return true
			}
		}
	}
	return false
}

// HoldsCase reports whether a person with these roles in a case (each also still one of the
// person's roles) holds the case's records on a device. A role holds every record type of a case
// or none (TestHoldingIsWholeCases), so a change of scope is a whole-case snapshot or purge.
func HoldsCase(roles []string) bool {
	for t := range Schema {
		if Allowed(roles, t, "", OpHold) {
			return true
		}
	}
	return false
}

// MayPush decides whether a person with roles in the record's case may make change c to cur
// (nil for a create). It returns "" when allowed, otherwise the reason the tablet shows in its
// dead letters.
func MayPush(roles []string, c *v1.Change, cur *v1.CommittedChange) string {
	typ, state := c.GetRecord().GetType(), StateDraft
	if cur != nil {
		state = State(cur)
	}
	op := OpUpdate
	switch {
	case c.Op == v1.Op_OP_CREATE:
		op = OpCreate
	case IsSubmission(c):
		op = OpSubmit
	}
	fields := make([]string, 0, len(c.Fields))
	for _, f := range c.Fields {
		fields = append(fields, f.Name)
	}
	if op == OpCreate && IsSubmission(c) {
		// A document created and signed in one change: both must be allowed.
		var content []string
		for _, f := range fields {
			if !slices.Contains(submission, f) {
				content = append(content, f)
			}
		}
		if !Allowed(roles, typ, state, OpCreate, content...) || !Allowed(roles, typ, state, OpSubmit, submission...) {
			return refusal(c, roles, state, OpSubmit)
		}
		return ""
	}
	if Allowed(roles, typ, state, op, fields...) {
		return ""
	}
	return refusal(c, roles, state, op)
}

// refusal says why a change was refused for the pusher's part in the case.
func refusal(c *v1.Change, roles []string, state string, op Operation) string {
	typ := c.GetRecord().GetType()
	who := RolesFor(typ, "", op)
	noun := strings.ReplaceAll(typ, "_", " ")
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		noun = "an " + noun
	} else {
		noun = "a " + noun
	}
	what := fmt.Sprintf("%s %s", op, noun)
	if op == OpUpdate {
		for _, f := range c.Fields {
			if !Allowed(roles, typ, state, op, f.Name) {
				what = fmt.Sprintf("change %q of %s", f.Name, noun)
				break
			}
		}
	}
	part := "no role it still holds"
	if len(roles) > 0 {
		part = "the part of " + strings.Join(roles, " and ")
	}
	if len(who) == 0 {
		return fmt.Sprintf("Change %d was not applied: nobody may %s from a tablet; this tablet's user has %s in the case.", c.DeviceSeq, what, part)
	}
	return fmt.Sprintf("Change %d was not applied: only a %s of the case may %s; this tablet's user has %s in the case.", c.DeviceSeq, strings.Join(who, " or "), what, part)
}
