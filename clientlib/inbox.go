package clientlib

import (
	"context"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// The caseworker's side, online only: the reports delivered to the cases the tablet's user works
// on. Reads name a purpose, which the server writes to the access log. Nothing here is stored on
// the tablet.

// Inbox filters.
var inboxFilters = map[string]v1.ReportFilter{
	"":             v1.ReportFilter_REPORT_FILTER_UNSPECIFIED,
	"new":          v1.ReportFilter_REPORT_FILTER_NEW,
	"overdue":      v1.ReportFilter_REPORT_FILTER_OVERDUE,
	"acknowledged": v1.ReportFilter_REPORT_FILTER_ACKNOWLEDGED,
}

// Inbox lists the reports of the user's cases: filter is "", new, overdue or acknowledged.
func (t *Tablet) Inbox(ctx context.Context, caseID, filter, purpose string) ([]*v1.ReportSummary, error) {
	f, ok := inboxFilters[filter]
	if !ok {
		return nil, syncer.Errorf(syncer.CodeInvalid, "Unknown filter %q; filters are new, overdue and acknowledged.", filter)
	}
	res, err := call(ctx, t, "list reports", &v1.ListReportsRequest{CaseId: caseID, Filter: f, Purpose: purpose}, t.reportRPC.ListReports)
	if err != nil {
		return nil, err
	}
	return res.Reports, nil
}

// ReadReport returns a report with its sections, addenda and the parents' comments.
func (t *Tablet) ReadReport(ctx context.Context, reportID, purpose string) (*v1.GetReportResponse, error) {
	return call(ctx, t, "read the report", &v1.GetReportRequest{ReportId: reportID, Purpose: purpose}, t.reportRPC.GetReport)
}

// Acknowledge records that the user (a caseworker of the case) has read a delivered report.
func (t *Tablet) Acknowledge(ctx context.Context, reportID string) error {
	_, err := call(ctx, t, "acknowledge the report", &v1.AcknowledgeReportRequest{ReportId: reportID}, t.reportRPC.AcknowledgeReport)
	return err
}

// AddParentComment files a parent's comment with a report, as its own document.
func (t *Tablet) AddParentComment(ctx context.Context, reportID, text string) (string, error) {
	res, err := call(ctx, t, "file the comment", &v1.AddParentCommentRequest{ReportId: reportID, Text: text}, t.reportRPC.AddParentComment)
	if err != nil {
		return "", err
	}
	return res.CommentId, nil
}
