package e2e

import (
	"context"
	"testing"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// A visit cancelled while its consultant works on it offline: the offline observation, tick and
// report section are all applied (no dead letter), every consultant's tablet shows the visit as
// cancelled with what was written, the consultant reads the draft through GetReport, and the
// caseworker's GetCase shows the cancelled visit with its observation. Tablets and server agree.
func TestAVisitCancelledWhileEditedOfflineKeepsWhatWasWritten(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim", "Lea")
	st := w.srv.Store()
	kim, lea := enrollTablet(t, w.srv, "Kim"), enrollTablet(t, w.srv, "Lea")
	for _, tb := range []*tablet{kim, lea} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}
	// Offline on Kim's tablet, while the visit is cancelled on the server.
	_, err := kim.Observe(ctx, w.visitID, "Mor ringer og aflyser; Ida græder.")
	mustDo(t, err)
	mustDo(t, kim.Check(ctx, w.visitID, "parents_state_checked", true))
	mustDo(t, kim.SetReportSection(ctx, w.visitID, "context", "Samværet blev aflyst samme morgen."))
	mustDo(t, st.CancelVisit(ctx, w.visitID))

	res, err := kim.Sync(ctx)
	mustDo(t, err)
	if res.Rejected != 0 {
		t.Fatalf("the offline work was refused: %+v", res)
	}
	if dl, err := kim.DeadLetters(ctx); err != nil || len(dl) != 0 {
		t.Fatalf("dead letters %v (%v)", dl, err)
	}
	_, err = lea.Sync(ctx)
	mustDo(t, err)
	want := w.serverDigest(t)
	for name, tb := range map[string]*tablet{"Kim": kim, "Lea": lea} {
		v := visitOn(t, tb, w.visitID)
		if v.CancelledMs == 0 {
			t.Fatalf("%s's tablet does not show the visit as cancelled", name)
		}
		if len(v.Observations) != 1 || v.Observations[0].Text != "Mor ringer og aflyser; Ida græder." || section(v, "context") != "Samværet blev aflyst samme morgen." {
			t.Fatalf("%s's tablet lost what was written: %+v", name, v)
		}
		ticked := false
		for _, it := range v.Checklist {
			ticked = ticked || (it.Key == "parents_state_checked" && it.Checked)
		}
		if !ticked {
			t.Fatalf("%s's tablet lost the tick", name)
		}
		if got, err := tb.Digest(ctx, w.caseID); err != nil || got != want {
			t.Fatalf("%s digest %s, server %s (%v)", name, got, want, err)
		}
	}

	kimUser, err := st.UserByName(ctx, "Kim")
	mustDo(t, err)
	rep, err := st.GetReport(ctx, server.Identity{UserID: kimUser.ID, DeviceID: kim.DeviceID(), Roles: kimUser.Roles}, visitOn(t, kim, w.visitID).ReportID, "the cancelled visit")
	mustDo(t, err)
	if rep.Overdue || len(rep.Observations) != 1 || rep.Sections[0].Text != "Samværet blev aflyst samme morgen." {
		t.Fatalf("the consultant's report of the cancelled visit: %+v", rep)
	}
	sara, err := st.UserByName(ctx, "Sara")
	mustDo(t, err)
	cv, err := st.GetCase(ctx, server.Identity{UserID: sara.ID, DeviceID: syncer.NewID(), Roles: sara.Roles}, w.caseID, "opfølgning")
	mustDo(t, err)
	var cancelled, observed bool
	for _, r := range cv.Records {
		cancelled = cancelled || (r.Type == syncer.TypeVisit && r.ID == w.visitID && r.Fields["cancelled_ms"] != "")
		observed = observed || (r.Type == syncer.TypeObservation && r.Fields["text"] == "Mor ringer og aflyser; Ida græder.")
	}
	if !cancelled || !observed {
		t.Fatalf("the caseworker's case view: cancelled %v, observation %v", cancelled, observed)
	}
}
