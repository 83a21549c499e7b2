package web

import (
	"net/http"
	"strings"
	"time"

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

func (p *Pages) revoke(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	d, err := p.store.RevokeDevice(r.Context(), actor(sess), r.PathValue("id"), r.PostFormValue("as"))
	if err != nil {
		p.formError(w, r, sess, err, p.devicesPage)
		return
	}
	p.devicesPage(w, r, sess, http.StatusOK, "Device "+d.Name+" of "+d.UserName+" revoked as "+d.Status+": it is refused from its next request and told to wipe itself.", "")
}

func (p *Pages) setDisabled(disabled bool) func(http.ResponseWriter, *http.Request, *server.Session) {
	return func(w http.ResponseWriter, r *http.Request, sess *server.Session) {
		u, err := p.store.SetUserDisabled(r.Context(), actor(sess), r.PathValue("user"), disabled)
		if err != nil {
			p.formError(w, r, sess, err, p.usersPage)
			return
		}
		what := "enabled"
		if disabled {
			what = "disabled: every device and session of theirs is refused from now on"
		}
		p.usersPage(w, r, sess, http.StatusOK, "User "+u.Name+" "+what+".", "")
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
	p.usersPage(w, r, sess, http.StatusOK, "A new password is set for "+u.Name+".", "")
}

// audit shows the audit log, newest first, with filters.
func (p *Pages) audit(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	q := r.URL.Query()
	f := server.AuditFilter{DeviceID: q.Get("device"), CaseID: q.Get("case"), Limit: 500, Newest: true}
	if name := q.Get("user"); name != "" {
		u, err := p.store.UserByName(r.Context(), name)
		if err != nil {
			p.fail(w, r, sess, err)
			return
		}
		f.UserID = u.ID
	}
	for _, t := range []struct {
		key string
		to  *time.Time
		add int
	}{{"since", &f.Since, 0}, {"until", &f.Until, 1}} {
		if s := q.Get(t.key); s != "" {
			d, err := time.ParseInLocation(time.DateOnly, s, p.cfg.Location)
			if err != nil {
				p.fail(w, r, sess, syncer.Errorf(syncer.CodeInvalid, "Dates are written like 2026-11-24."))
				return
			}
			*t.to = d.AddDate(0, 0, t.add) // until a date means to the end of that day
		}
	}
	entries, err := p.store.SearchAudit(r.Context(), actor(sess), f, "")
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	p.render(w, r, "audit", http.StatusOK, page{Title: "Audit log", Session: sess, Data: map[string]any{"Entries": entries, "Query": q}})
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
	p.usersPage(w, r, sess, http.StatusOK, "Sign-in for "+u.Name+" is open again.", "")
}
