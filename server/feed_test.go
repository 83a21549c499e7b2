package server

import (
	"testing"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// The commit feed wakes the streams of the users a commit concerns and no others; a batch too
// large to list who it concerns wakes every stream, so none misses a change.
func TestCommitFeedWakesWhomACommitConcerns(t *testing.T) {
	f := newFixture(t)
	kim := f.tablet.UserID
	sara := must(f.store.UserByName(f.ctx, "Sara Caseworker")) // Kim's case's caseworker
	cleo := must(f.store.AddUser(f.ctx, "Cleo Coordinator", []string{"coordinator"}))
	mustDo(t, f.store.AssignCase(f.ctx, Actor{}, f.caseID, cleo.Name, "coordinator"))
	ane := must(f.store.AddUser(f.ctx, "Ane Consultant", []string{"consultant"}))
	other := must(f.store.AddCase(f.ctx, NewCase{Children: []string{"Ole"}, Caseworker: "Sara Caseworker"}))
	start := f.clock.Now().Add(time.Hour)
	_ = must(f.store.AddVisit(f.ctx, NewVisit{CaseID: other, Consultant: "Ane Consultant", Kind: "supervised", Start: start, End: start.Add(time.Hour), Place: "Rum 3"}))

	feed := newCommitFeed(f.store, time.Hour, newNotifier())
	if err := feed.read(f.ctx); err != nil {
		t.Fatal(err)
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	push := func(seq int64) {
		t.Helper()
		if _, err := f.store.Push(f.ctx, f.tablet, []*v1.Change{f.observation(seq, "Ida tegner.")}); err != nil {
			t.Fatal(err)
		}
		if err := feed.read(f.ctx); err != nil {
			t.Fatal(err)
		}
	}

	before, kimWoken := feed.wait(kim)
	_, aneWoken := feed.wait(ane.ID)
	_, saraWoken := feed.wait(sara.ID)
	_, cleoWoken := feed.wait(cleo.ID)
	push(1)
	if !closed(kimWoken) {
		t.Fatal("Kim's commit in her case did not wake her streams")
	}
	if closed(aneWoken) {
		t.Fatal("Kim's commit in a case Ane is not in woke Ane's streams")
	}
	// Members whose part holds nothing of the case on a device (syncer.HoldsCase) pull nothing.
	if closed(saraWoken) || closed(cleoWoken) {
		t.Fatalf("Kim's commit woke the case's caseworker (%v) or coordinator (%v), who hold nothing of it on a device", closed(saraWoken), closed(cleoWoken))
	}
	if head, _ := feed.wait(kim); head != f.head() || head <= before {
		t.Fatalf("the feed's head is %d after the push, the store's %d (before: %d)", head, f.head(), before)
	}

	feed.maxRows = 0 // Kim holds the case: the batch is too large to list
	_, kimWoken = feed.wait(kim)
	push(2)
	if !closed(kimWoken) || !closed(aneWoken) || !closed(saraWoken) {
		t.Fatal("a batch too large to list who it concerns must wake every stream")
	}
}
