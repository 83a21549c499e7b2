package server

import (
	"context"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/syncer"
)

// reportHandler serves ReportService: the caseworker's inbox.
type reportHandler struct{ store *Store }

var _ samvaerv1connect.ReportServiceHandler = (*reportHandler)(nil)

var reportFilters = map[v1.ReportFilter]string{
	v1.ReportFilter_REPORT_FILTER_UNSPECIFIED:  FilterAll,
	v1.ReportFilter_REPORT_FILTER_NEW:          FilterNew,
	v1.ReportFilter_REPORT_FILTER_OVERDUE:      FilterOverdue,
	v1.ReportFilter_REPORT_FILTER_ACKNOWLEDGED: FilterAcknowledged,
}

func reportSummaryMsg(r Report) *v1.ReportSummary {
	return &v1.ReportSummary{
		Id: r.ID, CaseId: r.CaseID, VisitId: r.VisitID, VisitKind: r.VisitKind, VisitStartMs: r.VisitStartMs, VisitEndMs: r.VisitEndMs,
		State: r.State, Overdue: r.Overdue, SubmittedMs: r.SubmittedMs, SubmittedBy: r.SubmittedBy,
		AcknowledgedMs: r.AcknowledgedMs, AcknowledgedBy: r.AcknowledgedBy, ConditionsId: r.ConditionsID, Recipients: r.Recipients,
		NewAddendum: r.NewAddendum,
	}
}

func documentMsgs(docs []Addendum) []*v1.ReportDocument {
	out := make([]*v1.ReportDocument, len(docs))
	for i, d := range docs {
		out[i] = &v1.ReportDocument{Id: d.ID, Section: d.Section, Text: d.Text, State: d.State, SubmittedMs: d.SubmittedMs, Author: d.Author}
	}
	return out
}

func (h *reportHandler) ListReports(ctx context.Context, req *connect.Request[v1.ListReportsRequest]) (*connect.Response[v1.ListReportsResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	filter, ok := reportFilters[req.Msg.Filter]
	if !ok {
		return nil, toConnect(ctx, syncer.Errorf(syncer.CodeInvalid, "Unknown report filter."))
	}
	reps, err := h.store.ListReports(ctx, id, req.Msg.CaseId, filter, req.Msg.Purpose)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	res := &v1.ListReportsResponse{}
	for _, r := range reps {
		res.Reports = append(res.Reports, reportSummaryMsg(r))
	}
	return connect.NewResponse(res), nil
}

func (h *reportHandler) GetReport(ctx context.Context, req *connect.Request[v1.GetReportRequest]) (*connect.Response[v1.GetReportResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	r, err := h.store.GetReport(ctx, id, req.Msg.ReportId, req.Msg.Purpose)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	res := &v1.GetReportResponse{Report: reportSummaryMsg(r), Addenda: documentMsgs(r.Addenda), ParentComments: documentMsgs(r.ParentComments)}
	for _, s := range r.Sections {
		res.Sections = append(res.Sections, &v1.ReportSection{Key: s.Key, Text: s.Text})
	}
	return connect.NewResponse(res), nil
}

func (h *reportHandler) AcknowledgeReport(ctx context.Context, req *connect.Request[v1.AcknowledgeReportRequest]) (*connect.Response[v1.AcknowledgeReportResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.store.Acknowledge(ctx, id, req.Msg.ReportId); err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.AcknowledgeReportResponse{}), nil
}

func (h *reportHandler) AddAddendum(ctx context.Context, req *connect.Request[v1.AddAddendumRequest]) (*connect.Response[v1.AddAddendumResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	aid, err := h.store.AddAddendum(ctx, id, req.Msg.ReportId, req.Msg.Section, req.Msg.Text)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.AddAddendumResponse{AddendumId: aid}), nil
}

func (h *reportHandler) AddParentComment(ctx context.Context, req *connect.Request[v1.AddParentCommentRequest]) (*connect.Response[v1.AddParentCommentResponse], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	cid, err := h.store.AddParentComment(ctx, id, req.Msg.ReportId, req.Msg.Text, req.Msg.ReceivedMs)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(&v1.AddParentCommentResponse{CommentId: cid}), nil
}

// caseHandler serves CaseService.
type caseHandler struct{ store *Store }

var _ samvaerv1connect.CaseServiceHandler = (*caseHandler)(nil)

var visitKinds = map[v1.VisitKind]string{
	v1.VisitKind_VISIT_KIND_SUPERVISED: syncer.KindSupervised,
	v1.VisitKind_VISIT_KIND_SUPPORTED:  syncer.KindSupported,
}

func visitKind(k v1.VisitKind) (string, error) {
	if s, ok := visitKinds[k]; ok {
		return s, nil
	}
	return "", syncer.Errorf(syncer.CodeInvalid, "A visit is supervised (§ 105) or supported (§ 104).")
}

// callerAnd runs fn with the caller's identity and maps its error.
func callerAnd[Res any](ctx context.Context, fn func(id Identity) (*Res, error)) (*connect.Response[Res], error) {
	id, err := identity(ctx)
	if err != nil {
		return nil, err
	}
	res, err := fn(id)
	if err != nil {
		return nil, toConnect(ctx, err)
	}
	return connect.NewResponse(res), nil
}

func (h *caseHandler) CreateCase(ctx context.Context, req *connect.Request[v1.CreateCaseRequest]) (*connect.Response[v1.CreateCaseResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.CreateCaseResponse, error) {
		m := req.Msg
		nc := NewCase{Children: m.Children, Parents: m.Parents, Relatives: m.Relatives, Placement: m.Placement,
			Caseworker: m.Caseworker, Reference: m.Reference}
		caseID, err := h.store.CreateCase(ctx, id, nc)
		if err != nil {
			return nil, err
		}
		children, err := h.store.ChildIDs(ctx, caseID)
		return &v1.CreateCaseResponse{CaseId: caseID, ChildIds: children}, err
	})
}

func (h *caseHandler) GetCase(ctx context.Context, req *connect.Request[v1.GetCaseRequest]) (*connect.Response[v1.GetCaseResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.GetCaseResponse, error) {
		view, err := h.store.GetCase(ctx, id, req.Msg.CaseId, req.Msg.Purpose)
		if err != nil {
			return nil, err
		}
		res := &v1.GetCaseResponse{}
		for _, r := range view.Records {
			res.Records = append(res.Records, &v1.CaseRecord{Type: r.Type, Id: r.ID, Fields: r.Fields})
		}
		for _, m := range view.Members {
			res.Members = append(res.Members, &v1.CaseMember{UserId: m.UserID, Role: m.Role})
		}
		return res, nil
	})
}

func (h *caseHandler) SetDecision(ctx context.Context, req *connect.Request[v1.SetDecisionRequest]) (*connect.Response[v1.SetDecisionResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.SetDecisionResponse, error) {
		m := req.Msg
		kind, err := visitKind(m.Kind)
		if err != nil {
			return nil, err
		}
		did, err := h.store.SetDecision(ctx, &id, m.CaseId, Decision{Kind: kind, ConsentParents: m.ConsentParents, YoungPerson: m.YoungPerson,
			ConsentYoungPerson: m.ConsentYoungPerson, FromMs: m.FromMs, ToMs: m.ToMs, Purpose: m.Purpose})
		return &v1.SetDecisionResponse{DecisionId: did}, err
	})
}

func (h *caseHandler) SetConditions(ctx context.Context, req *connect.Request[v1.SetConditionsRequest]) (*connect.Response[v1.SetConditionsResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.SetConditionsResponse, error) {
		cid, version, err := h.store.SetConditions(ctx, &id, req.Msg.CaseId, req.Msg.Text)
		return &v1.SetConditionsResponse{ConditionsId: cid, Version: int32(version)}, err
	})
}

func (h *caseHandler) AddGoal(ctx context.Context, req *connect.Request[v1.AddGoalRequest]) (*connect.Response[v1.AddGoalResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.AddGoalResponse, error) {
		gid, err := h.store.AddGoal(ctx, &id, req.Msg.CaseId, req.Msg.Text)
		return &v1.AddGoalResponse{GoalId: gid}, err
	})
}

func (h *caseHandler) AddWish(ctx context.Context, req *connect.Request[v1.AddWishRequest]) (*connect.Response[v1.AddWishResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.AddWishResponse, error) {
		m := req.Msg
		wid, err := h.store.AddWish(ctx, &id, m.CaseId, m.ChildId, m.Text, m.SupportPerson, m.PauseUntilMs)
		return &v1.AddWishResponse{WishId: wid}, err
	})
}

func (h *caseHandler) AddVisit(ctx context.Context, req *connect.Request[v1.AddVisitRequest]) (*connect.Response[v1.AddVisitResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.AddVisitResponse, error) {
		m := req.Msg
		kind, err := visitKind(m.Kind)
		if err != nil {
			return nil, err
		}
		vid, err := h.store.AddVisit(ctx, NewVisit{CaseID: m.CaseId, Consultant: m.Consultant, Kind: kind,
			Start: time.UnixMilli(m.StartMs), End: time.UnixMilli(m.EndMs), Place: m.Place, Room: m.Room, DecisionID: m.DecisionId, By: &id})
		return &v1.AddVisitResponse{VisitId: vid}, err
	})
}

func (h *caseHandler) RescheduleVisit(ctx context.Context, req *connect.Request[v1.RescheduleVisitRequest]) (*connect.Response[v1.RescheduleVisitResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.RescheduleVisitResponse, error) {
		m := req.Msg
		return &v1.RescheduleVisitResponse{}, h.store.RescheduleVisit(ctx, &id, m.VisitId, time.UnixMilli(m.StartMs), time.UnixMilli(m.EndMs), m.Room)
	})
}

func (h *caseHandler) GetChecklistTemplate(ctx context.Context, _ *connect.Request[v1.GetChecklistTemplateRequest]) (*connect.Response[v1.GetChecklistTemplateResponse], error) {
	return callerAnd(ctx, func(Identity) (*v1.GetChecklistTemplateResponse, error) {
		version, items, err := h.store.ChecklistTemplate(ctx)
		res := &v1.GetChecklistTemplateResponse{Version: int32(version)}
		for _, it := range items {
			res.Items = append(res.Items, &v1.ChecklistTemplateItem{Phase: it.Phase, Key: it.Key, Label: it.Label})
		}
		return res, err
	})
}

func (h *caseHandler) SetChecklistTemplate(ctx context.Context, req *connect.Request[v1.SetChecklistTemplateRequest]) (*connect.Response[v1.SetChecklistTemplateResponse], error) {
	return callerAnd(ctx, func(id Identity) (*v1.SetChecklistTemplateResponse, error) {
		items := make([]syncer.ChecklistItem, len(req.Msg.Items))
		for i, it := range req.Msg.Items {
			items[i] = syncer.ChecklistItem{Phase: it.Phase, Key: it.Key, Label: it.Label}
		}
		version, err := h.store.SetChecklistTemplate(ctx, &id, items)
		return &v1.SetChecklistTemplateResponse{Version: int32(version)}, err
	})
}
