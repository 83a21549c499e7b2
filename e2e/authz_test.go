package e2e

import (
	"context"
	"crypto/ed25519"
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

// Who is allowed a call.
const (
	allowAll     = "all"    // in and out of scope (the call touches no case data)
	allowInScope = "in"     // only for cases the caller is assigned to
	allowNone    = "none"   // never with an access token (signed calls: a code or a device key)
	allowAdmin   = "admins" // only the admin role, whatever the scope
)

// matrixRow is one RPC's row: its probe and who is allowed.
type matrixRow struct {
	allow string
	probe func(t *testing.T, m *matrixWorld, c *matrixCaller, caseID string) bool // true: allowed
}

var authorizationMatrix = map[string]matrixRow{
	samvaerv1connect.SyncServicePushProcedure:      {allowInScope, probePush},
	samvaerv1connect.SyncServicePullProcedure:      {allowInScope, probePull},
	samvaerv1connect.SyncServiceSubscribeProcedure: {allowAll, probeSubscribe},

	samvaerv1connect.AuthServiceEnrollProcedure:        {allowNone, probeEnroll},
	samvaerv1connect.AuthServiceTokenProcedure:         {allowNone, probeToken},
	samvaerv1connect.DeviceServiceConfirmWipeProcedure: {allowNone, probeConfirmWipe},

	samvaerv1connect.AdminServiceListDevicesProcedure:  {allowAdmin, probeListDevices},
	samvaerv1connect.AdminServiceRevokeDeviceProcedure: {allowAdmin, probeRevokeDevice},
	samvaerv1connect.AdminServiceDisableUserProcedure:  {allowAdmin, probeDisableUser},
	samvaerv1connect.AdminServiceEnableUserProcedure:   {allowAdmin, probeEnableUser},
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
	mu                sync.Mutex
	spare             int
}

type matrixCaller struct {
	role string
	tb   *tablet
	tok  string
	key  ed25519.PrivateKey
	seq  int64 // the device seq of the last raw push
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
	for _, role := range matrixRoles {
		tb := enrollTablet(t, s, role)
		tok, err := tb.AccessToken(ctx)
		mustDo(t, err)
		m.callers[role] = &matrixCaller{role: role, tb: tb, tok: tok, key: readDeviceKey(t, tb)}
	}
	m.syncRPC = samvaerv1connect.NewSyncServiceClient(http.DefaultClient, s.URL())
	m.authRPC = samvaerv1connect.NewAuthServiceClient(http.DefaultClient, s.URL())
	m.deviceRPC = samvaerv1connect.NewDeviceServiceClient(http.DefaultClient, s.URL())
	m.adminRPC = samvaerv1connect.NewAdminServiceClient(http.DefaultClient, s.URL())
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

func probeEnroll(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	_, err := m.authRPC.Enroll(context.Background(), withToken(&v1.EnrollRequest{Code: "NOT-A-CODE", PublicKey: make([]byte, 32)}, c.tok))
	return !refused(t, err, connect.CodeUnauthenticated)
}

func probeToken(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	// The caller's own device, but a signature over something else: a token does not replace it.
	_, err := m.authRPC.Token(context.Background(), withToken(&v1.TokenRequest{DeviceId: c.tb.DeviceID(), Nonce: syncer.NewID(),
		TimeMs: time.Now().UnixMilli(), Signature: ed25519.Sign(c.key, []byte("something else"))}, c.tok))
	return !refused(t, err, connect.CodeUnauthenticated)
}

func probeConfirmWipe(t *testing.T, m *matrixWorld, c *matrixCaller, _ string) bool {
	// Correctly signed, but the device is not revoked.
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

// want says whether the matrix allows role the call for a case in or out of its scope.
func (r matrixRow) want(role string, inScope bool) bool {
	switch r.allow {
	case allowAll:
		return true
	case allowInScope:
		return inScope && role != "admin" // the admin role holds no case
	case allowAdmin:
		return role == "admin"
	}
	return false
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
