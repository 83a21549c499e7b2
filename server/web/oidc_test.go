package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/web"
)

func startMockIdP(t *testing.T) *mockoidc.MockOIDC {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return m
}

// Starting a sign-in through the provider sends the browser there with a state that is also in
// a short-lived HttpOnly cookie, a nonce and a PKCE S256 challenge (never the verifier); a state
// older than the flow's ten minutes is refused, in Danish, as a failed sign-in.
func TestAnOIDCSignInIsBoundToTheBrowserAndExpires(t *testing.T) {
	m := startMockIdP(t)
	s := newSiteWith(t, web.Config{OIDC: &web.OIDCConfig{Issuer: m.Issuer(), ClientID: m.ClientID, ClientSecret: m.ClientSecret,
		RedirectURL: "http://127.0.0.1:1" + web.OIDCCallbackPath}})
	b := s.newBrowser()
	if _, body, _ := b.get("/signin"); !strings.Contains(body, "Log ind med kommunens login") || !strings.Contains(body, `name="password"`) {
		t.Fatalf("the sign-in page with OIDC and passwords:\n%s", body)
	}
	res, err := b.c.Get(s.http.URL + "/signin/oidc")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	to, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(to.String(), m.AuthorizationEndpoint()) {
		t.Fatalf("start: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	q := to.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43 || q.Get("code_verifier") != "" || q.Get("nonce") == "" ||
		q.Get("state") == "" || q.Get("client_id") != m.ClientID || !strings.Contains(q.Get("scope"), "openid") {
		t.Fatalf("the authorization request %v", q)
	}
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "samvaer_oidc" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value != q.Get("state") || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.MaxAge <= 0 || cookie.MaxAge > 900 {
		t.Fatalf("the state cookie %+v", cookie)
	}
	s.advance(11 * time.Minute)
	code, body, _ := b.get(web.OIDCCallbackPath + "?" + url.Values{"state": {q.Get("state")}, "code": {"any"}}.Encode())
	if code != http.StatusBadRequest || !strings.Contains(body, "for gammelt") {
		t.Fatalf("an expired state: %d\n%s", code, body)
	}
	entries, err := s.srv.Store.AuditEntries(context.Background(), server.AuditFilter{Kinds: []string{server.AuditSignInFailed}})
	if err != nil || len(entries) != 1 || entries[0].Detail["reason"] != "expired state" || entries[0].Detail["via"] != "oidc" {
		t.Fatalf("the failed sign-in: %+v %v", entries, err)
	}
}

// Local passwords cannot be switched off without a provider, nor a provider configured with a
// callback the pages do not serve.
func TestOIDCSettingsAreChecked(t *testing.T) {
	cfg := server.DefaultConfig()
	cfg.DataDir = t.TempDir()
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := web.New(srv.Store, web.Config{NoLocalPasswords: true}); err == nil {
		t.Fatal("passwords switched off with no provider")
	}
	if _, err := web.New(srv.Store, web.Config{OIDC: &web.OIDCConfig{Issuer: "https://idp.example", ClientID: "samvaer", RedirectURL: "https://samvaer.example/callback"}}); err == nil {
		t.Fatal("a redirect URL with another path")
	}
}
