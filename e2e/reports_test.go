package e2e

import (
	"context"
	"testing"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

func visitOn(t testing.TB, tb *tablet, visitID string) clientlib.Visit {
	t.Helper()
	visits, err := tb.Visits(context.Background())
	mustDo(t, err)
	for _, v := range visits {
		if v.ID == visitID {
			return v
		}
	}
	t.Fatalf("visit %s not on the tablet", visitID)
	return clientlib.Visit{}
}

func section(v clientlib.Visit, key string) string {
	for _, s := range v.Report {
		if s.Key == key {
			return s.Text
		}
	}
	return ""
}

// A tablet offline edits a report that another tablet submits meanwhile. After both sync, the
// submitted report is unchanged everywhere, the offline text is intact in an addendum draft on
// every tablet, and all replicas hold the same state. Signing the draft makes it a submitted
// addendum, and the replicas converge again.
func TestOfflineEditOfASubmittedReportBecomesAnAddendumDraft(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim", "Lea")
	kim := enrollTablet(t, w.srv, "Kim")
	lea := enrollTablet(t, w.srv, "Lea")
	for _, tb := range []*tablet{kim, lea} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}

	offline := "Lea, offline: Ida viser mor sin tegning og fortæller om skolen."
	mustDo(t, lea.SetReportSection(ctx, w.visitID, "interaction", offline))
	mustDo(t, kim.SetReportSection(ctx, w.visitID, "interaction", "Mor læser en bog for Ida."))
	mustDo(t, kim.Submit(ctx, w.visitID))
	_, err := kim.Sync(ctx)
	mustDo(t, err)

	res, err := lea.Sync(ctx)
	mustDo(t, err)
	if res.Conflicts != 1 || res.Rejected != 0 {
		t.Fatalf("lea's sync: %+v", res)
	}
	_, err = kim.Sync(ctx)
	mustDo(t, err)

	want := w.serverDigest(t)
	var draftID string
	for name, tb := range map[string]*tablet{"kim": kim, "lea": lea} {
		if got, err := tb.Digest(ctx, w.caseID); err != nil || got != want {
			t.Fatalf("%s digest %s, server %s (%v)", name, got, want, err)
		}
		v := visitOn(t, tb, w.visitID)
		if v.ReportState != syncer.StateSubmitted || section(v, "interaction") != "Mor læser en bog for Ida." {
			t.Fatalf("%s shows the report as %s with %q", name, v.ReportState, section(v, "interaction"))
		}
		if len(v.Addenda) != 1 || v.Addenda[0].Text != offline || v.Addenda[0].State != syncer.StateDraft || v.Addenda[0].Section != "interaction" {
			t.Fatalf("%s addenda %+v", name, v.Addenda)
		}
		draftID = v.Addenda[0].ID
		st, err := tb.Status(ctx)
		mustDo(t, err)
		if st.Pending != 0 || st.Awaiting != 0 || st.DeadLetters != 0 {
			t.Fatalf("%s status %+v", name, st)
		}
	}

	mustDo(t, lea.SignAddendum(ctx, draftID))
	for _, tb := range []*tablet{lea, kim} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}
	want = w.serverDigest(t)
	for name, tb := range map[string]*tablet{"kim": kim, "lea": lea} {
		if got, _ := tb.Digest(ctx, w.caseID); got != want {
			t.Fatalf("%s digest after signing %s, server %s", name, got, want)
		}
		if v := visitOn(t, tb, w.visitID); v.Addenda[0].State != syncer.StateSubmitted {
			t.Fatalf("%s shows the signed addendum as %s", name, v.Addenda[0].State)
		}
	}

	// The caseworker acknowledges: at their next sync the tablets let go of the text.
	sara, err := w.srv.Store().UserByName(ctx, "Sara")
	mustDo(t, err)
	reportID := visitOn(t, kim, w.visitID).ReportID
	mustDo(t, w.srv.Store().Acknowledge(ctx, server.Identity{UserID: sara.ID, DeviceID: syncer.NewID(), Roles: sara.Roles}, reportID))
	for name, tb := range map[string]*tablet{"kim": kim, "lea": lea} {
		res, err := tb.Sync(ctx)
		mustDo(t, err)
		v := visitOn(t, tb, w.visitID)
		if res.Purged != 1 || v.ReportState != syncer.StateAcknowledged || section(v, "interaction") != "" || v.Addenda[0].Text != "" {
			t.Fatalf("%s after acknowledgement: purged %d, %s, %q", name, res.Purged, v.ReportState, section(v, "interaction"))
		}
	}
}
