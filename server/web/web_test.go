package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// site is the real server with its pages on a loopback port, with a clock the test moves.
type site struct {
	t     *testing.T
	srv   *server.Server
	http  *httptest.Server
	mu    sync.Mutex
	clock time.Time
}

func newSite(t *testing.T) *site {
	t.Helper()
	return newSiteWith(t, web.Config{})
}

func newSiteWith(t *testing.T, wcfg web.Config) *site {
	t.Helper()
	s := &site{t: t, clock: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)}
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Now = s.now
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.New(srv.Store, wcfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount("/", pages)
	s.srv = srv
	s.http = httptest.NewServer(srv.Handler())
	t.Cleanup(func() { s.http.Close(); srv.Close() })
	return s
}

func (s *site) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock
}

func (s *site) advance(d time.Duration) {
	s.mu.Lock()
	s.clock = s.clock.Add(d)
	s.mu.Unlock()
}

func (s *site) user(name string, roles ...string) server.User {
	s.t.Helper()
	u, err := s.srv.Store.AddUser(context.Background(), name, roles)
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// browser is a person's browser: a cookie jar holding their session, redirects not followed.
type browser struct {
	t    *testing.T
	site *site
	c    *http.Client
}

// signedIn gives a browser a session for the user, as signing in does.
func (s *site) signedIn(u server.User) *browser {
	s.t.Helper()
	token, _, err := s.srv.Store.NewSession(context.Background(), u.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	base, _ := url.Parse(s.http.URL)
	jar.SetCookies(base, []*http.Cookie{{Name: web.SessionCookie, Value: token, Path: "/"}})
	return &browser{t: s.t, site: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *site) anonymous() *browser {
	return &browser{t: s.t, site: s, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, string, http.Header) {
	b.t.Helper()
	res, err := b.c.Get(b.site.http.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Header
}

func (b *browser) post(path string, form url.Values, header http.Header) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.site.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the form token from a page, as the browser sends it back.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	_, body, _ := b.get(path)
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("%s has no form token", path)
	}
	return m[1]
}

func TestPagesNeedASessionAndTheRightRole(t *testing.T) {
	s := newSite(t)
	kim := s.user("kim", "consultant")
	if code, _, h := s.anonymous().get("/admin/users"); code != http.StatusSeeOther || h.Get("Location") != "/signin" {
		t.Fatalf("without a session: %d to %q, want a redirect to sign in", code, h.Get("Location"))
	}
	if code, body, _ := s.signedIn(kim).get("/admin/devices"); code != http.StatusForbidden || !strings.Contains(body, "Denne side er for administrator; du er logget ind som kim.") {
		t.Fatalf("a consultant on an admin page: %d", code)
	}
	if code, _ := s.anonymous().post("/admin/users", url.Values{"name": {"eve"}, "role": {"admin"}}, nil); code != http.StatusUnauthorized {
		t.Fatalf("a post without a session: %d, want 401", code)
	}
	users, _ := s.srv.Store.Users(context.Background())
	if len(users) != 1 {
		t.Fatalf("a refused form added a user: %d users", len(users))
	}
}

func TestEveryPageIsLockedDown(t *testing.T) {
	s := newSite(t)
	_, _, h := s.signedIn(s.user("ada", "admin")).get("/admin/devices")
	for name, want := range map[string]string{
		"Cache-Control":   "no-store",
		"X-Frame-Options": "DENY",
		"Referrer-Policy": "no-referrer",
	} {
		if h.Get(name) != want {
			t.Errorf("%s = %q, want %q", name, h.Get(name), want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q allows more than the stylesheet", csp)
	}
}

// A form posted without the session's token, with another token, or from another site is refused
// and changes nothing; the same form from the page itself works.
func TestForgedFormsAreRefused(t *testing.T) {
	s := newSite(t)
	admin := s.signedIn(s.user("ada", "admin"))
	token := admin.csrf("/admin/users")
	form := func(tok string) url.Values {
		v := url.Values{"name": {"mallory"}, "role": {"admin"}}
		if tok != "" {
			v.Set("csrf", tok)
		}
		return v
	}
	other := s.signedIn(s.user("bo", "admin")).csrf("/admin/users")
	for name, tc := range map[string]struct {
		form   url.Values
		header http.Header
	}{
		"no token":            {form(""), nil},
		"another's token":     {form(other), nil},
		"from another site":   {form(token), http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}},
		"a truncated token":   {form(token[:len(token)-1]), nil},
		"token in the header": {form(""), http.Header{"X-Csrf-Token": {token}}},
	} {
		t.Run(name, func(t *testing.T) {
			if code, _ := admin.post("/admin/users", tc.form, tc.header); code != http.StatusForbidden {
				t.Fatalf("got %d, want 403", code)
			}
		})
	}
	if _, err := s.srv.Store.UserByName(context.Background(), "mallory"); err == nil {
		t.Fatal("a forged form added a user")
	}
	if code, body := admin.post("/admin/users", form(token), nil); code != http.StatusOK || !strings.Contains(body, "Brugeren mallory er tilføjet (Administrator).") {
		t.Fatalf("the genuine form: %d", code)
	}
}

func TestASessionEndsWhenIdleAndAtSignOut(t *testing.T) {
	s := newSite(t)
	ada := s.user("ada", "admin")
	b := s.signedIn(ada)
	s.advance(server.SessionIdle - time.Minute)
	if code, _, _ := b.get("/admin/devices"); code != http.StatusOK {
		t.Fatalf("a session in use: %d", code)
	}
	s.advance(server.SessionIdle - time.Minute) // used a moment ago: still alive
	if code, _, _ := b.get("/admin/devices"); code != http.StatusOK {
		t.Fatalf("a session used within its idle time: %d", code)
	}
	s.advance(server.SessionIdle + time.Second)
	if code, _, _ := b.get("/admin/devices"); code != http.StatusSeeOther {
		t.Fatalf("an idle session still opens pages: %d", code)
	}

	b = s.signedIn(ada)
	if code, _ := b.post("/signout", url.Values{"csrf": {b.csrf("/admin/devices")}}, nil); code != http.StatusSeeOther {
		t.Fatalf("sign out: %d", code)
	}
	if code, _, _ := b.get("/admin/devices"); code != http.StatusSeeOther {
		t.Fatalf("a signed-out session still opens pages: %d", code)
	}
}

func TestAdminIssuesAnEnrollmentCode(t *testing.T) {
	s := newSite(t)
	s.user("kim", "consultant")
	admin := s.signedIn(s.user("ada", "admin"))
	code, body := admin.post("/admin/enrollment-codes", url.Values{"user": {"kim"}, "csrf": {admin.csrf("/admin/devices")}}, nil)
	m := regexp.MustCompile(`Engangskode ([A-Z2-7]{16})`).FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		t.Fatalf("issue a code: %d", code)
	}
	if _, _, err := s.srv.Store.Enroll(context.Background(), m[1], make([]byte, 32), "tablet"); err != nil {
		t.Fatalf("the code from the page does not enroll a tablet: %v", err)
	}
}

// The week shows each visit in its room on its day, Monday to Sunday, the weekend and today
// marked, who covers it and a link to it — never a child's name. A room with no visit that day
// shows as free; a visit with no room (a home visit) is under its place, apart from the rooms.
func TestTheWeekShowsVisitsByRoomAndDay(t *testing.T) {
	s := newSite(t) // today is Tuesday 24 November 2026
	ctx := context.Background()
	sara := s.user("sara", "caseworker")
	s.user("kim", "consultant")
	bo := s.user("bo", "consultant")
	caseID, err := s.srv.Store.AddCase(ctx, server.NewCase{Children: []string{"CHILD-MARKER"}, Parents: []string{"PARENT-MARKER"}, Caseworker: "sara", Reference: "2026-0042"})
	if err != nil {
		t.Fatal(err)
	}
	cph, _ := time.LoadLocation("Europe/Copenhagen")
	// Wednesday and Saturday in Rum 2, Thursday in Rum 1 (by bo); on Saturday also a visit with
	// no room, at home, which shows under its place.
	for _, v := range []struct {
		day                     int
		room, place, consultant string
	}{{25, "Rum 2", "Familiehuset", "kim"}, {28, "Rum 2", "Familiehuset", "kim"}, {28, "", "Hjemme hos mor", "kim"}, {26, "Rum 1", "Familiehuset", "bo"}} {
		start := time.Date(2026, 11, v.day, 10, 0, 0, 0, cph)
		if _, err := s.srv.Store.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: v.consultant, Kind: "supervised", Start: start, End: start.Add(2 * time.Hour), Room: v.room, Place: v.place}); err != nil {
			t.Fatal(err)
		}
	}
	code, body, _ := s.signedIn(sara).get("/week?from=2026-11-26")
	if code != http.StatusOK {
		t.Fatalf("week: %d", code)
	}
	if strings.Contains(body, "MARKER") {
		t.Fatal("the week shows a child's or parent's name")
	}
	if !strings.Contains(body, "<h1>Uge 48 (fra man. 23. nov. 2026)</h1>") {
		t.Fatal("the week's title does not name week 48 in Danish")
	}
	row := func(class string) [][]string {
		return regexp.MustCompile(`(?s)<tr class="`+class+`"><th scope="row">(.*?)</th>(.*?)</tr>`).FindAllStringSubmatch(body, -1)
	}
	rooms, places := row("room"), row("place")
	if len(rooms) != 2 || rooms[0][1] != "Rum 1" || rooms[1][1] != "Rum 2" || len(places) != 1 || places[0][1] != "Hjemme hos mor" {
		t.Fatalf("rooms %q, places %q", rooms, places)
	}
	cells := func(row string) []string {
		return regexp.MustCompile(`(?s)<td class="[^"]*">(.*?)</td>`).FindAllString(row, -1)
	}
	rum2 := cells(rooms[1][2])
	if len(rum2) != 7 || !strings.Contains(rum2[2], "10.00–12.00 · sag 2026-0042 · Familiehuset") || !strings.Contains(rum2[5], "kim") ||
		!strings.Contains(rum2[5], `class="weekend`) || !strings.Contains(rum2[2], `href="/cases/`+caseID+`#visit-`) {
		t.Fatalf("Rum 2's week: %q", rum2)
	}
	if !strings.Contains(rum2[0], "Ledigt") || !strings.Contains(rum2[0], " free") || strings.Contains(rum2[2], "Ledigt") {
		t.Fatalf("a free room is not shown free, or a taken one is: %q", rum2[:3])
	}
	if !strings.Contains(rum2[1], "today") || strings.Contains(rum2[2], "today") {
		t.Fatal("today (Tuesday) is not marked")
	}
	if strings.Contains(rum2[0], "visit") || strings.Contains(rum2[6], "visit") {
		t.Fatal("a visit shows on the wrong day")
	}
	if !strings.Contains(body, `<th class="weekend">lør. 28. nov.</th>`) {
		t.Fatal("Saturday is not marked as weekend")
	}
	if !strings.Contains(body, `class="legend"`) || !strings.Contains(body, "Overvåget samvær") {
		t.Fatal("the week has no legend")
	}
	// Filtered by consultant: only bo's visit, and every room still shows (free).
	_, body, _ = s.signedIn(sara).get("/week?from=2026-11-26&consultant=" + bo.ID)
	if strings.Count(body, `<a class="visit`) != 2 || !strings.Contains(body, "bo") || strings.Contains(body, "Hjemme hos mor") {
		t.Fatal("the consultant filter shows other consultants' visits") // one link in the table, one in the day list
	}
	// Another caseworker, not on the case, sees none of it.
	if _, body, _ := s.signedIn(s.user("lis", "caseworker")).get("/week?from=2026-11-26"); strings.Contains(body, "2026-0042") {
		t.Fatal("a caseworker sees visits of a case they do not work on")
	}
}
