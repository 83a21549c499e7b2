package web

import (
	"net/http"
	"strings"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The admin's pages: users, devices and enrollment codes.

func (p *Pages) users(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	p.usersPage(w, r, sess, http.StatusOK, "", "")
}

func (p *Pages) usersPage(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, notice, errMsg string) {
	users, err := p.store.Users(r.Context())
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	p.render(w, r, "users", status, page{Title: "Users", Session: sess, Notice: notice, Error: errMsg,
		Data: map[string]any{"Users": users, "Roles": server.Roles}})
}

func (p *Pages) addUser(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	u, err := p.store.AddUser(r.Context(), r.PostFormValue("name"), r.PostForm["role"])
	if err != nil {
		p.formError(w, r, sess, err, p.usersPage)
		return
	}
	p.usersPage(w, r, sess, http.StatusOK, "User "+u.Name+" added ("+strings.Join(u.Roles, ", ")+").", "")
}

func (p *Pages) devices(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	p.devicesPage(w, r, sess, http.StatusOK, "", "")
}

func (p *Pages) devicesPage(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, notice, errMsg string) {
	devices, err := p.store.Devices(r.Context())
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	users, err := p.store.Users(r.Context())
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	p.render(w, r, "devices", status, page{Title: "Devices", Session: sess, Notice: notice, Error: errMsg,
		Data: map[string]any{"Devices": devices, "Users": users}})
}

func (p *Pages) enrollmentCode(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	code, expires, err := p.store.NewEnrollmentCode(r.Context(), r.PostFormValue("user"))
	if err != nil {
		p.formError(w, r, sess, err, p.devicesPage)
		return
	}
	p.devicesPage(w, r, sess, http.StatusOK, "Enrollment code "+code+" — single use, valid until "+expires.In(p.cfg.Location).Format("15:04")+".", "")
}

// formError shows a refused form's page again with the reason, or an error page when the
// failure is not the form's fault.
func (p *Pages) formError(w http.ResponseWriter, r *http.Request, sess *server.Session, err error,
	again func(http.ResponseWriter, *http.Request, *server.Session, int, string, string)) {
	status := statuses[syncer.ErrorCode(err)]
	if status >= 500 {
		p.fail(w, r, sess, err)
		return
	}
	again(w, r, sess, status, "", syncer.ErrorMessage(err))
}
