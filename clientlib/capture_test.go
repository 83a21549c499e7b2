package clientlib

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// A consultant's edits survive the app being killed: each is in the view and in the outbox, with
// the fields the server needs to merge it.
func TestEditsAreStoredWithTheirOutboxEntry(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	roomRev := syncer.FieldOf(f.record(f.items["room_ready"]), "checked").Rev
	interactionRev := syncer.FieldOf(f.record(f.reportID), "interaction").Rev

	o, err := f.tab.Observe(ctx, f.visitID, "10:05 Ida løber hen til mor. "+marker)
	must(t, err)
	must(t, f.tab.Check(ctx, f.visitID, "room_ready", true))
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog for Ida."))
	f.reopen()

	v := f.visit()
	if len(v.Observations) != 1 || v.Observations[0] != o || o.AtMs != f.clock.Now().UnixMilli() || o.Text != "10:05 Ida løber hen til mor. "+marker {
		t.Fatalf("observations %+v, want %+v at the clock's time", v.Observations, o)
	}
	if !f.checked("room_ready") || f.checked("conditions_kept") {
		t.Fatal("checklist does not show the tick")
	}
	if got := f.section("interaction"); got != "Mor læser en bog for Ida." {
		t.Fatalf("section shows %q", got)
	}

	entries := f.outbox()
	if len(entries) != 3 {
		t.Fatalf("%d outbox entries, want 3", len(entries))
	}
	want := []struct {
		op      v1.Op
		typ, id string
		fields  string
		baseRev int64
	}{
		{v1.Op_OP_CREATE, syncer.TypeObservation, o.ID, "visit_id,at_ms,text", 0},
		{v1.Op_OP_UPDATE, syncer.TypeChecklistItem, f.items["room_ready"], "checked", roomRev},
		{v1.Op_OP_UPDATE, syncer.TypeReport, f.reportID, "interaction", interactionRev},
	}
	var lastHLC uint64
	for i, e := range entries {
		c, w := e.change, want[i]
		var names []string
		for _, fe := range c.Fields {
			names = append(names, fe.Name)
			if fe.BaseRev != w.baseRev || fe.AfterSeq != 0 {
				t.Errorf("entry %d field %s: base_rev %d after_seq %d, want %d and 0", i, fe.Name, fe.BaseRev, fe.AfterSeq, w.baseRev)
			}
		}
		if c.DeviceSeq != int64(i+1) || e.seq != c.DeviceSeq || c.Op != w.op || c.Record.Type != w.typ || c.Record.Id != w.id ||
			c.Record.CaseId != f.caseID || strings.Join(names, ",") != w.fields || c.SchemaVersion != syncer.SchemaVersion || e.serverSeq != 0 {
			t.Errorf("entry %d is %v", i, c)
		}
		if c.Hlc <= lastHLC {
			t.Errorf("entry %d hlc %d does not follow %d", i, c.Hlc, lastHLC)
		}
		lastHLC = c.Hlc
		if err := syncer.ValidateChange(c, f.clock.Now().UnixMilli()); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
	}
	if got := editValue(entries[1].change, "checked"); got != "true" {
		t.Errorf("checked = %q", got)
	}
	if f.meta(metaNextSeq) != 4 || uint64(f.meta(metaHLC)) != lastHLC {
		t.Errorf("next_seq %d hlc %d, want 4 and %d", f.meta(metaNextSeq), f.meta(metaHLC), lastHLC)
	}
	if s := f.status(); s.Pending != 3 || s.Awaiting != 0 {
		t.Errorf("status %+v", s)
	}

	// The clock never goes back, even when the tablet's own clock does.
	f.clock.Add(-24 * 60 * 60 * 1000 * 1000 * 1000)
	f.reopen()
	must(t, f.tab.Check(ctx, f.visitID, "room_ready", false))
	if c := f.outbox()[3].change; c.Hlc <= lastHLC {
		t.Errorf("hlc %d after the clock went back, want > %d", c.Hlc, lastHLC)
	}
}

// A person's consecutive edits of one field continue each other (after_seq), all from the same
// confirmed revision, also once the earlier one is acknowledged; once the pull confirms them,
// a new edit starts from the new revision.
func TestConsecutiveEditsContinueEachOther(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	rev := syncer.FieldOf(f.record(f.reportID), "interaction").Rev
	head := f.seq

	edits := []func() error{
		func() error { return f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog. Ida") },
		func() error { return f.tab.SetReportSection(ctx, f.visitID, "assessment", "Godt samvær.") },
		func() error {
			return f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog. Ida griner.")
		},
		func() error { return f.tab.Check(ctx, f.visitID, "room_ready", true) },
		func() error { return f.tab.Check(ctx, f.visitID, "room_ready", false) },
	}
	for i, edit := range edits {
		must(t, edit())
		// The server acknowledges each, but the tablet has not pulled yet.
		f.settle(&v1.ChangeResult{DeviceSeq: int64(i + 1), Result: v1.Result_RESULT_APPLIED, ServerSeq: head + int64(i+1)})
	}
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog. Ida griner!")) // 6

	type edit struct {
		afterSeq, baseRev int64
		base              string
	}
	check := func(want map[int64]edit) {
		t.Helper()
		for _, e := range f.outbox() {
			fe, w := e.change.Fields[0], want[e.seq]
			if fe.AfterSeq != w.afterSeq || fe.BaseRev != w.baseRev || e.bases[fe.Name] != w.base {
				t.Errorf("change %d: after_seq %d base_rev %d base %q, want %+v", e.seq, fe.AfterSeq, fe.BaseRev, e.bases[fe.Name], w)
			}
		}
	}
	roomRev := syncer.FieldOf(f.record(f.items["room_ready"]), "checked").Rev
	check(map[int64]edit{
		1: {0, rev, "Mor læser en bog."},
		2: {0, 0, ""},
		3: {1, rev, "Mor læser en bog. Ida"},
		4: {0, roomRev, ""},
		5: {4, roomRev, ""},
		6: {3, rev, "Mor læser en bog. Ida griner."},
	})
	if got := f.section("interaction"); got != "Mor læser en bog. Ida griner!" {
		t.Fatalf("section shows %q", got)
	}

	// The pull confirms 1 to 5: the next edit continues 6, from the new confirmed revision.
	f.apply(head+5,
		f.commitBy(f.device, syncer.TypeReport, f.reportID, "interaction", "Mor læser en bog. Ida"),
		f.commitBy(f.device, syncer.TypeReport, f.reportID, "assessment", "Godt samvær."),
		f.commitBy(f.device, syncer.TypeReport, f.reportID, "interaction", "Mor læser en bog. Ida griner."),
		f.commitBy(f.device, syncer.TypeChecklistItem, f.items["room_ready"], "checked", "true"),
		f.commitBy(f.device, syncer.TypeChecklistItem, f.items["room_ready"], "checked", "false"),
	)
	f.settle(&v1.ChangeResult{DeviceSeq: 6, Result: v1.Result_RESULT_APPLIED, ServerSeq: head + 6})
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Mor læser en bog. Ida griner!!")) // 7
	check(map[int64]edit{
		6: {3, rev, "Mor læser en bog. Ida griner."},
		7: {6, head + 3, "Mor læser en bog. Ida griner!"},
	})

	// Once 6 is pulled too, nothing of the tablet's is in flight for the field.
	f.apply(head+6, f.commitBy(f.device, syncer.TypeReport, f.reportID, "interaction", "Mor læser en bog. Ida griner!"))
	f.settle(&v1.ChangeResult{DeviceSeq: 7, Result: v1.Result_RESULT_APPLIED, ServerSeq: head + 7})
	f.apply(head+7, f.commitBy(f.device, syncer.TypeReport, f.reportID, "interaction", "Mor læser en bog. Ida griner!!"))
	must(t, f.tab.SetReportSection(ctx, f.visitID, "interaction", "Færdig.")) // 8
	check(map[int64]edit{8: {0, head + 7, "Mor læser en bog. Ida griner!!"}})
	if n := len(f.outbox()); n != 1 {
		t.Fatalf("%d outbox entries, want 1", n)
	}
}

// Edits of a visit, item or section the tablet does not have are refused with a sentence a
// person understands, and nothing is stored. The messages never repeat what was typed.
func TestUnknownTargetsAreRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	long := strings.Repeat("Ida leger. "+marker+" ", 70<<10/len("Ida leger. "+marker+" ")+1)
	tests := []struct {
		name string
		do   func() error
		code syncer.Code
	}{
		{"unknown visit", func() error { return f.tab.Check(ctx, syncer.NewID(), "room_ready", true) }, syncer.CodeNotFound},
		{"malformed visit id", func() error { _, err := f.tab.Observe(ctx, marker, "tekst"); return err }, syncer.CodeInvalid},
		{"visit id of another record", func() error { return f.tab.SetReportSection(ctx, f.reportID, "interaction", "x") }, syncer.CodeNotFound},
		{"unknown checklist key", func() error { return f.tab.Check(ctx, f.visitID, marker, true) }, syncer.CodeNotFound},
		{"unknown section", func() error { return f.tab.SetReportSection(ctx, f.visitID, marker, "tekst") }, syncer.CodeInvalid},
		{"section too long", func() error { return f.tab.SetReportSection(ctx, f.visitID, "interaction", long) }, syncer.CodeResourceExhausted},
		{"observation too long", func() error { _, err := f.tab.Observe(ctx, f.visitID, long); return err }, syncer.CodeResourceExhausted},
		{"empty observation", func() error { _, err := f.tab.Observe(ctx, f.visitID, ""); return err }, syncer.CodeInvalid},
		{"observation not UTF-8", func() error { _, err := f.tab.Observe(ctx, f.visitID, marker+"\xff"); return err }, syncer.CodeInvalid},
	}
	if len(long) <= syncer.MaxTextBytes {
		t.Fatalf("test text is %d bytes, not over the limit", len(long))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			e := wantCode(t, err, tt.code)
			if e.Message == "" || strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), "Ida") {
				t.Fatalf("message %q is empty or repeats what was typed", err.Error())
			}
			t.Log(e.Message)
		})
	}
	if n := len(f.outbox()); n != 0 || f.meta(metaNextSeq) != 1 {
		t.Fatalf("%d outbox entries and next_seq %d after refused edits, want 0 and 1", n, f.meta(metaNextSeq))
	}
	if got := f.section("interaction"); got != "Mor læser en bog." {
		t.Fatalf("section shows %q after a refused edit", got)
	}
	if v := f.visit(); len(v.Observations) != 0 {
		t.Fatalf("observations %+v after refused edits", v.Observations)
	}
}

// Edits made at the same time from several goroutines each get their own sequence number.
func TestConcurrentEditsGetDistinctSequences(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := f.tab.Observe(ctx, f.visitID, fmt.Sprintf("obs %d", i)); err != nil {
				t.Error(err)
			}
			if _, err := f.tab.Visits(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	entries := f.outbox()
	if len(entries) != n {
		t.Fatalf("%d outbox entries, want %d", len(entries), n)
	}
	for i, e := range entries {
		if e.seq != int64(i+1) || e.change.DeviceSeq != e.seq {
			t.Fatalf("entry %d has seq %d / device_seq %d", i, e.seq, e.change.DeviceSeq)
		}
	}
	if got := len(f.visit().Observations); got != n {
		t.Fatalf("%d observations shown, want %d", got, n)
	}
}
