package e2e

import (
	"context"
	"testing"

	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The digest means "holds what it should hold": through a report's whole lifecycle — draft,
// submitted, acknowledged and purged, an addendum after that — every synced tablet's digest
// equals the server's digest for its holder (the consultant role, and the tablet's own user),
// and a caseworker's tablet, which holds nothing of the case, equals the server's digest for the
// caseworker role.
func TestDigestsAgreeThroughTheReportLifecycle(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim", "Lea")
	st := w.srv.Store()
	kim, lea, sara := enrollTablet(t, w.srv, "Kim"), enrollTablet(t, w.srv, "Lea"), enrollTablet(t, w.srv, "Sara")
	tablets := map[string]*tablet{"Kim": kim, "Lea": lea, "Sara": sara}
	roles := map[string]string{"Kim": syncer.RoleConsultant, "Lea": syncer.RoleConsultant, "Sara": syncer.RoleCaseworker}
	check := func(step string) {
		t.Helper()
		for _, name := range []string{"Kim", "Lea", "Sara", "Kim"} { // Kim again: Lea's sync may bring news
			_, err := tablets[name].Sync(ctx)
			mustDo(t, err)
		}
		for name, tb := range tablets {
			got, err := tb.Digest(ctx, w.caseID)
			mustDo(t, err)
			byRole, err := st.CaseDigestFor(ctx, w.caseID, server.Holder{Role: roles[name]})
			mustDo(t, err)
			byUser, err := st.CaseDigestFor(ctx, w.caseID, server.Holder{User: name})
			mustDo(t, err)
			if got != byRole || got != byUser {
				t.Fatalf("%s: %s's tablet digest %s, the server's for the role %s, for the user %s", step, name, got, byRole, byUser)
			}
		}
		if d, _ := st.CaseDigest(ctx, w.caseID); d == records.EmptyDigest() {
			t.Fatalf("%s: a consultant's digest is the empty one", step)
		}
	}
	check("before anything is written")
	mustDo(t, kim.SetReportSection(ctx, w.visitID, "opening", "Ida is shy for a minute."))
	_, err := kim.Observe(ctx, w.visitID, "Ida runs to her mother.")
	mustDo(t, err)
	check("draft")
	mustDo(t, kim.Submit(ctx, w.visitID))
	check("submitted")
	reportID := visitOn(t, kim, w.visitID).ReportID
	u, err := st.UserByName(ctx, "Sara")
	mustDo(t, err)
	mustDo(t, st.Acknowledge(ctx, server.Identity{UserID: u.ID, DeviceID: syncer.NewID(), Roles: u.Roles}, reportID))
	check("acknowledged and purged")
	if v := visitOn(t, lea, w.visitID); section(v, "opening") != "" || len(v.Observations) != 1 || v.Observations[0].Text != "" {
		t.Fatalf("the acknowledged report's text is still on Lea's tablet: %+v", v)
	}
	_, err = kim.AddAddendum(ctx, w.visitID, "ending", "The visit ended at 11:50.")
	mustDo(t, err)
	check("an addendum after the purge")
	_, err = st.AddParentComment(ctx, server.Identity{UserID: u.ID, DeviceID: syncer.NewID(), Roles: u.Roles}, reportID, "We see it differently.", 1)
	mustDo(t, err)
	check("a parent's comment after the purge")
}
