// Package web serves the pages that caseworkers, coordinators and admins use in a browser.
// Pages are rendered on the server with html/template and work without JavaScript. Every page
// but sign-in needs a session (an HttpOnly, SameSite=Strict cookie, Secure over TLS); every form
// carries the session's CSRF token, and cross-origin posts are refused besides.
//
// It is a client of the server's Store: it imports server (and syncer), and server does not
// import it. cmd/samvaer mounts it beside the RPC handler.
package web

import (
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/reportpdf"
	"github.com/samvaer/sync/syncer"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// caseRoles are the roles that work on cases (the admin role alone sees no case).
var caseRoles = syncer.CaseRoles

// SessionCookie is the name of the session cookie.
const SessionCookie = "samvaer_session"

// Config tunes the pages.
type Config struct {
	// Secure marks the session cookie Secure; set it when the server is reached over TLS.
	Secure bool
	// Location is the time zone pages and the PDF show times in; nil means i18n.DefaultZone
	// (Europe/Copenhagen).
	Location *time.Location
	// Municipality is the name printed in the head of an exported report.
	Municipality string
	Logger       zerolog.Logger
	// OIDC, when set, offers sign-in through the municipality's identity provider.
	OIDC *OIDCConfig
	// NoLocalPasswords switches sign-in with a name and password off (only with OIDC set).
	NoLocalPasswords bool
}

// Pages is the web interface's HTTP handler.
type Pages struct {
	store *server.Store
	cfg   Config
	cat   *i18n.Catalog
	pages map[string]*template.Template
	mux   *http.ServeMux
	cop   *http.CrossOriginProtection
	oidc  *oidcSignIn // nil without OIDC
}

// New builds the pages over a store.
func New(store *server.Store, cfg Config) (*Pages, error) {
	if cfg.Location == nil {
		loc, err := i18n.LoadZone("")
		if err != nil {
			return nil, err
		}
		cfg.Location = loc
	}
	cat, err := i18n.NewCatalog(messageFiles, reportpdf.Messages)
	if err != nil {
		return nil, err
	}
	if cfg.OIDC != nil {
		if err := cfg.OIDC.Validate(); err != nil {
			return nil, err
		}
	} else if cfg.NoLocalPasswords {
		return nil, errors.New("local passwords can be switched off only when sign-in through an OpenID Connect provider is configured")
	}
	p := &Pages{store: store, cfg: cfg, cat: cat, pages: map[string]*template.Template{}, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	if cfg.OIDC != nil {
		p.oidc = newOIDCSignIn(*cfg.OIDC)
		p.mux.HandleFunc("GET /signin/oidc", p.oidcStart)
		p.mux.HandleFunc("GET "+OIDCCallbackPath, p.oidcCallback)
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	p.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	p.mux.HandleFunc("GET /signin", p.signInForm)
	p.mux.HandleFunc("POST /signin", p.signIn)
	p.mux.HandleFunc("POST /language", p.setLanguage)
	p.mux.HandleFunc("/", p.notFound)
	p.mux.HandleFunc("GET /{$}", p.signedIn(p.home))
	p.mux.HandleFunc("POST /signout", p.inStage(p.signOut, "", server.StageFactor, server.StageEnrol))
	p.mux.HandleFunc("GET /signin/factor", p.inStage(p.signInFactorForm, server.StageFactor))
	p.mux.HandleFunc("POST /signin/factor", p.inStage(p.signInFactor, server.StageFactor))
	p.mux.HandleFunc("GET /account", p.signedIn(p.account))
	p.mux.HandleFunc("GET /account/factor", p.inStage(p.account, "", server.StageEnrol))
	p.mux.HandleFunc("POST /account/factor", p.inStage(p.startFactor, "", server.StageEnrol))
	p.mux.HandleFunc("POST /account/factor/confirm", p.inStage(p.confirmFactor, "", server.StageEnrol))
	p.mux.HandleFunc("GET /week", p.role(p.week, caseRoles...))
	p.mux.HandleFunc("GET /inbox", p.role(p.inbox, caseRoles...))
	p.mux.HandleFunc("GET /reports/{id}", p.role(p.report, caseRoles...))
	p.mux.HandleFunc("POST /reports/{id}/acknowledge", p.role(p.acknowledge, "caseworker"))
	p.mux.HandleFunc("POST /reports/{id}/parent-comments", p.role(p.parentComment, "caseworker"))
	p.mux.HandleFunc("GET /reports/{id}/pdf", p.role(p.reportPDF, caseRoles...))
	// Cases: caseworkers and coordinators list and create them; on a case's page the store
	// decides, per case, who may read and who may edit, so consultants reach it too.
	p.mux.HandleFunc("GET /cases", p.role(p.cases, "caseworker", "coordinator"))
	p.mux.HandleFunc("POST /cases", p.role(p.createCase, "caseworker", "coordinator"))
	p.mux.HandleFunc("GET /cases/{id}", p.role(p.openCase, caseRoles...))
	p.mux.HandleFunc("POST /cases/{id}/decision", p.role(p.caseForm("decision", p.setDecision), caseRoles...))
	p.mux.HandleFunc("POST /cases/{id}/conditions", p.role(p.caseForm("conditions", p.setConditions), caseRoles...))
	p.mux.HandleFunc("POST /cases/{id}/goals", p.role(p.caseForm("goal", p.addGoal), caseRoles...))
	p.mux.HandleFunc("POST /cases/{id}/wishes", p.role(p.caseForm("wish", p.addWish), caseRoles...))
	p.mux.HandleFunc("POST /cases/{id}/visits", p.role(p.caseForm("visit", p.addVisit), caseRoles...))
	p.mux.HandleFunc("POST /cases/{id}/visits/{visit}/reschedule", p.role(p.caseForm("reschedule", p.rescheduleVisit), caseRoles...))
	p.mux.HandleFunc("GET /admin/users", p.role(p.users, "admin"))
	p.mux.HandleFunc("POST /admin/users", p.role(p.addUser, "admin"))
	p.mux.HandleFunc("GET /admin/devices", p.role(p.devices, "admin"))
	p.mux.HandleFunc("POST /admin/enrollment-codes", p.role(p.enrollmentCode, "admin"))
	p.mux.HandleFunc("POST /admin/devices/{id}/revoke", p.role(p.revoke, "admin"))
	p.mux.HandleFunc("POST /admin/users/{user}/disable", p.role(p.setDisabled(true), "admin"))
	p.mux.HandleFunc("POST /admin/users/{user}/enable", p.role(p.setDisabled(false), "admin"))
	p.mux.HandleFunc("POST /admin/users/{user}/password", p.role(p.resetPassword, "admin"))
	p.mux.HandleFunc("POST /admin/users/{user}/unblock", p.role(p.unblock, "admin"))
	p.mux.HandleFunc("POST /admin/users/{user}/reset-factors", p.role(p.resetFactors, "admin"))
	p.mux.HandleFunc("GET /admin/audit", p.role(p.audit, "admin"))
	p.mux.HandleFunc("GET /admin/insight", p.role(p.insight, "admin"))
	p.mux.HandleFunc("GET /admin/audit.csv", p.role(p.auditCSV, "admin"))
	return p, nil
}

func (p *Pages) parse() error {
	// The language's functions are placeholders here; render binds them to the request's
	// localizer on a clone of the page.
	fm := funcs(p.cat.Localizer(p.cfg.Location))
	fm["has"] = slices.Contains[[]string]
	fm["join"] = strings.Join
	fm["list"] = func(s ...string) []string { return s }
	fm["weekend"] = func(day int) bool { return day >= 5 }
	layout, err := template.New("layout.html").Funcs(fm).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return err
	}
	for _, name := range names {
		if name == "templates/layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, name)
		if err != nil {
			return err
		}
		p.pages[name[len("templates/"):len(name)-len(".html")]] = t
	}
	return nil
}

// ServeHTTP serves a page with the headers every page gets: no caching (pages hold data about
// children), no framing, no referrer, and a content security policy that allows only this
// server's own stylesheet — no script at all.
func (p *Pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if err := p.cop.Check(r); err != nil {
		p.fail(w, r, nil, syncer.Errorf(syncer.CodePermissionDenied, "The form was sent from another site; it was refused.").With("error.cross_site"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	p.mux.ServeHTTP(w, r)
}

// maxFormBytes bounds every form a page receives.
const maxFormBytes = 256 << 10

// page is what every template gets.
type page struct {
	Title   string
	Session *server.Session
	Notice  string
	Error   string
	Data    any
	// Path is the page's own address, for the language chooser to come back to.
	Path string
	// Refresh, when set, is where the page sends the browser on at once.
	Refresh string
}

// render writes a page with status 200, or the status of the error it shows, in the request's
// language.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, name string, status int, pg page) {
	l := p.localizer(r)
	t, err := p.pages[name].Clone()
	if err != nil {
		zerolog.Ctx(r.Context()).Error().Err(err).Str("page", name).Msg("clone page")
		http.Error(w, l.T("error.internal"), http.StatusInternalServerError)
		return
	}
	t.Funcs(funcs(l))
	if pg.Path == "" && r.Method == http.MethodGet {
		pg.Path = r.URL.RequestURI()
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", l.Lang())
	w.WriteHeader(status)
	if err := t.ExecuteTemplate(w, "layout", pg); err != nil {
		zerolog.Ctx(r.Context()).Error().Err(err).Str("page", name).Msg("render page")
	}
}

// fail shows an error page with a sentence a person understands; internal details go to the log
// only (they never hold what a person wrote).
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, sess *server.Session, err error) {
	code := syncer.ErrorCode(err)
	if code == syncer.CodeInternal {
		zerolog.Ctx(r.Context()).Error().Err(err).Str("path", r.URL.Path).Msg("page failed")
	}
	l := p.localizer(r)
	status, title, msg := code.HTTPStatus(), l.T("error.title."+string(code)), p.message(l, err)
	if server.IsDiskFull(err) {
		// The tablet's sentence says its changes are kept; a page keeps nothing.
		status, title, msg = http.StatusInsufficientStorage, l.T("error.title.disk_full"), l.T("err.disk_full_page")
	}
	p.render(w, r, "error", status, page{Title: title, Session: sess, Error: msg})
}

// notFound is the page for an address no page has.
func (p *Pages) notFound(w http.ResponseWriter, r *http.Request) {
	var sess *server.Session
	if c, err := r.Cookie(SessionCookie); err == nil {
		if s, err := p.store.Session(r.Context(), c.Value); err == nil {
			sess = &s
		}
	}
	p.fail(w, r, sess, syncer.Errorf(syncer.CodeNotFound, "There is no page at this address.").With("error.no_page"))
}

// signedIn runs h only with a live session of a signed-in person; without one it sends the
// person to sign in. A POST must carry the session's CSRF token.
func (p *Pages) signedIn(h func(http.ResponseWriter, *http.Request, *server.Session)) http.HandlerFunc {
	return p.inStage(h, "")
}

// inStage runs h only with a live session in one of the stages ("" is signed in); a session in
// another stage is sent to its own page first (a person who must set up a second factor can do
// nothing else; one whose code is asked for has not signed in yet).
func (p *Pages) inStage(h func(http.ResponseWriter, *http.Request, *server.Session), stages ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(SessionCookie)
		var sess server.Session
		if err == nil {
			sess, err = p.store.Session(r.Context(), c.Value)
		}
		if err != nil {
			if syncer.ErrorCode(err) != syncer.CodeUnauthenticated && !errors.Is(err, http.ErrNoCookie) {
				p.fail(w, r, nil, err)
				return
			}
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/signin", http.StatusSeeOther)
				return
			}
			p.fail(w, r, nil, syncer.Errorf(syncer.CodeUnauthenticated, "Your session has ended; sign in again.").With("error.session_ended"))
			return
		}
		if !slices.Contains(stages, sess.Stage) {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, stagePage(sess.Stage), http.StatusSeeOther)
				return
			}
			p.fail(w, r, &sess, syncer.Errorf(syncer.CodePermissionDenied, "Finish signing in first.").With("error.finish_signin"))
			return
		}
		if r.Method == http.MethodPost && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(sess.CSRF)) != 1 {
			p.fail(w, r, &sess, syncer.Errorf(syncer.CodePermissionDenied, "The form could not be verified (its security token is missing or old); open the page again and resend it.").With("error.csrf"))
			return
		}
		h(w, r, &sess)
	}
}

// role runs h only for a session whose user holds one of the roles.
func (p *Pages) role(h func(http.ResponseWriter, *http.Request, *server.Session), roles ...string) http.HandlerFunc {
	return p.signedIn(func(w http.ResponseWriter, r *http.Request, sess *server.Session) {
		if !slices.ContainsFunc(roles, func(role string) bool { return slices.Contains(sess.User.Roles, role) }) {
			p.fail(w, r, sess, syncer.Errorf(syncer.CodePermissionDenied, "This page is for the %s; you are signed in as %s.",
				strings.Join(roles, ", "), sess.User.Name).With("error.role", "Roles", roles, "Name", sess.User.Name))
			return
		}
		h(w, r, sess)
	})
}

// setSession sets or clears (token "") the session cookie.
func (p *Pages) setSession(w http.ResponseWriter, token string) {
	c := &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: p.cfg.Secure, SameSite: http.SameSiteStrictMode}
	if token == "" {
		c.MaxAge = -1
	}
	http.SetCookie(w, c)
}

// home sends each person to the page of their main task.
func (p *Pages) home(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	roles := sess.User.Roles
	switch {
	case slices.Contains(roles, "caseworker"):
		http.Redirect(w, r, "/inbox", http.StatusSeeOther)
	case slices.Contains(roles, "coordinator"), slices.Contains(roles, "consultant"):
		http.Redirect(w, r, "/week", http.StatusSeeOther)
	case slices.Contains(roles, "admin"):
		http.Redirect(w, r, "/admin/devices", http.StatusSeeOther)
	default:
		p.fail(w, r, sess, syncer.Errorf(syncer.CodePermissionDenied, "Your user has no role with pages here.").With("error.no_role"))
	}
}

func (p *Pages) signOut(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := p.store.EndSession(r.Context(), c.Value); err != nil {
			p.fail(w, r, sess, err)
			return
		}
	}
	p.setSession(w, "")
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
