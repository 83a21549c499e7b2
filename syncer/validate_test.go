package syncer

import (
	"strings"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

func TestValidateChange(t *testing.T) {
	const now = int64(1_800_000_000_000)
	hlc := uint64(MakeHLC(now, 0))
	ok := func() *v1.Change {
		return &v1.Change{DeviceSeq: 3, Op: v1.Op_OP_UPDATE, Hlc: hlc, SchemaVersion: SchemaVersion,
			Record: &v1.RecordRef{Type: TypeReport, Id: reportID, CaseId: caseID},
			Fields: []*v1.FieldEdit{{Name: "opening", Value: "MARKER-secret text", BaseRev: 2}}}
	}
	tests := []struct {
		name   string
		mutate func(c *v1.Change)
		code   Code
	}{
		{"valid", func(c *v1.Change) {}, ""},
		{"section mark", func(c *v1.Change) { c.Fields[0] = &v1.FieldEdit{Name: "opening__mark", Value: MarkChildWords} }, ""},
		{"section mark cleared", func(c *v1.Change) { c.Fields[0] = &v1.FieldEdit{Name: "opening__mark"} }, ""},
		{"unknown mark", func(c *v1.Change) { c.Fields[0] = &v1.FieldEdit{Name: "opening__mark", Value: "secret"} }, CodeInvalid},
		{"observation mark", func(c *v1.Change) {
			c.Record.Type, c.Fields[0] = TypeObservation, &v1.FieldEdit{Name: MarkField, Value: MarkPlacementAddress}
		}, ""},
		{"unknown observation mark", func(c *v1.Change) {
			c.Record.Type, c.Fields[0] = TypeObservation, &v1.FieldEdit{Name: MarkField, Value: "yes"}
		}, CodeInvalid},
		{"unknown type", func(c *v1.Change) { c.Record.Type = "diary" }, CodeInvalid},
		{"unknown field", func(c *v1.Change) { c.Fields[0].Name = "gossip" }, CodeInvalid},
		{"server-only field", func(c *v1.Change) { c.Fields[0].Name = "visit_id" }, CodeInvalid},
		{"malformed id", func(c *v1.Change) { c.Record.Id = "../../etc/passwd" }, CodeInvalid},
		{"uppercase id", func(c *v1.Change) { c.Record.Id = "0190ABCD-0000-7000-8000-000000000002" }, CodeInvalid},
		{"malformed case", func(c *v1.Change) { c.Record.CaseId = "" }, CodeInvalid},
		{"too long", func(c *v1.Change) { c.Fields[0].Value = strings.Repeat("x", MaxTextBytes+1) }, CodeResourceExhausted},
		{"clock far ahead", func(c *v1.Change) { c.Hlc = uint64(MakeHLC(now+MaxClockSkewMs+60_000, 0)) }, CodeInvalid},
		{"no clock", func(c *v1.Change) { c.Hlc = 0 }, CodeInvalid},
		{"old app", func(c *v1.Change) { c.SchemaVersion = MinSchemaVersion - 1 }, CodeFailedPrecondition},
		{"newer schema", func(c *v1.Change) { c.SchemaVersion = SchemaVersion + 1 }, CodeInvalid},
		{"no fields", func(c *v1.Change) { c.Fields = nil }, CodeInvalid},
		{"same field twice", func(c *v1.Change) { c.Fields = append(c.Fields, c.Fields[0]) }, CodeInvalid},
		{"tablet delete", func(c *v1.Change) { c.Op = v1.Op_OP_DELETE }, CodeInvalid},
		{"create a report", func(c *v1.Change) { c.Op = v1.Op_OP_CREATE }, CodeInvalid},
		{"seq zero", func(c *v1.Change) { c.DeviceSeq = 0 }, CodeInvalid},
		{"after_seq not before", func(c *v1.Change) { c.Fields[0].AfterSeq = 3 }, CodeInvalid},
		{"negative base", func(c *v1.Change) { c.Fields[0].BaseRev = -1 }, CodeInvalid},
		{"checkbox not boolean", func(c *v1.Change) {
			c.Record.Type = TypeChecklistItem
			c.Fields[0] = &v1.FieldEdit{Name: "checked", Value: "MARKER-yes"}
		}, CodeInvalid},
		{"observation without text", func(c *v1.Change) {
			c.Op, c.Record.Type = v1.Op_OP_CREATE, TypeObservation
			c.Fields = []*v1.FieldEdit{{Name: "visit_id", Value: itemID}, {Name: "at_ms", Value: "1"}}
		}, CodeInvalid},
		{"valid observation", func(c *v1.Change) {
			c.Op, c.Record.Type = v1.Op_OP_CREATE, TypeObservation
			c.Fields = []*v1.FieldEdit{{Name: "visit_id", Value: itemID}, {Name: "at_ms", Value: "1"}, {Name: "text", Value: "MARKER"}}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok()
			tt.mutate(c)
			err := ValidateChange(c, now)
			if got := ErrorCode(err); got != tt.code {
				t.Fatalf("code = %q, want %q (%v)", got, tt.code, err)
			}
			if err != nil && strings.Contains(err.Error(), "MARKER") {
				t.Fatalf("error %q repeats a value", err)
			}
		})
	}
}

func TestEveryReportSectionHasATitle(t *testing.T) {
	if len(ReportSectionTitles) != len(ReportSections) {
		t.Fatalf("%d titles for %d sections", len(ReportSectionTitles), len(ReportSections))
	}
	for _, key := range ReportSections {
		if ReportSectionTitles[key] == "" {
			t.Errorf("section %q has no title", key)
		}
	}
}
