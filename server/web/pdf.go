package web

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/server/reportpdf"
	"github.com/samvaer/sync/syncer"
)

// reportPDF sends the report as a PDF to file in the municipality's case system, in the reader's
// language; ?copy=parents gives the parents' copy, without the child's own words.
func (p *Pages) reportPDF(w http.ResponseWriter, r *http.Request, sess *server.Session) {
	l := p.localizer(r)
	purpose := purposeOf(r)
	if purpose == "" {
		p.fail(w, r, sess, syncer.Errorf(syncer.CodeInvalid, "Say why you export this report (purpose): open the report first.").With("error.pdf_purpose"))
		return
	}
	// The PDF for the case system and the parents' copy are both exports, logged as such.
	parents := r.URL.Query().Get("copy") == "parents"
	format := server.ExportPDF
	if parents {
		format = server.ExportParentsCopy
	}
	rep, err := p.store.ExportReport(r.Context(), identity(sess), r.PathValue("id"), purpose, format)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	if rep.State == syncer.StateDraft {
		p.fail(w, r, sess, syncer.Errorf(syncer.CodeFailedPrecondition, "A draft is not exported; the consultant has not submitted it.").With("error.pdf_draft"))
		return
	}
	names, device, err := p.reportNames(r, rep)
	if err != nil {
		p.fail(w, r, sess, err)
		return
	}
	doc := reportpdf.Report{
		Municipality: p.cfg.Municipality, CaseReference: rep.CaseReference, VisitKind: rep.VisitKind,
		Children: rep.Children, Parents: rep.Parents, Present: rep.Present, Place: joinPlace(rep.Place, rep.Room),
		PlannedStartMs: rep.VisitStartMs, PlannedEndMs: rep.VisitEndMs, Consultant: names[rep.Consultant],
		Sections: map[string]string{}, Marks: map[string]string{}, SubmittedBy: names[rep.SubmittedBy], SubmittedDevice: device, SubmittedMs: rep.SubmittedMs,
		AcknowledgedBy: names[rep.AcknowledgedBy], AcknowledgedMs: rep.AcknowledgedMs, ExportedMs: p.store.Now().UnixMilli(),
		ForParents: parents,
	}
	for _, s := range rep.Sections {
		doc.Sections[s.Key] = s.Text
		if s.Mark != "" {
			doc.Marks[s.Key] = s.Mark
		}
	}
	for _, o := range rep.Observations {
		doc.Observations = append(doc.Observations, reportpdf.Observation{AtMs: o.AtMs, Text: o.Text, Mark: o.Mark})
	}
	for _, c := range rep.Checklist {
		doc.Checklist = append(doc.Checklist, reportpdf.ChecklistItem{Phase: l.T("phase." + c.Phase), Label: checklistLabel(l, c), Checked: c.Checked})
	}
	for _, a := range rep.Addenda {
		if a.State != syncer.StateDraft {
			doc.Addenda = append(doc.Addenda, reportpdf.Addendum{AtMs: a.SubmittedMs, Author: names[a.Author], Text: a.Text})
		}
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, reportpdf.FileName(doc, l, parents)))
	if err := reportpdf.Write(w, doc, l); err != nil {
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
	return strings.Join([]string{place, room}, ", ")
}
