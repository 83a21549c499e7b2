package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// cliTablet runs the samvaer binary as a consultant's command-line tablet.
type cliTablet struct {
	t    *testing.T
	bin  string
	home string
}

// buildSamvaer builds the samvaer binary once per test.
func buildSamvaer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "samvaer")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/samvaer/sync/cmd/samvaer").CombinedOutput()
	if err != nil {
		t.Fatalf("build samvaer: %v\n%s", err, out)
	}
	return bin
}

func (c cliTablet) run(args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, append([]string{"tablet", "--home", c.home}, args...)...)
	cmd.Env = append(os.Environ(), "SAMVAER_PIN=4711")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c cliTablet) must(args ...string) string {
	c.t.Helper()
	out, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("samvaer tablet %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// The caseworker's day in the browser, against the running server: a consultant's command-line
// tablet submits a report and syncs; the caseworker signs in, finds it in the inbox, opens it
// (saying why), acknowledges it and downloads the PDF for the case system; a forged form is
// refused; then an admin revokes the tablet in the browser and the tablet is refused at its next
// sync. Screenshots are saved for a person to look at.
func TestBrowserCaseworkerReceivesAReportAndAdminRevokesTheTablet(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	for _, u := range []struct{ name, role string }{{"sara", "caseworker"}, {"kim", "consultant"}, {"ada", "admin"}} {
		_, err := st.AddUser(ctx, u.name, []string{u.role})
		mustDo(t, err)
		mustDo(t, st.SetPassword(ctx, server.Actor{}, u.name, u.name+" has a long password"))
	}
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{"Ida Sørensen"}, Parents: []string{"Mette Sørensen"}, Caseworker: "sara", Reference: "2026-0042"})
	mustDo(t, err)
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Minute)
	visitID, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "kim", Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Place: "Åbyhøj", Room: "Rum 2"})
	mustDo(t, err)

	// The consultant's command-line tablet: enroll, write, submit, sync.
	tab := cliTablet{t: t, bin: buildSamvaer(t), home: filepath.Join(t.TempDir(), "kim")}
	code, _, err := st.NewEnrollmentCode(ctx, "kim")
	mustDo(t, err)
	tab.must("enroll", "--server", s.URL(), "--code", code, "--name", "iPad 3, Team Nord")
	tab.must("sync")
	const observation, opening = "Ida løber hen til sin mor og giver hende et knus.", "Mor kommer til tiden; Ida er genert et øjeblik."
	tab.must("observe", visitID, observation)
	tab.must("report", "set", visitID, "opening", opening)
	tab.must("submit", visitID)
	tab.must("sync")

	b := newBrowser(t)
	var inbox string
	step(t, b,
		chromedp.Navigate(s.URL()+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "sara"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "sara has a long password"),
		chromedp.Click(chromedp.Search(`//button[text()="Log ind"]`)),
		chromedp.WaitVisible(chromedp.CSS(`table.inbox`)),
		screenshot(t, "inbox"),
	)
	inbox = text(t, b, "table.inbox")
	if !strings.Contains(inbox, "2026-0042") || !strings.Contains(inbox, "Ida Sørensen") || !strings.Contains(inbox, "Ny") {
		t.Fatalf("the inbox does not show the submitted report: %q", inbox)
	}
	step(t, b,
		chromedp.Click(chromedp.Search(`//a[text()="Åbn"]`)),
		chromedp.WaitVisible(chromedp.CSS(`select[name="reason"]`)),
		chromedp.SetValue(chromedp.CSS(`select[name="reason"]`), "Læser en modtaget samværsbeskrivelse"),
		chromedp.Click(chromedp.Search(`//button[text()="Åbn samværsbeskrivelsen"]`)),
		chromedp.WaitVisible(chromedp.CSS(`ol.timeline`)),
		screenshot(t, "report"),
	)
	page := text(t, b, "main")
	for _, want := range []string{observation, opening, "Ida Sørensen", "Mette Sørensen", "Rum 2", "fra enheden iPad 3, Team Nord"} {
		if !strings.Contains(page, want) {
			t.Fatalf("the report page lacks %q", want)
		}
	}
	// Acknowledging asks first and says what happens.
	step(t, b,
		chromedp.Click(chromedp.Search(`//button[text()="Kvittér for modtagelse"]`)),
		chromedp.WaitVisible(chromedp.CSS(`div.confirm`)),
	)
	if confirm := text(t, b, "div.confirm"); !strings.Contains(confirm, "sletter sin kopi af teksten ved næste synkronisering") {
		t.Fatalf("the confirmation does not say what acknowledging does: %q", confirm)
	}
	step(t, b,
		chromedp.Click(chromedp.Search(`//button[text()="Ja, kvittér for modtagelsen"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
	)
	if notice := text(t, b, "p.notice"); notice != "Du har kvitteret for modtagelsen af samværsbeskrivelsen." {
		t.Fatalf("after acknowledging: %q", notice)
	}
	if state := text(t, b, "table.facts"); !strings.Contains(state, "Kvitteret") {
		t.Fatalf("the report is not shown as acknowledged: %q", state)
	}

	// The PDF, fetched with the browser's session as its download would be.
	cookies, err := chromedp.Call(b, network.GetCookies, network.GetCookiesParams{URLs: []string{s.URL()}})
	mustDo(t, err)
	var session string
	for _, c := range cookies.Cookies {
		if c.Name == web.SessionCookie {
			session = c.Value
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Fatalf("the session cookie is not HttpOnly and SameSite=Strict: %+v", c)
			}
		}
	}
	pdfURL, err := chromedp.Run(b, chromedp.AttributeValue(chromedp.Search(`//a[text()="Eksportér som PDF"]`), "href"))
	mustDo(t, err)
	pdf := getWithSession(t, s.URL()+pdfURL.Value, session)
	if !strings.HasPrefix(string(pdf), "%PDF-") {
		t.Fatal("the export is not a PDF")
	}
	pdfText := pdfToText(t, pdf)
	for _, want := range []string{observation, opening, "Journalnr. 2026-0042", "fra enheden iPad 3, Team Nord"} {
		if !strings.Contains(pdfText, want) {
			t.Fatalf("the PDF lacks %q", want)
		}
	}

	// A form another site forged, without the page's token, is refused and files nothing.
	reportID := strings.TrimPrefix(strings.Split(pdfURL.Value, "/pdf")[0], "/reports/")
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/reports/"+reportID+"/parent-comments?purpose=x", strings.NewReader(url.Values{"text": {"forged"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: session})
	res, err := http.DefaultClient.Do(req)
	mustDo(t, err)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("a forged form: %d, want 403", res.StatusCode)
	}
	rep, err := st.GetReport(ctx, server.Identity{UserID: userID(t, s, "sara"), Roles: []string{"caseworker"}}, reportID, "checking the test")
	mustDo(t, err)
	if len(rep.ParentComments) != 0 {
		t.Fatal("a forged form filed a comment")
	}
	reads, err := st.AuditEntries(ctx, server.AuditFilter{CaseID: caseID})
	mustDo(t, err)
	found := false
	for _, e := range reads {
		found = found || (e.Kind == server.AuditCaseRead && e.Purpose == "Læser en modtaget samværsbeskrivelse")
	}
	if !found {
		t.Fatal("opening the report in the browser is not in the access log with its purpose")
	}

	// The admin revokes the tablet as lost; at its next sync it is refused and wipes itself.
	step(t, b,
		chromedp.Click(chromedp.Search(`//button[text()="Log ud"]`)),
		chromedp.WaitVisible(chromedp.CSS(`input[name="name"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "ada"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "ada has a long password"),
		chromedp.Click(chromedp.Search(`//button[text()="Log ind"]`)),
		// An admin sets up a second factor before anything else.
		chromedp.WaitVisible(chromedp.Search(`//button[text()="Sæt godkendelsesapp op"]`)),
		chromedp.Click(chromedp.Search(`//button[text()="Sæt godkendelsesapp op"]`)),
		chromedp.WaitVisible(chromedp.CSS(`svg.qr`)),
		screenshot(t, "admin-second-factor"),
	)
	code, err = totp.GenerateCode(text(t, b, "code.secret"), time.Now())
	mustDo(t, err)
	step(t, b,
		chromedp.SendKeys(chromedp.CSS(`input[name="code"]`), code),
		chromedp.Click(chromedp.Search(`//button[text()="Bekræft"]`)),
		chromedp.WaitVisible(chromedp.CSS(`ul.recovery-codes`)),
		chromedp.Navigate(s.URL()+"/admin/devices"),
		chromedp.WaitVisible(chromedp.Search(`//button[text()="Mistet"]`)),
		chromedp.Click(chromedp.Search(`//button[text()="Mistet"]`)),
		chromedp.WaitVisible(chromedp.Search(`//button[text()="Ja, meld den mistet"]`)),
		chromedp.Click(chromedp.Search(`//button[text()="Ja, meld den mistet"]`)),
		chromedp.WaitVisible(chromedp.CSS(`p.notice`)),
		screenshot(t, "admin-revoked"),
	)
	if notice := text(t, b, "p.notice"); !strings.Contains(notice, "er meldt mistet") {
		t.Fatalf("after revoking: %q", notice)
	}
	out, err := tab.run("sync")
	if err == nil || !strings.Contains(out, "enrolled again") {
		t.Fatalf("the revoked tablet's sync: %v\n%s", err, out)
	}
	if _, err := os.Stat(tab.home); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the revoked tablet's home is still there: %v", err)
	}
}

func userID(t *testing.T, s *liveServer, name string) string {
	t.Helper()
	u, err := s.Store().UserByName(context.Background(), name)
	mustDo(t, err)
	return u.ID
}

func getWithSession(t *testing.T, u, session string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: session})
	res, err := http.DefaultClient.Do(req)
	mustDo(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	mustDo(t, err)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/pdf" {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, res.Header.Get("Content-Type"))
	}
	return body
}

// pdfToText reads a PDF's text with pdftotext (Debian's poppler-utils; make deps installs it).
func pdfToText(t *testing.T, pdf []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.pdf")
	mustDo(t, os.WriteFile(path, pdf, 0o600))
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext (apt-get install poppler-utils): %v: %s", err, out)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}
