package web

import (
	"crypto/subtle"
	"net"
	"net/http"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// Signing in. Before there is a session there is no session token to bind a form to, so the
// sign-in form carries a token that must equal a short-lived cookie set with the form (a
// double-submit token): another site can neither read the cookie nor set it, so it cannot sign a
// person in to an account of its choosing. Cross-origin posts are refused besides.

const signInCookie = "samvaer_signin"

func (p *Pages) signInForm(w http.ResponseWriter, r *http.Request) {
	p.signInPage(w, r, http.StatusOK, "")
}

func (p *Pages) signInPage(w http.ResponseWriter, r *http.Request, status int, errMsg string) {
	token, err := server.RandomToken()
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Value: token, Path: "/signin", MaxAge: 900,
		HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteStrictMode})
	d := signInData{Token: token, Passwords: !p.cfg.NoLocalPasswords}
	if p.oidc != nil {
		d.Provider = p.oidc.cfg.Name
		if d.Provider == "" {
			d.Provider = p.localizer(r).T("signin.oidc_default")
		}
	}
	p.render(w, r, "signin", status, page{Title: p.localizer(r).T("signin.title"), Error: errMsg, Data: d})
}

// signInData is what the sign-in page offers: the password form, the provider's button, or both.
type signInData struct {
	Token     string
	Passwords bool
	Provider  string // "" without OIDC
}

func (p *Pages) signIn(w http.ResponseWriter, r *http.Request) {
	if p.cfg.NoLocalPasswords {
		p.signInPage(w, r, http.StatusForbidden, p.localizer(r).T("signin.passwords_off"))
		return
	}
	c, err := r.Cookie(signInCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		p.signInPage(w, r, http.StatusForbidden, p.localizer(r).T("signin.expired"))
		return
	}
	step, err := p.store.SignInFrom(r.Context(), r.PostFormValue("name"), r.PostFormValue("password"), clientAddress(r))
	if err != nil {
		status := syncer.ErrorCode(err).HTTPStatus()
		if status >= 500 || server.IsDiskFull(err) {
			p.fail(w, r, nil, err)
			return
		}
		p.signInPage(w, r, status, p.message(p.localizer(r), err))
		return
	}
	token, _, err := p.store.StartSession(r.Context(), step)
	if err != nil {
		p.fail(w, r, nil, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: signInCookie, Path: "/signin", MaxAge: -1})
	p.setSession(w, token)
	http.Redirect(w, r, stagePage(step.Next), http.StatusSeeOther)
}

// actor is who a session acts as in the audit log.
func actor(sess *server.Session) server.Actor { return server.Actor{UserID: sess.User.ID} }

// clientAddress is the address failed sign-ins are counted by: the connection's IP address.
func clientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// stagePage is where a session in a stage is sent: the second factor's step, the enrolment, or
// the person's start page.
func stagePage(stage string) string {
	switch stage {
	case server.StageFactor:
		return "/signin/factor"
	case server.StageEnrol:
		return "/account/factor"
	}
	return "/"
}
