package server

import (
	"context"
	"slices"
	"strings"

	"connectrpc.com/connect"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/syncer"
)

// Authorization: every RPC is decided here, by procedure name, before its body is read. A
// procedure without a rule is refused, so a new RPC is closed until someone writes its rule (and
// its rows of the authorization matrix in docs/security.md and e2e/authz_test.go). The roles of
// case calls come from syncer.Rules; what a caller may do with a case's records, in Push, Pull,
// the handlers and the pages, is decided by the same table with their part in the case.

// rule is who may call a procedure.
type rule struct {
	// signed: no access token; the request is signed by a device key or is an enrollment code.
	signed bool
	// roles: the caller needs one of them; empty means any enrolled user.
	roles []string
	// retiredMay: a retired device may still make the call (its final push).
	retiredMay bool
}

// rules is the authorization table, keyed by procedure name.
var rules = map[string]rule{
	samvaerv1connect.AuthServiceEnrollProcedure:        {signed: true},
	samvaerv1connect.AuthServiceTokenProcedure:         {signed: true},
	samvaerv1connect.DeviceServiceConfirmWipeProcedure: {signed: true},

	samvaerv1connect.SyncServicePushProcedure: {retiredMay: true},
	// Only the caller's own device's wrong PINs; a retired tablet reports them with its final push.
	samvaerv1connect.DeviceServiceReportUnlockFailuresProcedure: {retiredMay: true},
	samvaerv1connect.SyncServicePullProcedure:                   {},
	samvaerv1connect.SyncServiceSubscribeProcedure:              {},

	samvaerv1connect.AdminServiceListDevicesProcedure:  {roles: []string{"admin"}},
	samvaerv1connect.AdminServiceRevokeDeviceProcedure: {roles: []string{"admin"}},
	samvaerv1connect.AdminServiceDisableUserProcedure:  {roles: []string{"admin"}},
	samvaerv1connect.AdminServiceEnableUserProcedure:   {roles: []string{"admin"}},

	// Case and report calls: the role a call needs at all is checked here; the part the caller
	// plays in the case it names (case_members) is checked by the handler (authz.go).
	samvaerv1connect.CaseServiceCreateCaseProcedure:           {roles: syncer.RolesFor(syncer.TypeCase, "", syncer.OpCreate)},
	samvaerv1connect.CaseServiceGetCaseProcedure:              {roles: caseWorkers},
	samvaerv1connect.CaseServiceSetDecisionProcedure:          {roles: casePlanners},
	samvaerv1connect.CaseServiceSetConditionsProcedure:        {roles: casePlanners},
	samvaerv1connect.CaseServiceAddGoalProcedure:              {roles: casePlanners},
	samvaerv1connect.CaseServiceAddWishProcedure:              {roles: casePlanners},
	samvaerv1connect.CaseServiceAddVisitProcedure:             {roles: casePlanners},
	samvaerv1connect.CaseServiceRescheduleVisitProcedure:      {roles: casePlanners},
	samvaerv1connect.CaseServiceGetChecklistTemplateProcedure: {},
	samvaerv1connect.CaseServiceSetChecklistTemplateProcedure: {roles: []string{"coordinator"}},
	samvaerv1connect.ReportServiceListReportsProcedure:        {roles: caseWorkers},
	samvaerv1connect.ReportServiceGetReportProcedure:          {roles: caseWorkers},
	samvaerv1connect.ReportServiceAcknowledgeReportProcedure:  {roles: syncer.RolesFor(syncer.TypeReport, "", syncer.OpAcknowledge)},
	samvaerv1connect.ReportServiceAddAddendumProcedure:        {roles: syncer.RolesFor(syncer.TypeAddendum, "", syncer.OpCreate)},
	samvaerv1connect.ReportServiceAddParentCommentProcedure:   {roles: syncer.RolesFor(syncer.TypeParentComment, "", syncer.OpCreate)},
}

// caseWorkers are the roles that read cases; casePlanners those that set cases up (both from
// syncer.Rules, the one table).
var (
	caseWorkers  = syncer.RolesFor(syncer.TypeCase, "", syncer.OpRead)
	casePlanners = syncer.RolesFor(syncer.TypeCase, "", syncer.OpEdit)
)

// authorize authenticates and authorizes one call. It returns nil identity for signed calls.
func (s *Server) authorize(ctx context.Context, procedure, authorization string) (any, error) {
	r, ok := rules[procedure]
	if !ok && !procedureExists(procedure) {
		return nil, errNoSuchCall
	}
	if !ok {
		return nil, syncer.Errorf(syncer.CodePermissionDenied, "This call is not open to anyone.")
	}
	if r.signed {
		return nil, nil
	}
	id, err := s.tokens.Authenticate(ctx, authorization, r.retiredMay)
	if err != nil {
		return nil, err
	}
	if len(r.roles) > 0 && !slices.ContainsFunc(r.roles, func(role string) bool { return slices.Contains(id.Roles, role) }) {
		if err := s.Store.Audit(ctx, AuditEvent{Kind: AuditRequestRefused, ActorUserID: id.UserID, DeviceID: id.DeviceID,
			Detail: map[string]string{"procedure": procedure}}); err != nil {
			return nil, err
		}
		return nil, syncer.Errorf(syncer.CodePermissionDenied, "Your role does not allow this call.")
	}
	return id, nil
}

// errNoSuchCall answers a procedure the services do not have. It is given before anything is
// authenticated: it depends only on the name the caller sent, and the list of procedures is
// public (the proto contract, and reflection serves it to anyone), so it tells an
// unauthenticated caller nothing it could not read there — no data, no account, no device.
// A procedure that exists but has no rule stays PermissionDenied: closed until it gets one.
var errNoSuchCall = &syncer.Error{Code: syncer.CodeUnimplemented,
	Message: "The server has no such call; the app and the server may be of different versions."}

// procedureExists reports whether procedure ("/package.Service/Method") is a method of a
// service in the wire contract.
func procedureExists(procedure string) bool {
	svc, method, ok := strings.Cut(strings.TrimPrefix(procedure, "/"), "/")
	if !ok {
		return false
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	return ok && sd.Methods().ByName(protoreflect.Name(method)) != nil
}

// refuse counts and logs a refused call.
func refuse(ctx context.Context, procedure string, err error) error {
	err = toConnect(ctx, err)
	if _, ok := rules[procedure]; !ok {
		procedure = "unknown" // the caller chose the name: it must not make a metric series of its own
	}
	rpcRequests.WithLabelValues(procedure, connect.CodeOf(err).String()).Inc()
	zerolog.Ctx(ctx).Warn().Str("procedure", procedure).Str("code", connect.CodeOf(err).String()).Msg("request refused")
	return err
}
