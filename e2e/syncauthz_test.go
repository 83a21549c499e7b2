package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/samvaer/sync/clientlib"
	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/server"
	"github.com/samvaer/sync/syncer"
)

// The sync doors of the authorization matrix: every role × record type (and document state) ×
// operation over Push and Pull against the running server, with the expectation read from the
// one table of rules, syncer.Rules. TestSyncMatrixCoversEveryRule fails when a rule names a
// type, state, operation or field the probes do not exercise.

// syncProbe is one call: a role doing op (hold, create, update, submit) to a record of typ in
// state, setting field (update), in the case in or out of the caller's scope.
type syncProbe struct {
	typ, state string
	op         syncer.Operation
	field      string
}

func (p syncProbe) String() string {
	s := p.typ
	if p.state != "" {
		s += "." + p.state
	}
	s += "/" + string(p.op)
	if p.field != "" {
		s += "." + p.field
	}
	return s
}

// documentStates are the states of the record types with a lifecycle; "" for the others.
func documentStates(typ string) []string {
	if typ == syncer.TypeReport || typ == syncer.TypeAddendum {
		return []string{syncer.StateDraft, syncer.StateSubmitted, syncer.StateAcknowledged}
	}
	return []string{""}
}

// syncProbePlan is every probe: each type and state held, created, each of its fields updated,
// and submitted.
func syncProbePlan() []syncProbe {
	var plan []syncProbe
	for _, typ := range slices.Sorted(func(yield func(string) bool) {
		for t := range syncer.Schema {
			if !yield(t) {
				return
			}
		}
	}) {
		for _, state := range documentStates(typ) {
			if typ == syncer.TypeAddendum && state == syncer.StateAcknowledged {
				continue // an addendum is not acknowledged on its own
			}
			plan = append(plan, syncProbe{typ: typ, state: state, op: syncer.OpHold})
			for _, f := range updateFields(typ) {
				plan = append(plan, syncProbe{typ: typ, state: state, op: syncer.OpUpdate, field: f})
			}
			plan = append(plan, syncProbe{typ: typ, state: state, op: syncer.OpSubmit})
		}
		plan = append(plan, syncProbe{typ: typ, op: syncer.OpCreate})
	}
	return plan
}

// updateFields are the fields of typ the update probes set: every field a rule names, and one
// that only the server sets (each of those is refused by the same shape check, which its own
// tests cover field by field).
func updateFields(typ string) []string {
	var named []string
	for _, p := range syncer.Rules {
		if p.Type == typ {
			named = append(named, p.Fields...)
		}
	}
	var out []string
	serverField := false
	for _, f := range syncer.Schema[typ].Fields {
		switch {
		case slices.Contains(named, f.Name):
			out = append(out, f.Name)
		case !serverField:
			out, serverField = append(out, f.Name), true
		}
	}
	return out
}

// submissionFields are what a submission sets.
var submissionFields = []string{"submitted_ms", "digest", "signature"}

// createFields are the fields a create of typ sets: those a rule lets some role create with, or
// (for types no tablet creates) the type's first field.
func createFields(typ string) []string {
	for _, p := range syncer.Rules {
		if p.Type == typ && p.Op == syncer.OpCreate && len(p.Fields) > 0 {
			return p.Fields
		}
	}
	return []string{syncer.Schema[typ].Fields[0].Name}
}

// want is what the table says for a caller with roles in the probe's case.
func (p syncProbe) want(roles []string) bool {
	state := p.state
	if state == "" {
		state = syncer.StateDraft
	}
	switch p.op {
	case syncer.OpCreate:
		return syncer.Allowed(roles, p.typ, state, p.op, createFields(p.typ)...)
	case syncer.OpUpdate:
		return syncer.Allowed(roles, p.typ, state, p.op, p.field)
	case syncer.OpSubmit:
		return syncer.Allowed(roles, p.typ, state, p.op, submissionFields...)
	}
	return syncer.Allowed(roles, p.typ, state, p.op)
}

// syncWorld is the matrix world with every record type, in every state, in both cases.
type syncWorld struct {
	*matrixWorld
	// targets[case][type.state] is a record id.
	targets map[string]map[string]string
	visits  map[string]string // case → its visit with a submitted report
}

func key(typ, state string) string { return typ + "." + state }

func newSyncWorld(t *testing.T) *syncWorld {
	m := newMatrixWorld(t)
	ctx := context.Background()
	st := m.srv.Store()
	w := &syncWorld{matrixWorld: m, targets: map[string]map[string]string{}, visits: map[string]string{m.in: m.inVisit, m.out: m.outVisit}}
	for caseID, people := range map[string]struct{ consultant, caseworker string }{m.in: {"consultant", "caseworker"}, m.out: {"Lea", "Bo"}} {
		_, err := st.SetDecision(ctx, nil, caseID, syncer.Decision{Kind: syncer.KindSupervised, Purpose: "matrix"})
		mustDo(t, err)
		_, _, err = st.SetConditions(ctx, nil, caseID, "Sober on arrival.")
		mustDo(t, err)
		_, err = st.AddGoal(ctx, nil, caseID, "Arrive on time.")
		mustDo(t, err)
		children, err := st.ChildIDs(ctx, caseID)
		mustDo(t, err)
		_, err = st.AddWish(ctx, nil, caseID, children[0], "A support person.", false, 0)
		mustDo(t, err)
		cw, err := st.UserByName(ctx, people.caseworker)
		mustDo(t, err)
		caseworker := server.Identity{UserID: cw.ID, DeviceID: syncer.NewID(), Roles: cw.Roles}
		_, err = st.AddParentComment(ctx, caseworker, m.reports[caseID], "We see it differently.", time.Now().UnixMilli())
		mustDo(t, err)

		// Observations, addenda (draft and submitted), a conflict and an acknowledged report,
		// written by two tablets of the case's consultant.
		a, b := enrollTablet(t, m.srv, people.consultant), enrollTablet(t, m.srv, people.consultant)
		for _, tb := range []*tablet{a, b} {
			_, err := tb.Sync(ctx)
			mustDo(t, err)
		}
		visit := w.visits[caseID]
		_, err = a.Observe(ctx, visit, "Ida laughs.")
		mustDo(t, err)
		// An edit of the submitted report made before the tablet knew of the submission becomes
		// a draft addendum on the server (pushed raw by a device that never pulled);
		// AddAddendum writes a signed one.
		raw := enrollTablet(t, m.srv, people.consultant)
		tok, err := raw.AccessToken(ctx)
		mustDo(t, err)
		edit := &v1.Change{DeviceSeq: 1, Op: v1.Op_OP_UPDATE, Hlc: uint64(syncer.MakeHLC(time.Now().UnixMilli(), 0)), SchemaVersion: syncer.SchemaVersion,
			Record: &v1.RecordRef{Type: syncer.TypeReport, Id: m.reports[caseID], CaseId: caseID}, Fields: []*v1.FieldEdit{{Name: "ending", Value: "A draft correction."}}}
		res, err := m.syncRPC.Push(ctx, withToken(&v1.PushRequest{Changes: []*v1.Change{edit}}, tok))
		mustDo(t, err)
		if r := res.Msg.Results[0]; r.Result != v1.Result_RESULT_CONFLICT {
			t.Fatalf("an edit of a submitted report: %v", r)
		}
		_, err = a.AddAddendum(ctx, visit, "opening", "A signed correction.")
		mustDo(t, err)
		spare := m.spareVisits[caseID]
		mustDo(t, a.SetReportSection(ctx, spare, "opening", "One account of the start."))
		mustDo(t, b.SetReportSection(ctx, spare, "opening", "Another account of the start."))
		start := time.Now().Add(48 * time.Hour)
		acked, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: people.consultant, Kind: "supervised", Start: start, End: start.Add(time.Hour)})
		mustDo(t, err)
		for _, tb := range []*tablet{a, b, a} {
			_, err := tb.Sync(ctx)
			mustDo(t, err)
		}
		mustDo(t, a.SetReportSection(ctx, acked, "opening", "The report to acknowledge."))
		mustDo(t, a.Submit(ctx, acked))
		_, err = a.Sync(ctx)
		mustDo(t, err)
		reps, err := st.Reports(ctx, nil, caseID, "")
		mustDo(t, err)
		for _, r := range reps {
			if r.VisitID == acked {
				mustDo(t, st.Acknowledge(ctx, caseworker, r.ID))
			}
		}

		// Every record of the case, as a consultant of it holds it.
		u, err := st.UserByName(ctx, people.consultant)
		mustDo(t, err)
		snap, err := st.Pull(ctx, server.Identity{UserID: u.ID, DeviceID: a.DeviceID(), Roles: u.Roles}, &v1.PullRequest{Cursor: 1, MaxChanges: server.MaxPullChanges})
		mustDo(t, err)
		if snap.More {
			t.Fatal("the matrix case does not fit one snapshot page")
		}
		w.targets[caseID] = map[string]string{}
		for _, rec := range snap.Snapshot {
			if rec.Deleted {
				continue
			}
			state := ""
			if rec.Record.Type == syncer.TypeReport || rec.Record.Type == syncer.TypeAddendum {
				state = syncer.State(rec)
			}
			k := key(rec.Record.Type, state)
			if _, ok := w.targets[caseID][k]; !ok || (rec.Record.Type == syncer.TypeReport && syncer.Value(rec, "visit_id") == spare) {
				w.targets[caseID][k] = rec.Record.Id // the spare visit's draft report: no one has submitted it
			}
		}
		for _, p := range syncProbePlan() {
			if p.op == syncer.OpHold {
				if _, ok := w.targets[caseID][key(p.typ, p.state)]; !ok {
					t.Fatalf("the matrix case has no %s record", key(p.typ, p.state))
				}
			}
		}
	}
	return w
}

// rolesIn is the caller's part in the case: the matrix users hold their one role in case "in".
func (w *syncWorld) rolesIn(role, caseID string) []string {
	if caseID != w.in || role == "admin" {
		return nil
	}
	return []string{role}
}

// value is a value of the right form for a field.
func (w *syncWorld) value(caseID, typ, field string) string {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	switch {
	case field == "checked" || field == "resolved":
		return "true"
	case field == "visit_id":
		return w.visits[caseID]
	case field == "report_id":
		return w.reports[caseID]
	case strings.HasSuffix(field, "_ms"):
		return now
	case field == "digest":
		sum := sha256.Sum256([]byte("matrix"))
		return hex.EncodeToString(sum[:])
	case field == "signature":
		return syncer.EncodeSignature(make([]byte, 64))
	case field == "section":
		return "opening"
	case field == syncer.MarkField || strings.HasSuffix(field, "__mark"):
		return syncer.MarkChildWords
	}
	return "matrix words"
}

// refusedForPart tells a refusal for the pusher's part in the case (or for no part in it) from a
// change the table let through and the merge or the submission check then judged.
func refusedForPart(r *v1.ChangeResult) bool {
	return r.Result == v1.Result_RESULT_REJECTED &&
		(strings.Contains(r.Reason, " of the case may ") || strings.Contains(r.Reason, "nobody may") || strings.Contains(r.Reason, "not assigned to"))
}

// push makes one raw change as the caller; false when the server refused it as not the caller's
// to make.
func (w *syncWorld) push(t *testing.T, c *matrixCaller, caseID string, p syncProbe) bool {
	ref := &v1.RecordRef{Type: p.typ, Id: syncer.NewID(), CaseId: caseID}
	op := v1.Op_OP_CREATE
	var names []string
	switch p.op {
	case syncer.OpCreate:
		names = createFields(p.typ)
	case syncer.OpUpdate:
		op, ref.Id, names = v1.Op_OP_UPDATE, w.targets[caseID][key(p.typ, p.state)], []string{p.field}
	case syncer.OpSubmit:
		op, ref.Id, names = v1.Op_OP_UPDATE, w.targets[caseID][key(p.typ, p.state)], submissionFields
	}
	c.seq++
	change := &v1.Change{DeviceSeq: c.seq, Op: op, Hlc: uint64(syncer.MakeHLC(time.Now().UnixMilli(), 0)), SchemaVersion: syncer.SchemaVersion, Record: ref}
	for _, n := range names {
		change.Fields = append(change.Fields, &v1.FieldEdit{Name: n, Value: w.value(caseID, p.typ, n)})
	}
	res, err := w.syncRPC.Push(context.Background(), withToken(&v1.PushRequest{Changes: []*v1.Change{change}}, c.tok))
	if connect.CodeOf(err) == connect.CodeInvalidArgument {
		// Refused whole for its shape (a field only the server sets): nothing stored, the seq
		// is free again.
		c.seq--
		return false
	}
	mustDo(t, err)
	return !refusedForPart(res.Msg.Results[0])
}

// held lists the records a pull from the start (the log) and a snapshot each deliver to the
// caller's device; the two must agree.
func (w *syncWorld) held(t *testing.T, c *matrixCaller) map[string]bool {
	ctx := context.Background()
	inLog := map[string]bool{}
	for cursor := int64(0); ; {
		res, err := w.syncRPC.Pull(ctx, withToken(&v1.PullRequest{Cursor: cursor}, c.tok))
		mustDo(t, err)
		for _, ch := range res.Msg.Changes {
			inLog[ch.Record.Id] = true
		}
		cursor = res.Msg.NextCursor
		if !res.Msg.More {
			break
		}
	}
	inSnapshot := map[string]bool{}
	for after, snapCase := "", ""; ; {
		res, err := w.syncRPC.Pull(ctx, withToken(&v1.PullRequest{Cursor: 1, SnapshotCase: snapCase, SnapshotAfter: after}, c.tok))
		mustDo(t, err)
		for _, rec := range res.Msg.Snapshot {
			inSnapshot[rec.Record.Id] = true
		}
		if res.Msg.SnapshotCase == "" {
			break
		}
		snapCase, after = res.Msg.SnapshotCase, res.Msg.SnapshotAfter
	}
	if !maps.Equal(inLog, inSnapshot) {
		t.Fatalf("the log delivers %d records, a snapshot %d", len(inLog), len(inSnapshot))
	}
	return inLog
}

func TestSyncAuthorizationMatrix(t *testing.T) {
	w := newSyncWorld(t)
	plan := syncProbePlan()
	t.Logf("%d probes × %d roles × in and out of scope", len(plan), len(matrixRoles))
	for _, role := range matrixRoles {
		c := w.callers[role]
		tok, err := c.tb.AccessToken(context.Background())
		mustDo(t, err)
		c.tok = tok
		for _, scope := range []string{"in", "out"} {
			caseID := w.in
			if scope == "out" {
				caseID = w.out
			}
			// Holding first: the pushes below change the records they probe.
			held := w.held(t, c)
			for _, p := range plan {
				if p.op != syncer.OpHold {
					continue
				}
				got := held[w.targets[caseID][key(p.typ, p.state)]]
				if want := p.want(w.rolesIn(role, caseID)); got != want {
					t.Errorf("%s %s %s over Pull: allowed = %v, syncer.Rules says %v", role, scope, p, got, want)
				}
			}
			for _, p := range plan {
				if p.op == syncer.OpHold {
					continue
				}
				got := w.push(t, c, caseID, p)
				if want := p.want(w.rolesIn(role, caseID)); got != want {
					t.Errorf("%s %s %s over Push: allowed = %v, syncer.Rules says %v", role, scope, p, got, want)
				}
			}
		}
	}
}

// Every rule of a sync door (hold, create, update, submit) is exercised by a probe the rule
// allows, for each of its roles, states and fields: a rule without a test fails here.
func TestSyncMatrixCoversEveryRule(t *testing.T) {
	plan := syncProbePlan()
	for _, r := range syncer.Rules {
		if r.Op != syncer.OpHold && r.Op != syncer.OpCreate && r.Op != syncer.OpUpdate && r.Op != syncer.OpSubmit {
			continue
		}
		if r.Op == syncer.OpCreate && len(r.Fields) == 0 {
			continue // made only by a server operation (an RPC, a page), never pushed
		}
		states := r.States
		if states == nil {
			states = []string{""}
		}
		fields := []string{""}
		if r.Op == syncer.OpUpdate {
			fields = r.Fields
		}
		for _, role := range r.Roles {
			for _, state := range states {
				for _, field := range fields {
					covered := slices.ContainsFunc(plan, func(p syncProbe) bool {
						return p.typ == r.Type && p.op == r.Op && (state == "" || p.state == state) && p.field == field && p.want([]string{role})
					})
					if !covered {
						t.Errorf("no probe exercises %s %s %s.%s %s", role, r.Op, r.Type, state, field)
					}
				}
			}
		}
	}
	if n := len(plan); n < 100 {
		t.Fatalf("only %d probes", n)
	}
}

// A caseworker's device receives no case records through Pull — not the consultant's draft, not
// the case — and a person's devices follow their part in the case: made the case's consultant,
// the next sync brings it as a snapshot; unassigned, the next sync purges it.
func TestOnlyAConsultantsDevicesHoldACase(t *testing.T) {
	ctx := context.Background()
	s := startServer(t)
	st := s.Store()
	for name, roles := range map[string][]string{"kim": {"consultant"}, "sara": {"caseworker"}, "bo": {"caseworker", "consultant"}} {
		_, err := st.AddUser(ctx, name, roles)
		mustDo(t, err)
	}
	caseID, err := st.AddCase(ctx, server.NewCase{Children: []string{"Ida"}, Caseworker: "sara"})
	mustDo(t, err)
	mustDo(t, st.AssignCase(ctx, server.Actor{}, caseID, "bo", "caseworker"))
	start := time.Now().Add(time.Hour)
	visit, err := st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "kim", Kind: "supervised", Start: start, End: start.Add(time.Hour)})
	mustDo(t, err)
	kim, sara, bo := enrollTablet(t, s, "kim"), enrollTablet(t, s, "sara"), enrollTablet(t, s, "bo")
	for _, tb := range []*tablet{kim, sara, bo} {
		_, err := tb.Sync(ctx)
		mustDo(t, err)
	}
	mustDo(t, kim.SetReportSection(ctx, visit, "opening", "A draft only Kim's tablets hold."))
	_, err = kim.Observe(ctx, visit, "Ida waves.")
	mustDo(t, err)
	_, err = kim.Sync(ctx)
	mustDo(t, err)
	holds := func(tb *tablet) bool {
		t.Helper()
		_, err := tb.Sync(ctx)
		mustDo(t, err)
		visits, err := tb.Visits(ctx)
		mustDo(t, err)
		_, caseErr := tb.Case(ctx, caseID)
		if (len(visits) > 0) != (caseErr == nil) {
			t.Fatalf("the tablet holds %d visits but the case: %v", len(visits), caseErr)
		}
		return len(visits) > 0
	}
	if !holds(kim) {
		t.Fatal("the consultant's tablet does not hold the case")
	}
	if holds(sara) || holds(bo) {
		t.Fatal("a caseworker's tablet holds the case")
	}
	// Bo becomes a consultant of the case with a visit of his own: a snapshot.
	_, err = st.AddVisit(ctx, server.NewVisit{CaseID: caseID, Consultant: "bo", Kind: "supervised", Start: start.Add(24 * time.Hour), End: start.Add(25 * time.Hour)})
	mustDo(t, err)
	if !holds(bo) {
		t.Fatal("a newly assigned consultant's tablet does not get the case")
	}
	visits, err := bo.Visits(ctx)
	mustDo(t, err)
	if v := visitByID(visits, visit); v == nil || v.Report[slices.Index(syncer.ReportSections, "opening")].Text != "A draft only Kim's tablets hold." || len(v.Observations) != 1 {
		t.Fatalf("the snapshot lacks the draft and the observation: %+v", v)
	}
	mustDo(t, st.UnassignCase(ctx, server.Actor{}, caseID, "bo"))
	if holds(bo) {
		t.Fatal("an unassigned user's tablet still holds the case")
	}
}

func visitByID(visits []clientlib.Visit, id string) *clientlib.Visit {
	for i := range visits {
		if visits[i].ID == id {
			return &visits[i]
		}
	}
	return nil
}
