package e2e

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/clientlib/app"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The consultant marks, on the tablet and offline, an observation as the child's own words and a
// section as revealing the placement's address; after sync and submission the parents' copy of
// the PDF leaves both texts out and says in Danish what was withheld, while the caseworker's full
// PDF and report page keep the texts and show the marks. Unmarked text is in both copies.
func TestMarkedTextIsLeftOutOfTheParentsCopy(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	st := w.srv.Store()
	mustDo(t, st.SetPassword(ctx, server.Actor{}, "Sara", "Sara has a long password"))
	kim := enrollTablet(t, w.srv, "Kim")
	_, err := kim.Sync(ctx)
	mustDo(t, err)

	const (
		childWords = "MARKOBS-jeg-vil-bo-hos-mor"
		address    = "MARKSEC-Plejefamilien-bor-paa-Egevej-7"
		plainObs   = "PLAINOBS-Ida-tegner"
		plainSec   = "PLAINSEC-Mor-kom-til-tiden"
	)
	marked, err := kim.Observe(ctx, w.visitID, "Ida siger: "+childWords)
	mustDo(t, err)
	_, err = kim.Observe(ctx, w.visitID, plainObs)
	mustDo(t, err)
	mustDo(t, kim.SetReportSection(ctx, w.visitID, "placement_account", address))
	mustDo(t, kim.SetReportSection(ctx, w.visitID, "opening", plainSec))
	// The observation is marked before it ever reached the server, the section after a sync.
	mustDo(t, kim.MarkObservation(ctx, w.visitID, marked.ID, syncer.MarkChildWords))
	_, err = kim.Sync(ctx)
	mustDo(t, err)
	mustDo(t, kim.MarkSection(ctx, w.visitID, "placement_account", syncer.MarkPlacementAddress))
	mustDo(t, kim.Submit(ctx, w.visitID))
	res, err := kim.Sync(ctx)
	mustDo(t, err)
	if dl, err := kim.DeadLetters(ctx); err != nil || len(dl) != 0 {
		t.Fatalf("rejected changes %v (%v), sync %+v", dl, err, res)
	}
	if err := kim.MarkSection(ctx, w.visitID, "opening", syncer.MarkChildWords); syncer.ErrorCode(err) != syncer.CodeFailedPrecondition {
		t.Fatalf("marking a submitted report: %v, want failed precondition", err)
	}
	reports, err := st.Reports(ctx, nil, w.caseID, server.FilterAll)
	mustDo(t, err)
	reportID := reports[0].ID

	sara := newBrowserless(t, w.srv)
	if status, _ := sara.signIn("Sara", "Sara has a long password"); status != http.StatusOK {
		t.Fatalf("sign-in: %d", status)
	}
	why := url.QueryEscape("Forældrene har bedt om en kopi")
	parents := pdfToText(t, []byte(sara.mustGet("/reports/"+reportID+"/pdf?copy=parents&purpose="+why)))
	full := pdfToText(t, []byte(sara.mustGet("/reports/"+reportID+"/pdf?purpose="+why)))
	page := sara.mustGet("/reports/" + reportID + "?purpose=" + why)

	for _, secret := range []string{childWords, address} {
		if strings.Contains(parents, secret) {
			t.Errorf("the parents' copy shows marked text %s:\n%s", secret, parents)
		}
		if !strings.Contains(full, secret) || !strings.Contains(page, secret) {
			t.Errorf("the full PDF or the page lacks %s", secret)
		}
	}
	for _, want := range []string{"[Udeladt: barnets egne ord]", "[Udeladt: oplysning om anbringelsesstedets adresse]", plainObs, plainSec} {
		if !strings.Contains(parents, want) {
			t.Errorf("the parents' copy lacks %q:\n%s", want, parents)
		}
	}
	for _, want := range []string{"[Markeret: barnets egne ord – udelades i forældrenes kopi]", "[Markeret: afslører anbringelsesstedets adresse – udelades i forældrenes kopi]", plainObs, plainSec} {
		if !strings.Contains(full, want) {
			t.Errorf("the full PDF lacks %q:\n%s", want, full)
		}
	}
	for _, want := range []string{"Markeret: barnets egne ord – udelades i forældrenes kopi", "Markeret: afslører anbringelsesstedets adresse – udelades i forældrenes kopi"} {
		if !strings.Contains(page, want) {
			t.Errorf("the report page does not show the mark %q", want)
		}
	}
	if strings.Contains(full, "[Udeladt") {
		t.Errorf("the full PDF leaves something out:\n%s", full)
	}
}

// In the app, with the server stopped, the consultant marks an observation and a section with
// plain forms (no script) and the visit page shows each mark in Danish beside what it marks; a
// mark is cleared the same way, and a mark the product does not know changes nothing.
func TestAppMarksForTheParentsCopy(t *testing.T) {
	w := newWorld(t, "Kim")
	tb := enrollTablet(t, w.srv, "Kim")
	if _, err := tb.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.srv.shutdown()
	a := startApp(t, tb, app.Config{IdleLock: time.Hour})
	b := newAppBrowser(t, a.base)
	start, err := url.Parse(a.StartURL())
	mustDo(t, err)
	b.get(start.RequestURI())
	_, page := b.get("/")
	csrf := csrfOf(t, page)
	res, _ := b.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "unlock")
	visit := "/visits/" + w.visitID
	res, _ = b.post(visit+"/observations", url.Values{"csrf": {csrf}, "text": {"Ida siger: jeg vil hjem"}})
	wantStatus(t, res, http.StatusSeeOther, "observation")
	_, page = b.get(visit)
	const formID = `id="obs-mark-`
	i := strings.Index(page, formID)
	if i < 0 {
		t.Fatalf("no mark form for the observation:\n%s", page)
	}
	obsID := page[i+len(formID) : i+len(formID)+36]
	if !strings.Contains(page, `<select name="mark" form="obs-mark-`+obsID+`"`) || !strings.Contains(page, `form="section-mark-placement_account"`) {
		t.Fatal("no mark control for the observation or the section")
	}
	const (
		childBadge = "Udelades i forældrenes kopi: barnets egne ord"
		placeBadge = "Udelades i forældrenes kopi: afslører anbringelsesstedets adresse"
	)
	if strings.Contains(page, childBadge) || strings.Contains(page, placeBadge) {
		t.Fatal("a mark shown before any was set")
	}
	res, _ = b.post(visit+"/observations/"+obsID+"/mark", url.Values{"csrf": {csrf}, "mark": {syncer.MarkChildWords}})
	wantStatus(t, res, http.StatusSeeOther, "mark the observation")
	res, _ = b.post(visit+"/sections/placement_account/mark", url.Values{"csrf": {csrf}, "mark": {syncer.MarkPlacementAddress}})
	wantStatus(t, res, http.StatusSeeOther, "mark the section")
	b.post(visit+"/sections/opening/mark", url.Values{"csrf": {csrf}, "mark": {"hemmelig"}})
	_, page = b.get(visit)
	if strings.Count(page, childBadge) != 1 || strings.Count(page, placeBadge) != 1 {
		t.Fatalf("the page does not show each mark once:\n%s", page)
	}
	if strings.Contains(page, "hemmelig") || strings.Count(page, " selected>") != 2 {
		t.Fatalf("an unknown mark was stored, or not exactly two marks are selected:\n%s", page)
	}
	res, _ = b.post(visit+"/observations/"+obsID+"/mark", url.Values{"csrf": {csrf}, "mark": {""}})
	wantStatus(t, res, http.StatusSeeOther, "clear the mark")
	if _, page = b.get(visit); strings.Contains(page, childBadge) || !strings.Contains(page, placeBadge) {
		t.Fatal("clearing the observation's mark did not clear just that mark")
	}
}
