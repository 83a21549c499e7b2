package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/samvaer/sync/server"
)

var (
	secretField   = regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`)
	recoveryField = regexp.MustCompile(`<li><code>([A-Z2-9]{5}-[A-Z2-9]{5})</code></li>`)
)

// appCode is the authenticator app's code for secret at the site's time.
func (s *site) appCode(secret string) string {
	s.t.Helper()
	c, err := totp.GenerateCode(secret, s.now())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// enrolTOTP sets up an authenticator app on the person's own page, as a person does: the QR
// code and key, the first code, the recovery codes shown once.
func (b *browser) enrolTOTP() (secret string, recovery []string) {
	b.t.Helper()
	code, body := b.post("/account/factor", url.Values{"csrf": {b.csrf("/account/factor")}}, nil)
	m := secretField.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || !strings.Contains(body, `<svg class="qr"`) || !strings.Contains(body, "Scan QR-koden") {
		b.t.Fatalf("starting the enrolment: %d\n%s", code, body)
	}
	secret = m[1]
	if code, body := b.post("/account/factor/confirm", url.Values{"csrf": {csrfField.FindStringSubmatch(body)[1]}, "code": {"000000"}}, nil); code != http.StatusUnauthorized ||
		!strings.Contains(body, "Koden er forkert") || !strings.Contains(body, secret) {
		b.t.Fatalf("a wrong first code: %d\n%s", code, body)
	}
	code, body = b.post("/account/factor/confirm", url.Values{"csrf": {b.csrf("/account/factor")}, "code": {b.site.appCode(secret)}}, nil)
	for _, m := range recoveryField.FindAllStringSubmatch(body, -1) {
		recovery = append(recovery, m[1])
	}
	if code != http.StatusOK || len(recovery) != server.RecoveryCodes || !strings.Contains(body, "vises kun denne ene gang") {
		b.t.Fatalf("confirming the enrolment: %d, %d recovery codes\n%s", code, len(recovery), body)
	}
	b.site.advance(30 * time.Second) // the next code is another one
	return secret, recovery
}

// An admin without a second factor is sent to set one up before anything else; afterwards the
// password alone signs nobody in: the code follows, a wrong one is refused in Danish and
// logged, a right one signs in. The admin resets another person's factor from the users page.
func TestAnAdminSetsUpASecondFactorFirst(t *testing.T) {
	s := newSite(t)
	s.withPassword("ada", "the admin's long password", "admin")
	b := s.newBrowser()
	if code, _ := b.signIn("ada", "the admin's long password"); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
	for _, path := range []string{"/", "/admin/users", "/admin/audit", "/account"} {
		if code, _, h := b.get(path); code != http.StatusSeeOther || h.Get("Location") != "/account/factor" {
			t.Fatalf("%s before the second factor: %d to %q", path, code, h.Get("Location"))
		}
	}
	if code, body := b.post("/admin/users", url.Values{"csrf": {b.csrf("/account/factor")}, "name": {"mallory"}, "role": {"admin"}}, nil); code != http.StatusForbidden || !strings.Contains(body, "Gør login færdigt først") {
		t.Fatalf("a form before the second factor: %d\n%s", code, body)
	}
	if _, body, _ := b.get("/account/factor"); !strings.Contains(body, "skal sætte totrinsbekræftelse op") || strings.Contains(body, `href="/admin/users"`) {
		t.Fatalf("the enrolment page:\n%s", body)
	}
	secret, recovery := b.enrolTOTP()
	if code, _, h := b.get("/"); code != http.StatusSeeOther || h.Get("Location") != "/admin/devices" {
		t.Fatalf("after enrolment: %d to %q", code, h.Get("Location"))
	}

	// Next time: password, then the code.
	again := s.newBrowser()
	if code, _ := again.signIn("ada", "the admin's long password"); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
	if code, _, h := again.get("/admin/users"); code != http.StatusSeeOther || h.Get("Location") != "/signin/factor" {
		t.Fatalf("a page before the code: %d to %q", code, h.Get("Location"))
	}
	csrf := again.csrf("/signin/factor")
	if code, body := again.post("/signin/factor", url.Values{"csrf": {csrf}, "code": {"123456"}}, nil); code != http.StatusUnauthorized || !strings.Contains(body, "Koden er forkert") {
		t.Fatalf("a wrong code: %d\n%s", code, body)
	}
	if code, _ := again.post("/signin/factor", url.Values{"csrf": {csrf}, "code": {s.appCode(secret)}}, nil); code != http.StatusSeeOther {
		t.Fatalf("the right code: %d", code)
	}
	if code, body, _ := again.get("/admin/users"); code != http.StatusOK || !strings.Contains(body, "Sat op") {
		t.Fatalf("signed in with the code: %d", code)
	}
	// A recovery code instead of the app.
	third := s.newBrowser()
	third.signIn("ada", "the admin's long password")
	if code, _ := third.post("/signin/factor", url.Values{"csrf": {third.csrf("/signin/factor")}, "code": {recovery[3]}}, nil); code != http.StatusSeeOther {
		t.Fatalf("a recovery code: %d", code)
	}
	entries, err := s.srv.Store.AuditEntries(context.Background(), server.AuditFilter{Kinds: []string{server.AuditSignIn, server.AuditSignInFailed, server.AuditFactorEnrolled}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Kind+":"+e.Detail["reason"]+e.Detail["factor"])
	}
	want := "sign_in: user.factor_enrolled:totp sign_in.failed:wrong codetotp sign_in:totp sign_in:recovery code"
	if strings.Join(got, " ") != want {
		t.Fatalf("audit log\n got %v\nwant %s", got, want)
	}

	// The admin resets Sara's factor, after confirming.
	s.withPassword("sara", "correct horse battery", "caseworker")
	sara := s.newBrowser()
	sara.signIn("sara", "correct horse battery")
	sara.enrolTOTP()
	u, _ := s.srv.Store.UserByName(context.Background(), "sara")
	if code, body := again.post("/admin/users/"+u.ID+"/reset-factors", url.Values{"csrf": {again.csrf("/admin/users")}}, nil); code != http.StatusOK || !strings.Contains(body, "Vil du nulstille totrinsbekræftelsen for sara?") {
		t.Fatalf("the reset asks first: %d\n%s", code, body)
	}
	if code, body := again.post("/admin/users/"+u.ID+"/reset-factors", url.Values{"csrf": {again.csrf("/admin/users")}, "confirm": {"yes"}}, nil); code != http.StatusOK || !strings.Contains(body, "Totrinsbekræftelsen for sara er nulstillet") {
		t.Fatalf("the reset: %d\n%s", code, body)
	}
	if code, _, _ := sara.get("/inbox"); code != http.StatusSeeOther {
		t.Fatalf("Sara's session outlived the reset: %d", code)
	}
	if code, _ := sara.signIn("sara", "correct horse battery"); code != http.StatusSeeOther {
		t.Fatalf("Sara after the reset: %d", code)
	}
	if code, _, h := sara.get("/inbox"); code != http.StatusOK {
		t.Fatalf("a caseworker needs no factor by default: %d %q", code, h.Get("Location"))
	}
	resets, _ := s.srv.Store.AuditEntries(context.Background(), server.AuditFilter{Kinds: []string{server.AuditFactorsReset}})
	if len(resets) != 1 || resets[0].Detail["user"] != u.ID {
		t.Fatalf("the reset in the audit log: %+v", resets)
	}
}
