package e2e

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/samvaer/sync/clientlib"
	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// wrongPIN opens the closed tablet with a wrong PIN (refused, below the limit), then with the
// right one.
func (tb *tablet) wrongPIN(times int) {
	tb.t.Helper()
	mustDo(tb.t, tb.Close())
	wrong := tb.opts
	wrong.PIN = "9999"
	for range times {
		if _, err := clientlib.Open(tb.home, wrong); syncer.ErrorCode(err) != syncer.CodeUnauthenticated {
			tb.t.Fatalf("open with a wrong PIN: %v, want Unauthenticated", err)
		}
	}
	var err error
	tb.Tablet, err = clientlib.Open(tb.home, tb.opts)
	mustDo(tb.t, err)
}

// pinAudit returns the tablet.pin_failed entries of the server's audit log.
func pinAudit(t *testing.T, st *server.Store) []server.AuditEntry {
	t.Helper()
	all, err := st.AuditEntries(context.Background(), server.AuditFilter{})
	mustDo(t, err)
	var out []server.AuditEntry
	for _, e := range all {
		if e.Kind == server.AuditPINFailed {
			out = append(out, e)
		}
	}
	return out
}

// Wrong PINs entered on a tablet reach the server's audit log at its next sync, each exactly
// once, with the device, its user and the tablet's time of the failure — also when the response
// to the report is lost, and when later failures follow after the first ones were forgotten.
func TestWrongPINsReachTheAuditLogOnce(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	kim, err := st.AddUser(ctx, "Kim", []string{"consultant"})
	mustDo(t, err)
	tb := enrollTablet(t, s, "Kim")
	_, err = tb.Sync(ctx)
	mustDo(t, err)

	tb.wrongPIN(2)
	recorded, err := tb.FailedUnlocks(ctx)
	mustDo(t, err)
	if len(recorded) != 2 {
		t.Fatalf("recorded wrong PINs: %d, want 2", len(recorded))
	}

	// The server logs the report but its response is lost, and so is the one to the tablet's
	// immediate retry: the sync's data transfer is done, the error says so, and the tablet keeps
	// its failures for the next sync.
	tb.net.mu.Lock()
	tb.net.lose, tb.net.loseOnly = 2, "/ReportUnlockFailures"
	tb.net.mu.Unlock()
	if _, err := tb.Sync(ctx); syncer.ErrorCode(err) != syncer.CodeUnavailable {
		t.Fatalf("sync with the report's response lost: %v, want Unavailable", err)
	}
	if kept, _ := tb.FailedUnlocks(ctx); len(kept) != 2 {
		t.Fatalf("wrong PINs kept after a lost response: %d, want 2", len(kept))
	}
	if got := pinAudit(t, st); len(got) != 2 {
		t.Fatalf("audit entries after the lost response: %d, want 2", len(got))
	}

	r, err := tb.Sync(ctx)
	mustDo(t, err)
	if r.UnlockFailuresReported != 2 {
		t.Fatalf("reported: %d, want 2 (the server acknowledges what it logged before)", r.UnlockFailuresReported)
	}
	got := pinAudit(t, st)
	if len(got) != 2 {
		t.Fatalf("audit entries after the report was sent again: %d, want 2", len(got))
	}
	for i, e := range got {
		if e.DeviceID != tb.DeviceID() || e.ActorUserID != kim.ID || e.Detail["tablet_at_ms"] != strconv.FormatInt(recorded[i].AtMs, 10) {
			t.Fatalf("audit entry %d: %+v, want device %s, user %s, time %d", i, e, tb.DeviceID(), kim.ID, recorded[i].AtMs)
		}
	}
	if left, _ := tb.FailedUnlocks(ctx); len(left) != 0 {
		t.Fatalf("wrong PINs left on the tablet after the report: %d", len(left))
	}

	// Nothing is reported again.
	r, err = tb.Sync(ctx)
	mustDo(t, err)
	if n := len(pinAudit(t, st)); r.UnlockFailuresReported != 0 || n != 2 {
		t.Fatalf("a second sync reported %d, audit holds %d; want 0 and 2", r.UnlockFailuresReported, n)
	}

	// A later wrong PIN, after the table was emptied, gets a new id and is logged too.
	tb.wrongPIN(1)
	r, err = tb.Sync(ctx)
	mustDo(t, err)
	if n := len(pinAudit(t, st)); r.UnlockFailuresReported != 1 || n != 3 {
		t.Fatalf("a later wrong PIN: reported %d, audit holds %d; want 1 and 3", r.UnlockFailuresReported, n)
	}
	v, err := st.VerifyAudit(ctx)
	mustDo(t, err)
	if len(v.Problems) > 0 {
		t.Fatalf("audit log broken: %v", v.Problems)
	}
}

// A retired tablet reports its wrong PINs before it wipes itself, like its final push.
func TestRetiredTabletReportsWrongPINsBeforeWiping(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	_, err := st.AddUser(ctx, "Kim", []string{"consultant"})
	mustDo(t, err)
	tb := enrollTablet(t, s, "Kim")
	tb.wrongPIN(1)
	_, err = st.RevokeDevice(ctx, server.Actor{}, tb.DeviceID(), server.DeviceRetired)
	mustDo(t, err)
	if _, err := tb.Sync(ctx); err != clientlib.ErrWiped {
		t.Fatalf("sync of a retired tablet: %v, want ErrWiped", err)
	}
	if got := pinAudit(t, st); len(got) != 1 || got[0].DeviceID != tb.DeviceID() {
		t.Fatalf("audit entries of a retired tablet's wrong PIN: %+v, want one for its device", got)
	}
}

// A report is refused whole, with a clear sentence and nothing logged, when it is too long, out of
// order or timed in the future.
func TestUnlockFailureReportBounds(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	_, err := st.AddUser(ctx, "Kim", []string{"consultant"})
	mustDo(t, err)
	tb := enrollTablet(t, s, "Kim")
	tok, err := tb.AccessToken(ctx)
	mustDo(t, err)
	rpc := samvaerv1connect.NewDeviceServiceClient(http.DefaultClient, s.URL())
	now := time.Now().UnixMilli()
	many := make([]*v1.UnlockFailure, syncer.MaxUnlockFailuresPerReport+1)
	for i := range many {
		many[i] = &v1.UnlockFailure{Id: int64(i + 1), AtMs: now}
	}
	for _, tc := range []struct {
		name     string
		failures []*v1.UnlockFailure
	}{
		{"too many", many},
		{"no id", []*v1.UnlockFailure{{Id: 0, AtMs: now}}},
		{"ids out of order", []*v1.UnlockFailure{{Id: 2, AtMs: now}, {Id: 1, AtMs: now}}},
		{"the same id twice", []*v1.UnlockFailure{{Id: 1, AtMs: now}, {Id: 1, AtMs: now}}},
		{"no time", []*v1.UnlockFailure{{Id: 1}}},
		{"in the future", []*v1.UnlockFailure{{Id: 1, AtMs: now + syncer.MaxClockSkewMs + time.Hour.Milliseconds()}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rpc.ReportUnlockFailures(ctx, withToken(&v1.ReportUnlockFailuresRequest{Failures: tc.failures}, tok))
			if connect.CodeOf(err) != connect.CodeInvalidArgument {
				t.Fatalf("got %v, want InvalidArgument", err)
			}
			var ce *connect.Error
			if !errors.As(err, &ce) || len(ce.Message()) < 20 {
				t.Fatalf("message %q is not a sentence", ce.Message())
			}
		})
	}
	if got := pinAudit(t, st); len(got) != 0 {
		t.Fatalf("refused reports logged %d entries", len(got))
	}
	// Without an access token nothing is accepted.
	_, err = rpc.ReportUnlockFailures(ctx, connect.NewRequest(&v1.ReportUnlockFailuresRequest{Failures: []*v1.UnlockFailure{{Id: 1, AtMs: now}}}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("report without a token: %v, want Unauthenticated", err)
	}
}

// A tablet restored from an older copy of its home (a device backup) loses nothing of the wrong
// PINs entered on it: those entered after the restore reach the audit log although the copy
// predates failures the server already logged, and one still unreported in the copy, logged
// since, is not logged twice. The audit log ends with every wrong PIN exactly once, by its time.
func TestWrongPINsAfterARestoredHomeReachTheAuditLog(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	_, err := st.AddUser(ctx, "Kim", []string{"consultant"})
	mustDo(t, err)
	tb := enrollTablet(t, s, "Kim")
	syncOK(t, tb)

	var want []int64 // the time of every wrong PIN entered
	wrong := func(n int) {
		t.Helper()
		before, err := tb.FailedUnlocks(ctx)
		mustDo(t, err)
		tb.wrongPIN(n)
		after, err := tb.FailedUnlocks(ctx)
		mustDo(t, err)
		if len(after) != len(before)+n {
			t.Fatalf("the tablet recorded %d wrong PINs, want %d", len(after)-len(before), n)
		}
		for _, f := range after[len(before):] {
			want = append(want, f.AtMs)
		}
		time.Sleep(2 * time.Millisecond) // each wrong PIN at its own time
	}
	wrong(2)
	syncOK(t, tb)
	wrong(1) // not yet reported when the home is copied
	saved := tb.backupHome()
	syncOK(t, tb)
	wrong(1)
	syncOK(t, tb)

	tb.restoreHome(saved)
	wrong(2)
	r := syncOK(t, tb)
	if left, _ := tb.FailedUnlocks(ctx); len(left) != 0 {
		t.Fatalf("wrong PINs left on the restored tablet after its sync: %d", len(left))
	}
	var got []int64
	for _, e := range pinAudit(t, st) {
		at, err := strconv.ParseInt(e.Detail["tablet_at_ms"], 10, 64)
		mustDo(t, err)
		got = append(got, at)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("the audit log holds wrong PINs at %v, want each of the %d entered once, at %v (the restored tablet's sync reported %d)",
			got, len(want), want, r.UnlockFailuresReported)
	}
	v, err := st.VerifyAudit(ctx)
	mustDo(t, err)
	if len(v.Problems) > 0 {
		t.Fatalf("audit log broken: %v", v.Problems)
	}
}
