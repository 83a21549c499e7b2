package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/syncer"
)

// rpcAs calls the server's RPC API as the user of an enrolled device.
type rpcAs struct {
	t     testing.TB
	tab   *tablet
	cases samvaerv1connect.CaseServiceClient
}

func newRPC(t testing.TB, w *world, user string) *rpcAs {
	tb := enrollTablet(t, w.srv, user)
	return &rpcAs{t: t, tab: tb, cases: samvaerv1connect.NewCaseServiceClient(http.DefaultClient, w.srv.URL())}
}

func authed[T any](r *rpcAs, msg *T) *connect.Request[T] {
	r.t.Helper()
	tok, err := r.tab.AccessToken(context.Background())
	mustDo(r.t, err)
	req := connect.NewRequest(msg)
	req.Header().Set("Authorization", "Bearer "+tok)
	return req
}

// A caseworker builds a case through CaseService; the consultant's tablet then holds all of it,
// read-only; the rules of who may do what hold; every read is logged with its purpose.
func TestCaseServiceBuildsWhatTheTabletSees(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	st := w.srv.Store()
	for name, role := range map[string]string{"Bo": "caseworker", "Cora": "coordinator"} {
		_, err := st.AddUser(ctx, name, []string{role})
		mustDo(t, err)
	}
	sara, bo, cora, kim := newRPC(t, w, "Sara"), newRPC(t, w, "Bo"), newRPC(t, w, "Cora"), enrollTablet(t, w.srv, "Kim")

	created, err := sara.cases.CreateCase(ctx, authed(sara, &v1.CreateCaseRequest{Children: []string{"Ida", "Emil"}, Parents: []string{"Mette"}, Reference: "2026-7"}))
	mustDo(t, err)
	caseID, kids := created.Msg.CaseId, created.Msg.ChildIds
	if len(kids) != 2 {
		t.Fatalf("child ids %v", kids)
	}
	if _, err := sara.cases.CreateCase(ctx, authed(sara, &v1.CreateCaseRequest{Children: []string{"Sofie"}, Reference: "2026-7"})); connect.CodeOf(err) != connect.CodeAlreadyExists ||
		!strings.Contains(err.Error(), "reference") || strings.Contains(err.Error(), "Sofie") {
		t.Fatalf("a second case with the reference 2026-7: %v", err)
	}
	_, err = sara.cases.SetDecision(ctx, authed(sara, &v1.SetDecisionRequest{CaseId: caseID, Kind: v1.VisitKind_VISIT_KIND_SUPPORTED, ConsentParents: true}))
	mustDo(t, err)
	cond, err := sara.cases.SetConditions(ctx, authed(sara, &v1.SetConditionsRequest{CaseId: caseID, Text: "Sober on arrival."}))
	mustDo(t, err)
	_, err = sara.cases.AddGoal(ctx, authed(sara, &v1.AddGoalRequest{CaseId: caseID, Text: "Mother reads Ida's signals."}))
	mustDo(t, err)
	_, err = sara.cases.AddWish(ctx, authed(sara, &v1.AddWishRequest{CaseId: caseID, ChildId: kids[0], Text: "Ida wants her grandmother there.", SupportPerson: true}))
	mustDo(t, err)
	start := time.Now().Add(24 * time.Hour).Truncate(time.Hour)
	visit := &v1.AddVisitRequest{CaseId: caseID, Consultant: "Kim", Kind: v1.VisitKind_VISIT_KIND_SUPPORTED,
		StartMs: start.UnixMilli(), EndMs: start.Add(2 * time.Hour).UnixMilli(), Room: "Rum 3"}
	_, err = sara.cases.AddVisit(ctx, authed(sara, visit))
	mustDo(t, err)
	visit.StartMs += 3600_000
	visit.EndMs += 3600_000
	if _, err := sara.cases.AddVisit(ctx, authed(sara, visit)); connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "Rum 3") {
		t.Fatalf("double booking: %v", err)
	}

	// Who may do what.
	if _, err := bo.cases.AddGoal(ctx, authed(bo, &v1.AddGoalRequest{CaseId: caseID, Text: "x"})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("another caseworker edited the case: %v", err)
	}
	if _, err := cora.cases.SetChecklistTemplate(ctx, authed(cora, &v1.SetChecklistTemplateRequest{Items: []*v1.ChecklistTemplateItem{{Phase: "before", Key: "room_ready", Label: "Room ready"}}})); err != nil {
		t.Fatalf("a coordinator could not edit the template: %v", err)
	}
	if _, err := sara.cases.SetChecklistTemplate(ctx, authed(sara, &v1.SetChecklistTemplateRequest{Items: []*v1.ChecklistTemplateItem{{Phase: "before", Key: "k", Label: "l"}}})); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("a caseworker edited the template: %v", err)
	}
	if _, err := sara.cases.GetCase(ctx, authed(sara, &v1.GetCaseRequest{CaseId: caseID})); connect.CodeOf(err) != connect.CodeInvalidArgument {
		t.Fatalf("a read without a purpose: %v", err)
	}
	got, err := sara.cases.GetCase(ctx, authed(sara, &v1.GetCaseRequest{CaseId: caseID, Purpose: "plan the start-up meeting"}))
	mustDo(t, err)
	types := map[string]int{}
	for _, r := range got.Msg.Records {
		types[r.Type]++
	}
	if types[syncer.TypeChild] != 2 || types[syncer.TypeDecision] != 1 || types[syncer.TypeConditions] != 1 || types[syncer.TypeVisit] != 1 {
		t.Fatalf("case records %v", types)
	}

	// The consultant's tablet holds it all, offline, read-only.
	_, err = kim.Sync(ctx)
	mustDo(t, err)
	c, err := kim.Case(ctx, caseID)
	mustDo(t, err)
	if len(c.Children) != 2 || len(c.Decisions) != 1 || !c.Decisions[0].ConsentParents || c.Conditions.ID != cond.Msg.ConditionsId ||
		c.Conditions.Text != "Sober on arrival." || len(c.Goals) != 1 || len(c.Wishes) != 1 || !c.Wishes[0].SupportPerson {
		t.Fatalf("the case on the tablet: %+v", c)
	}

	entries, err := st.AccessForChild(ctx, kids[1])
	mustDo(t, err)
	if len(entries) != 1 || entries[0].Purpose != "plan the start-up meeting" || entries[0].What != "case "+caseID {
		t.Fatalf("access log %+v", entries)
	}
}
