package e2e

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// The caseworker's pages against the running server, with reports submitted by real tablets,
// read as a browser reads them (HTTP with the session cookie, redirects not followed).

// pageClient is a person's browser on the pages.
type pageClient struct {
	t    *testing.T
	base string
	c    *http.Client
	lang string // Accept-Language
}

func signedInPages(t *testing.T, s *liveServer, user string) *pageClient {
	t.Helper()
	u, err := s.Store().UserByName(context.Background(), user)
	mustDo(t, err)
	token, _, err := s.Store().NewSession(context.Background(), u.ID)
	mustDo(t, err)
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(s.URL())
	jar.SetCookies(base, []*http.Cookie{{Name: web.SessionCookie, Value: token, Path: "/"}})
	return &pageClient{t: t, base: s.URL(), c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (p *pageClient) do(method, path string, form url.Values) (int, string, http.Header) {
	p.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, p.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if p.lang != "" {
		req.Header.Set("Accept-Language", p.lang)
	}
	res, err := p.c.Do(req)
	mustDo(p.t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func (p *pageClient) get(path string) (int, string) {
	p.t.Helper()
	code, body, _ := p.do(http.MethodGet, path, nil)
	return code, body
}

var csrfInPage = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post sends a form from a page, with the page's token.
func (p *pageClient) post(from, path string, form url.Values) (int, string) {
	p.t.Helper()
	_, page := p.get(from)
	m := csrfInPage.FindStringSubmatch(page)
	if m == nil {
		p.t.Fatalf("%s has no form token", from)
	}
	form.Set("csrf", m[1])
	code, body, _ := p.do(http.MethodPost, path, form)
	return code, body
}

// inboxWorld is two cases of Sara's with reports Kim submitted from a named tablet.
type inboxWorld struct {
	srv            *liveServer
	kim            *tablet
	idaCase, noah  string
	idaVisits      []string // newest last
	noahVisit      string
	idaVisitStarts []time.Time
}

func newInboxWorld(t *testing.T, idaReports int) *inboxWorld {
	t.Helper()
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	for _, u := range []struct{ name, role string }{{"Sara Lund", "caseworker"}, {"Kim Holm", "consultant"}, {"Ada Admin", "admin"}} {
		_, err := st.AddUser(ctx, u.name, []string{u.role})
		mustDo(t, err)
	}
	w := &inboxWorld{srv: s}
	var err error
	w.idaCase, err = st.AddCase(ctx, server.NewCase{Children: []string{"Ida Sørensen", "Emil Sørensen"}, Parents: []string{"Mette Sørensen"}, Caseworker: "Sara Lund", Reference: "2026-0042"})
	mustDo(t, err)
	w.noah, err = st.AddCase(ctx, server.NewCase{Children: []string{"Noah Jensen"}, Parents: []string{"Lone Jensen"}, Caseworker: "Sara Lund"})
	mustDo(t, err)
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	first := time.Date(2026, 10, 1, 10, 0, 0, 0, cph)
	for i := range idaReports {
		start := first.AddDate(0, 0, i)
		id, err := st.AddVisit(ctx, server.NewVisit{CaseID: w.idaCase, Consultant: "Kim Holm", Kind: "supervised", Start: start, End: start.Add(time.Hour), Place: "Familiehuset"})
		mustDo(t, err)
		w.idaVisits, w.idaVisitStarts = append(w.idaVisits, id), append(w.idaVisitStarts, start)
	}
	start := first.AddDate(0, 0, -10)
	w.noahVisit, err = st.AddVisit(ctx, server.NewVisit{CaseID: w.noah, Consultant: "Kim Holm", Kind: "supervised", Start: start, End: start.Add(time.Hour), Place: "Hjemme"})
	mustDo(t, err)
	w.kim = enrollTablet(t, s, "Kim Holm")
	_, err = w.kim.Sync(ctx)
	mustDo(t, err)
	for _, v := range append(append([]string{}, w.idaVisits...), w.noahVisit) {
		mustDo(t, w.kim.SetReportSection(ctx, v, "opening", "Mor kommer til tiden."))
		mustDo(t, w.kim.Submit(ctx, v))
	}
	_, err = w.kim.Sync(ctx)
	mustDo(t, err)
	return w
}

// reportOf is the id of the report of a visit.
func (w *inboxWorld) reportOf(t *testing.T, visitID string) string {
	t.Helper()
	reps, err := w.srv.Store().Reports(context.Background(), nil, "", server.FilterAll)
	mustDo(t, err)
	for _, r := range reps {
		if r.VisitID == visitID {
			return r.ID
		}
	}
	t.Fatalf("no report for visit %s", visitID)
	return ""
}

var inboxRows = regexp.MustCompile(`(?s)<tr class="state-([a-z]+)">(.*?)</tr>`)

// The inbox names the children and the case reference (or says there is none), newest visit
// first, 20 to a page; a search finds a child's name, a reference or a visit's date, and the
// filters are links that keep the search.
func TestTheInboxNamesTheChildrenSearchesAndPages(t *testing.T) {
	w := newInboxWorld(t, 21)
	sara := signedInPages(t, w.srv, "Sara Lund")
	code, page := sara.get("/inbox")
	rows := inboxRows.FindAllStringSubmatch(page, -1)
	if code != http.StatusOK || len(rows) != 20 {
		t.Fatalf("inbox: %d with %d rows, want 20 (a page)", code, len(rows))
	}
	if !strings.Contains(rows[0][2], "Ida Sørensen, Emil Sørensen") || !strings.Contains(rows[0][2], "2026-0042") ||
		!strings.Contains(rows[0][2], "ons. 21. okt. 2026 kl. 10.00") || rows[0][1] != "new" {
		t.Fatalf("the first row is not the newest visit, named by its children: %q", rows[0][2])
	}
	if !strings.Contains(page, "Side 1 af 2") || !strings.Contains(page, `href="/inbox?filter=new&amp;page=2"`) {
		t.Fatal("the inbox does not page")
	}
	_, page2 := sara.get("/inbox?filter=new&page=2")
	rows2 := inboxRows.FindAllStringSubmatch(page2, -1)
	if len(rows2) != 2 || !strings.Contains(rows2[1][2], "Noah Jensen") || !strings.Contains(rows2[1][2], "(uden journalnr.)") {
		t.Fatalf("page 2: %d rows, the last %q", len(rows2), rows2[len(rows2)-1][2])
	}
	for search, want := range map[string]int{"q=noah": 1, "q=2026-0042": 21, "q=s%C3%B8rensen": 21, "date=2026-10-05": 1, "q=nobody": 0} {
		_, page := sara.get("/inbox?filter=&" + search)
		if got := len(inboxRows.FindAllStringSubmatch(page, -1)); got != min(want, 20) {
			t.Errorf("search %s: %d rows, want %d", search, got, want)
		}
	}
	_, page = sara.get("/inbox?filter=new&q=noah")
	for _, link := range []string{`href="/inbox?filter=&amp;q=noah"`, `href="/inbox?filter=overdue&amp;q=noah"`, `href="/inbox?filter=acknowledged&amp;q=noah"`} {
		if !strings.Contains(page, link) {
			t.Errorf("the filters are not links keeping the search: %s missing", link)
		}
	}
	if !strings.Contains(page, `<strong aria-current="page">Nye</strong>`) {
		t.Error("the current filter is not marked")
	}
}

// An addendum that arrives after the caseworker acknowledged a report brings it back to her
// inbox as "Ny tilføjelse"; acknowledging asks first, and acknowledging again covers the
// addendum. The store's list, which the RPC inbox serves too (new_addendum), says the same.
func TestAnAddendumAfterAcknowledgementMakesTheReportNewAgain(t *testing.T) {
	ctx := context.Background()
	w := newInboxWorld(t, 1)
	sara := signedInPages(t, w.srv, "Sara Lund")
	rep := w.reportOf(t, w.idaVisits[0])
	page := "/reports/" + rep + "?purpose=" + url.QueryEscape("Læser en modtaget samværsbeskrivelse")
	ack := "/reports/" + rep + "/acknowledge?purpose=" + url.QueryEscape("Læser en modtaget samværsbeskrivelse")

	code, body := sara.post(page, ack, url.Values{})
	if code != http.StatusOK || !strings.Contains(body, "Vil du kvittere for modtagelsen af Samværsbeskrivelse: Ida Sørensen og Emil Sørensen, tors. 1. okt. 2026?") {
		t.Fatalf("acknowledge without confirming: %d", code)
	}
	if _, body := sara.get("/inbox?q=Ida"); !strings.Contains(body, "Ida Sørensen") {
		t.Fatal("the report left the new reports before the caseworker confirmed")
	}
	if code, _ := sara.post(page, ack, url.Values{"confirm": {"yes"}}); code != http.StatusSeeOther {
		t.Fatalf("acknowledge: %d", code)
	}
	if _, body := sara.get("/inbox?q=Ida"); strings.Contains(body, "Ida Sørensen") {
		t.Fatal("an acknowledged report is still new")
	}

	_, err := w.kim.AddAddendum(ctx, w.idaVisits[0], "opening", "Rettelse: mor kom ti minutter for sent.")
	mustDo(t, err)
	_, err = w.kim.Sync(ctx)
	mustDo(t, err)

	_, body = sara.get("/inbox?q=Ida")
	rows := inboxRows.FindAllStringSubmatch(body, -1)
	if len(rows) != 1 || rows[0][1] != "addendum" || !strings.Contains(rows[0][2], "Ny tilføjelse") {
		t.Fatalf("after the addendum the inbox shows %q", rows)
	}
	sara2 := server.Identity{UserID: userID(t, w.srv, "Sara Lund"), Roles: []string{"caseworker"}}
	listed, err := w.srv.Store().ListReports(ctx, sara2, w.idaCase, server.FilterNew, "checking the test")
	mustDo(t, err)
	if len(listed) != 1 || !listed[0].NewAddendum {
		t.Fatalf("the store's new reports: %+v", listed)
	}
	if _, body := sara.get(page); !strings.Contains(body, "Kvittér for tilføjelsen") || !strings.Contains(body, "Rettelse: mor kom ti minutter for sent.") {
		t.Fatal("the report page does not offer to acknowledge the addendum")
	}
	if code, _ := sara.post(page, ack, url.Values{"confirm": {"yes"}}); code != http.StatusSeeOther {
		t.Fatalf("acknowledge again: %d", code)
	}
	if _, body := sara.get("/inbox?q=Ida"); len(inboxRows.FindAllStringSubmatch(body, -1)) != 0 {
		t.Fatal("the report is still new after acknowledging the addendum")
	}
}

// The report page shows who was present, the parents, the device by its name, and links back to
// the inbox and on to the next new report.
func TestTheReportPageShowsPresentParentsDeviceAndTheNextReport(t *testing.T) {
	ctx := context.Background()
	w := newInboxWorld(t, 2)
	mustDo(t, w.kim.SetPresent(ctx, w.idaVisits[1], "Mette, Ida, Emil og plejemor Hanne"))
	_, err := w.kim.Sync(ctx)
	mustDo(t, err)
	sara := signedInPages(t, w.srv, "Sara Lund")
	rep := w.reportOf(t, w.idaVisits[1])
	_, body := sara.get("/reports/" + rep + "?purpose=x")
	for _, want := range []string{"Mette, Ida, Emil og plejemor Hanne", "Mette Sørensen", "fra enheden test tablet", `href="/inbox"`,
		`href="/reports/` + w.reportOf(t, w.idaVisits[0]) + `">Næste nye samværsbeskrivelse`, `lang="da"`, "Kim Holm"} {
		if !strings.Contains(body, want) {
			t.Errorf("the report page lacks %q", want)
		}
	}
}

// Danish is the default; a browser that asks for English gets English, a person's choice on this
// browser beats the browser, and an address with no page gets a friendly page in the layout.
func TestPagesSpeakDanishUnlessAskedAndExplainMissingPages(t *testing.T) {
	w := newInboxWorld(t, 1)
	sara := signedInPages(t, w.srv, "Sara Lund")
	if _, body := sara.get("/inbox"); !strings.Contains(body, `<html lang="da">`) || !strings.Contains(body, "<h1>Indbakke</h1>") {
		t.Fatal("the inbox is not in Danish by default")
	}
	sara.lang = "en-GB,en;q=0.9"
	if _, body := sara.get("/inbox"); !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "<h1>Inbox</h1>") || !strings.Contains(body, "Thu 1 Oct 2026, 10:00") {
		t.Fatal("an English browser does not get English")
	}
	code, _, h := sara.do(http.MethodPost, "/language", url.Values{"lang": {"da"}, "back": {"/inbox?filter=all"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/inbox?filter=all" {
		t.Fatalf("choose Danish: %d to %q", code, h.Get("Location"))
	}
	if _, body := sara.get("/inbox"); !strings.Contains(body, "<h1>Indbakke</h1>") {
		t.Fatal("the person's choice of Danish does not beat the English browser")
	}
	if _, _, h := sara.do(http.MethodPost, "/language", url.Values{"lang": {"da"}, "back": {"//evil.example/"}}); h.Get("Location") != "/" {
		t.Fatalf("the language form sends the browser to %q", h.Get("Location"))
	}
	code, body := sara.get("/no/such/page")
	if code != http.StatusNotFound || !strings.Contains(body, "<h1>Findes ikke</h1>") || !strings.Contains(body, "Der er ingen side på denne adresse") ||
		!strings.Contains(body, `href="/inbox"`) || strings.Contains(body, "404 page not found") {
		t.Fatalf("a missing page: %d %q", code, body)
	}
}

// The access log reads like a log: people and devices by name, events in words, times written
// out; three views of one report by one person within minutes are one row (each still its own
// entry, and the CSV lists every one, by name, in Danish).
func TestTheAccessLogReadsLikeALogAndExportsCSV(t *testing.T) {
	w := newInboxWorld(t, 1)
	sara := signedInPages(t, w.srv, "Sara Lund")
	rep := w.reportOf(t, w.idaVisits[0])
	for range 3 {
		if code, _ := sara.get("/reports/" + rep + "?purpose=" + url.QueryEscape("Forbereder et opfølgningsmøde")); code != http.StatusOK {
			t.Fatalf("open the report: %d", code)
		}
	}
	ada := signedInPages(t, w.srv, "Ada Admin")
	_, body := ada.get("/admin/audit?user=Sara+Lund")
	rows := regexp.MustCompile(`(?s)<tr class="kind-([a-z._]+)">(.*?)</tr>`).FindAllStringSubmatch(body, -1)
	var views []string
	for _, r := range rows {
		if strings.Contains(r[2], "Forbereder et opfølgningsmøde") {
			views = append(views, r[2])
		}
	}
	if len(views) != 1 || !strings.Contains(views[0], "3 visninger") || !strings.Contains(views[0], "Oplysninger læst") ||
		!strings.Contains(views[0], "Sara Lund") || !strings.Contains(views[0], "2026-0042") || !strings.Contains(views[0], "læst: en samværsbeskrivelse") {
		t.Fatalf("the three views are not one readable row: %q", views)
	}
	if strings.Contains(body, userID(t, w.srv, "Sara Lund")) {
		t.Fatal("the audit page shows a user id instead of the name")
	}
	code, csvBody, h := ada.do(http.MethodGet, "/admin/audit.csv?user=Sara+Lund", nil)
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.HasPrefix(csvBody, "\ufeff") {
		t.Fatalf("CSV: %d %s", code, h.Get("Content-Type"))
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(csvBody, "\ufeff")))
	r.Comma = ';'
	records, err := r.ReadAll()
	mustDo(t, err)
	n := 0
	for _, rec := range records[1:] {
		if rec[6] == "Forbereder et opfølgningsmøde" {
			n++
			if rec[2] != "Oplysninger læst" || rec[3] != "Sara Lund" || rec[5] != "2026-0042" {
				t.Errorf("CSV row %q", rec)
			}
		}
	}
	if records[0][1] != "Tidspunkt" || n != 3 {
		t.Fatalf("CSV header %q, %d views (want 3, one a row)", records[0], n)
	}
}
