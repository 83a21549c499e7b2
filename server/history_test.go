package server

import (
	"errors"
	"strings"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// mismatch returns the HistoryMismatch an error carries, failing the test when it carries none.
func mismatch(t *testing.T, err error, kind v1.HistoryMismatch_Kind) *v1.HistoryMismatch {
	t.Helper()
	var he *errHistory
	if !errors.As(err, &he) || he.detail.Kind != kind {
		t.Fatalf("want a %v history mismatch, got %v", kind, err)
	}
	if syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("code %q, want failed_precondition", syncer.ErrorCode(err))
	}
	return he.detail
}

// A tablet restored from an older copy of its home pushes a new change under a number the server
// holds: it is refused whole, with the number the tablet may continue after, and nothing of the
// batch is stored. The same change sent again is still a retry.
func TestPushTellsReusedSeqFromRetry(t *testing.T) {
	f := newFixture(t)
	first := []*v1.Change{f.observation(1, "Ida smiler."), f.section(2, "opening", "Mor kom til tiden.", 0)}
	acked := must(f.store.Push(f.ctx, f.tablet, first))
	head, digest := f.head(), f.digest()

	reused := []*v1.Change{first[0], f.observation(2, "Emil græder."), f.observation(3, "Mor trøster.")}
	_, err := f.store.Push(f.ctx, f.tablet, reused)
	d := mismatch(t, err, v1.HistoryMismatch_KIND_SEQ_REUSED)
	if d.DeviceSeq != 2 || d.DeviceLastSeq != 2 {
		t.Fatalf("detail %v, want seq 2 reused, last 2", d)
	}
	if strings.Contains(err.Error(), "Emil") {
		t.Fatal("the refusal quotes what the consultant wrote")
	}
	if f.head() != head || f.digest() != digest {
		t.Fatal("a refused push changed the server's state")
	}
	again := must(f.store.Push(f.ctx, f.tablet, first))
	if again[1].ServerSeq != acked[1].ServerSeq || again[1].Result != acked[1].Result {
		t.Fatalf("a retry was answered %v, first %v", again[1], acked[1])
	}
	// Renumbered after the server's last seq, the new changes apply.
	reused[1].DeviceSeq, reused[2].DeviceSeq = 3, 4
	res := must(f.store.Push(f.ctx, f.tablet, reused))
	if res[1].Result != v1.Result_RESULT_APPLIED || res[2].Result != v1.Result_RESULT_APPLIED || f.head() != head+2 {
		t.Fatalf("renumbered changes: %v", res)
	}
}

// A server restored from an older backup refuses a pull or push from a position it no longer
// holds, and a push after a gap, telling the tablet how many of its changes it holds.
func TestRestoredServerRefusesPositionsItDoesNotHold(t *testing.T) {
	f := newFixture(t)
	must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.observation(1, "Ida smiler.")}))
	backup := backupStore(t, f.store, f.dir)
	must(f.store.Push(f.ctx, f.tablet, []*v1.Change{f.observation(2, "Emil leger."), f.observation(3, "Mor går.")}))
	page := must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{}))
	if page.NextCursorMark == 0 || page.DeviceLastSeq != 3 {
		t.Fatalf("a pull gives position mark %d and last seq %d", page.NextCursorMark, page.DeviceLastSeq)
	}
	// Its own position is accepted.
	must(f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{Cursor: page.NextCursor, CursorMark: page.NextCursorMark}))

	f.store.Close()
	restoreStore(t, f.dir, backup)
	f.store = MustOpenStore(t, f.dir, f.clock)
	// Another tablet of the same user writes first, so the old seqs exist again with other marks.
	other := f.enroll(User{ID: f.tablet.UserID, Name: "Kim Consultant"})
	must(f.store.Push(f.ctx, other, []*v1.Change{f.observation(1, "Far ringer."), f.observation(2, "Ida tegner."), f.observation(3, "Emil sover."), f.observation(4, "Mor kommer.")}))
	if f.head() < page.NextCursor {
		t.Fatalf("the test needs the restored log to reach %d again, it has %d", page.NextCursor, f.head())
	}

	_, err := f.store.Pull(f.ctx, f.tablet, &v1.PullRequest{Cursor: page.NextCursor, CursorMark: page.NextCursorMark})
	if d := mismatch(t, err, v1.HistoryMismatch_KIND_SERVER_RESTORED); d.DeviceLastSeq != 1 {
		t.Fatalf("detail %v, want last seq 1", d)
	}
	_, err = f.store.PushAt(f.ctx, f.tablet, page.NextCursor, page.NextCursorMark, []*v1.Change{f.observation(4, "Far går.")})
	mismatch(t, err, v1.HistoryMismatch_KIND_SERVER_RESTORED)
	_, err = f.store.Push(f.ctx, f.tablet, []*v1.Change{f.observation(4, "Far går.")})
	if d := mismatch(t, err, v1.HistoryMismatch_KIND_SERVER_RESTORED); d.DeviceLastSeq != 1 {
		t.Fatalf("a push after a gap: detail %v, want last seq 1", d)
	}
}
