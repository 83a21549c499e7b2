package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/reportpdf"
	"github.com/samvaer/sync/syncer"
)

// The caseworker's reports: the inbox, a report, acknowledging it, a parent's comment and the PDF
// for the case system. Every read of a report is written to the access log with its purpose: the
// inbox takes it from the task at hand, a report page asks for it.

// inboxPurpose is the purpose of reading the inbox, written to the access log.
const inboxPurpose = "Reading the inbox of delivered reports"

// purposes are the reasons most often given for opening a case or a report; a person may add
// their own words.
var purposes = []string{
	"Reading a delivered report",
	"Planning visits",
	"Preparing a follow-up meeting (opfølgningsmøde)",
	"Preparing a start-up meeting (opstartsmøde)",
	"Case review",
	"Filing the report in the case system",
}

// askPurpose returns the purpose a page was opened for (the URL's purpose). Without one it asks:
// the form sends a common purpose and the person's own words, which are joined and sent back to
// the page's address (base, ending in "?purpose=" or "&purpose="); ok is false when it answered.
func (p *Pages) askPurpose(w http.ResponseWriter, r *http.Request, sess *server.Session, what, base string) (purpose string, ok bool) {
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
		status, errMsg = http.StatusBadRequest, "Say why you open this "+what+": every use of a child's data is logged with its purpose."
	}
	p.render(w, r, "purpose", status, page{Title: "Why do you open this " + what + "?", Session: sess, Error: errMsg,
		Data: map[string]any{"Action": r.URL.Path, "What": what, "Purposes": purposes}})
	return "", false
}

var inboxFilters = []struct{ Key, Label string }{
	{server.FilterNew, "New"}, {server.FilterOverdue, "Overdue"}, {server.FilterAcknowledged, "Acknowledged"}, {server.FilterAll, "All"},
}

func (p *Pages) inbox(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	filter := r.URL.Query().Get("filter")
	if !r.URL.Query().Has("filter") {
		filter = server.FilterNew
	}
	reports, err := p.store.ListReports(r.Context(), identity(sess), "", filter, inboxPurpose)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	p.render(w, r, "inbox", http.StatusOK, page{Title: "Inbox", Session: sess,
		Data: map[string]any{"Reports": reports, "Filter": filter, "Filters": inboxFilters}})
}

// purposeOf is the purpose a report page was opened for, carried in the URL of its forms.
func purposeOf(r *http.Request) string { return r.URL.Query().Get("purpose") }

func reportURL(id, purpose string) string {
	return "/reports/" + url.PathEscape(id) + "?purpose=" + url.QueryEscape(purpose)
}

func (p *Pages) report(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	p.reportPage(w, r, sess, http.StatusOK, notices[r.URL.Query().Get("done")], "")
}

func (p *Pages) reportPage(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, notice, errMsg string) {
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
	names, err := p.names(r, rep)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	p.render(w, r, "report", status, page{Title: "Samværsbeskrivelse, case " + rep.CaseReference, Session: sess, Notice: notice, Error: errMsg,
		Data: map[string]any{"Report": rep, "Purpose": purpose, "Names": names, "Titles": syncer.ReportSectionTitles,
			"CanAcknowledge": rep.State == syncer.StateSubmitted && slices.Contains(sess.User.Roles, "caseworker"),
			"CanComment":     rep.State != syncer.StateDraft && slices.Contains(sess.User.Roles, "caseworker")}})
}

// names maps the user ids a report mentions to names.
func (p *Pages) names(r *http.Request, rep server.Report) (map[string]string, error) {
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
			names[id] = "(unknown user)"
			continue
		}
		if err != nil {
			return nil, err
		}
		names[id] = u.Name
	}
	return names, nil
}

func (p *Pages) acknowledge(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	id := r.PathValue("id")
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

// reportPDF sends the report as a PDF for the municipality's case system.
func (p *Pages) reportPDF(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	purpose := purposeOf(r)
	if purpose == "" {
		p.fail(w, r, sess, syncer.Errorf(syncer.CodeInvalid, "Say why you export this report (purpose): open the report first."))
		return
	}
	// ?copy=parents is the parents' copy (the child's own words left out); both are exports.
	format := server.ExportPDF
	if r.URL.Query().Get("copy") == "parents" {
		format = server.ExportParentsCopy
	}
	rep, err := p.store.ExportReport(r.Context(), identity(sess), r.PathValue("id"), purpose, format)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	if rep.State == syncer.StateDraft {
		p.fail(w, r, sess, syncer.Errorf(syncer.CodeFailedPrecondition, "A draft is not exported; the consultant has not submitted it."))
		return
	}
	names, err := p.names(r, rep)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	doc := reportpdf.Report{
		CaseReference: rep.CaseReference, VisitKind: rep.VisitKind, Children: rep.Children, Place: joinPlace(rep.Place, rep.Room),
		PlannedStartMs: rep.VisitStartMs, PlannedEndMs: rep.VisitEndMs, Consultant: names[rep.Consultant],
		Sections: map[string]string{}, SubmittedBy: names[rep.SubmittedBy], SubmittedDevice: rep.SubmittedDevice, SubmittedMs: rep.SubmittedMs,
		AcknowledgedBy: names[rep.AcknowledgedBy], AcknowledgedMs: rep.AcknowledgedMs, ExportedMs: time.Now().UnixMilli(), Location: p.cfg.Location,
		ForParents: format == server.ExportParentsCopy,
	}
	for _, s := range rep.Sections {
		doc.Sections[s.Key] = s.Text
	}
	for _, o := range rep.Observations {
		doc.Observations = append(doc.Observations, reportpdf.Observation{AtMs: o.AtMs, Text: o.Text})
	}
	for _, c := range rep.Checklist {
		doc.Checklist = append(doc.Checklist, reportpdf.ChecklistItem{Phase: c.Phase, Label: c.Label, Checked: c.Checked})
	}
	for _, a := range rep.Addenda {
		if a.State != syncer.StateDraft {
			doc.Addenda = append(doc.Addenda, reportpdf.Addendum{AtMs: a.SubmittedMs, Author: names[a.Author], Text: a.Text})
		}
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="samvaersbeskrivelse-%s.pdf"`, rep.ID))
	if err := reportpdf.Write(w, doc); err != nil {
		p.cfg.Logger.Error().Err(err).Msg("write report PDF")
	}
}

func joinPlace(place, room string) string {
	switch {
	case room == "":
		return place
	case place == "":
		return room
	}
	return place + ", " + room
}
