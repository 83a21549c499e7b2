package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/samvaer/sync/clientlib"
	"github.com/samvaer/sync/server"
)

// screenWidths are a phone, a tablet and a laptop.
var screenWidths = []int64{390, 768, 1280}

// Every page fits a phone, a tablet and a laptop without scrolling sideways, in Danish with
// lang="da": each page is opened at each width in Chromium, the document may be no wider than the
// window, and a screenshot is saved (to $SAMVAER_SCREENSHOTS when set — docs/images holds the
// README's — or the temporary directory).
func TestBrowserPagesFitEveryWidth(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	for _, u := range []struct{ name, role string }{{"Sara Lund", "caseworker"}, {"Kim Holm", "consultant"}, {"Bo Berg", "consultant"},
		{"Ada Admin", "admin"}, {"Cora Jensen", "coordinator"}} {
		_, err := st.AddUser(ctx, u.name, []string{u.role})
		mustDo(t, err)
	}
	mustDo(t, st.SetPassword(ctx, server.Actor{}, "Sara Lund", "Sara has a long password"))
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{"Ida Sørensen", "Emil Sørensen"}, Parents: []string{"Mette Sørensen", "Jonas Nielsen"},
		Placement: "Plejefamilien Hansen, Åbyhøj", Caseworker: "Sara Lund", Reference: "2026-0042"})
	mustDo(t, err)
	mustDo(t, st.AssignCase(ctx, server.Actor{}, caseID, "Cora Jensen", "coordinator"))
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	now := time.Now().In(cph)
	day := time.Date(now.Year(), now.Month(), now.Day(), 10, 0, 0, 0, cph)
	visit := func(days int, consultant, room, place string) string {
		start := day.AddDate(0, 0, days)
		id, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: consultant, Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Room: room, Place: place})
		mustDo(t, err)
		return id
	}
	done := visit(-1, "Kim Holm", "Rum 2", "Familiehuset, Åbyhøj")
	visit(1, "Bo Berg", "Rum 1", "Familiehuset, Åbyhøj")
	visit(2, "Kim Holm", "", "Hjemme hos mor, Vestergade 12")

	// Kim writes the visit's report on a named tablet and submits it.
	code, _, err := st.NewEnrollmentCode(ctx, "Kim Holm")
	mustDo(t, err)
	kim, err := clientlib.Enroll(ctx, t.TempDir(), s.URL(), code, "Kims iPad (Team Nord)", clientlib.Options{PIN: testPIN, KDF: testKDF})
	mustDo(t, err)
	defer kim.Close()
	_, err = kim.Sync(ctx)
	mustDo(t, err)
	mustDo(t, kim.SetPresent(ctx, done, "Mette Sørensen, Ida, Emil og plejemor Hanne Hansen"))
	_, err = kim.Observe(ctx, done, "Ida løber hen til sin mor og giver hende et knus.")
	mustDo(t, err)
	mustDo(t, kim.Check(ctx, done, "room_ready", true))
	mustDo(t, kim.SetReportSection(ctx, done, "opening", "Mor kommer til tiden; Ida er genert et øjeblik og varmer så op."))
	mustDo(t, kim.SetReportSection(ctx, done, "interaction", strings.Repeat("Mor læser Idas signaler og sætter grænser roligt. ", 12)))
	mustDo(t, kim.Submit(ctx, done))
	_, err = kim.Sync(ctx)
	mustDo(t, err)
	reports, err := st.Reports(ctx, nil, caseID, server.FilterNew)
	mustDo(t, err)
	if len(reports) != 1 || reports[0].VisitID != done {
		t.Fatalf("new reports: %+v", reports)
	}
	report := "/reports/" + reports[0].ID + "?purpose=" + url.QueryEscape("Læser en modtaget samværsbeskrivelse")

	dir := os.Getenv("SAMVAER_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "samvaer-screenshots")
	}
	mustDo(t, os.MkdirAll(dir, 0o755))

	type view struct {
		name, user, path string
		then             []chromedp.Action[chromedp.Void] // to reach the page from path (a form to post)
	}
	views := []view{
		{name: "signin", path: "/signin"},
		{name: "inbox", user: "Sara Lund", path: "/inbox"},
		{name: "report", user: "Sara Lund", path: report},
		{name: "acknowledge", user: "Sara Lund", path: report, then: []chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.Search(`//button[text()="Kvittér for modtagelse"]`)), chromedp.WaitVisible(chromedp.CSS(`div.confirm`))}},
		{name: "cases", user: "Sara Lund", path: "/cases"},
		{name: "case", user: "Sara Lund", path: "/cases/" + caseID + "?purpose=" + url.QueryEscape("Planlægger samvær")},
		{name: "week", user: "Cora Jensen", path: "/week"},
		{name: "users", user: "Ada Admin", path: "/admin/users"},
		{name: "devices", user: "Ada Admin", path: "/admin/devices"},
		{name: "audit", user: "Ada Admin", path: "/admin/audit"},
		{name: "not-found", user: "Sara Lund", path: "/no/such/page"},
	}
	b := newBrowser(t)
	for _, v := range views {
		for _, w := range screenWidths {
			t.Run(fmt.Sprintf("%s-%d", v.name, w), func(t *testing.T) {
				actions := []chromedp.Action[chromedp.Void]{chromedp.EmulateViewport(w, 900)}
				if v.user != "" {
					actions = append(actions, withSession(t, s, v.user))
				}
				actions = append(actions, chromedp.Navigate(s.URL()+v.path), chromedp.WaitVisible(chromedp.CSS("main")))
				actions = append(actions, v.then...)
				step(t, b, actions...)
				lang, err := chromedp.Run(b, chromedp.Evaluate[string](`document.documentElement.lang`))
				mustDo(t, err)
				if lang != "da" {
					t.Errorf("lang=%q, want da", lang)
				}
				// The widest element, named, when the document is wider than the window.
				over, err := chromedp.Run(b, chromedp.Evaluate[string](`(() => {
					const vw = document.documentElement.clientWidth;
					if (document.documentElement.scrollWidth <= vw) return "";
					let worst = null, right = vw;
					for (const el of document.querySelectorAll("body *")) {
						const r = el.getBoundingClientRect().right;
						if (r > right) { right = r; worst = el; }
					}
					return document.documentElement.scrollWidth + "px in a " + vw + "px window; widest: " +
						(worst ? worst.tagName.toLowerCase() + "." + worst.className + " reaching " + Math.round(right) + "px" : "?");
				})()`))
				mustDo(t, err)
				if over != "" {
					t.Errorf("%s scrolls sideways at %d px: %s", v.name, w, over)
				}
				png, err := chromedp.Run(b, chromedp.FullScreenshot(100))
				mustDo(t, err)
				mustDo(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", v.name, w)), png, 0o644))
			})
		}
	}
	if t.Failed() {
		t.Logf("screenshots in %s", dir)
	}
}
