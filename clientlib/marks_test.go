package clientlib

import (
	"context"
	"slices"
	"testing"

	"github.com/samvaer/sync/syncer"
)

// A consultant marks an observation (also one not yet synced) and a section for the parents'
// copy; the marks are shown, survive a restart, go to the outbox as register edits of the mark
// fields only, can be cleared, and an unknown mark is refused before anything is stored.
func TestMarksForTheParentsCopy(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	o, err := f.tab.Observe(ctx, f.visitID, "Ida siger: jeg vil hjem. "+marker)
	must(t, err)
	must(t, f.tab.MarkObservation(ctx, f.visitID, o.ID, syncer.MarkChildWords))
	must(t, f.tab.MarkSection(ctx, f.visitID, "placement_account", syncer.MarkPlacementAddress))
	f.reopen()

	v := f.visit()
	if len(v.Observations) != 1 || v.Observations[0].Mark != syncer.MarkChildWords || v.Observations[0].Text != o.Text {
		t.Fatalf("observations %+v, want the one marked %s", v.Observations, syncer.MarkChildWords)
	}
	for _, s := range v.Report {
		want := ""
		if s.Key == "placement_account" {
			want = syncer.MarkPlacementAddress
		}
		if s.Mark != want {
			t.Fatalf("section %s marked %q, want %q", s.Key, s.Mark, want)
		}
	}
	entries := f.outbox()
	if len(entries) != 3 {
		t.Fatalf("%d outbox entries, want the observation and two marks", len(entries))
	}
	for i, name := range []string{syncer.MarkField, "placement_account__mark"} {
		c := entries[i+1].change
		if len(c.Fields) != 1 || c.Fields[0].Name != name {
			t.Fatalf("entry %d sets %v, want only %s", i+1, c.Fields, name)
		}
		if err := syncer.ValidateChange(c, f.clock.Now().UnixMilli()); err != nil {
			t.Fatalf("entry %d would be refused: %v", i+1, err)
		}
	}

	must(t, f.tab.MarkObservation(ctx, f.visitID, o.ID, ""))
	if m := f.visit().Observations[0].Mark; m != "" {
		t.Fatalf("cleared mark still shows %q", m)
	}
	wantCode(t, f.tab.MarkObservation(ctx, f.visitID, o.ID, "secret"), syncer.CodeInvalid)
	wantCode(t, f.tab.MarkSection(ctx, f.visitID, "opening", "yes"), syncer.CodeInvalid)
	wantCode(t, f.tab.MarkSection(ctx, f.visitID, "diary", syncer.MarkChildWords), syncer.CodeInvalid)
	wantCode(t, f.tab.MarkObservation(ctx, f.visitID, syncer.NewID(), syncer.MarkChildWords), syncer.CodeNotFound)
	if n := len(f.outbox()); n != 4 {
		t.Fatalf("%d outbox entries after refused marks, want 4", n)
	}
}

// A section's text holding a marked passage gets the passage's mark in the same change (one
// outbox entry setting the text and the mark, valid as the server checks it), unless the
// section has a mark already, which it keeps; an unknown mark is refused before anything is
// stored.
func TestASectionTakesTheMarkOfAPassageItHolds(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	must(t, f.tab.SetReportSectionMarked(ctx, f.visitID, "interaction", "10.05 Ida siger: jeg vil hjem", syncer.MarkChildWords))
	must(t, f.tab.MarkSection(ctx, f.visitID, "ending", syncer.MarkPlacementAddress))
	must(t, f.tab.SetReportSectionMarked(ctx, f.visitID, "ending", "10.30 Ida siger: jeg vil hjem", syncer.MarkChildWords))
	must(t, f.tab.SetReportSectionMarked(ctx, f.visitID, "opening", "Mor kom til tiden", ""))
	wantCode(t, f.tab.SetReportSectionMarked(ctx, f.visitID, "opening", "x", "secret"), syncer.CodeInvalid)
	f.reopen()

	marks := map[string]string{}
	for _, s := range f.visit().Report {
		marks[s.Key] = s.Mark
	}
	if marks["interaction"] != syncer.MarkChildWords || marks["ending"] != syncer.MarkPlacementAddress || marks["opening"] != "" {
		t.Fatalf("marks %v: want interaction marked as the child's words, ending keeping its own, opening none", marks)
	}
	entries := f.outbox()
	if len(entries) != 4 {
		t.Fatalf("%d outbox entries, want 4", len(entries))
	}
	for i, want := range [][]string{{"interaction", "interaction__mark"}, {"ending__mark"}, {"ending"}, {"opening"}} {
		c := entries[i].change
		var names []string
		for _, fe := range c.Fields {
			names = append(names, fe.Name)
		}
		if !slices.Equal(names, want) {
			t.Fatalf("entry %d sets %v, want %v", i, names, want)
		}
		if err := syncer.ValidateChange(c, f.clock.Now().UnixMilli()); err != nil {
			t.Fatalf("entry %d would be refused: %v", i, err)
		}
	}
}
