package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
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

// readingPurposes are offered when a report is opened; a person may also write their own.
var readingPurposes = []string{
	"Reading a delivered report",
	"Preparing a follow-up meeting (opfølgningsmøde)",
	"Reviewing the case",
	"Filing the report in the case system",
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

// purposeOf reads the purpose of a report request: the chosen one, or the one written in.
func purposeOf(r *http.Request) string {
	if p := r.FormValue("purpose"); p != "" && p != "other" {
		return p
	}
	return r.FormValue("other_purpose")
}

func reportURL(id, purpose string) string {
	return "/reports/" + url.PathEscape(id) + "?purpose=" + url.QueryEscape(purpose)
}

func (p *Pages) report(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	p.reportPage(w, r, sess, http.StatusOK, r.URL.Query().Get("notice"), "")
}

func (p *Pages) reportPage(w http.ResponseWriter, r *http.Request, sess *server.Session, status int, notice, errMsg string) {
	id, purpose := r.PathValue("id"), purposeOf(r)
	if purpose == "" {
		// Opening a report asks why, for the access log.
		p.render(w, r, "purpose", http.StatusOK, page{Title: "Why are you opening this report?", Session: sess,
			Data: map[string]any{"Action": "/reports/" + id, "Purposes": readingPurposes}})
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
	http.Redirect(w, r, reportURL(id, purposeOf(r))+"&notice="+url.QueryEscape("Report acknowledged."), http.StatusSeeOther)
}

func (p *Pages) parentComment(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	id := r.PathValue("id")
	if _, err := p.store.AddParentComment(r.Context(), identity(sess), id, r.PostFormValue("text"), 0); err != nil {
		p.formError(w, r, sess, err, p.reportPage)
		return
	}
	http.Redirect(w, r, reportURL(id, purposeOf(r))+"&notice="+url.QueryEscape("The parent's comment is filed with the report."), http.StatusSeeOther)
}

// reportPDF sends the report as a PDF for the municipality's case system.
func (p *Pages) reportPDF(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	purpose := purposeOf(r)
	if purpose == "" {
		p.fail(w, r, sess, syncer.Errorf(syncer.CodeInvalid, "Say why you export this report (purpose): open the report first."))
		return
	}
	rep, err := p.store.GetReport(r.Context(), identity(sess), r.PathValue("id"), purpose)
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
