package clientlib

import (
	"context"
	"strings"
	"testing"

	"github.com/samvaer/sync/syncer"
)

// The observation she is typing is kept as a draft: it survives closing the tablet, can be
// written while the tablet is locked (closed, no PIN) and is read back only once it is
// unlocked, never lies in a file in plaintext, is never sent, and saving it as an observation
// ends the draft in the same transaction.
func TestAnObservationDraftIsKeptSealedUntilSaved(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	if d, err := f.tab.ObservationDraft(ctx, f.visitID); err != nil || d != "" {
		t.Fatalf("a draft before any: %q, %v", d, err)
	}
	must(t, f.tab.SetObservationDraft(ctx, f.visitID, "Ida viser sin tegning "+marker))
	f.reopen()
	if d, err := f.tab.ObservationDraft(ctx, f.visitID); err != nil || d != "Ida viser sin tegning "+marker {
		t.Fatalf("the draft after a restart: %q, %v", d, err)
	}

	// Locked: the tablet is closed and the data key forgotten; the draft is still written.
	must(t, f.tab.Close())
	locked := "Ida viser sin tegning til mor og " + marker
	must(t, KeepObservationDraft(ctx, f.home, f.visitID, locked))
	wantCode(t, KeepObservationDraft(ctx, f.home, syncer.NewID(), "x"), syncer.CodeNotFound)
	wantCode(t, KeepObservationDraft(ctx, f.home, "../visit", "x"), syncer.CodeInvalid)
	wantCode(t, KeepObservationDraft(ctx, f.home, f.visitID, strings.Repeat("x", syncer.MaxTextBytes+1)), syncer.CodeResourceExhausted)
	if got := homeHolds(t, f.home, marker); len(got) > 0 {
		t.Fatalf("the draft in plaintext in %v", got)
	}
	var err error
	if f.tab, err = Open(f.home, f.opts); err != nil {
		t.Fatal(err)
	}
	if d, err := f.tab.ObservationDraft(ctx, f.visitID); err != nil || d != locked {
		t.Fatalf("the draft written while locked, after unlocking: %q, %v", d, err)
	}
	if n := len(f.outbox()); n != 0 {
		t.Fatalf("%d outbox entries for a draft, want none", n)
	}

	o, err := f.tab.ObserveDraft(ctx, f.visitID, locked)
	must(t, err)
	if d, err := f.tab.ObservationDraft(ctx, f.visitID); err != nil || d != "" {
		t.Fatalf("the draft after saving it: %q, %v", d, err)
	}
	if v := f.visit(); len(v.Observations) != 1 || v.Observations[0].ID != o.ID || v.Observations[0].Text != locked {
		t.Fatalf("observations %+v", v.Observations)
	}
	// "" removes a draft; a plain Observe leaves one alone.
	must(t, f.tab.SetObservationDraft(ctx, f.visitID, "Mor"))
	_, err = f.tab.Observe(ctx, f.visitID, "Emil leger")
	must(t, err)
	if d, _ := f.tab.ObservationDraft(ctx, f.visitID); d != "Mor" {
		t.Fatalf("Observe touched the draft: %q", d)
	}
	must(t, f.tab.SetObservationDraft(ctx, f.visitID, ""))
	if d, _ := f.tab.ObservationDraft(ctx, f.visitID); d != "" {
		t.Fatalf("the removed draft: %q", d)
	}
}
