package web

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/boombuler/barcode/qr"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The second factor: a person's own account page, where an authenticator app is set up (a QR
// code and the key to type by hand, confirmed with a first code, then ten recovery codes shown
// once), and the sign-in step that asks for a code after the password.

// signInFactorForm asks for the code after a right password.
func (p *Pages) signInFactorForm(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	p.render(w, r, "factor", http.StatusOK, page{Title: p.localizer(r).T("factor.title"), Session: sess})
}

// signInFactor checks the code; a right one replaces the pending session with a full one.
func (p *Pages) signInFactor(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	c, _ := r.Cookie(SessionCookie)
	token, _, err := p.store.CompleteSignIn(r.Context(), c.Value, r.PostFormValue("code"), clientAddress(r))
	if err != nil {
		status := syncer.ErrorCode(err).HTTPStatus()
		switch {
		case status >= 500 || server.IsDiskFull(err):
			p.fail(w, r, nil, err)
		case syncer.ErrorCode(err) == syncer.CodeUnauthenticated && errKey(err) == "err.factor_wrong":
			p.render(w, r, "factor", status, page{Title: p.localizer(r).T("factor.title"), Session: sess, Error: p.message(p.localizer(r), err)})
		default: // the step took too long, or the name or address is blocked: the pending session is gone
			p.setSession(w, "")
			p.signInPage(w, r, status, p.message(p.localizer(r), err))
		}
		return
	}
	p.setSession(w, token)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// accountData is what the account page shows.
type accountData struct {
	HasFactor     bool
	RecoveryLeft  int
	Required      bool
	Enrolment     *server.TOTPEnrolment
	QR            template.HTML
	RecoveryCodes []string
}

// account is the person's own page: who they are, and their second factor.
func (p *Pages) account(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	p.accountPage(w, r, sess, http.StatusOK, accountData{}, "", "")
}

func (p *Pages) accountPage(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, d accountData, notice, errMsg string) {
	has, err := p.store.HasFactor(r.Context(), sess.User.ID)
	if err == nil && has {
		d.RecoveryLeft, err = p.store.RecoveryCodesLeft(r.Context(), sess.User.ID)
	}
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	d.HasFactor, d.Required = has, sess.Stage == server.StageEnrol
	if d.Enrolment != nil {
		if d.QR, err = qrSVG(d.Enrolment.URL); err != nil {
			p.fail(w, r, sess, err)
			return
		}
	}
	p.render(w, r, "account", status, page{Title: p.localizer(r).T("account.title"), Session: sess, Notice: notice, Error: errMsg, Data: d})
}

// startFactor makes a new secret and shows its QR code with the form for the first code.
func (p *Pages) startFactor(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	e, err := p.store.StartTOTP(r.Context(), sess.User.ID)
	if err != nil {
		p.formError(w, r, sess, err, p.accountAgain)
		return
	}
	p.accountPage(w, r, sess, http.StatusOK, accountData{Enrolment: &e}, "", "")
}

// confirmFactor checks the first code and shows the recovery codes, once.
func (p *Pages) confirmFactor(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	c, _ := r.Cookie(SessionCookie)
	codes, err := p.store.ConfirmTOTP(r.Context(), c.Value, sess.User.ID, r.PostFormValue("code"))
	if err != nil {
		status := syncer.ErrorCode(err).HTTPStatus()
		if status >= 500 {
			p.fail(w, r, sess, err)
			return
		}
		d := accountData{}
		if e, perr := p.store.PendingTOTP(r.Context(), sess.User.ID); perr == nil {
			d.Enrolment = &e // the same QR code again, for the next code
		}
		p.accountPage(w, r, sess, status, d, "", p.message(p.localizer(r), err))
		return
	}
	sess.Stage = ""
	p.accountPage(w, r, sess, http.StatusOK, accountData{RecoveryCodes: codes}, p.localizer(r).T("account.factor_done"), "")
}

func (p *Pages) accountAgain(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, notice, errMsg string) {
	p.accountPage(w, r, sess, status, accountData{}, notice, errMsg)
}

// qrSVG draws text as a QR code in SVG, inline in the page (the pages' content security policy
// allows images from this server only, and an inline SVG is part of the page).
func qrSVG(text string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("draw the QR code: %w", err)
	}
	n := code.Bounds().Dx()
	const quiet = 4 // the blank border readers need
	var path strings.Builder
	for y := range n {
		for x := range n {
			if r, _, _, _ := code.At(x, y).RGBA(); r == 0 {
				fmt.Fprintf(&path, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	size := n + 2*quiet
	return template.HTML(fmt.Sprintf(`<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="240" height="240" role="img" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path d="%s" fill="#000"/></svg>`,
		size, size, size, size, path.String())), nil
}

// resetFactors removes a person's second factor, after asking.
func (p *Pages) resetFactors(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	l := p.localizer(r)
	if r.PostFormValue("confirm") != "yes" {
		u, err := p.store.UserByName(r.Context(), r.PathValue("user"))
		if err != nil {
			p.fail(w, r, sess, err)
			return
		}
		p.confirm(w, r, sess, confirmation{
			Title: l.T("reset_factors.title"), Question: l.T("reset_factors.question", "Name", u.Name),
			Consequences: []string{l.T("reset_factors.effect1"), l.T("reset_factors.effect2")},
			Action:       r.URL.Path, Confirm: l.T("reset_factors.confirm"), Back: "/admin/users", Danger: true,
		})
		return
	}
	u, err := p.store.ResetFactors(r.Context(), actor(sess), r.PathValue("user"))
	if err != nil {
		p.formError(w, r, sess, err, p.usersPage)
		return
	}
	p.usersPage(w, r, sess, http.StatusOK, l.T("reset_factors.done", "Name", u.Name), "")
}

// errKey is the message key of an error from the store ("" for none).
func errKey(err error) string {
	var e *syncer.Error
	if errors.As(err, &e) {
		return e.Key
	}
	return ""
}
