package clientlib

import (
	"context"
	"testing"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
)

// The server's push results, hand-made: a rejected change goes to the dead letters and never
// blocks those after it; the others are acknowledged; a result heard twice changes nothing.
func TestSettlePushResults(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	for _, text := range []string{"en", "to", "tre", "fire", "fem"} {
		_, err := f.tab.Observe(ctx, f.visitID, text)
		must(t, err)
	}
	head := f.seq
	f.apply(head + 1) // another device's commit the tablet may not see
	results := []*v1.ChangeResult{
		{DeviceSeq: 1, Result: v1.Result_RESULT_APPLIED, ServerSeq: head + 2},
		{DeviceSeq: 2, Result: v1.Result_RESULT_REJECTED, Reason: "Change 2 is an observation for a visit the server does not have in that case."},
		{DeviceSeq: 3, Result: v1.Result_RESULT_MERGED, ServerSeq: head + 3},
		{DeviceSeq: 4, Result: v1.Result_RESULT_CONFLICT, ServerSeq: head + 1}, // already covered by the cursor
		{DeviceSeq: 5, Result: v1.Result_RESULT_APPLIED},                       // no effect to wait for
		{DeviceSeq: 99, Result: v1.Result_RESULT_APPLIED, ServerSeq: head + 9}, // not the tablet's: ignored
	}
	got := f.settle(results...)
	if want := (SyncResult{Pushed: 5, Applied: 2, Merged: 1, Conflicts: 1, Rejected: 1}); got != want {
		t.Fatalf("counts %+v, want %+v", got, want)
	}
	type row struct{ seq, serverSeq int64 }
	var rows []row
	for _, e := range f.outbox() {
		rows = append(rows, row{e.seq, e.serverSeq})
	}
	if len(rows) != 2 || rows[0] != (row{1, head + 2}) || rows[1] != (row{3, head + 3}) {
		t.Fatalf("outbox %+v, want 1 and 3 awaiting their commits", rows)
	}
	dead, err := f.tab.DeadLetters(ctx)
	must(t, err)
	if len(dead) != 1 || dead[0].Seq != 2 || dead[0].Reason != results[1].Reason {
		t.Fatalf("dead letters %+v", dead)
	}

	// The same response again (a retried push is answered with the first results): nothing changes.
	if again := f.settle(results...); again != (SyncResult{}) {
		t.Fatalf("counts %+v for results heard before", again)
	}
	// A duplicate within one response counts once.
	must(t, f.tab.Check(ctx, f.visitID, "room_ready", true)) // 6
	dup := &v1.ChangeResult{DeviceSeq: 6, Result: v1.Result_RESULT_APPLIED, ServerSeq: head + 6}
	if r := f.settle(dup, dup); r != (SyncResult{Pushed: 1, Applied: 1}) {
		t.Fatalf("counts %+v for a duplicated result", r)
	}
	if s := f.status(); s.Pending != 0 || s.Awaiting != 3 || s.DeadLetters != 1 {
		t.Fatalf("status %+v", s)
	}
	// A result this app does not know leaves the change to be sent again.
	must(t, f.tab.Check(ctx, f.visitID, "room_ready", false)) // 7
	if r := f.settle(&v1.ChangeResult{DeviceSeq: 7, Result: v1.Result(42), ServerSeq: head + 7}); r != (SyncResult{}) {
		t.Fatalf("counts %+v for an unknown result", r)
	}
	if s := f.status(); s.Pending != 1 {
		t.Fatalf("status %+v", s)
	}
}
