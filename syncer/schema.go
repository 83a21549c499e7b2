package syncer

// SchemaVersion is the version of the record schema this build writes. Every change carries the
// version it was made under; the server upcasts versions from MinSchemaVersion on and refuses
// older ones with an "update the app" error.
//
// Version 2 adds the report's lifecycle (submission fields, addenda, parents' comments) and the
// case's records (children, decision, conditions, goals, wishes, visit rooms and actual times).
// A version 1 change means the same under version 2, so it is accepted as is; a version 2 change
// sent to a version 1 server is refused with "update the server" rather than for a field the
// old server does not know.
const (
	SchemaVersion    = 2
	MinSchemaVersion = 1
)

// Limits on every input. The server enforces them; the tablet checks them before a write reaches
// its outbox, so a change it stores is never refused for its shape.
const (
	MaxChangesPerPush = 1000
	// MaxUnlockFailuresPerReport bounds the wrong PINs one ReportUnlockFailures call carries.
	MaxUnlockFailuresPerReport = 100
	MaxTextBytes               = 64 << 10
	MaxRegisterBytes           = 256
	MaxFieldsPerEdit           = 32
	// MaxClockSkewMs is how far ahead of the server's clock a change's HLC may be.
	MaxClockSkewMs = 5 * 60 * 1000
	// ServerDevice is the writer id of values set on the server (admin commands, conflict records).
	ServerDevice = "server"
)

// Rule is a field's merge rule for concurrent edits.
type Rule int

const (
	// Register fields (checkbox state, times, enums): the later HLC wins; the loser is kept.
	Register Rule = iota + 1
	// Text fields (report sections, observation text): merged three-way against the base; an
	// overlap keeps both sides.
	Text
)

// FieldSpec describes one field of a record type.
type FieldSpec struct {
	Name string
	Rule Rule
	// Sensitive fields hold what a person wrote or a person's name: sealed at rest, never logged.
	Sensitive bool
}

// TypeSpec describes a record type.
type TypeSpec struct {
	Name string
	// AppendOnly records are never changed after creation, so they never conflict.
	AppendOnly bool
	Fields     []FieldSpec
}

// Field looks up a field spec by name.
func (t *TypeSpec) Field(name string) (FieldSpec, bool) {
	for _, f := range t.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return FieldSpec{}, false
}

// MaxBytes is the longest value the field may hold.
func (f FieldSpec) MaxBytes() int {
	if f.Rule == Text {
		return MaxTextBytes
	}
	return MaxRegisterBytes
}

// Record types.
const (
	TypeCase          = "case"
	TypeVisit         = "visit"
	TypeChecklistItem = "checklist_item"
	TypeObservation   = "observation"
	TypeReport        = "report"
	TypeConflict      = "conflict"
	// The case's people, decision and terms: set on the server, read-only on tablets.
	TypeChild      = "child"
	TypeDecision   = "decision"
	TypeConditions = "conditions"
	TypeGoal       = "goal"
	TypeWish       = "wish"
	// After submission: corrections and the parents' own words, never merged into the report.
	TypeAddendum      = "addendum"
	TypeParentComment = "parent_comment"
)

// ReportSections are the sections of a report (samværsbeskrivelse), in template order. The keys
// are stable: used on the wire, on the command line and in exports.
var ReportSections = []string{
	"context", "attendance", "before_contact", "opening", "interaction", "ending",
	"conditions", "child_perspective", "placement_account", "assessment", "follow_up",
}

// Marks for the parents' copy (DOMAIN.md "Parents may see the case file"): the consultant marks an
// observation or a whole report section as the child's own words or as revealing the placement
// address, and the parents' copy leaves the marked text out, saying what was withheld. A mark is
// a register field (the later HLC wins), never a span inside a text: text fields are merged
// three-way, and offsets into a text would point at the wrong words after a merge.
const (
	// MarkField is an observation's mark.
	MarkField = "parents_exclude"
	// MarkChildWords marks the child's own words.
	MarkChildWords = "child_words"
	// MarkPlacementAddress marks text that reveals where the child lives.
	MarkPlacementAddress = "placement_address"
)

// Marks are the values a mark may hold; "" is no mark.
var Marks = []string{MarkChildWords, MarkPlacementAddress}

// SectionMarkField is the report field that holds a section's mark.
func SectionMarkField(section string) string { return section + "__mark" }

// SectionMarkFields are the report's mark fields, in ReportSections order.
func SectionMarkFields() []string {
	out := make([]string, len(ReportSections))
	for i, s := range ReportSections {
		out[i] = SectionMarkField(s)
	}
	return out
}

// ChecklistItem is one item of the default visit checklist.
type ChecklistItem struct{ Phase, Key, Label string }

// DefaultChecklist is the checklist every new visit starts with (before, during, after).
var DefaultChecklist = []ChecklistItem{
	{"before", "startup_meeting_held", "Start-up meeting held: purpose, action-plan goals, follow-up date known"},
	{"before", "parents_briefed", "Parents know who will be there, how the visit ends, the rules and roles"},
	{"before", "parents_state_checked", "On the day: how the parents are, the child's needs today, the plan"},
	{"before", "previous_reactions_reviewed", "Reactions after earlier visits reviewed"},
	{"before", "room_ready", "Room ready: toys, food, activities as agreed"},
	{"during", "conditions_kept", "Conditions and agreements kept"},
	{"during", "intervened", "Consultant stepped in"},
	{"during", "stopped_early", "Visit stopped early"},
	{"after", "parents_debriefed", "Visit talked over with the parents"},
	{"after", "child_handed_over", "Child handed over to the placement, with what they need to know"},
	{"after", "report_written", "Report written"},
}

// Who may set which field (a tablet over Push, or only the server) is in Rules (rules.go).
func reg(name string) FieldSpec    { return FieldSpec{Name: name, Rule: Register} }
func secret(name string) FieldSpec { return FieldSpec{Name: name, Rule: Text, Sensitive: true} }

// reportFields: the sections, the submission the tablet signs (submitted_ms, digest, signature),
// and what the server sets when it accepts the submission and when the caseworker acknowledges.
func reportFields() []FieldSpec {
	fs := []FieldSpec{reg("visit_id")}
	for _, s := range ReportSections {
		fs = append(fs, secret(s))
	}
	for _, s := range ReportSections {
		fs = append(fs, reg(SectionMarkField(s)))
	}
	return append(fs, submissionFields()...)
}

// submissionFields are the fields of a signed document (report or addendum).
func submissionFields() []FieldSpec {
	return []FieldSpec{
		reg("state"), reg("submitted_ms"), reg("digest"), reg("signature"),
		reg("submitted_by"), reg("submitted_device"), reg("conditions_id"),
		reg("acknowledged_ms"), reg("acknowledged_by"),
	}
}

// Schema is every record type, by name.
var Schema = map[string]*TypeSpec{
	TypeCase: {Name: TypeCase, Fields: []FieldSpec{
		secret("children"), secret("parents"), reg("caseworker"), reg("reference"),
		secret("relatives"), secret("placement"),
	}},
	TypeChild: {Name: TypeChild, Fields: []FieldSpec{secret("name"), reg("birth_year")}},
	// A decision the visits rest on: supported (Barnets Lov § 104, with the consents to written
	// descriptions) or supervised (§ 105, with its period and purpose).
	TypeDecision: {Name: TypeDecision, Fields: []FieldSpec{
		reg("kind"), reg("consent_parents"), reg("young_person"), reg("consent_young_person"),
		reg("from_ms"), reg("to_ms"), secret("purpose"),
	}},
	// Each version of the conditions is its own record, never changed: a report points at the
	// version in force when it was submitted.
	TypeConditions: {Name: TypeConditions, AppendOnly: true, Fields: []FieldSpec{
		reg("version"), reg("from_ms"), secret("text"),
	}},
	TypeGoal: {Name: TypeGoal, Fields: []FieldSpec{secret("text"), reg("status")}},
	TypeWish: {Name: TypeWish, Fields: []FieldSpec{
		reg("child_id"), secret("text"), reg("support_person"), reg("pause_until_ms"),
	}},
	TypeAddendum: {Name: TypeAddendum, Fields: append([]FieldSpec{
		reg("report_id"), reg("visit_id"), reg("section"), secret("text"), reg("author"),
	}, submissionFields()...)},
	TypeParentComment: {Name: TypeParentComment, AppendOnly: true, Fields: []FieldSpec{
		reg("report_id"), reg("visit_id"), secret("text"), reg("received_ms"), reg("recorded_by"),
	}},
	TypeVisit: {Name: TypeVisit, Fields: []FieldSpec{
		reg("consultant"), reg("kind"), reg("start_ms"), reg("end_ms"), secret("place"),
		reg("room"), reg("decision_id"), reg("children"), reg("checklist_version"),
		reg("actual_start_ms"), reg("actual_end_ms"), secret("present"), reg("cancelled_ms"),
	}},
	TypeChecklistItem: {Name: TypeChecklistItem, Fields: []FieldSpec{
		reg("visit_id"), reg("phase"), reg("key"), reg("label"), reg("checked"),
	}},
	// An observation's text never changes after it is written; only its mark for the parents'
	// copy (MarkField) may be set and cleared later.
	TypeObservation: {Name: TypeObservation, Fields: []FieldSpec{
		reg("visit_id"), reg("at_ms"),
		secret("text"),
		reg("author"),
		reg(MarkField),
	}},
	TypeReport: {Name: TypeReport, Fields: reportFields()},
	TypeConflict: {Name: TypeConflict, Fields: []FieldSpec{
		reg("record_type"), reg("record_id"), reg("field"), reg("kept_rev"),
		secret("other_value"), reg("other_device"), reg("other_hlc"), reg("rule"),
		reg("resolved"),
	}},
}
