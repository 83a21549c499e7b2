package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/rs/zerolog"
	"golang.org/x/oauth2"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// Sign-in through the municipality's identity provider: OpenID Connect's authorization code
// flow with PKCE. The person is sent to the provider with a random state (also in a short-lived
// HttpOnly cookie, so only the browser that started the sign-in can finish it), a nonce and a
// PKCE challenge; the provider sends the browser back with a code, which the server exchanges
// (with the PKCE verifier) for an ID token whose signature, issuer, audience, expiry and nonce
// go-oidc and this file check. A state is used once, so a code that comes back twice is
// refused here; the provider refuses a used code besides. The person is then matched to a user
// by the configured claim (server.SignInOIDC) and gets our own session, as after a password.

// OIDCConfig configures sign-in through an OpenID Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's issuer URL (its discovery document is at
	// Issuer/.well-known/openid-configuration).
	Issuer string
	// ClientID and ClientSecret are this server's registration at the provider.
	ClientID, ClientSecret string
	// RedirectURL is this server's callback as registered at the provider; its path must be
	// /signin/oidc/callback.
	RedirectURL string
	// Claim is the ID token claim that identifies a person ("" means sub); its value is matched
	// to a user's OIDC subject.
	Claim string
	// Name is the provider's name on the sign-in button ("Log ind med …").
	Name string
}

// OIDCCallbackPath is the path of the redirect URL.
const OIDCCallbackPath = "/signin/oidc/callback"

// Validate checks the configuration.
func (c *OIDCConfig) Validate() error {
	u, err := url.Parse(c.RedirectURL)
	switch {
	case c.Issuer == "" || c.ClientID == "":
		return errors.New("OpenID Connect needs an issuer URL and a client id")
	case c.RedirectURL == "" || err != nil || u.Path != OIDCCallbackPath || (u.Scheme != "https" && u.Scheme != "http"):
		return fmt.Errorf("the OpenID Connect redirect URL must be this server's address with the path %s", OIDCCallbackPath)
	}
	return nil
}

const (
	oidcCookie = "samvaer_oidc"
	// oidcFlowTTL is how long a person may take at the provider.
	oidcFlowTTL = 10 * time.Minute
)

// oidcSignIn is the provider's configuration (the started sign-ins are in the store, so the
// provider's answer may reach any instance).
type oidcSignIn struct {
	cfg OIDCConfig
	mu  sync.Mutex
	// provider and verifier are discovered on first use (and again after a failure), so the
	// server starts while the provider is down.
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newOIDCSignIn(cfg OIDCConfig) *oidcSignIn {
	if cfg.Claim == "" {
		cfg.Claim = "sub"
	}
	return &oidcSignIn{cfg: cfg}
}

// oidcHTTP is the client for the provider: a sign-in never waits long on it.
var oidcHTTP = &http.Client{Timeout: 15 * time.Second}

// discover reads the provider's discovery document once it answers.
func (o *oidcSignIn) discover() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), oidcHTTP), 15*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		return err
	}
	o.provider = p
	o.oauth = oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, RedirectURL: o.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	// Audience (our client id), issuer, expiry and signature are checked here.
	o.verifier = p.VerifierContext(oidc.ClientContext(context.Background(), oidcHTTP), &oidc.Config{ClientID: o.cfg.ClientID})
	return nil
}

// oidcStart sends the person to the provider.
func (p *Pages) oidcStart(w http.ResponseWriter, r *http.Request) {
	o := p.oidc
	if err := o.discover(); err != nil {
		zerolog.Ctx(r.Context()).Warn().Err(err).Msg("the identity provider did not answer")
		p.signInPage(w, r, http.StatusServiceUnavailable, p.localizer(r).T("oidc.unavailable"))
		return
	}
	state, err := server.RandomToken()
	var f server.OIDCFlow
	if err == nil {
		f.Nonce, err = server.RandomToken()
	}
	if err == nil {
		f.Verifier = oauth2.GenerateVerifier()
		err = p.store.StartOIDCFlow(r.Context(), state, f, p.store.Now().Add(oidcFlowTTL))
	}
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	// Lax, not Strict: the cookie must come back with the provider's redirect, a navigation
	// from another site.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: state, Path: "/signin/oidc", MaxAge: int(oidcFlowTTL.Seconds()),
		HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, o.oauth.AuthCodeURL(state, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)), http.StatusFound)
}

// oidcCallback finishes a sign-in with the provider's answer.
func (p *Pages) oidcCallback(w http.ResponseWriter, r *http.Request) {
	o := p.oidc
	l := p.localizer(r)
	address := clientAddress(r)
	refuse := func(status int, reason, key string, err error) {
		if err != nil {
			zerolog.Ctx(r.Context()).Warn().Err(err).Str("reason", reason).Msg("sign-in through the identity provider refused")
		}
		if aerr := p.store.FailedOIDCSignIn(r.Context(), reason, address); aerr != nil {
			p.fail(w, r, nil, aerr)
			return
		}
		p.signInPage(w, r, status, l.T(key))
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Path: "/signin/oidc", MaxAge: -1, HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteLaxMode})
	q := r.URL.Query()
	state := q.Get("state")
	c, err := r.Cookie(oidcCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(state)) != 1 {
		refuse(http.StatusBadRequest, "forged state", "oidc.state", nil)
		return
	}
	f, ok, err := p.store.TakeOIDCFlow(r.Context(), state)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	if !ok {
		refuse(http.StatusBadRequest, "expired state", "oidc.state", nil)
		return
	}
	if q.Get("error") != "" || q.Get("code") == "" {
		refuse(http.StatusForbidden, "provider refused", "oidc.failed", nil)
		return
	}
	if err := o.discover(); err != nil {
		refuse(http.StatusServiceUnavailable, "provider unavailable", "oidc.unavailable", err)
		return
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), oidcHTTP), 15*time.Second)
	defer cancel()
	tok, err := o.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(f.Verifier))
	if err != nil {
		refuse(http.StatusForbidden, "code refused", "oidc.failed", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		refuse(http.StatusForbidden, "no id token", "oidc.failed", nil)
		return
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		refuse(http.StatusForbidden, "id token invalid", "oidc.failed", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		refuse(http.StatusForbidden, "nonce mismatch", "oidc.failed", nil)
		return
	}
	subject := idt.Subject
	if o.cfg.Claim != "sub" {
		var claims map[string]any
		if err := idt.Claims(&claims); err != nil {
			refuse(http.StatusForbidden, "id token invalid", "oidc.failed", err)
			return
		}
		subject, _ = claims[o.cfg.Claim].(string)
	}
	u, err := p.store.SignInOIDC(r.Context(), subject, address)
	if err != nil {
		status := syncer.ErrorCode(err).HTTPStatus()
		if status >= 500 || server.IsDiskFull(err) {
			p.fail(w, r, nil, err)
			return
		}
		p.signInPage(w, r, status, p.message(l, err))
		return
	}
	token, _, err := p.store.NewSession(r.Context(), u.ID)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	p.setSession(w, token)
	// A page, not a redirect: the session cookie is SameSite=Strict, and a browser does not send
	// it on a redirect in a chain that began at the provider's site. The page's own refresh is
	// a navigation from this site.
	p.render(w, r, "signedin", http.StatusOK, page{Title: l.T("oidc.signed_in"), Refresh: "/"})
}
