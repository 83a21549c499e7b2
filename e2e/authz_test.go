package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/gen/samvaer/v1/samvaerv1connect"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The authorization matrix of docs/security.md, walked against the running server: every RPC, as
// every role, for a case the caller is assigned to ("in") and one they are not ("out"). To add an
// RPC, add its row to authorizationMatrix: a probe that makes the call and says whether it was
// allowed, and which roles it is allowed for. TestAuthorizationMatrixCoversEveryRPC fails until
// every procedure in the protos has a row.

// Roles of the matrix, one user each.
var matrixRoles = []string{"consultant", "caseworker", "coordinator", "admin"}

// Who is allowed a call: the roles allowed for a case they are assigned to ("in") and for one
// they are not ("out"). A call that touches no case is allowed the same in and out.
var (
	everyone    = matrixRoles
	caseRoles   = []string{"consultant", "caseworker", "coordinator"}
	planners    = []string{"caseworker", "coordinator"}
	nobody      = []string(nil)
	adminsOnly  = []string{"admin"}
	caseworkers = []string{"caseworker"}
	consultants = []string{"consultant"}
)

// matrixRow is one RPC's row: its probe and who is allowed.
type matrixRow struct {
	in, out []string
	probe   func(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool // true: allowed
}

var authorizationMatrix = map[string]matrixRow{
	// An observation is the consultant's to write, and only a consultant's device holds a case
	// (syncer.Rules; TestSyncAuthorizationMatrix walks every record type and operation).
	samvaerv1connect.SyncServicePushProcedure:      {consultants, nobody, probePush},
	samvaerv1connect.SyncServicePullProcedure:      {consultants, nobody, probePull},
	samvaerv1connect.SyncServiceSubscribeProcedure: {everyone, everyone, probeSubscribe},

	samvaerv1connect.AuthServiceEnrollProcedure:        {nobody, nobody, probeEnroll},
	samvaerv1connect.AuthServiceTokenProcedure:         {nobody, nobody, probeToken},
	samvaerv1connect.DeviceServiceConfirmWipeProcedure: {nobody, nobody, probeConfirmWipe},
	// Only the caller's own device's wrong PINs: open to every enrolled user, in and out of scope.
	samvaerv1connect.DeviceServiceReportUnlockFailuresProcedure: {everyone, everyone, probeReportUnlockFailures},

	samvaerv1connect.AdminServiceListDevicesProcedure:  {adminsOnly, adminsOnly, probeListDevices},
	samvaerv1connect.AdminServiceRevokeDeviceProcedure: {adminsOnly, adminsOnly, probeRevokeDevice},
	samvaerv1connect.AdminServiceDisableUserProcedure:  {adminsOnly, adminsOnly, probeDisableUser},
	samvaerv1connect.AdminServiceEnableUserProcedure:   {adminsOnly, adminsOnly, probeEnableUser},

	samvaerv1connect.CaseServiceCreateCaseProcedure:           {planners, planners, probeCreateCase},
	samvaerv1connect.CaseServiceGetCaseProcedure:              {caseRoles, nobody, probeGetCase},
	samvaerv1connect.CaseServiceSetDecisionProcedure:          {planners, nobody, probeSetDecision},
	samvaerv1connect.CaseServiceSetConditionsProcedure:        {planners, nobody, probeSetConditions},
	samvaerv1connect.CaseServiceAddGoalProcedure:              {planners, nobody, probeAddGoal},
	samvaerv1connect.CaseServiceAddWishProcedure:              {planners, nobody, probeAddWish},
	samvaerv1connect.CaseServiceAddVisitProcedure:             {planners, nobody, probeAddVisit},
	samvaerv1connect.CaseServiceRescheduleVisitProcedure:      {planners, nobody, probeRescheduleVisit},
	samvaerv1connect.CaseServiceGetChecklistTemplateProcedure: {everyone, everyone, probeGetChecklistTemplate},
	samvaerv1connect.CaseServiceSetChecklistTemplateProcedure: {[]string{"coordinator"}, []string{"coordinator"}, probeSetChecklistTemplate},

	samvaerv1connect.ReportServiceListReportsProcedure:       {caseRoles, nobody, probeListReports},
	samvaerv1connect.ReportServiceGetReportProcedure:         {caseRoles, nobody, probeGetReport},
	samvaerv1connect.ReportServiceAcknowledgeReportProcedure: {caseworkers, nobody, probeAcknowledgeReport},
	samvaerv1connect.ReportServiceAddAddendumProcedure:       {[]string{"caseworker", "consultant"}, nobody, probeAddAddendum},
	samvaerv1connect.ReportServiceAddParentCommentProcedure:  {caseworkers, nobody, probeAddParentComment},
}

// matrixWorld: case "in" has every matrix user assigned (the admin holds no case role, so no case
// is in scope for them); case "out" has none of them.
type matrixWorld struct {
	srv               *liveServer
	in, out           string // case ids
	inVisit, outVisit string
	callers           map[string]*matrixCaller
	syncRPC           samvaerv1connect.SyncServiceClient
	authRPC           samvaerv1connect.AuthServiceClient
	deviceRPC         samvaerv1connect.DeviceServiceClient
	adminRPC          samvaerv1connect.AdminServiceClient
	caseRPC           samvaerv1connect.CaseServiceClient
	reportRPC         samvaerv1connect.ReportServiceClient
	// Per case: a submitted report and a visit to reschedule.
	reports, spareVisits map[string]string
	mu                   sync.Mutex
	spare                int
}

type matrixCaller struct {
	role string
	tb   *tablet
	tok  string
	// key is not the device's key (that stays sealed inside the tablet): the probes of signed
	// calls show that an access token opens nothing there; the server's tests prove each
	// signature rule with the device's real key.
	key ed25519.PrivateKey
	seq int64 // the device seq of the last raw push
}

func newMatrixWorld(t *testing.T) *matrixWorld {
	t.Helper()
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	m := &matrixWorld{srv: s, callers: map[string]*matrixCaller{}}
	for _, role := range matrixRoles {
		_, err := st.AddUser(ctx, role, []string{role})
		mustDo(t, err)
	}
	for _, u := range []string{"Bo", "Lea"} {
		_, err := st.AddUser(ctx, u, []string{"caseworker", "consultant"})
		mustDo(t, err)
	}
	var err error
	m.in, err = st.AddCase(ctx, server.NewCase{Children: []string{"Ida"}, Caseworker: "caseworker"})
	mustDo(t, err)
	m.out, err = st.AddCase(ctx, server.NewCase{Children: []string{"Emil"}, Caseworker: "Bo"})
	mustDo(t, err)
	start := time.Now().Add(time.Hour)
	m.inVisit, err = st.AddVisit(ctx, server.NewVisit{CaseID: m.in, Consultant: "consultant", Kind: "supervised", Start: start, End: start.Add(time.Hour)})
	mustDo(t, err)
	m.outVisit, err = st.AddVisit(ctx, server.NewVisit{CaseID: m.out, Consultant: "Lea", Kind: "supervised", Start: start, End: start.Add(time.Hour)})
	mustDo(t, err)
	mustDo(t, st.AssignCase(ctx, server.Actor{}, m.in, "coordinator", "coordinator"))
	m.spareVisits = map[string]string{}
	for caseID, consultant := range map[string]string{m.in: "consultant", m.out: "Lea"} {
		m.spareVisits[caseID], err = st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: consultant, Kind: "supervised", Start: start.Add(24 * time.Hour), End: start.Add(25 * time.Hour)})
		mustDo(t, err)
	}
	// Each case's report is written and submitted on a tablet of its own, so the matrix callers'
	// devices keep their sequence numbers to themselves.
	m.reports = map[string]string{}
	for caseID, submit := range map[string]struct{ consultant, visit string }{m.in: {"consultant", m.inVisit}, m.out: {"Lea", m.outVisit}} {
		tb := enrollTablet(t, s, submit.consultant)
		_, err := tb.Sync(ctx)
		mustDo(t, err)
		mustDo(t, tb.SetReportSection(ctx, submit.visit, "opening", "The matrix report."))
		mustDo(t, tb.Submit(ctx, submit.visit))
		_, err = tb.Sync(ctx)
		mustDo(t, err)
		reps, err := st.Reports(ctx, nil, caseID, "")
		mustDo(t, err)
		for _, r := range reps {
			if r.VisitID == submit.visit && r.State == syncer.StateSubmitted {
				m.reports[caseID] = r.ID
			}
		}
		if m.reports[caseID] == "" {
			t.Fatal("the matrix report was not submitted")
		}
	}
	for _, role := range matrixRoles {
		tb := enrollTablet(t, s, role)
		tok, err := tb.AccessToken(ctx)
		mustDo(t, err)
		_, notTheDevices, err := ed25519.GenerateKey(rand.Reader)
		mustDo(t, err)
		m.callers[role] = &matrixCaller{role: role, tb: tb, tok: tok, key: notTheDevices}
	}
	m.syncRPC = samvaerv1connect.NewSyncServiceClient(http.DefaultClient, s.URL())
	m.authRPC = samvaerv1connect.NewAuthServiceClient(http.DefaultClient, s.URL())
	m.deviceRPC = samvaerv1connect.NewDeviceServiceClient(http.DefaultClient, s.URL())
	m.adminRPC = samvaerv1connect.NewAdminServiceClient(http.DefaultClient, s.URL())
	m.caseRPC = samvaerv1connect.NewCaseServiceClient(http.DefaultClient, s.URL())
	m.reportRPC = samvaerv1connect.NewReportServiceClient(http.DefaultClient, s.URL())
	return m
}

// spareUser adds a user (and a device of theirs) for admin calls to act on.
func (m *matrixWorld) spareUser(t *testing.T) (name, deviceID string) {
	t.Helper()
	m.mu.Lock()
	m.spare++
	name = "spare-" + strconv.Itoa(m.spare)
	m.mu.Unlock()
	_, err := m.srv.Store().AddUser(context.Background(), name, []string{"consultant"})
	mustDo(t, err)
	return name, enrollTablet(t, m.srv, name).DeviceID()
}

// refused checks that a call was refused as unauthorized, and fails the test on any other error.
func refused(t *testing.T, err error, codes ...connect.Code) bool {
	t.Helper()
	if err == nil {
		return false
	}
	if !slices.Contains(codes, connect.CodeOf(err)) {
		t.Fatalf("refused with %v, want one of %v", err, codes)
	}
	return true
}

func probePush(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	visit := m.inVisit
	if caseID == m.out {
		visit = m.outVisit
	}
	c.seq++
	now := time.Now()
	change := &v1.Change{DeviceSeq: c.seq, Op: v1.Op_OP_CREATE, Hlc: uint64(syncer.MakeHLC(now.UnixMilli(), 0)), SchemaVersion: syncer.SchemaVersion,
		Record: &v1.RecordRef{Type: syncer.TypeObservation, Id: syncer.NewID(), CaseId: caseID},
		Fields: []*v1.FieldEdit{{Name: "visit_id", Value: visit}, {Name: "at_ms", Value: strconv.FormatInt(now.UnixMilli(), 10)}, {Name: "text", Value: "matrix"}}}
	res, err := m.syncRPC.Push(context.Background(), withToken(&v1.PushRequest{Changes: []*v1.Change{change}}, c.tok))
	mustDo(t, err)
	// Out of scope, a change is rejected to the tablet's dead letters, not applied.
	return res.Msg.Results[0].Result != v1.Result_RESULT_REJECTED
}

func probePull(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	res, err := m.syncRPC.Pull(context.Background(), withToken(&v1.PullRequest{}, c.tok))
	mustDo(t, err)
	for _, ch := range res.Msg.Changes {
		if ch.Record.CaseId == caseID {
			if !slices.Contains(res.Msg.CompleteCases, caseID) {
				t.Fatal("a pull sent records of a case it did not complete")
			}
			return true
		}
	}
	return false
}

func probeSubscribe(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stream, err := m.syncRPC.Subscribe(ctx, withToken(&v1.SubscribeRequest{}, c.tok))
	mustDo(t, err)
	defer stream.Close()
	if stream.Receive() {
		return true
	}
	return !refused(t, stream.Err(), connect.CodeUnauthenticated, connect.CodePermissionDenied)
}

func probeReportUnlockFailures(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	// The same failure each time: the server logs it once per device, so the probe may repeat.
	_, err := m.deviceRPC.ReportUnlockFailures(context.Background(), withToken(&v1.ReportUnlockFailuresRequest{
		Failures: []*v1.UnlockFailure{{Id: 1, AtMs: time.Now().UnixMilli()}}}, c.tok))
	return !refused(t, err, connect.CodeUnauthenticated, connect.CodePermissionDenied)
}

func probeEnroll(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	_, err := m.authRPC.Enroll(context.Background(), withToken(&v1.EnrollRequest{Code: "NOT-A-CODE", PublicKey: make([]byte, 32)}, c.tok))
	return !refused(t, err, connect.CodeUnauthenticated)
}

func probeToken(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	// The caller's own device, but not its signature: a token does not replace it.
	_, err := m.authRPC.Token(context.Background(), withToken(&v1.TokenRequest{DeviceId: c.tb.DeviceID(), Nonce: syncer.NewID(),
		TimeMs: time.Now().UnixMilli(), Signature: ed25519.Sign(c.key, []byte("something else"))}, c.tok))
	return !refused(t, err, connect.CodeUnauthenticated)
}

func probeConfirmWipe(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	// A valid access token, the caller's own device, but not its signature.
	nonce, now := syncer.NewID(), time.Now().UnixMilli()
	_, err := m.deviceRPC.ConfirmWipe(context.Background(), withToken(&v1.ConfirmWipeRequest{DeviceId: c.tb.DeviceID(), Nonce: nonce, TimeMs: now,
		Signature: ed25519.Sign(c.key, syncer.WipeSigningPayload(c.tb.DeviceID(), nonce, now, 0))}, c.tok))
	return !refused(t, err, connect.CodeUnauthenticated)
}

func probeListDevices(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	_, err := m.adminRPC.ListDevices(context.Background(), withToken(&v1.ListDevicesRequest{}, c.tok))
	return !refused(t, err, connect.CodePermissionDenied)
}

func probeRevokeDevice(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	_, device := m.spareUser(t)
	_, err := m.adminRPC.RevokeDevice(context.Background(), withToken(&v1.RevokeDeviceRequest{DeviceId: device, Revocation: v1.Revocation_REVOCATION_RETIRED}, c.tok))
	return !refused(t, err, connect.CodePermissionDenied)
}

func probeDisableUser(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	name, _ := m.spareUser(t)
	_, err := m.adminRPC.DisableUser(context.Background(), withToken(&v1.DisableUserRequest{User: name}, c.tok))
	return !refused(t, err, connect.CodePermissionDenied)
}

func probeEnableUser(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	name, _ := m.spareUser(t)
	_, err := m.srv.Store().SetUserDisabled(context.Background(), server.Actor{}, name, true)
	mustDo(t, err)
	_, err = m.adminRPC.EnableUser(context.Background(), withToken(&v1.EnableUserRequest{User: name}, c.tok))
	return !refused(t, err, connect.CodePermissionDenied)
}

// Case and report calls are refused for the role (PermissionDenied) or because the case is not
// the caller's (NotFound, so case ids cannot be probed).
var caseRefusals = []connect.Code{connect.CodePermissionDenied, connect.CodeNotFound}

func probeCreateCase(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	// Each allowed call makes a case, and a reference names one case.
	req := &v1.CreateCaseRequest{Children: []string{"Matrix child"}, Reference: "matrix " + syncer.NewID()}
	if c.role != "caseworker" {
		req.Caseworker = "caseworker" // a coordinator creates a case for a caseworker
	}
	_, err := m.caseRPC.CreateCase(context.Background(), withToken(req, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeGetCase(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	_, err := m.caseRPC.GetCase(context.Background(), withToken(&v1.GetCaseRequest{CaseId: caseID, Purpose: "matrix"}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeSetDecision(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	_, err := m.caseRPC.SetDecision(context.Background(), withToken(&v1.SetDecisionRequest{CaseId: caseID, Kind: v1.VisitKind_VISIT_KIND_SUPERVISED, Purpose: "matrix"}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeSetConditions(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	_, err := m.caseRPC.SetConditions(context.Background(), withToken(&v1.SetConditionsRequest{CaseId: caseID, Text: "Sober on arrival."}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeAddGoal(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	_, err := m.caseRPC.AddGoal(context.Background(), withToken(&v1.AddGoalRequest{CaseId: caseID, Text: "Arrive on time."}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeAddWish(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	children, err := m.srv.Store().ChildIDs(context.Background(), caseID)
	mustDo(t, err)
	_, err = m.caseRPC.AddWish(context.Background(), withToken(&v1.AddWishRequest{CaseId: caseID, ChildId: children[0], Text: "A support person."}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeAddVisit(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	consultant := "consultant"
	if caseID == m.out {
		consultant = "Lea"
	}
	start := time.Now().Add(72 * time.Hour)
	_, err := m.caseRPC.AddVisit(context.Background(), withToken(&v1.AddVisitRequest{CaseId: caseID, Consultant: consultant, Kind: v1.VisitKind_VISIT_KIND_SUPERVISED,
		StartMs: start.UnixMilli(), EndMs: start.Add(time.Hour).UnixMilli()}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeRescheduleVisit(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	start := time.Now().Add(96 * time.Hour)
	_, err := m.caseRPC.RescheduleVisit(context.Background(), withToken(&v1.RescheduleVisitRequest{VisitId: m.spareVisits[caseID],
		StartMs: start.UnixMilli(), EndMs: start.Add(time.Hour).UnixMilli()}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeGetChecklistTemplate(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	_, err := m.caseRPC.GetChecklistTemplate(context.Background(), withToken(&v1.GetChecklistTemplateRequest{}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeSetChecklistTemplate(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	var items []*v1.ChecklistTemplateItem
	for _, it := range syncer.DefaultChecklist {
		items = append(items, &v1.ChecklistTemplateItem{Phase: it.Phase, Key: it.Key, Label: it.Label})
	}
	_, err := m.caseRPC.SetChecklistTemplate(context.Background(), withToken(&v1.SetChecklistTemplateRequest{Items: items}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeListReports(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	res, err := m.reportRPC.ListReports(context.Background(), withToken(&v1.ListReportsRequest{CaseId: caseID, Purpose: "matrix"}, c.tok))
	if refused(t, err, caseRefusals...) {
		return false
	}
	return slices.ContainsFunc(res.Msg.Reports, func(r *v1.ReportSummary) bool { return r.Id == m.reports[caseID] })
}

func probeGetReport(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	_, err := m.reportRPC.GetReport(context.Background(), withToken(&v1.GetReportRequest{ReportId: m.reports[caseID], Purpose: "matrix"}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeAcknowledgeReport(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	_, err := m.reportRPC.AcknowledgeReport(context.Background(), withToken(&v1.AcknowledgeReportRequest{ReportId: m.reports[caseID]}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeAddAddendum(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	_, err := m.reportRPC.AddAddendum(context.Background(), withToken(&v1.AddAddendumRequest{ReportId: m.reports[caseID], Section: "opening", Text: "A correction."}, c.tok))
	return !refused(t, err, caseRefusals...)
}

func probeAddParentComment(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool {
	_, err := m.reportRPC.AddParentComment(context.Background(), withToken(&v1.AddParentCommentRequest{ReportId: m.reports[caseID], Text: "We see it differently."}, c.tok))
	return !refused(t, err, caseRefusals...)
}

// want says whether the matrix allows role the call for a case in or out of its scope.
func (r matrixRow) want(role string, inScope bool) bool {
	if inScope {
		return slices.Contains(r.in, role)
	}
	return slices.Contains(r.out, role)
}

func TestAuthorizationMatrix(t *testing.T) {
	m := newMatrixWorld(t)
	procedures := slices.Sorted(func(yield func(string) bool) {
		for p := range authorizationMatrix {
			if !yield(p) {
				return
			}
		}
	})
	for _, proc := range procedures {
		row := authorizationMatrix[proc]
		for _, role := range matrixRoles {
			for _, scope := range []string{"in", "out"} {
				t.Run(fmt.Sprintf("%s/%s/%s", proc, role, scope), func(t *testing.T) {
					caseID := m.in
					if scope == "out" {
						caseID = m.out
					}
					// Tokens live minutes: take a fresh one, as a tablet would.
					tok, err := m.callers[role].tb.AccessToken(context.Background())
					mustDo(t, err)
					m.callers[role].tok = tok
					got := row.probe(t, m, m.callers[role], caseID)
					if want := row.want(role, scope == "in"); got != want {
						t.Fatalf("allowed = %v, the matrix says %v", got, want)
					}
				})
			}
		}
	}
}

// Every RPC in the protos has a row in the matrix (and so a rule on the server, which refuses
// procedures without one).
func TestAuthorizationMatrixCoversEveryRPC(t *testing.T) {
	var missing []string
	protoregistry.GlobalFiles.RangeFilesByPackage("samvaer.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				proc := "/" + string(sd.FullName()) + "/" + string(sd.Methods().Get(j).Name())
				if _, ok := authorizationMatrix[proc]; !ok {
					missing = append(missing, proc)
				}
			}
		}
		return true
	})
	if len(missing) > 0 {
		t.Fatalf("RPCs without a row in the authorization matrix: %v", missing)
	}
}
