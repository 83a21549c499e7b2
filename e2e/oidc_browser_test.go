package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

// idp is a real OpenID Connect provider in the test process (mockoidc, on 127.0.0.1 only): it
// signs in whoever is queued, issues codes, refuses a used code, and signs ID tokens with its
// own key, published at its JWKS endpoint. It records each code it hands out, and can hold a
// sign-in at its authorize endpoint (not send the browser back), so a test can send the browser
// back itself with a code and state of its choosing.
type idp struct {
	*mockoidc.MockOIDC
	mu        sync.Mutex
	hold      bool
	heldState string
	lastBack  string // the last redirect back to the server, with its code and state
}

func startIdP(t *testing.T) *idp {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{MockOIDC: m}
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != mockoidc.AuthorizationEndpoint {
				next.ServeHTTP(w, r)
				return
			}
			p.mu.Lock()
			hold := p.hold
			if hold {
				p.heldState = r.FormValue("state")
			}
			p.mu.Unlock()
			if hold {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				_, _ = w.Write([]byte(`<!doctype html><title>IdP</title><p id="held">Venter</p>`))
				return
			}
			rec := &locationRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			p.mu.Lock()
			p.lastBack = rec.location
			p.mu.Unlock()
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0") // loopback only
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

type locationRecorder struct {
	http.ResponseWriter
	location string
}

func (l *locationRecorder) WriteHeader(code int) {
	l.location = l.Header().Get("Location")
	l.ResponseWriter.WriteHeader(code)
}

// otherAudience is a person whose ID token the provider issues for another client.
type otherAudience struct{ *mockoidc.MockUser }

func (u otherAudience) Claims(scope []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	base.Audience = jwt.ClaimStrings{"another-municipal-app"}
	return u.MockUser.Claims(scope, base)
}

// Signing in through the municipality's identity provider in Chromium: the sign-in page offers
// only the provider when passwords are switched off; a known person lands on their start page
// with our own session; a forged state, a replayed code, an ID token for another audience, a
// disabled user and an unknown person are each refused with a Danish page, and each refusal is
// a failed sign-in in the access log.
func TestBrowserSignInThroughTheIdentityProvider(t *testing.T) {
	ctx := context.Background()
	p := startIdP(t)
	s := startServerWith(t, func(base string) web.Config {
		return web.Config{NoLocalPasswords: true, OIDC: &web.OIDCConfig{
			Issuer: p.Issuer(), ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			RedirectURL: base + web.OIDCCallbackPath, Claim: "email", Name: "Testkommunens login",
		}}
	})
	st := s.Store()
	sara, err := st.AddUser(ctx, "Sara", []string{"caseworker"})
	mustDo(t, err)
	_, err = st.SetOIDCSubject(ctx, server.Actor{}, "Sara", "sara@testkommune.dk")
	mustDo(t, err)
	_, err = st.AddUser(ctx, "Dorte", []string{"caseworker"})
	mustDo(t, err)
	_, err = st.SetOIDCSubject(ctx, server.Actor{}, "Dorte", "dorte@testkommune.dk")
	mustDo(t, err)
	_, err = st.SetUserDisabled(ctx, server.Actor{}, "Dorte", true)
	mustDo(t, err)

	b := newBrowser(t)
	var location, body string
	at := func() string {
		t.Helper()
		l, err := chromedp.Run(b, chromedp.Location())
		mustDo(t, err)
		return l
	}
	button := chromedp.CSS(`a[href="/signin/oidc"]`)
	signInPage := func() {
		t.Helper()
		step(t, b, chromedp.Navigate(s.URL()+"/signin"), chromedp.WaitVisible(button))
		body = text(t, b, "main")
		if !strings.Contains(body, "Log ind med Testkommunens login") || strings.Contains(body, "Adgangskode") {
			t.Fatalf("the sign-in page with passwords off:\n%s", body)
		}
	}
	// refused checks the page a refusal shows.
	refused := func(what, want string) {
		t.Helper()
		step(t, b, chromedp.WaitVisible(chromedp.CSS(`.error`)))
		body, location = text(t, b, ".error"), at()
		if !strings.Contains(body, want) || !strings.HasPrefix(location, s.URL()+web.OIDCCallbackPath) {
			t.Fatalf("%s: at %s the page says %q, want %q", what, location, body, want)
		}
	}

	// A good sign-in.
	p.QueueUser(&mockoidc.MockUser{Subject: "idp-4711", Email: "sara@testkommune.dk", EmailVerified: true})
	signInPage()
	step(t, b, chromedp.Click(button), chromedp.WaitVisible(chromedp.CSS(`nav a[href="/inbox"]`)))
	location = at()
	if location != s.URL()+"/inbox" {
		t.Fatalf("after signing in through the provider the browser is at %s", location)
	}
	p.mu.Lock()
	back := p.lastBack
	p.mu.Unlock()
	backURL, err := url.Parse(back)
	if err != nil || backURL.Query().Get("code") == "" {
		t.Fatalf("the provider's redirect back %q", back)
	}
	usedCode := backURL.Query().Get("code")
	body = text(t, b, "header")
	if !strings.Contains(body, "Sara") {
		t.Fatalf("signed in, the header says %q", body)
	}
	step(t, b, chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(button))

	// The same redirect back again: its state was used.
	step(t, b, chromedp.Navigate(back))
	refused("the same answer twice", "hører ikke til et login, der blev startet i denne browser")

	// held starts a sign-in and stops at the provider; it returns the state our server sent.
	held := func() string {
		t.Helper()
		p.mu.Lock()
		p.hold = true
		p.mu.Unlock()
		defer func() { p.mu.Lock(); p.hold = false; p.mu.Unlock() }()
		signInPage()
		step(t, b, chromedp.Click(button), chromedp.WaitVisible(chromedp.CSS(`#held`)))
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.heldState
	}
	callback := func(code, state string) string {
		return s.URL() + web.OIDCCallbackPath + "?" + url.Values{"code": {code}, "state": {state}}.Encode()
	}

	// A forged state: the browser's sign-in was started, but the answer names another state.
	held()
	step(t, b, chromedp.Navigate(callback("a-code", "a-state-this-browser-never-got")))
	refused("a forged state", "hører ikke til et login, der blev startet i denne browser")

	// A replayed code with a state that is right: the provider refuses the used code.
	state := held()
	step(t, b, chromedp.Navigate(callback(usedCode, state)))
	refused("a replayed code", "Login gennem kommunens login mislykkedes")

	// An ID token for another client.
	p.QueueUser(otherAudience{&mockoidc.MockUser{Subject: "idp-4711", Email: "sara@testkommune.dk", EmailVerified: true}})
	signInPage()
	step(t, b, chromedp.Click(button))
	refused("a token for another audience", "Login gennem kommunens login mislykkedes")

	// A disabled user and an unknown person read the same.
	for _, email := range []string{"dorte@testkommune.dk", "ukendt@testkommune.dk"} {
		p.QueueUser(&mockoidc.MockUser{Subject: "idp-" + email, Email: email, EmailVerified: true})
		signInPage()
		step(t, b, chromedp.Click(button))
		refused(email, "der er ingen aktiv bruger til dig her")
	}

	// Passwords are off: the form is refused even when posted by hand.
	res, err := http.PostForm(s.URL()+"/signin", url.Values{"name": {"Sara"}, "password": {"any password at all"}})
	mustDo(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(page), "Login med adgangskode er slået fra") {
		t.Fatalf("a password sign-in with passwords off: %d\n%s", res.StatusCode, page)
	}

	entries, err := st.AuditEntries(ctx, server.AuditFilter{Kinds: []string{server.AuditSignIn, server.AuditSignInFailed}})
	mustDo(t, err)
	var got []string
	for _, e := range entries {
		if e.Detail["via"] != "oidc" {
			t.Fatalf("a sign-in entry not through the provider: %+v", e)
		}
		got = append(got, e.Kind+":"+e.Detail["reason"])
	}
	want := "sign_in: sign_in.failed:forged state sign_in.failed:forged state sign_in.failed:code refused sign_in.failed:id token invalid sign_in.failed:user disabled sign_in.failed:unknown subject"
	if strings.Join(got, " ") != want {
		t.Fatalf("the access log's sign-ins\n got %v\nwant %s", got, want)
	}
	if entries[0].ActorUserID != sara.ID {
		t.Fatalf("the sign-in names %q, not Sara", entries[0].ActorUserID)
	}
}
