package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/server"
)

// caseSite is a site with a caseworker (sara), a consultant (kim) and a case of sara's.
type caseSite struct {
	*site
	sara, kim server.User
	caseID    string
}

func newCaseSite(t *testing.T) *caseSite {
	t.Helper()
	s := newSite(t)
	cs := &caseSite{site: s, sara: s.user("sara", "caseworker"), kim: s.user("kim", "consultant")}
	id, err := s.srv.Store.AddCase(context.Background(), server.NewCase{Children: []string{"CHILD-MARKER"}, Parents: []string{"PARENT-MARKER"},
		Caseworker: "sara", Reference: "2026-0042"})
	if err != nil {
		t.Fatal(err)
	}
	cs.caseID = id
	return cs
}

// casePath is the case page opened for a purpose.
func (cs *caseSite) casePath(purpose string) string {
	return "/cases/" + cs.caseID + "?" + url.Values{"purpose": {purpose}}.Encode()
}

// reads are the case's access log entries (audit kind case.read), oldest first.
func (cs *caseSite) reads() []server.AuditEntry {
	cs.t.Helper()
	all, err := cs.srv.Store.AuditEntries(context.Background(), server.AuditFilter{CaseID: cs.caseID})
	if err != nil {
		cs.t.Fatal(err)
	}
	var out []server.AuditEntry
	for _, e := range all {
		if e.Kind == server.AuditCaseRead {
			out = append(out, e)
		}
	}
	return out
}

func (cs *caseSite) visits() int {
	cs.t.Helper()
	list, err := cs.srv.Store.CasesOf(context.Background(), cs.sara.ID)
	if err != nil || len(list) != 1 {
		cs.t.Fatalf("sara's cases: %v, %v", list, err)
	}
	return list[0].Visits
}

// A caseworker creates a case from the list page, which names cases by reference only; opening
// it asks why, and the access log holds the purpose given.
func TestACaseworkerCreatesAndOpensACase(t *testing.T) {
	s := newSite(t)
	lis := s.user("lis", "caseworker")
	b := s.signedIn(lis)
	code, _ := b.post("/cases", url.Values{"csrf": {b.csrf("/cases")}, "reference": {"2026-0100"},
		"children": {"Ida NAME-MARKER\r\nEmil NAME-MARKER\r\n"}, "parents": {"Mette NAME-MARKER"}, "placement": {"Plejefamilie NAME-MARKER"}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("create a case: %d", code)
	}
	code, body, _ := b.get("/cases?done=case")
	if code != http.StatusOK || !strings.Contains(body, "2026-0100") || !strings.Contains(body, "Sagen er oprettet") {
		t.Fatalf("the list after creating: %d %s", code, body)
	}
	if strings.Contains(body, "MARKER") {
		t.Fatal("the case list shows a child's or parent's name")
	}
	m := regexp.MustCompile(`href="/cases/([^"?]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the list links no case")
	}
	caseID := m[1]

	// Without a purpose the page asks for one and shows nothing of the case.
	code, body, _ = b.get("/cases/" + caseID)
	if code != http.StatusOK || !strings.Contains(body, `name="reason"`) || strings.Contains(body, "MARKER") {
		t.Fatalf("opening without a purpose: %d", code)
	}
	// The purpose form joins the chosen purpose and the person's words into the case page's URL.
	code, _, h := b.get("/cases/" + caseID + "?" + url.Values{"reason": {"Planning visits"}, "note": {"before Monday"}}.Encode())
	if code != http.StatusSeeOther || !strings.Contains(h.Get("Location"), "purpose=Planning+visits") {
		t.Fatalf("the purpose form: %d to %q", code, h.Get("Location"))
	}
	code, body, _ = b.get(h.Get("Location"))
	if code != http.StatusOK || !strings.Contains(body, "Ida NAME-MARKER") || !strings.Contains(body, "Plejefamilie NAME-MARKER") || !strings.Contains(body, "lis (Sagsbehandler)") {
		t.Fatalf("the case page: %d", code)
	}
	entries, err := s.srv.Store.AuditEntries(context.Background(), server.AuditFilter{CaseID: caseID})
	if err != nil {
		t.Fatal(err)
	}
	var purposes []string
	for _, e := range entries {
		if e.Kind == server.AuditCaseRead {
			purposes = append(purposes, e.Purpose)
		}
	}
	if len(purposes) != 1 || purposes[0] != "Planning visits — before Monday" {
		t.Fatalf("access log purposes: %q", purposes)
	}
}

// An empty purpose form is refused with the reason, and nothing is read.
func TestACaseIsNotOpenedWithoutAPurpose(t *testing.T) {
	cs := newCaseSite(t)
	b := cs.signedIn(cs.sara)
	code, body, _ := b.get("/cases/" + cs.caseID + "?reason=&note=+")
	if code != http.StatusBadRequest || !strings.Contains(body, "logges med formål") || strings.Contains(body, "MARKER") {
		t.Fatalf("an empty purpose: %d", code)
	}
	if n := len(cs.reads()); n != 0 {
		t.Fatalf("%d reads logged without a purpose", n)
	}
}

// A caseworker with no part in the case hears it does not exist; nothing is logged as read.
func TestACaseIsHiddenFromOthers(t *testing.T) {
	cs := newCaseSite(t)
	b := cs.signedIn(cs.user("lis", "caseworker"))
	code, body, _ := b.get(cs.casePath("Case review"))
	if code != http.StatusNotFound || strings.Contains(body, "MARKER") {
		t.Fatalf("another caseworker opens the case: %d", code)
	}
	if code, _ := b.post("/cases/"+cs.caseID+"/goals", url.Values{"csrf": {b.csrf("/cases")}, "purpose": {"Case review"}, "text": {"a goal"}}, nil); code != http.StatusNotFound {
		t.Fatalf("another caseworker edits the case: %d", code)
	}
	if _, body, _ := b.get("/cases"); strings.Contains(body, "2026-0042") {
		t.Fatal("another caseworker's list shows the case")
	}
	if n := len(cs.reads()); n != 0 {
		t.Fatalf("%d reads logged for a refused person", n)
	}
}

// The case page's forms record what the caseworker sets and come back to the page with a notice;
// a consultant on the case may read it but not edit it.
func TestCaseFormsAndWhoMayUseThem(t *testing.T) {
	cs := newCaseSite(t)
	ctx := context.Background()
	sara := cs.signedIn(cs.sara)
	path := cs.casePath("Planning visits")
	token := sara.csrf(path)
	children, _ := cs.srv.Store.ChildIDs(ctx, cs.caseID)
	for _, tc := range []struct {
		action string
		form   url.Values
		shows  string
	}{
		{"decision", url.Values{"kind": {"supervised"}, "from": {"2026-11-01"}, "to": {"2027-04-30"}, "decision_purpose": {"Keep the child safe"}}, "fra søn. 1. nov. 2026 til fre. 30. apr. 2027"},
		{"conditions", url.Values{"text": {"Sober on arrival"}}, "Version 1,"},
		{"conditions", url.Values{"text": {"Visit ends at 15:00"}}, "Version 2,"},
		{"goals", url.Values{"text": {"Reads the child's signals"}}, "Reads the child&#39;s signals (åbent)"},
		{"wishes", url.Values{"child": {children[0]}, "text": {"I want to bake"}, "support_person": {"1"}}, "ønsker en støtteperson"},
		{"visits", url.Values{"kind": {"supervised"}, "consultant": {cs.kim.ID}, "start": {"2026-11-28T10:00"}, "end": {"2026-11-28T12:00"}, "room": {"Rum 2"}, "place": {"Familiehuset"}}, "Rum 2"},
	} {
		tc.form.Set("csrf", token)
		tc.form.Set("purpose", "Planning visits")
		code, _ := sara.post("/cases/"+cs.caseID+"/"+tc.action, tc.form, nil)
		if code != http.StatusSeeOther {
			t.Fatalf("%s: %d", tc.action, code)
		}
		if _, body, _ := sara.get(path); !strings.Contains(body, tc.shows) {
			t.Fatalf("after %s the page lacks %q", tc.action, tc.shows)
		}
	}
	_, body, _ := sara.get(path)
	if !strings.Contains(body, "Version 2, gældende fra") || !strings.Contains(body, "Visit ends at 15:00") || !strings.Contains(body, "kim") || !strings.Contains(body, ">Kladde<") {
		t.Fatal("the case page does not show the conditions in force or the visit with its consultant and report state")
	}
	visitID := regexp.MustCompile(`/visits/([^/"]+)/reschedule`).FindStringSubmatch(body)
	if visitID == nil {
		t.Fatal("no reschedule form")
	}
	code, _ := sara.post("/cases/"+cs.caseID+"/visits/"+visitID[1]+"/reschedule", url.Values{"csrf": {token}, "purpose": {"Planning visits"},
		"start": {"2026-11-29T13:00"}, "end": {"2026-11-29T15:00"}, "room": {"Rum 3"}}, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("reschedule: %d", code)
	}
	if _, body, _ := sara.get(cs.casePath("Planning visits") + "&done=reschedule"); !strings.Contains(body, "søn. 29. nov. 2026 kl. 13.00–15.00") || !strings.Contains(body, "Samværet er flyttet") {
		t.Fatal("the moved visit does not show at its new time")
	}

	// The consultant reads the case but cannot change it, and the page says why.
	kim := cs.signedIn(cs.kim)
	if code, _, _ := kim.get(path); code != http.StatusOK {
		t.Fatalf("the consultant opens the case: %d", code)
	}
	code, body = kim.post("/cases/"+cs.caseID+"/goals", url.Values{"csrf": {kim.csrf(path)}, "purpose": {"Planning visits"}, "text": {"KIM-GOAL"}}, nil)
	if code != http.StatusForbidden || !strings.Contains(body, "Din rolle på sagen giver ikke lov til dette; det kræver rollen sagsbehandler eller koordinator.") {
		t.Fatalf("a consultant adds a goal: %d", code)
	}
	if _, body, _ := sara.get(path); strings.Contains(body, "KIM-GOAL") {
		t.Fatal("a consultant's refused goal was stored")
	}
}

// A visit in a room another visit holds at that time is refused with the store's sentence, and
// nothing is added; bad input is refused the same way.
func TestAVisitInATakenRoomIsRefused(t *testing.T) {
	cs := newCaseSite(t)
	ctx := context.Background()
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, cph)
	if _, err := cs.srv.Store.AddVisit(ctx, server.NewVisit{CaseID: cs.caseID, Consultant: "kim", Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Room: "Rum 2"}); err != nil {
		t.Fatal(err)
	}
	b := cs.signedIn(cs.sara)
	path := cs.casePath("Planning visits")
	form := func(start, end string) url.Values {
		return url.Values{"csrf": {b.csrf(path)}, "purpose": {"Planning visits"}, "kind": {"supervised"}, "consultant": {cs.kim.ID},
			"start": {start}, "end": {end}, "room": {"Rum 2"}}
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		says   string
	}{
		{"taken room", form("2026-11-28T11:00", "2026-11-28T13:00"), http.StatusConflict, `Lokalet »Rum 2« er booket fra lør. 28. nov. 2026 kl. 10.00 til lør. 28. nov. 2026 kl. 12.00`},
		{"no start", form("", "2026-11-28T13:00"), http.StatusBadRequest, "Angiv samværets start"},
		{"ends before it starts", form("2026-11-28T15:00", "2026-11-28T14:00"), http.StatusBadRequest, "Et samvær skal slutte, efter det er begyndt."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := b.post("/cases/"+cs.caseID+"/visits", tc.form, nil)
			if code != tc.status || !strings.Contains(body, tc.says) || !strings.Contains(body, `name="purpose" value="Planning visits"`) {
				t.Fatalf("got %d, want %d and the case page again saying %q", code, tc.status, tc.says)
			}
		})
	}
	if n := cs.visits(); n != 1 {
		t.Fatalf("refused visits were added: %d visits", n)
	}

	// Moving another visit into the room at that time is refused the same way; it stays put.
	other, err := cs.srv.Store.AddVisit(ctx, server.NewVisit{CaseID: cs.caseID, Consultant: "kim", Kind: "supervised", Start: start, End: start.Add(time.Hour), Room: "Rum 3"})
	if err != nil {
		t.Fatal(err)
	}
	move := form("2026-11-28T10:30", "2026-11-28T11:30")
	if code, body := b.post("/cases/"+cs.caseID+"/visits/"+other+"/reschedule", move, nil); code != http.StatusConflict || !strings.Contains(body, `Lokalet »Rum 2« er booket fra lør. 28. nov. 2026 kl. 10.00`) {
		t.Fatalf("moving a visit into a taken room: %d", code)
	}
	slots, err := cs.srv.Store.VisitsBetween(ctx, cs.sara.ID, start.UnixMilli(), start.Add(time.Hour).UnixMilli())
	if err != nil || len(slots) != 2 {
		t.Fatalf("visits after the refused move: %+v, %v", slots, err)
	}
	for _, sl := range slots {
		if sl.ID == other && (sl.Room != "Rum 3" || sl.StartMs != start.UnixMilli()) {
			t.Fatalf("the refused move changed the visit: %+v", sl)
		}
	}
}

// A case form without the session's token is refused and changes nothing.
func TestCaseFormsNeedTheToken(t *testing.T) {
	cs := newCaseSite(t)
	b := cs.signedIn(cs.sara)
	form := url.Values{"purpose": {"Planning visits"}, "kind": {"supervised"}, "consultant": {cs.kim.ID},
		"start": {"2026-11-28T10:00"}, "end": {"2026-11-28T12:00"}}
	if code, _ := b.post("/cases/"+cs.caseID+"/visits", form, nil); code != http.StatusForbidden {
		t.Fatalf("a visit form without the token: %d", code)
	}
	if code, _ := b.post("/cases", url.Values{"children": {"X"}}, nil); code != http.StatusForbidden {
		t.Fatalf("a case form without the token: %d", code)
	}
	if n := cs.visits(); n != 0 {
		t.Fatalf("a forged form added %d visits", n)
	}
	if list, _ := cs.srv.Store.CasesOf(context.Background(), cs.sara.ID); len(list) != 1 {
		t.Fatalf("a forged form created a case: %d cases", len(list))
	}
}

// A coordinator creates a case for a caseworker and works on it; a caseworker cannot create one
// for a colleague.
func TestWhoCreatesACaseForWhom(t *testing.T) {
	s := newSite(t)
	lis := s.user("lis", "caseworker")
	s.user("sara", "caseworker")
	coord := s.signedIn(s.user("cora", "coordinator"))
	if code, _ := coord.post("/cases", url.Values{"csrf": {coord.csrf("/cases")}, "children": {"A"}, "reference": {"2026-0200"}, "caseworker": {lis.ID}}, nil); code != http.StatusSeeOther {
		t.Fatalf("a coordinator creates a case: %d", code)
	}
	for _, b := range []*browser{coord, s.signedIn(lis)} {
		if _, body, _ := b.get("/cases"); !strings.Contains(body, "2026-0200") {
			t.Fatal("the case is not in the coordinator's and caseworker's lists")
		}
	}
	b := s.signedIn(lis)
	code, body := b.post("/cases", url.Values{"csrf": {b.csrf("/cases")}, "children": {"B"}, "reference": {"2026-0201"}, "caseworker": {"sara"}}, nil)
	if code != http.StatusForbidden || !strings.Contains(body, "En sagsbehandler opretter sine egne sager") {
		t.Fatalf("a caseworker creates a case for a colleague: %d", code)
	}
}
