package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samvaer/sync/internal/i18n"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The caseworker's cases: the list of their cases, creating one, and a case's page with the forms
// that set it up (decision, conditions, goals, the child's wishes, visits). Opening a case asks
// why first: the store logs every read of a case with the purpose the person gave, and the
// purpose travels in the case page's URL so each form can come back to the page it was sent from.
// Every rule — who may create, read or edit a case, a room booked twice — is the store's, the
// same as for the RPC; the pages only turn forms into calls and errors into sentences.

// notices are the keys of the sentences shown after a form on a case or report page worked, as
// the redirect carries them (a key, not the sentence, so a link cannot put words on the page).
var notices = []string{"acknowledged", "comment", "case", "decision", "conditions", "goal", "wish", "visit", "reschedule"}

// notice is the sentence for a notice key in the request's language; "" for no or an unknown key.
func (p *Pages) notice(r *http.Request, key string) string {
	if !slices.Contains(notices, key) {
		return ""
	}
	return p.localizer(r).T("notice." + key)
}

// identity is the signed-in person as the store knows a caller; a browser is no device.
func identity(sess *server.Session) server.Identity {
	return server.Identity{UserID: sess.User.ID, Roles: sess.User.Roles}
}

func (p *Pages) cases(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	p.casesPage(w, r, sess, http.StatusOK, p.notice(r, r.URL.Query().Get("done")), "")
}

func (p *Pages) casesPage(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, notice, errMsg string) {
	list, err := p.store.CasesOf(r.Context(), sess.User.ID)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	var caseworkers []server.User
	if slices.Contains(sess.User.Roles, "coordinator") {
		if caseworkers, err = p.usersWithRole(r, "caseworker"); err != nil {
			p.fail(w, r, sess, err)
			return
		}
	}
	p.render(w, r, "cases", status, page{Title: p.localizer(r).T("cases.title"), Session: sess, Notice: notice, Error: errMsg,
		Data: map[string]any{"Cases": list, "Caseworkers": caseworkers}})
}

func (p *Pages) usersWithRole(r *http.Request, role string) ([]server.User, error) {
	users, err := p.store.Users(r.Context())
	return slices.DeleteFunc(users, func(u server.User) bool { return u.Disabled || !slices.Contains(u.Roles, role) }), err
}

func (p *Pages) createCase(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	_, err := p.store.CreateCase(r.Context(), identity(sess), server.NewCase{
		Children:   lines(r.PostFormValue("children")),
		Parents:    lines(r.PostFormValue("parents")),
		Relatives:  lines(r.PostFormValue("relatives")),
		Placement:  strings.TrimSpace(r.PostFormValue("placement")),
		Reference:  strings.TrimSpace(r.PostFormValue("reference")),
		Caseworker: r.PostFormValue("caseworker"),
	})
	if err != nil {
		p.formError(w, r, sess, err, p.casesPage)
		return
	}
	http.Redirect(w, r, "/cases?done=case", http.StatusSeeOther)
}

// lines splits a text area into its non-empty lines: one name a line.
func lines(s string) []string {
	var out []string
	for l := range strings.Lines(s) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// caseView is the case page's data, the case's records sorted out for reading.
type caseView struct {
	ID, Purpose, Reference, Placement string
	Children                          []caseChild
	Parents, Relatives                []string
	Decisions                         []caseDecision   // oldest first; the last is in force
	Conditions                        *caseConditions  // the version in force; nil when none is set
	EarlierConditions                 []caseConditions // newest first
	Goals                             []server.CaseRecord
	Wishes                            []caseWish
	Visits                            []caseVisit
	Members                           []caseMember
	Consultants                       []server.User
}

type caseChild struct{ ID, Name string }

// caseDecision is a decision as the page shows it: § 105 with its period and purpose, or § 104
// with the consents to written descriptions.
type caseDecision struct {
	syncer.Decision
	From, To string // the period as days
}

// caseConditions is one version of the conditions.
type caseConditions struct{ Version, Since, Text string }

// caseWish is a child's wish with the child named.
type caseWish struct {
	Child, Text, PauseUntil string
	SupportPerson           bool
}

type caseMember struct{ Name, Role string }

type caseVisit struct {
	ID, Kind, Place, Room, Consultant, ReportState string
	StartMs, EndMs                                 int64
	// Start and End fill the move form's fields, so a visit moved to another room keeps its time.
	Start, End string
}

// openCase asks for the purpose when none is given, and shows the case otherwise.
func (p *Pages) openCase(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	if _, ok := p.askPurpose(w, r, sess, "case", caseURL(r.PathValue("id"), "", "")); !ok {
		return
	}
	p.casePage(w, r, sess, http.StatusOK, p.notice(r, r.URL.Query().Get("done")), "")
}

// caseURL is a case page's address with the purpose it was opened for, and the notice to show.
func caseURL(caseID, purpose, done string) string {
	q := url.Values{"purpose": {purpose}}
	if done != "" {
		q.Set("done", done)
	}
	return "/cases/" + url.PathEscape(caseID) + "?" + q.Encode()
}

// casePage reads the case (which logs the read with its purpose) and shows it. A form sends the
// purpose back in a hidden field, so a refused form shows the page again for the same purpose.
func (p *Pages) casePage(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, notice, errMsg string) {
	ctx := r.Context()
	id := identity(sess)
	caseID, purpose := r.PathValue("id"), r.FormValue("purpose")
	cv, err := p.store.GetCase(ctx, id, caseID, purpose)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	reports, err := p.store.Reports(ctx, &id, caseID, server.FilterAll)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	users, err := p.store.Users(ctx)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	names := map[string]string{}
	for _, u := range users {
		names[u.ID] = u.Name
	}
	reportState := map[string]string{}
	for _, rep := range reports {
		reportState[rep.VisitID] = rep.State
		if rep.Overdue {
			reportState[rep.VisitID] = "overdue"
		}
	}
	l := p.localizer(r)
	v := caseView{ID: caseID, Purpose: strings.TrimSpace(purpose)}
	var wishes []server.CaseRecord // named by child once every child is known
	var conditions []server.CaseRecord
	for _, rec := range cv.Records {
		f := rec.Fields
		switch rec.Type {
		case syncer.TypeCase:
			v.Reference, v.Placement = f["reference"], f["placement"]
			v.Parents, v.Relatives = lines(f["parents"]), lines(f["relatives"])
		case syncer.TypeChild:
			v.Children = append(v.Children, caseChild{ID: rec.ID, Name: f["name"]})
		case syncer.TypeDecision:
			d := syncer.ReadDecision(rec.ID, func(name string) string { return f[name] })
			v.Decisions = append(v.Decisions, caseDecision{Decision: d, From: day(l, f["from_ms"]), To: day(l, f["to_ms"])})
		case syncer.TypeConditions:
			conditions = append(conditions, rec)
		case syncer.TypeGoal:
			v.Goals = append(v.Goals, rec)
		case syncer.TypeWish:
			wishes = append(wishes, rec)
		case syncer.TypeVisit:
			cvs := caseVisit{ID: rec.ID, Kind: f["kind"], Place: f["place"], Room: f["room"], Consultant: names[f["consultant"]],
				ReportState: reportState[rec.ID], StartMs: ms(f["start_ms"]), EndMs: ms(f["end_ms"]),
				Start: p.localTime(f["start_ms"]), End: p.localTime(f["end_ms"])}
			v.Visits = append(v.Visits, cvs)
		}
	}
	// Versions are counted on the server, so the highest is the one in force.
	slices.SortFunc(conditions, func(a, b server.CaseRecord) int { return cmp.Compare(ms(b.Fields["version"]), ms(a.Fields["version"])) })
	for i, c := range conditions {
		cc := caseConditions{Version: c.Fields["version"], Since: l.Millis(ms(c.Fields["from_ms"])), Text: c.Fields["text"]}
		if i == 0 {
			v.Conditions = &cc
		} else {
			v.EarlierConditions = append(v.EarlierConditions, cc)
		}
	}
	slices.SortStableFunc(v.Visits, func(a, b caseVisit) int { return cmp.Compare(a.StartMs, b.StartMs) })
	for _, w := range wishes {
		child := l.T("case.child_gone")
		if i := slices.IndexFunc(v.Children, func(c caseChild) bool { return c.ID == w.Fields["child_id"] }); i >= 0 {
			child = v.Children[i].Name
		}
		v.Wishes = append(v.Wishes, caseWish{Child: child, Text: w.Fields["text"], PauseUntil: day(l, w.Fields["pause_until_ms"]),
			SupportPerson: w.Fields["support_person"] == "true"})
	}
	for _, m := range cv.Members {
		v.Members = append(v.Members, caseMember{Name: names[m.UserID], Role: m.Role})
	}
	for _, u := range users {
		if !u.Disabled && slices.Contains(u.Roles, "consultant") {
			v.Consultants = append(v.Consultants, u)
		}
	}
	title := l.T("case.title")
	if v.Reference != "" {
		title = l.T("case.title_ref", "Reference", v.Reference)
	}
	p.render(w, r, "case", status, page{Title: title, Session: sess, Notice: notice, Error: errMsg, Data: v})
}

// caseForm runs a case page's form: fn makes the store call; a refused form shows the page again
// with the reason, a form that worked sends the browser back to the page with a notice.
func (p *Pages) caseForm(done string, fn func(r *http.Request, id server.Identity, caseID string) error) func(http.ResponseWriter, *http.Request, *server.Session) {
	return func(w http.ResponseWriter, r *http.Request, sess *server.Session) {
		if err := fn(r, identity(sess), r.PathValue("id")); err != nil {
			p.formError(w, r, sess, err, p.casePage)
			return
		}
		http.Redirect(w, r, caseURL(r.PathValue("id"), r.PostFormValue("purpose"), done), http.StatusSeeOther)
	}
}

func (p *Pages) setDecision(r *http.Request, id server.Identity, caseID string) error {
	from, err := p.date(r.PostFormValue("from"), "decision_from")
	if err != nil {
		return err
	}
	to, err := p.date(r.PostFormValue("to"), "decision_to")
	if err != nil {
		return err
	}
	if to != 0 {
		// The period includes its last day, whose visits rest on the decision too.
		to = time.UnixMilli(to).In(p.cfg.Location).AddDate(0, 0, 1).UnixMilli() - 1
	}
	_, err = p.store.SetDecision(r.Context(), &id, caseID, server.Decision{
		Kind:               r.PostFormValue("kind"),
		ConsentParents:     r.PostFormValue("consent_parents") != "",
		YoungPerson:        r.PostFormValue("young_person") != "",
		ConsentYoungPerson: r.PostFormValue("consent_young_person") != "",
		FromMs:             from, ToMs: to,
		Purpose: strings.TrimSpace(r.PostFormValue("decision_purpose")),
	})
	return err
}

func (p *Pages) setConditions(r *http.Request, id server.Identity, caseID string) error {
	_, _, err := p.store.SetConditions(r.Context(), &id, caseID, r.PostFormValue("text"))
	return err
}

func (p *Pages) addGoal(r *http.Request, id server.Identity, caseID string) error {
	_, err := p.store.AddGoal(r.Context(), &id, caseID, r.PostFormValue("text"))
	return err
}

func (p *Pages) addWish(r *http.Request, id server.Identity, caseID string) error {
	pause, err := p.date(r.PostFormValue("pause_until"), "pause")
	if err != nil {
		return err
	}
	_, err = p.store.AddWish(r.Context(), &id, caseID, r.PostFormValue("child"), r.PostFormValue("text"),
		r.PostFormValue("support_person") != "", pause)
	return err
}

func (p *Pages) addVisit(r *http.Request, id server.Identity, caseID string) error {
	start, end, err := p.span(r)
	if err != nil {
		return err
	}
	_, err = p.store.AddVisit(r.Context(), server.NewVisit{CaseID: caseID, Consultant: r.PostFormValue("consultant"),
		Kind: r.PostFormValue("kind"), Start: start, End: end,
		Place: strings.TrimSpace(r.PostFormValue("place")), Room: strings.TrimSpace(r.PostFormValue("room")), By: &id})
	return err
}

func (p *Pages) rescheduleVisit(r *http.Request, id server.Identity, _ string) error {
	start, end, err := p.span(r)
	if err != nil {
		return err
	}
	return p.store.RescheduleVisit(r.Context(), &id, r.PathValue("visit"), start, end, strings.TrimSpace(r.PostFormValue("room")))
}

// dateTimeField is the format of a browser's date-and-time field.
const dateTimeField = "2006-01-02T15:04"

// localTime shows a stored time as a date-and-time field's value.
func (p *Pages) localTime(field string) string {
	return time.UnixMilli(ms(field)).In(p.cfg.Location).Format(dateTimeField)
}

// span reads a visit's start and end from a form, as the browser's date-and-time fields send them.
func (p *Pages) span(r *http.Request) (start, end time.Time, err error) {
	start, err = time.ParseInLocation(dateTimeField, r.PostFormValue("start"), p.cfg.Location)
	if err != nil {
		return start, end, syncer.Errorf(syncer.CodeInvalid, "Give the visit's start as a date and time.").With("error.visit_start")
	}
	end, err = time.ParseInLocation(dateTimeField, r.PostFormValue("end"), p.cfg.Location)
	if err != nil {
		return start, end, syncer.Errorf(syncer.CodeInvalid, "Give the visit's end as a date and time.").With("error.visit_end")
	}
	return start, end, nil
}

// date reads an optional date field as Unix milliseconds at the day's start (0 when empty); field
// names it in the refusal (decision_from, decision_to, pause).
func (p *Pages) date(s, field string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseInLocation(time.DateOnly, s, p.cfg.Location)
	if err != nil {
		return 0, syncer.Errorf(syncer.CodeInvalid, "The date (%s) must be a date such as 2026-11-23.", field).With("error.date_" + field)
	}
	return d.UnixMilli(), nil
}

// day shows a stored day (Unix milliseconds) as a date; "" when none is set.
func day(l *i18n.Localizer, field string) string {
	if n := ms(field); n != 0 {
		return l.Date(time.UnixMilli(n))
	}
	return ""
}

// ms reads a stored millisecond field; a missing one is 0.
func ms(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
