package web

import (
	"net/http"
	"slices"

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
	p.render(w, r, "users", status, page{Title: p.localizer(r).T("users.title"), Session: sess, Notice: notice, Error: errMsg,
		Data: map[string]any{"Users": users, "Roles": server.Roles}})
}

func (p *Pages) addUser(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	l := p.localizer(r)
	u, err := p.store.AddUser(r.Context(), r.PostFormValue("name"), r.PostForm["role"])
	if err != nil {
		p.formError(w, r, sess, err, p.usersPage)
		return
	}
	p.usersPage(w, r, sess, http.StatusOK, l.T("users.added", "Name", u.Name, "Roles", joinWords(l, roleNames(l, u.Roles), "word.and")), "")
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
	p.render(w, r, "devices", status, page{Title: p.localizer(r).T("devices.title"), Session: sess, Notice: notice, Error: errMsg,
		Data: map[string]any{"Devices": devices, "Users": users}})
}

func (p *Pages) enrollmentCode(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	code, expires, err := p.store.NewEnrollmentCode(r.Context(), r.PostFormValue("user"))
	if err != nil {
		p.formError(w, r, sess, err, p.devicesPage)
		return
	}
	l := p.localizer(r)
	p.devicesPage(w, r, sess, http.StatusOK, l.T("devices.code", "Code", code, "Until", l.Clock(expires)), "")
}

// formError shows a refused form's page again with the reason, or an error page when the
// failure is not the form's fault.
func (p *Pages) formError(w http.ResponseWriter, r *http.Request, sess *server.Session, err error,
	again func(http.ResponseWriter, *http.Request, *server.Session, int, string, string)) {
	status := syncer.ErrorCode(err).HTTPStatus()
	if status >= 500 {
		p.fail(w, r, sess, err)
		return
	}
	again(w, r, sess, status, "", p.message(p.localizer(r), err))
}

// revoke asks first, saying what revoking as lost or retired does, then revokes.
func (p *Pages) revoke(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	l := p.localizer(r)
	as := r.PostFormValue("as")
	if r.PostFormValue("confirm") != "yes" {
		devices, err := p.store.Devices(r.Context())
		if err != nil {
			p.fail(w, r, sess, err)
			return
		}
		i := slices.IndexFunc(devices, func(d server.Device) bool { return d.ID == r.PathValue("id") })
		if i < 0 || (as != "lost" && as != "retired") {
			p.fail(w, r, sess, syncer.Errorf(syncer.CodeNotFound, "No such device, or no such way to revoke it.").With("error.revoke"))
			return
		}
		d := devices[i]
		p.confirm(w, r, sess, confirmation{
			Title:        l.T("revoke." + as + ".title"),
			Question:     l.T("revoke."+as+".question", "Device", d.Name, "User", d.UserName),
			Consequences: []string{l.T("revoke." + as + ".effect1"), l.T("revoke." + as + ".effect2"), l.T("revoke.effect_final")},
			Action:       r.URL.Path, Fields: map[string]string{"as": as}, Confirm: l.T("revoke." + as + ".confirm"),
			Back: "/admin/devices", Danger: true,
		})
		return
	}
	d, err := p.store.RevokeDevice(r.Context(), actor(sess), r.PathValue("id"), as)
	if err != nil {
		p.formError(w, r, sess, err, p.devicesPage)
		return
	}
	p.devicesPage(w, r, sess, http.StatusOK, l.T("revoke."+d.Status+".done", "Device", d.Name, "User", d.UserName), "")
}

// setDisabled disables a user (after asking) or enables one.
func (p *Pages) setDisabled(disabled bool) func(http.ResponseWriter, *http.Request, *server.Session) {
	return func(w http.ResponseWriter, r *http.Request, sess *server.Session) {
		l := p.localizer(r)
		if disabled && r.PostFormValue("confirm") != "yes" {
			u, err := p.store.UserByName(r.Context(), r.PathValue("user"))
			if err != nil {
				p.fail(w, r, sess, err)
				return
			}
			p.confirm(w, r, sess, confirmation{
				Title: l.T("disable.title"), Question: l.T("disable.question", "Name", u.Name),
				Consequences: []string{l.T("disable.effect1"), l.T("disable.effect2"), l.T("disable.effect3")},
				Action:       r.URL.Path, Confirm: l.T("disable.confirm"), Back: "/admin/users", Danger: true,
			})
			return
		}
		u, err := p.store.SetUserDisabled(r.Context(), actor(sess), r.PathValue("user"), disabled)
		if err != nil {
			p.formError(w, r, sess, err, p.usersPage)
			return
		}
		key := "users.enabled_notice"
		if disabled {
			key = "users.disabled_notice"
		}
		p.usersPage(w, r, sess, http.StatusOK, l.T(key, "Name", u.Name), "")
	}
}

func (p *Pages) resetPassword(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	u, err := p.store.UserByName(r.Context(), r.PathValue("user"))
	if err == nil {
		err = p.store.SetPassword(r.Context(), actor(sess), u.ID, r.PostFormValue("password"))
	}
	if err != nil {
		p.formError(w, r, sess, err, p.usersPage)
		return
	}
	p.usersPage(w, r, sess, http.StatusOK, p.localizer(r).T("users.password_set", "Name", u.Name), "")
}

// unblock lifts a user's sign-in block after repeated failed sign-ins.
func (p *Pages) unblock(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	u, err := p.store.UserByName(r.Context(), r.PathValue("user"))
	if err == nil {
		_, err = p.store.UnblockSignIn(r.Context(), actor(sess), u.Name, "")
	}
	if err != nil {
		p.formError(w, r, sess, err, p.usersPage)
		return
	}
	p.usersPage(w, r, sess, http.StatusOK, p.localizer(r).T("users.unblocked", "Name", u.Name), "")
}
