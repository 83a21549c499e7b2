package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
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

// An observation marked as the child's own words and then pulled into a report section in the
// app brings its mark along: the section is marked too, so the parents' copy of the PDF leaves
// the passage out of the section as it leaves the observation out, while the caseworker's full
// copy keeps it. A section marked already keeps its own mark.
func TestAppPullingAMarkedObservationMarksTheSection(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	st := w.srv.Store()
	mustDo(t, st.SetPassword(ctx, server.Actor{}, "Sara", "Sara has a long password"))
	kim := enrollTablet(t, w.srv, "Kim")
	_, err := kim.Sync(ctx)
	mustDo(t, err)
	a := startApp(t, kim, app.Config{IdleLock: time.Hour})
	b := newAppBrowser(t, a.base)
	start, err := url.Parse(a.StartURL())
	mustDo(t, err)
	b.get(start.RequestURI())
	_, page := b.get("/")
	csrf := csrfOf(t, page)
	res, _ := b.post("/unlock", url.Values{"pin": {testPIN}, "csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "unlock")

	const (
		childWords = "PULLEDOBS-jeg-vil-bo-hos-mor"
		address    = "PULLEDADDR-Egevej-7"
		plainObs   = "PULLEDPLAIN-Ida-tegner"
	)
	visit := "/visits/" + w.visitID
	var ids []string
	for _, text := range []string{"Ida siger: " + childWords, address, plainObs} {
		res, _ = b.post(visit+"/observations", url.Values{"csrf": {csrf}, "text": {text}})
		wantStatus(t, res, http.StatusSeeOther, "observation")
		_, page = b.get(visit)
		ids = append(ids, newObservationID(t, page, ids))
	}
	for i, mark := range []string{syncer.MarkChildWords, syncer.MarkPlacementAddress} {
		res, _ = b.post(visit+"/observations/"+ids[i]+"/mark", url.Values{"csrf": {csrf}, "mark": {mark}})
		wantStatus(t, res, http.StatusSeeOther, "mark the observation")
	}
	// The child's words go into a section with the plain observation, the address into
	// another, and into a section she has marked as the child's words already; the plain
	// observation alone into a fourth.
	res, _ = b.post(visit+"/sections/assessment/mark", url.Values{"csrf": {csrf}, "mark": {syncer.MarkChildWords}})
	wantStatus(t, res, http.StatusSeeOther, "mark a section")
	for section, obs := range map[string][]string{"interaction": {ids[0], ids[2]}, "ending": {ids[1]}, "assessment": {ids[1]}, "opening": {ids[2]}} {
		res, _ = b.post(visit+"/pull", url.Values{"csrf": {csrf}, "section": {section}, "observation": obs})
		wantStatus(t, res, http.StatusSeeOther, "pull into "+section)
	}
	_, page = b.get(visit)
	const (
		childBadge = "Udelades i forældrenes kopi: barnets egne ord"
		placeBadge = "Udelades i forældrenes kopi: afslører anbringelsesstedets adresse"
	)
	// The observations, the sections they were pulled into, and the section she marked.
	if n, m := strings.Count(page, childBadge), strings.Count(page, placeBadge); n != 3 || m != 2 {
		t.Errorf("the page shows the child's-words mark %d times and the address mark %d times, want 3 and 2", n, m)
	}
	for _, s := range []string{"interaction", "ending", "assessment", "opening"} {
		if !strings.Contains(page, `id="section-`+s+`"`) {
			t.Fatalf("no section %s on the page", s)
		}
	}
	res, _ = b.post(visit+"/submit", url.Values{"csrf": {csrf}})
	wantStatus(t, res, http.StatusSeeOther, "submit")
	res, _ = b.post("/sync", url.Values{"csrf": {csrf}, "back": {visit}})
	wantStatus(t, res, http.StatusSeeOther, "sync")
	if _, page = b.get("/rejected"); !strings.Contains(page, "Serveren har ikke afvist noget.") {
		t.Fatalf("the server refused changes:\n%s", page)
	}

	reports, err := st.Reports(ctx, nil, w.caseID, server.FilterAll)
	mustDo(t, err)
	if len(reports) != 1 || reports[0].State != syncer.StateSubmitted {
		t.Fatalf("reports on the server: %+v", reports)
	}
	sara := newBrowserless(t, w.srv)
	if status, _ := sara.signIn("Sara", "Sara has a long password"); status != http.StatusOK {
		t.Fatalf("sign-in: %d", status)
	}
	why := url.QueryEscape("Forældrene har bedt om en kopi")
	parents := pdfToText(t, []byte(sara.mustGet("/reports/"+reports[0].ID+"/pdf?copy=parents&purpose="+why)))
	full := pdfToText(t, []byte(sara.mustGet("/reports/"+reports[0].ID+"/pdf?purpose="+why)))
	for _, secret := range []string{childWords, address} {
		if strings.Contains(parents, secret) {
			t.Errorf("the parents' copy shows the marked text %s:\n%s", secret, parents)
		}
		if !strings.Contains(full, secret) {
			t.Errorf("the full copy lacks %s:\n%s", secret, full)
		}
	}
	// The plain observation stays in the parents' copy; what was withheld is said: the
	// observation and two sections for the child's words, the observation and a section for
	// the address.
	if !strings.Contains(parents, plainObs) || strings.Count(parents, "[Udeladt: barnets egne ord]") != 3 ||
		strings.Count(parents, "[Udeladt: oplysning om anbringelsesstedets adresse]") != 2 {
		t.Errorf("the parents' copy lacks the plain observation or a withheld note:\n%s", parents)
	}
}

// newObservationID is the id of the one observation on the visit page not in known.
func newObservationID(t *testing.T, page string, known []string) string {
	t.Helper()
	const formID = `id="obs-mark-`
	for rest := page; ; {
		i := strings.Index(rest, formID)
		if i < 0 {
			t.Fatalf("no new observation on the page:\n%s", page)
		}
		id := rest[i+len(formID) : i+len(formID)+36]
		if !slices.Contains(known, id) {
			return id
		}
		rest = rest[i+len(formID):]
	}
}
