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

// The caseworker's reports: the inbox, a report, acknowledging it, a parent's comment and the PDF
// for the case system. Every read of a report is written to the access log with its purpose: the
// inbox takes it from the task at hand, a report page asks for it.

// inboxPurpose is the purpose of reading the inbox, written to the access log. Purposes are logged
// in Danish whatever language the page is in: the child's parents may ask to read them.
const inboxPurpose = "Læser indbakken med modtagne samværsbeskrivelser"

// purposes are the reasons most often given for opening a case or a report, as logged (Danish) and
// by the message id a page shows them with; a person may add their own words.
var purposes = []struct{ Logged, ID string }{
	{"Læser en modtaget samværsbeskrivelse", "purpose.option.read"},
	{"Planlægger samvær", "purpose.option.plan"},
	{"Forbereder et opfølgningsmøde", "purpose.option.followup"},
	{"Forbereder et opstartsmøde", "purpose.option.startup"},
	{"Gennemgang af sagen", "purpose.option.review"},
	{"Journaliserer samværsbeskrivelsen i sagssystemet", "purpose.option.file"},
}

// askPurpose returns the purpose a page was opened for (the URL's purpose). Without one it asks:
// the form sends a common purpose and the person's own words, which are joined and sent back to
// the page's address (base, ending in "?purpose=" or "&purpose="); ok is false when it answered.
// what is "case" or "report".
func (p *Pages) askPurpose(w http.ResponseWriter, r *http.Request, sess *server.Session, what, base string) (purpose string, ok bool) {
	l := p.localizer(r)
	q := r.URL.Query()
	if purpose := strings.TrimSpace(q.Get("purpose")); purpose != "" {
		return purpose, true
	}
	var parts []string
	for _, s := range []string{q.Get("reason"), q.Get("note")} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) > 0 {
		http.Redirect(w, r, base+url.QueryEscape(strings.Join(parts, " — ")), http.StatusSeeOther)
		return "", false
	}
	status, errMsg := http.StatusOK, ""
	if q.Has("reason") || q.Has("note") {
		status, errMsg = http.StatusBadRequest, l.T("purpose.missing."+what)
	}
	p.render(w, r, "purpose", status, page{Title: l.T("purpose.title." + what), Session: sess, Error: errMsg,
		Data: map[string]any{"Action": r.URL.Path, "What": what, "Purposes": purposes}})
	return "", false
}

// inboxFilters are the inbox's filters, each a link; "" is all.
var inboxFilters = []string{server.FilterNew, server.FilterOverdue, server.FilterAcknowledged, server.FilterAll}

// inboxPage is how many reports a page of the inbox shows.
const inboxPage = 20

// inboxRow is a report as a row of the inbox.
type inboxRow struct {
	server.Report
	StateKey string // new, addendum, overdue, acknowledged or draft: the row's state in words
}

// stateKey is the state a caseworker reads for a report.
func stateKey(r server.Report) string {
	switch {
	case r.NewAddendum:
		return "addendum"
	case r.Overdue:
		return "overdue"
	case r.State == syncer.StateSubmitted:
		return "new"
	}
	return r.State
}

// inbox lists the delivered reports, newest visit first, naming the children: filters are links,
// a search finds a child, a case reference or a visit's date, and long lists are paged.
func (p *Pages) inbox(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	l := p.localizer(r)
	q := r.URL.Query()
	filter := q.Get("filter")
	if !q.Has("filter") {
		filter = server.FilterNew
	}
	if !slices.Contains(inboxFilters, filter) {
		p.fail(w, r, sess, syncer.Errorf(syncer.CodeInvalid, "Unknown filter %q.", filter).With("error.inbox_filter"))
		return
	}
	search := strings.TrimSpace(q.Get("q"))
	var day time.Time
	if s := q.Get("date"); s != "" {
		d, err := time.ParseInLocation(time.DateOnly, s, p.cfg.Location)
		if err != nil {
			p.fail(w, r, sess, syncer.Errorf(syncer.CodeInvalid, "A date is written like 2026-11-24.").With("error.date"))
			return
		}
		day = d
	}
	pageNo, _ := strconv.Atoi(q.Get("page"))
	pageNo = max(pageNo, 1)
	reports, err := p.store.ListReports(r.Context(), identity(sess), "", filter, inboxPurpose)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	var rows []inboxRow
	for _, rep := range reports {
		if search != "" && !matches(search, append([]string{rep.CaseReference}, rep.Children...)) {
			continue
		}
		if !day.IsZero() && (rep.VisitStartMs < day.UnixMilli() || rep.VisitStartMs >= day.AddDate(0, 0, 1).UnixMilli()) {
			continue
		}
		rows = append(rows, inboxRow{Report: rep, StateKey: stateKey(rep)})
	}
	total := len(rows)
	pages := max((total+inboxPage-1)/inboxPage, 1)
	pageNo = min(pageNo, pages)
	rows = rows[min((pageNo-1)*inboxPage, total):min(pageNo*inboxPage, total)]
	link := func(filter string, page int) string {
		v := url.Values{"filter": {filter}}
		if search != "" {
			v.Set("q", search)
		}
		if !day.IsZero() {
			v.Set("date", day.Format(time.DateOnly))
		}
		if page > 1 {
			v.Set("page", strconv.Itoa(page))
		}
		return "/inbox?" + v.Encode()
	}
	type filterLink struct {
		Key, Label, URL string
		Current         bool
	}
	var filters []filterLink
	for _, f := range inboxFilters {
		filters = append(filters, filterLink{Key: f, Label: l.T("inbox.filter." + cmp.Or(f, "all")), URL: link(f, 1), Current: f == filter})
	}
	data := map[string]any{"Rows": rows, "Filters": filters, "Filter": filter, "Search": search, "Date": q.Get("date"),
		"Page": pageNo, "Pages": pages, "Total": total}
	if pageNo > 1 {
		data["Prev"] = link(filter, pageNo-1)
	}
	if pageNo < pages {
		data["Next"] = link(filter, pageNo+1)
	}
	p.render(w, r, "inbox", http.StatusOK, page{Title: l.T("inbox.title"), Session: sess, Data: data})
}

// matches reports whether any of words contains the search, ignoring case.
func matches(search string, words []string) bool {
	search = strings.ToLower(search)
	return slices.ContainsFunc(words, func(w string) bool { return strings.Contains(strings.ToLower(w), search) })
}

// purposeOf is the purpose a report page was opened for, carried in the URL of its forms.
func purposeOf(r *http.Request) string { return r.URL.Query().Get("purpose") }

func reportURL(id, purpose string) string {
	return "/reports/" + url.PathEscape(id) + "?purpose=" + url.QueryEscape(purpose)
}

func (p *Pages) report(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	p.reportPage(w, r, sess, http.StatusOK, p.notice(r, r.URL.Query().Get("done")), "")
}

func (p *Pages) reportPage(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, notice, errMsg string) {
	l := p.localizer(r)
	id := r.PathValue("id")
	purpose, ok := p.askPurpose(w, r, sess, "report", reportURL(id, ""))
	if !ok {
		return
	}
	rep, err := p.store.GetReport(r.Context(), identity(sess), id, purpose)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	names, device, err := p.reportNames(r, rep)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	// The next new report in the inbox's order, so a caseworker can read them one after another.
	var next string
	if slices.Contains(sess.User.Roles, "caseworker") {
		who := identity(sess)
		fresh, err := p.store.Reports(r.Context(), &who, "", server.FilterNew)
		if err != nil {
			p.fail(w, r, sess, err)
			return
		}
		for _, f := range fresh {
			if f.ID != rep.ID {
				next = "/reports/" + url.PathEscape(f.ID)
				break
			}
		}
	}
	var checklist []checkRow
	for _, c := range rep.Checklist {
		checklist = append(checklist, checkRow{Checked: c.Checked, Phase: l.T("phase." + c.Phase), Label: checklistLabel(l, c)})
	}
	p.render(w, r, "report", status, page{Title: reportTitle(l, rep), Session: sess, Notice: notice, Error: errMsg,
		Data: map[string]any{"Report": rep, "Purpose": purpose, "Names": names, "Device": device, "Next": next,
			"State": stateKey(rep), "Checklist": checklist,
			"CanAcknowledge": (rep.State == syncer.StateSubmitted || rep.NewAddendum) && slices.Contains(sess.User.Roles, "caseworker"),
			"CanComment":     rep.State != syncer.StateDraft && slices.Contains(sess.User.Roles, "caseworker")}})
}

// reportTitle names a report by its children and the visit's day.
func reportTitle(l *i18n.Localizer, rep server.Report) string {
	return l.T("report.title", "Children", joinWords(l, rep.Children, "word.and"), "Day", l.Date(time.UnixMilli(rep.VisitStartMs)))
}

// checkRow is a checklist item as a page shows it.
type checkRow struct {
	Checked      bool
	Phase, Label string
}

// checklistLabel is an item's label in the reader's language: the catalog's words for an item of
// the built-in checklist whose label nobody changed, the stored label otherwise.
func checklistLabel(l *i18n.Localizer, c server.Checked) string {
	for _, d := range syncer.DefaultChecklist {
		if d.Key == c.Key && d.Label == c.Label {
			return l.T("checklist." + c.Key)
		}
	}
	return c.Label
}

// deviceName is the name of the device with id, "" for none.
func (p *Pages) deviceName(r *http.Request, id string) (string, error) {
	if id == "" {
		return "", nil
	}
	d, err := p.store.Device(r.Context(), id)
	if syncer.ErrorCode(err) == syncer.CodeNotFound {
		return "", nil
	}
	return d.Name, err
}

// reportNames is what a report's page and PDF show instead of ids: the names of the people it
// mentions, by user id, and the name of the device it was submitted from.
func (p *Pages) reportNames(r *http.Request, rep server.Report) (map[string]string, string, error) {
	names, err := p.userNames(r, rep)
	if err != nil {
		return nil, "", err
	}
	device, err := p.deviceName(r, rep.SubmittedDevice)
	return names, device, err
}

// userNames maps the user ids a report mentions to names.
func (p *Pages) userNames(r *http.Request, rep server.Report) (map[string]string, error) {
	names := map[string]string{}
	ids := []string{rep.SubmittedBy, rep.AcknowledgedBy, rep.Consultant}
	for _, o := range rep.Observations {
		ids = append(ids, o.Author)
	}
	for _, a := range append(rep.Addenda, rep.ParentComments...) {
		ids = append(ids, a.Author)
	}
	for _, id := range ids {
		if id == "" || names[id] != "" {
			continue
		}
		u, err := p.store.UserByName(r.Context(), id)
		if syncer.ErrorCode(err) == syncer.CodeNotFound {
			names[id] = p.localizer(r).T("report.unknown_user")
			continue
		}
		if err != nil {
			return nil, err
		}
		names[id] = u.Name
	}
	return names, nil
}

// acknowledge asks first what acknowledging means; with the confirmation it acknowledges.
func (p *Pages) acknowledge(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	id := r.PathValue("id")
	if r.PostFormValue("confirm") != "yes" {
		l := p.localizer(r)
		rep, err := p.store.GetReport(r.Context(), identity(sess), id, purposeOf(r))
		if err != nil {
			p.fail(w, r, sess, err)
			return
		}
		p.confirm(w, r, sess, confirmation{
			Title:        l.T("ack.title"),
			Question:     l.T("ack.question", "Report", reportTitle(l, rep)),
			Consequences: []string{l.T("ack.effect_inbox"), l.T("ack.effect_tablet"), l.T("ack.effect_later")},
			Action:       r.URL.RequestURI(), Confirm: l.T("ack.confirm"), Back: reportURL(id, purposeOf(r)),
		})
		return
	}
	if err := p.store.Acknowledge(r.Context(), identity(sess), id); err != nil {
		p.formError(w, r, sess, err, p.reportPage)
		return
	}
	http.Redirect(w, r, reportURL(id, purposeOf(r))+"&done=acknowledged", http.StatusSeeOther)
}

func (p *Pages) parentComment(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	id := r.PathValue("id")
	if _, err := p.store.AddParentComment(r.Context(), identity(sess), id, r.PostFormValue("text"), 0); err != nil {
		p.formError(w, r, sess, err, p.reportPage)
		return
	}
	http.Redirect(w, r, reportURL(id, purposeOf(r))+"&done=comment", http.StatusSeeOther)
}
