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
	push(1)
	if !closed(kimWoken) {
		t.Fatal("Kim's commit in her case did not wake her streams")
	}
	if closed(aneWoken) {
		t.Fatal("Kim's commit in a case Ane is not in woke Ane's streams")
	}
	if head, _ := feed.wait(kim); head != f.head() || head <= before {
		t.Fatalf("the feed's head is %d after the push, the store's %d (before: %d)", head, f.head(), before)
	}

	feed.maxRows = 1 // Kim's case has two members: the batch is too large to list
	_, kimWoken = feed.wait(kim)
	push(2)
	if !closed(kimWoken) || !closed(aneWoken) {
		t.Fatal("a batch too large to list who it concerns must wake every stream")
	}
}
