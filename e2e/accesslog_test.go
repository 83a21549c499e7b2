package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/samvaer/sync/server"
)

// browserless is a person at the pages with a cookie jar: the pages are server-rendered HTML
// without script, so an HTTP client sees what a browser sends.
type browserless struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowserless(t *testing.T, s *liveServer) *browserless {
	jar, err := cookiejar.New(nil)
	mustDo(t, err)
	return &browserless{t: t, base: s.URL(), c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// signIn sends the sign-in form and returns the status and page.
func (b *browserless) signIn(name, password string) (int, string) {
	b.t.Helper()
	_, form := b.get("/signin")
	m := csrfField.FindStringSubmatch(form)
	if m == nil {
		b.t.Fatalf("no sign-in form: %s", form)
	}
	res, err := b.c.PostForm(b.base+"/signin", url.Values{"csrf": {m[1]}, "name": {name}, "password": {password}})
	mustDo(b.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	mustDo(b.t, err)
	return res.StatusCode, string(body)
}

// post sends a form with the page's form token and returns the status and page.
func (b *browserless) post(path, tokenFrom string, form url.Values) (int, string) {
	b.t.Helper()
	_, page := b.get(tokenFrom)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no form token on %s: %s", tokenFrom, page)
	}
	form.Set("csrf", m[1])
	res, err := b.c.PostForm(b.base+path, form)
	mustDo(b.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	mustDo(b.t, err)
	return res.StatusCode, string(body)
}

var secretField = regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`)

// enrolTOTP sets up an authenticator app on the person's own page, with a code made as the
// app makes it, and returns the secret.
func (b *browserless) enrolTOTP() string {
	b.t.Helper()
	status, page := b.post("/account/factor", "/account/factor", url.Values{})
	m := secretField.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		b.t.Fatalf("starting the enrolment: %d\n%s", status, page)
	}
	code, err := totp.GenerateCode(m[1], time.Now())
	mustDo(b.t, err)
	if status, page := b.post("/account/factor/confirm", "/account/factor", url.Values{"code": {code}}); status != http.StatusOK || !strings.Contains(page, "gendannelseskoder") {
		b.t.Fatalf("confirming the enrolment: %d\n%s", status, page)
	}
	return m[1]
}

func (b *browserless) get(path string) (int, string) {
	b.t.Helper()
	res, err := b.c.Get(b.base + path)
	mustDo(b.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	mustDo(b.t, err)
	return res.StatusCode, string(body)
}

func (b *browserless) mustGet(path string) string {
	b.t.Helper()
	status, body := b.get(path)
	if status != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", path, status, body)
	}
	return body
}

// Every use of a child's data through the running server is in the access log, each with who,
// when, the case and (for reads, searches and exports) why: a tablet's changes and deletions, a
// search of the inbox with its criterion, a report read, its PDF and the parents' copy, a search
// of the audit log, the insight export as PDF and JSON, and sign-ins and failed sign-ins. The
// insight export shows the uses in Danish with their purposes, and not who used the data.
func TestEveryUseIsInTheAccessLog(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, "Kim")
	st := w.srv.Store()
	_, err := st.AddUser(ctx, "Ada", []string{"admin"})
	mustDo(t, err)
	for _, u := range []string{"Sara", "Ada"} {
		mustDo(t, st.SetPassword(ctx, server.Actor{}, u, u+" has a long password"))
	}
	kim := enrollTablet(t, w.srv, "Kim")
	_, err = kim.Sync(ctx)
	mustDo(t, err)
	mustDo(t, kim.Check(ctx, w.visitID, "room_ready", true))
	_, err = kim.Observe(ctx, w.visitID, "Ida viser mor sin tegning.")
	mustDo(t, err)
	mustDo(t, kim.SetReportSection(ctx, w.visitID, "opening", "Mor kommer til tiden."))
	mustDo(t, kim.Submit(ctx, w.visitID))
	_, err = kim.Sync(ctx)
	mustDo(t, err)
	reports, err := st.Reports(ctx, nil, w.caseID, server.FilterAll)
	mustDo(t, err)
	reportID := reports[0].ID

	sara := newBrowserless(t, w.srv)
	if status, page := sara.signIn("Sara", "not her password"); status != http.StatusUnauthorized || !strings.Contains(page, "forkert") {
		t.Fatalf("a wrong password: %d\n%s", status, page)
	}
	if status, page := sara.signIn("Sara", "Sara has a long password"); status != http.StatusOK || strings.Contains(page, `name="password"`) {
		t.Fatalf("signing in: %d\n%s", status, page)
	}
	sara.mustGet("/inbox?filter=new")
	const why = "Forbered opfølgningsmødet"
	sara.mustGet("/reports/" + reportID + "?purpose=" + url.QueryEscape(why))
	sara.mustGet("/reports/" + reportID + "/pdf?purpose=" + url.QueryEscape(why))
	sara.mustGet("/reports/" + reportID + "/pdf?copy=parents&purpose=" + url.QueryEscape("Forældrene har bedt om en kopi"))

	children, err := st.ChildIDs(ctx, w.caseID)
	mustDo(t, err)
	ada := newBrowserless(t, w.srv)
	if status, page := ada.signIn("Ada", "Ada has a long password"); status != http.StatusOK || !strings.Contains(page, "skal sætte totrinsbekræftelse op") {
		t.Fatalf("admin sign-in, sent to set up a second factor first: %d\n%s", status, page)
	}
	ada.enrolTOTP()
	ada.mustGet("/admin/audit?case=" + w.caseID)
	pdf := []byte(ada.mustGet("/admin/insight?format=pdf&child=" + children[0]))
	var insight server.Insight
	mustDo(t, json.Unmarshal([]byte(ada.mustGet("/admin/insight?format=json&child="+children[0])), &insight))

	saraID, kimID := userID(t, w.srv, "Sara"), userID(t, w.srv, "Kim")
	entries, err := st.AuditEntries(ctx, server.AuditFilter{})
	mustDo(t, err)
	type use struct{ kind, actor, caseID, purpose, detail string }
	var got []use
	for _, e := range entries {
		d, _ := json.Marshal(e.Detail)
		got = append(got, use{e.Kind, e.ActorUserID, e.CaseID, e.Purpose, string(d)})
	}
	has := func(want use) {
		t.Helper()
		for _, g := range got {
			if g.kind == want.kind && g.actor == want.actor && g.caseID == want.caseID && g.purpose == want.purpose && strings.Contains(g.detail, want.detail) {
				return
			}
		}
		t.Errorf("no %+v in the log:\n%+v", want, got)
	}
	has(use{server.AuditCaseChanged, kimID, w.caseID, "", `"via":"sync"`})
	has(use{server.AuditSignInFailed, saraID, "", "", `"reason":"wrong password"`})
	has(use{server.AuditSignIn, saraID, "", "", ""})
	has(use{server.AuditSearched, saraID, w.caseID, "Læser indbakken med modtagne samværsbeskrivelser", `"criterion":"filter=new"`})
	has(use{server.AuditCaseRead, saraID, w.caseID, why, `"what":"report ` + reportID})
	has(use{server.AuditExported, saraID, w.caseID, why, `"format":"pdf"`})
	has(use{server.AuditExported, saraID, w.caseID, "Forældrene har bedt om en kopi", `"format":"parents_copy"`})
	has(use{server.AuditSearched, userID(t, w.srv, "Ada"), w.caseID, "", `"criterion":"case=` + w.caseID})
	has(use{server.AuditExported, userID(t, w.srv, "Ada"), w.caseID, server.InsightPurpose, `"format":"insight-pdf"`})
	if v, err := st.VerifyAudit(ctx); err != nil || len(v.Problems) != 0 {
		t.Fatalf("audit verify: %+v %v", v, err)
	}

	// The insight export: the uses in Danish, with dates and purposes, not the employee.
	text := pdfToText(t, pdf)
	for _, want := range []string{"Indsigt i brugen af oplysninger om Ida", "Læsning af en samværsbeskrivelse", why,
		"Udskrift af en samværsbeskrivelse til", "Udlevering af forældrenes kopi", "Søgning i loggen over brug af sagen", "Oplysninger registreret eller ændret",
		"Søgning i sagens samværsbeskrivelser", time.Now().Format("2006")} {
		if !strings.Contains(text, want) {
			t.Errorf("the insight PDF lacks %q:\n%s", want, text)
		}
	}
	for _, never := range []string{"Sara", "Kim", saraID, kimID} {
		if strings.Contains(text, never) {
			t.Errorf("the insight PDF names the employee (%q):\n%s", never, text)
		}
	}
	if insight.ChildName != "Ida" || len(insight.Entries) == 0 {
		t.Fatalf("the JSON insight export: %+v", insight)
	}
	raw, _ := json.Marshal(insight)
	if strings.Contains(string(raw), saraID) || strings.Contains(string(raw), kimID) {
		t.Fatalf("the JSON insight export names the employee: %s", raw)
	}
}
