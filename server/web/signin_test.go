package web_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// newBrowser is a browser with no session, keeping cookies, not following redirects.
func (s *site) newBrowser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, site: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (s *site) withPassword(name, password string, roles ...string) server.User {
	s.t.Helper()
	u := s.user(name, roles...)
	if err := s.srv.Store.SetPassword(context.Background(), server.Actor{}, name, password); err != nil {
		s.t.Fatal(err)
	}
	return u
}

func (b *browser) signIn(name, password string) (int, string) {
	b.t.Helper()
	return b.post("/signin", url.Values{"name": {name}, "password": {password}, "csrf": {b.csrf("/signin")}}, nil)
}

// Signing in starts a session whose cookie scripts cannot read and other sites never send; the
// person lands on the page of their main task.
func TestSignInSetsALockedDownSessionCookie(t *testing.T) {
	s := newSite(t)
	s.withPassword("sara", "correct horse battery", "caseworker")
	b := s.newBrowser()
	req, _ := http.NewRequest(http.MethodPost, s.http.URL+"/signin", strings.NewReader(url.Values{"name": {"sara"}, "password": {"correct horse battery"}, "csrf": {b.csrf("/signin")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("sign in: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == web.SessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" {
		t.Fatalf("session cookie %+v is not HttpOnly, SameSite=Strict", session)
	}
	if code, _, h := b.get("/"); code != http.StatusSeeOther || h.Get("Location") != "/inbox" {
		t.Fatalf("a caseworker's start page: %d to %q", code, h.Get("Location"))
	}
	entries, err := s.srv.Store.AuditEntries(context.Background(), server.AuditFilter{})
	if err != nil || len(entries) == 0 || entries[len(entries)-1].Kind != server.AuditSignIn {
		t.Fatalf("the sign-in is not in the audit log: %v", err)
	}
}

// Over TLS the cookie is also Secure.
func TestTheSessionCookieIsSecureOverTLS(t *testing.T) {
	s := newSiteWith(t, web.Config{Secure: true})
	s.withPassword("sara", "correct horse battery", "caseworker")
	b := s.newBrowser()
	token := b.csrf("/signin")
	req, _ := http.NewRequest(http.MethodPost, s.http.URL+"/signin", strings.NewReader(url.Values{"name": {"sara"}, "password": {"correct horse battery"}, "csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// The jar keeps Secure cookies from a plain-HTTP test server, so send the form token's cookie by hand.
	req.AddCookie(&http.Cookie{Name: "samvaer_signin", Value: token})
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for _, c := range res.Cookies() {
		if c.Name == web.SessionCookie && !c.Secure {
			t.Fatal("the session cookie is not Secure over TLS")
		}
	}
}

func TestSignInRefusesWrongPasswordsThenLocks(t *testing.T) {
	s := newSite(t)
	s.withPassword("sara", "correct horse battery", "caseworker")
	b := s.newBrowser()
	for i := range server.SignInMaxFailures {
		if code, body := b.signIn("sara", "wrong"); code != http.StatusUnauthorized || !strings.Contains(body, "Brugernavnet eller adgangskoden er forkert.") {
			t.Fatalf("wrong password %d: %d", i+1, code)
		}
	}
	code, body := b.signIn("sara", "correct horse battery")
	if code != http.StatusForbidden || !strings.Contains(body, "For mange mislykkede login: login med dette navn eller fra denne adresse er spærret til ") {
		t.Fatalf("the right password during a lockout: %d", code)
	}
	if strings.Contains(body, "correct horse battery") {
		t.Fatal("the page repeats the password")
	}
}

// A sign-in form posted without the form's own token (another site signing a person in to an
// account of its choosing) is refused.
func TestAForgedSignInIsRefused(t *testing.T) {
	s := newSite(t)
	s.withPassword("mallory", "mallory's password", "caseworker")
	b := s.newBrowser()
	code, _ := b.post("/signin", url.Values{"name": {"mallory"}, "password": {"mallory's password"}, "csrf": {"made-up"}}, nil)
	if code != http.StatusForbidden {
		t.Fatalf("a forged sign-in: %d, want 403", code)
	}
	if code, _, _ := b.get("/inbox"); code != http.StatusSeeOther {
		t.Fatalf("a forged sign-in opened a session: %d", code)
	}
}

// An admin revokes a lost tablet and disables a user from the pages; both take effect at once.
func TestAdminRevokesADeviceAndDisablesAUser(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	kim := s.user("kim", "consultant")
	code, _, err := s.srv.Store.NewEnrollmentCode(ctx, "kim")
	if err != nil {
		t.Fatal(err)
	}
	device, _, err := s.srv.Store.Enroll(ctx, code, make([]byte, 32), "iPad 3")
	if err != nil {
		t.Fatal(err)
	}
	admin := s.signedIn(s.user("ada", "admin"))
	token := admin.csrf("/admin/devices")
	if code, _ := admin.post("/admin/devices/"+device+"/revoke", url.Values{"as": {"lost"}}, nil); code != http.StatusForbidden {
		t.Fatalf("a revoke without the form token: %d", code)
	}
	// The button asks first and says what will happen; nothing is revoked yet.
	status, body := admin.post("/admin/devices/"+device+"/revoke", url.Values{"as": {"lost"}, "csrf": {token}}, nil)
	if status != http.StatusOK || !strings.Contains(body, "Vil du melde enheden iPad 3 (kim) mistet?") ||
		!strings.Contains(body, "Ændringer, den ikke har sendt endnu, modtages ikke") || !strings.Contains(body, `name="confirm" value="yes"`) {
		t.Fatalf("revoke without confirmation: %d", status)
	}
	if devices, _ := s.srv.Store.Devices(ctx); devices[0].Status != server.DeviceActive {
		t.Fatalf("the device is %s before the revoke was confirmed", devices[0].Status)
	}
	status, body = admin.post("/admin/devices/"+device+"/revoke", url.Values{"as": {"lost"}, "csrf": {token}, "confirm": {"yes"}}, nil)
	if status != http.StatusOK || !strings.Contains(body, "Enheden iPad 3 (kim) er meldt mistet") {
		t.Fatalf("revoke: %d", status)
	}
	devices, _ := s.srv.Store.Devices(ctx)
	if devices[0].Status != server.DeviceLost {
		t.Fatalf("the device is %s after the revoke", devices[0].Status)
	}

	kimBrowser := s.signedIn(kim)
	if status, body := admin.post("/admin/users/"+kim.ID+"/disable", url.Values{"csrf": {token}}, nil); status != http.StatusOK || !strings.Contains(body, "Vil du spærre kim?") {
		t.Fatalf("disable without confirmation: %d", status)
	}
	if code, _, _ := kimBrowser.get("/week"); code != http.StatusOK {
		t.Fatalf("the user was disabled before the admin confirmed: %d", code)
	}
	if status, _ := admin.post("/admin/users/"+kim.ID+"/disable", url.Values{"csrf": {token}, "confirm": {"yes"}}, nil); status != http.StatusOK {
		t.Fatalf("disable: %d", status)
	}
	if code, _, _ := kimBrowser.get("/week"); code != http.StatusSeeOther {
		t.Fatalf("a disabled user's session still opens pages: %d", code)
	}
	if _, body, _ := admin.get("/admin/audit?user=ada"); !strings.Contains(body, "Enhed tilbagekaldt") || !strings.Contains(body, "Bruger spærret") ||
		!strings.Contains(body, "tilbagekaldt som: mistet") || !strings.Contains(body, ">iPad 3<") {
		t.Fatal("the audit page does not show the revocation and the disabling in words")
	}
}

// A new password is often set because the old one leaked: the sessions opened with the old one end.
func TestAPasswordResetEndsTheUsersSessions(t *testing.T) {
	s := newSite(t)
	s.withPassword("sara", "the first long password", "caseworker")
	b := s.newBrowser()
	if code, _ := b.signIn("sara", "the first long password"); code != http.StatusSeeOther {
		t.Fatalf("sign in: %d", code)
	}
	if code, _, _ := b.get("/week"); code != http.StatusOK {
		t.Fatalf("a fresh session: %d", code)
	}
	if err := s.srv.Store.SetPassword(context.Background(), server.Actor{}, "sara", "a second long password"); err != nil {
		t.Fatal(err)
	}
	if code, _, h := b.get("/week"); code != http.StatusSeeOther || h.Get("Location") != "/signin" {
		t.Fatalf("the old session after a password reset: %d", code)
	}
}

// Once blocked, a name with an account and a name without one get the same page, so the block
// tells nobody who has an account; an admin lifts the block from the users page.
func TestABlockedSignInRevealsNoAccount(t *testing.T) {
	s := newSite(t)
	s.withPassword("sara", "correct horse battery", "caseworker")
	b := s.newBrowser()
	for range server.SignInMaxFailures {
		b.signIn("sara", "wrong")
		b.signIn("nobody", "wrong")
	}
	codeKnown, known := b.signIn("sara", "correct horse battery")
	codeUnknown, unknown := b.signIn("nobody", "correct horse battery")
	known, unknown = csrfField.ReplaceAllString(known, ""), csrfField.ReplaceAllString(unknown, "") // each form has its own token
	if codeKnown != http.StatusForbidden || codeKnown != codeUnknown || known != unknown || !strings.Contains(known, "er spærret til") {
		t.Fatalf("a blocked account (%d) and a blocked unknown name (%d) read differently:\n%s\n---\n%s", codeKnown, codeUnknown, known, unknown)
	}
	admin := s.newBrowser()
	s.withPassword("ada", "the admin's long password", "admin")
	if code, _ := admin.signIn("ada", "the admin's long password"); code != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d", code)
	}
	admin.enrolTOTP()
	sara, err := s.srv.Store.UserByName(context.Background(), "sara")
	if err != nil {
		t.Fatal(err)
	}
	if code, body := admin.post("/admin/users/"+sara.ID+"/unblock", url.Values{"csrf": {admin.csrf("/admin/users")}}, nil); code != http.StatusOK || !strings.Contains(body, "åbnet igen") {
		t.Fatalf("unblocking: %d\n%s", code, body)
	}
	if code, _ := b.signIn("sara", "correct horse battery"); code != http.StatusSeeOther {
		t.Fatalf("after the admin lifted the block: %d", code)
	}
}
