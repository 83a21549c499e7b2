package server

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// The report's way from the tablet to the caseworker: a tablet submits it signed (acceptSubmission,
// inside a push), the server locks it and delivers it to the case's caseworkers (Reports lists it
// as new for them), a caseworker acknowledges it. Corrections are addenda; a parent's comment is
// its own document.

// reportOfVisit reports whether a report exists, undeleted, for the visit in the case.
func (l *commitLog) reportOfVisit(reportID, visitID, caseID string) (bool, error) {
	rep, err := l.record(reportID)
	if err != nil {
		return false, err
	}
	return rep != nil && !rep.Deleted && rep.Record.Type == syncer.TypeReport && rep.Record.CaseId == caseID &&
		syncer.Value(rep, "visit_id") == visitID, nil
}

// visitReportLocked reports whether the visit's report is submitted (or acknowledged).
func (l *commitLog) visitReportLocked(visitID string) (bool, error) {
	if err := l.flush(); err != nil {
		return false, err
	}
	reps, err := records.Query(l.ctx, l.tx, l.keys, `SELECT id, state FROM records WHERE visit_id = ? AND type = ?`, visitID, syncer.TypeReport)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(reps, syncer.Locked), nil
}

// acceptSubmission checks a signed submission against what the server holds: the digest covers
// exactly the document's text, the signature verifies with the device's enrolled key, and a report
// may be submitted under the consent rule. It returns the reason when the submission is refused;
// otherwise it adds the server's fields to the effect, which locks the document.
func (s *Store) acceptSubmission(log *commitLog, id Identity, cur *v1.CommittedChange, c *v1.Change, eff *v1.CommittedChange) (string, error) {
	typ, seq := c.Record.Type, c.DeviceSeq
	value := func(name string) string { return syncer.Value(cur, name) }
	if c.Op == v1.Op_OP_CREATE {
		value = func(name string) string { return editValue(c, name) }
	}
	digest := editValue(c, "digest")
	if syncer.DocumentDigest(typ, value) != digest {
		return fmt.Sprintf("Change %d submits a %s whose text changed on another device after it was signed; review it and submit again.", seq, typ), nil
	}
	at, _ := strconv.ParseInt(editValue(c, "submitted_ms"), 10, 64)
	var pub []byte
	if err := log.tx.QueryRowContext(log.ctx, `SELECT public_key FROM devices WHERE id = ?`, id.DeviceID).Scan(&pub); err != nil {
		return "", fmt.Errorf("read device key: %w", err)
	}
	sig, _ := syncer.DecodeSignature(editValue(c, "signature"))
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, syncer.SubmissionPayload(typ, c.Record.Id, id.DeviceID, digest, at), sig) {
		return fmt.Sprintf("Change %d submits a %s with a signature that does not verify with this tablet's key.", seq, typ), nil
	}
	add := func(name, v string) {
		eff.Fields = append(eff.Fields, &v1.Field{Name: name, Value: v, Hlc: c.Hlc, DeviceId: id.DeviceID})
	}
	if typ == syncer.TypeReport {
		visit, err := log.record(value("visit_id"))
		if err != nil {
			return "", err
		}
		decisions, err := records.Query(log.ctx, log.tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type = ?`, c.Record.CaseId, syncer.TypeDecision)
		if err != nil {
			return "", err
		}
		if err := syncer.WrittenDescriptionsAllowed(visit, syncer.DecisionFor(visit, decisions)); err != nil {
			return fmt.Sprintf("Change %d: %s", seq, syncer.ErrorMessage(err)), nil
		}
		var conditions string
		err = log.tx.QueryRowContext(log.ctx, `SELECT id FROM records WHERE case_id = ? AND type = ? ORDER BY id DESC LIMIT 1`,
			c.Record.CaseId, syncer.TypeConditions).Scan(&conditions)
		if err != nil && err != sql.ErrNoRows {
			return "", fmt.Errorf("read conditions: %w", err)
		}
		add("conditions_id", conditions)
	}
	add("state", syncer.StateSubmitted)
	add("submitted_by", id.UserID)
	add("submitted_device", id.DeviceID)
	return "", nil
}

// Report filters.
const (
	FilterAll          = ""
	FilterNew          = "new"          // submitted, not yet acknowledged, or with an addendum or parent's comment since
	FilterOverdue      = "overdue"      // a supervised visit's report not submitted in time
	FilterAcknowledged = "acknowledged" // read and acknowledged by a caseworker
)

// Report is a report as the caseworker's inbox and the admin list show it.
type Report struct {
	ID             string `json:"id"`
	CaseID         string `json:"case_id"`
	VisitID        string `json:"visit_id"`
	VisitKind      string `json:"visit_kind"`
	VisitStartMs   int64  `json:"visit_start_ms"`
	VisitEndMs     int64  `json:"visit_end_ms"`
	CaseReference  string `json:"case_reference"`
	State          string `json:"state"`
	Overdue        bool   `json:"overdue"`
	SubmittedMs    int64  `json:"submitted_ms,omitempty"`
	SubmittedBy    string `json:"submitted_by,omitempty"`
	AcknowledgedMs int64  `json:"acknowledged_ms,omitempty"`
	AcknowledgedBy string `json:"acknowledged_by,omitempty"`
	// NewAddendum is set on an acknowledged report when an addendum or a parent's comment arrived
	// after the acknowledgement: the report is new again until a caseworker acknowledges it again.
	NewAddendum bool `json:"new_addendum,omitempty"`
	// Children are the names of the case's children (the inbox names them).
	Children []string `json:"children,omitempty"`
	// ConditionsID is the version of the conditions in force when the report was submitted.
	ConditionsID string `json:"conditions_id,omitempty"`
	// Recipients are the case's caseworkers (user ids): the report is delivered to them.
	Recipients []string `json:"recipients"`
	// The rest is filled only by GetReport: the report's text and everything an export of it
	// shows.
	Sections        []Section     `json:"sections,omitempty"`
	Addenda         []Addendum    `json:"addenda,omitempty"`
	ParentComments  []Addendum    `json:"parent_comments,omitempty"`
	Observations    []Observation `json:"observations,omitempty"`
	Checklist       []Checked     `json:"checklist,omitempty"`
	SubmittedDevice string        `json:"submitted_device,omitempty"`
	Place           string        `json:"place,omitempty"`
	Room            string        `json:"room,omitempty"`
	Consultant      string        `json:"consultant,omitempty"` // user id
	Parents         []string      `json:"parents,omitempty"`    // names
	// Present is who was present at the visit, as the consultant recorded it on the tablet.
	Present string `json:"present,omitempty"`
}

// Observation is one timestamped note from a visit.
type Observation struct {
	AtMs   int64  `json:"at_ms"`
	Text   string `json:"text"`
	Author string `json:"author"` // user id
	// Mark is the consultant's mark for the parents' copy (syncer.Marks), "" for none.
	Mark string `json:"mark,omitempty"`
}

// Checked is one item of a visit's checklist.
type Checked struct {
	Phase   string `json:"phase"`
	Key     string `json:"key"`
	Label   string `json:"label"`
	Checked bool   `json:"checked"`
}

// Section is one section of a report.
type Section struct {
	Key  string `json:"key"`
	Text string `json:"text"`
	// Mark is the consultant's mark for the parents' copy (syncer.Marks), "" for none.
	Mark string `json:"mark,omitempty"`
}

// Addendum is an addendum or a parent's comment filed with a report.
type Addendum struct {
	ID          string `json:"id"`
	Section     string `json:"section,omitempty"`
	Text        string `json:"text"`
	State       string `json:"state,omitempty"`
	SubmittedMs int64  `json:"submitted_ms,omitempty"`
	Author      string `json:"author,omitempty"`
}

func (s *Store) overdueMs() int64 {
	if s.ReportOverdue > 0 {
		return s.ReportOverdue.Milliseconds()
	}
	return syncer.DefaultReportOverdueMs
}

// Reports lists reports, newest visit first, for an admin on the data directory. who limits them
// to the cases a caller may read (nil: all); caseID to one case ("" for all); filter is one of the
// Filter constants. The list names reports and visits by id, time and state, never their text.
func (s *Store) Reports(ctx context.Context, who *Identity, caseID, filter string) ([]Report, error) {
	var out []Report
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = s.reports(ctx, tx, who, caseID, filter)
		return err
	})
	for i := range out {
		out[i].Children = nil // an unlogged list names no child
	}
	return out, err
}

// ListReports lists the reports of the caller's cases (see Reports) and logs, for each case
// listed, that the caller searched its reports, with the criterion and why.
func (s *Store) ListReports(ctx context.Context, who Identity, caseID, filter, purpose string) ([]Report, error) {
	purpose, err := checkPurpose(purpose)
	if err != nil {
		return nil, err
	}
	var out []Report
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = s.reports(ctx, tx, &who, caseID, filter); err != nil {
			return err
		}
		criterion := "filter=" + filter
		if caseID != "" {
			criterion += " case=" + caseID
		}
		logged := map[string]bool{}
		for _, r := range out {
			if logged[r.CaseID] {
				continue
			}
			logged[r.CaseID] = true
			if err := s.logAccess(ctx, tx, s.nowMs(), Access{Kind: AuditSearched, UserID: who.UserID, DeviceID: who.DeviceID, CaseID: r.CaseID,
				What: "report list", Purpose: purpose, Detail: map[string]string{"criterion": criterion}}); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func (s *Store) reports(ctx context.Context, tx *sql.Tx, who *Identity, caseID, filter string) ([]Report, error) {
	switch filter {
	case FilterAll, FilterNew, FilterOverdue, FilterAcknowledged:
	default:
		return nil, syncer.Errorf(syncer.CodeInvalid, "Unknown filter %q; filters are new, overdue and acknowledged.", filter)
	}
	var out []Report
	query, args := `SELECT id, state FROM records WHERE type = ? ORDER BY id`, []any{syncer.TypeReport}
	if caseID != "" {
		query, args = `SELECT id, state FROM records WHERE type = ? AND case_id = ? ORDER BY id`, []any{syncer.TypeReport, caseID}
	}
	if who != nil {
		// Only the cases the person works on are read (and opened) at all; authorize below
		// decides which of those their roles let them see.
		query = strings.Replace(query, " ORDER BY id", " AND case_id IN (SELECT case_id FROM case_members WHERE user_id = ?) ORDER BY id", 1)
		args = append(args, who.UserID)
	}
	reps, err := records.Query(ctx, tx, s.sealer, query, args...)
	if err != nil {
		return nil, err
	}
	allowed := map[string]error{}
	cases := map[string]*caseExtras{}
	for _, rep := range reps {
		if rep.Deleted {
			continue
		}
		if who != nil {
			err, seen := allowed[rep.Record.CaseId]
			if !seen {
				err = authorize(ctx, tx, *who, rep.Record.CaseId, actRead)
				allowed[rep.Record.CaseId] = err
			}
			if syncer.ErrorCode(err) == syncer.CodeInternal {
				return nil, err
			}
			if err != nil {
				continue
			}
		}
		r, err := s.reportSummary(ctx, tx, rep)
		if err != nil {
			return nil, err
		}
		if r != nil {
			ex := cases[r.CaseID]
			if ex == nil {
				if ex, err = s.caseExtras(ctx, tx, r.CaseID); err != nil {
					return nil, err
				}
				cases[r.CaseID] = ex
			}
			r.Children = ex.children
			r.NewAddendum = r.State == syncer.StateAcknowledged && ex.latest[r.ID] > ackRev(rep)
		}
		switch {
		case r == nil:
		case filter == FilterNew && r.State != syncer.StateSubmitted && !r.NewAddendum:
		case filter == FilterOverdue && !r.Overdue:
		case filter == FilterAcknowledged && (r.State != syncer.StateAcknowledged || r.NewAddendum):
		default:
			out = append(out, *r)
		}
	}
	slices.SortStableFunc(out, func(a, b Report) int { return cmp.Compare(b.VisitStartMs, a.VisitStartMs) })
	return out, nil
}

// caseExtras is what the inbox shows of a case beside its reports.
type caseExtras struct {
	children []string         // names
	latest   map[string]int64 // report id → the commit its newest submitted addendum or parent's comment arrived in (docArrived)
}

func (s *Store) caseExtras(ctx context.Context, q querier, caseID string) (*caseExtras, error) {
	recs, err := records.Query(ctx, q, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type IN (?, ?, ?) ORDER BY id`,
		caseID, syncer.TypeChild, syncer.TypeAddendum, syncer.TypeParentComment)
	if err != nil {
		return nil, err
	}
	ex := &caseExtras{latest: map[string]int64{}}
	for _, rec := range recs {
		if rec.Deleted {
			continue
		}
		if rec.Record.Type == syncer.TypeChild {
			ex.children = append(ex.children, syncer.Value(rec, "name"))
			continue
		}
		at := docArrived(rec)
		if id := syncer.Value(rec, "report_id"); at > ex.latest[id] {
			ex.latest[id] = at
		}
	}
	return ex, nil
}

// docArrived is the commit (log seq) in which an addendum was submitted or a parent's comment
// received; 0 for a draft. Whether it came after the report's acknowledgement is decided by
// commit order (ackRev), not by the clock: an addendum committed in the millisecond of the
// acknowledgement came after it all the same, and must bring the report back to the inbox.
func docArrived(rec *v1.CommittedChange) int64 {
	field := "submitted_ms"
	if rec.Record.Type == syncer.TypeParentComment {
		field = "received_ms"
	} else if syncer.State(rec) == syncer.StateDraft {
		return 0
	}
	if f := syncer.FieldOf(rec, field); f != nil && f.Value != "" {
		return f.Rev
	}
	return 0
}

// ackRev is the commit in which the report was last acknowledged; 0 when it never was.
func ackRev(rep *v1.CommittedChange) int64 {
	if f := syncer.FieldOf(rep, "acknowledged_ms"); f != nil && f.Value != "" {
		return f.Rev
	}
	return 0
}

// reportSummary describes a report without its text; nil when its visit is gone.
func (s *Store) reportSummary(ctx context.Context, q querier, rep *v1.CommittedChange) (*Report, error) {
	visit, err := records.Load(ctx, q, s.sealer, syncer.Value(rep, "visit_id"))
	if err != nil {
		return nil, err
	}
	if visit == nil || visit.Deleted {
		return nil, nil
	}
	num := func(rec *v1.CommittedChange, name string) int64 {
		n, _ := strconv.ParseInt(syncer.Value(rec, name), 10, 64)
		return n
	}
	r := &Report{
		ID: rep.Record.Id, CaseID: rep.Record.CaseId, VisitID: visit.Record.Id,
		VisitKind: syncer.Value(visit, "kind"), VisitStartMs: num(visit, "start_ms"), VisitEndMs: num(visit, "end_ms"),
		State:       syncer.State(rep),
		Overdue:     syncer.ReportOverdue(visit, rep, s.overdueMs(), s.nowMs()),
		SubmittedMs: num(rep, "submitted_ms"), SubmittedBy: syncer.Value(rep, "submitted_by"),
		AcknowledgedMs: num(rep, "acknowledged_ms"), AcknowledgedBy: syncer.Value(rep, "acknowledged_by"),
		ConditionsID: syncer.Value(rep, "conditions_id"),
		Recipients:   []string{},
	}
	c, err := records.Load(ctx, q, s.sealer, r.CaseID)
	if err != nil {
		return nil, err
	}
	r.CaseReference = syncer.Value(c, "reference")
	rows, err := q.QueryContext(ctx, `SELECT user_id FROM case_members WHERE case_id = ? AND role = 'caseworker' ORDER BY user_id`, r.CaseID)
	if err != nil {
		return nil, fmt.Errorf("read recipients: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		r.Recipients = append(r.Recipients, u)
	}
	return r, rows.Err()
}

// GetReport returns a report with its text, addenda and parents' comments, and logs the read
// with the caller's purpose in the same transaction.
func (s *Store) GetReport(ctx context.Context, who Identity, reportID, purpose string) (Report, error) {
	return s.useReport(ctx, who, reportID, purpose, "")
}

// ExportReport returns a report as GetReport does, for an export that leaves the server (format
// ExportPDF or ExportParentsCopy): the access log records an export with its format and purpose,
// and the report counts as exported for retention.
func (s *Store) ExportReport(ctx context.Context, who Identity, reportID, purpose, format string) (Report, error) {
	if format != ExportPDF && format != ExportParentsCopy {
		return Report{}, syncer.Errorf(syncer.CodeInvalid, "A report is exported as %s or %s.", ExportPDF, ExportParentsCopy)
	}
	return s.useReport(ctx, who, reportID, purpose, format)
}

// useReport reads a report and logs its use: a read, or an export in format.
func (s *Store) useReport(ctx context.Context, who Identity, reportID, purpose, format string) (Report, error) {
	purpose, err := checkPurpose(purpose)
	if err != nil {
		return Report{}, err
	}
	var out Report
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		rep, err := s.loadReport(ctx, tx, who, reportID, actRead)
		if err != nil {
			return err
		}
		if syncer.State(rep) == syncer.StateDraft {
			// A draft is the consultant's work in progress: it is delivered when submitted.
			if err := authorize(ctx, tx, who, rep.Record.CaseId, actReadDraft); err != nil {
				if syncer.ErrorCode(err) == syncer.CodePermissionDenied {
					return syncer.Errorf(syncer.CodeFailedPrecondition, "Report %s has not been submitted yet.", reportID).With("err.report_draft")
				}
				return err
			}
		}
		r, err := s.reportSummary(ctx, tx, rep)
		if err != nil {
			return err
		}
		if r == nil {
			return syncer.Errorf(syncer.CodeNotFound, "Report %s belongs to a cancelled visit.", reportID).With("err.report_cancelled")
		}
		for _, key := range syncer.ReportSections {
			r.Sections = append(r.Sections, Section{Key: key, Text: syncer.Value(rep, key), Mark: syncer.Value(rep, syncer.SectionMarkField(key))})
		}
		r.SubmittedDevice = syncer.Value(rep, "submitted_device")
		if err := s.visitContext(ctx, tx, r); err != nil {
			return err
		}
		docs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type IN (?, ?) ORDER BY id`,
			rep.Record.CaseId, syncer.TypeAddendum, syncer.TypeParentComment)
		if err != nil {
			return err
		}
		var mayReadDrafts *bool
		for _, d := range docs {
			if d.Deleted || syncer.Value(d, "report_id") != reportID {
				continue
			}
			if r.State == syncer.StateAcknowledged && docArrived(d) > ackRev(rep) {
				r.NewAddendum = true
			}
			a := Addendum{ID: d.Record.Id, Section: syncer.Value(d, "section"), Text: syncer.Value(d, "text"), Author: syncer.Value(d, "author")}
			if d.Record.Type == syncer.TypeParentComment {
				a.SubmittedMs, _ = strconv.ParseInt(syncer.Value(d, "received_ms"), 10, 64)
				a.Author = syncer.Value(d, "recorded_by")
				r.ParentComments = append(r.ParentComments, a)
				continue
			}
			a.State = syncer.State(d)
			if a.State == syncer.StateDraft {
				// A draft addendum is a consultant's work in progress, like a draft report.
				if mayReadDrafts == nil {
					err := authorize(ctx, tx, who, rep.Record.CaseId, actReadDraft)
					if syncer.ErrorCode(err) == syncer.CodeInternal {
						return err
					}
					ok := err == nil
					mayReadDrafts = &ok
				}
				if !*mayReadDrafts {
					continue
				}
			}
			a.SubmittedMs, _ = strconv.ParseInt(syncer.Value(d, "submitted_ms"), 10, 64)
			r.Addenda = append(r.Addenda, a)
		}
		out = *r
		use := Access{UserID: who.UserID, DeviceID: who.DeviceID, CaseID: rep.Record.CaseId, What: "report " + reportID, Purpose: purpose}
		if format != "" {
			use.Kind, use.Detail = AuditExported, map[string]string{"format": format}
			if _, err := tx.ExecContext(ctx, `INSERT INTO report_exports (report_id, case_id, exported_ms) VALUES (?, ?, ?)
				ON CONFLICT (report_id) DO NOTHING`, reportID, rep.Record.CaseId, s.nowMs()); err != nil {
				return fmt.Errorf("record export: %w", err)
			}
		}
		return s.logAccess(ctx, tx, s.nowMs(), use)
	})
	return out, err
}

// visitContext adds to a report what its export shows about the visit: the children, place and room, the consultant, the checklist and the observation timeline.
func (s *Store) visitContext(ctx context.Context, tx *sql.Tx, r *Report) error {
	recs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type IN (?, ?, ?, ?, ?) ORDER BY id`,
		r.CaseID, syncer.TypeCase, syncer.TypeChild, syncer.TypeVisit, syncer.TypeChecklistItem, syncer.TypeObservation)
	if err != nil {
		return err
	}
	for _, rec := range recs {
		if rec.Deleted {
			continue
		}
		v := func(name string) string { return syncer.Value(rec, name) }
		switch rec.Record.Type {
		case syncer.TypeCase:
			for l := range strings.Lines(v("parents")) {
				if l = strings.TrimSpace(l); l != "" {
					r.Parents = append(r.Parents, l)
				}
			}
		case syncer.TypeChild:
			r.Children = append(r.Children, v("name"))
		case syncer.TypeVisit:
			if rec.Record.Id == r.VisitID {
				r.Place, r.Room, r.Consultant, r.Present = v("place"), v("room"), v("consultant"), v("present")
			}
		case syncer.TypeChecklistItem:
			if v("visit_id") == r.VisitID {
				r.Checklist = append(r.Checklist, Checked{Phase: v("phase"), Key: v("key"), Label: v("label"), Checked: v("checked") == "true"})
			}
		case syncer.TypeObservation:
			if v("visit_id") == r.VisitID {
				at, _ := strconv.ParseInt(v("at_ms"), 10, 64)
				r.Observations = append(r.Observations, Observation{AtMs: at, Text: v("text"), Author: v("author"), Mark: v(syncer.MarkField)})
			}
		}
	}
	slices.SortStableFunc(r.Observations, func(a, b Observation) int { return cmp.Compare(a.AtMs, b.AtMs) })
	return nil
}

// loadReport reads a report the caller may act on.
func (s *Store) loadReport(ctx context.Context, tx *sql.Tx, who Identity, reportID string, act action) (*v1.CommittedChange, error) {
	if !syncer.ValidID(reportID) {
		return nil, syncer.Errorf(syncer.CodeInvalid, "That is not a report id.").With("err.report_id")
	}
	rep, err := records.Load(ctx, tx, s.sealer, reportID)
	if err != nil {
		return nil, err
	}
	if rep == nil || rep.Deleted || rep.Record.Type != syncer.TypeReport {
		return nil, syncer.Errorf(syncer.CodeNotFound, "No report has id %q.", reportID).With("err.report_unknown")
	}
	if err := authorize(ctx, tx, who, rep.Record.CaseId, act); err != nil {
		return nil, err
	}
	return rep, nil
}

// Acknowledge records that a caseworker has read a delivered report. Acknowledging twice is
// harmless, unless an addendum or a parent's comment arrived since the acknowledgement: then the
// acknowledgement is renewed and covers them. A report not yet submitted cannot be acknowledged.
func (s *Store) Acknowledge(ctx context.Context, who Identity, reportID string) error {
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		rep, err := s.loadReport(ctx, tx, who, reportID, actAcknowledge)
		if err != nil {
			return err
		}
		switch syncer.State(rep) {
		case syncer.StateAcknowledged:
			ex, err := s.caseExtras(ctx, tx, rep.Record.CaseId)
			if err != nil {
				return err
			}
			if ex.latest[reportID] <= ackRev(rep) {
				return nil
			}
		case syncer.StateDraft:
			return syncer.Errorf(syncer.CodeFailedPrecondition, "Report %s has not been submitted yet; only a submitted report can be acknowledged.", reportID).With("err.report_ack_draft")
		}
		log, err := s.newCommitLog(ctx, tx, s.nowMs())
		if err != nil {
			return err
		}
		_, err = log.serverChange(rep.Record, false, map[string]string{
			"state": syncer.StateAcknowledged, "acknowledged_ms": strconv.FormatInt(s.nowMs(), 10), "acknowledged_by": who.UserID,
		}, s.clock.Now())
		if err != nil {
			return err
		}
		return s.auditChanges(log, viaOf(&who))
	})
}

// checkText refuses empty or oversized text a person wrote, without repeating it.
func checkText(what, text string) error {
	if strings.TrimSpace(text) == "" {
		return syncer.Errorf(syncer.CodeInvalid, "The %s needs text.", what).With("err.text_empty")
	}
	if len(text) > syncer.MaxTextBytes || !utf8.ValidString(text) {
		return syncer.Errorf(syncer.CodeInvalid, "The %s must be valid text of at most %d bytes.", what, syncer.MaxTextBytes).With("err.text_long", "Max", syncer.MaxTextBytes)
	}
	return nil
}

// AddAddendum files a dated correction to a submitted report, written through the RPC API by an
// authenticated caseworker or consultant of the case. It is submitted at once: the caller's
// access token, bound to their device, stands for the signature a tablet makes.
func (s *Store) AddAddendum(ctx context.Context, who Identity, reportID, section, text string) (string, error) {
	if err := checkText("addendum", text); err != nil {
		return "", err
	}
	if section != "" && !slices.Contains(syncer.ReportSections, section) {
		return "", syncer.Errorf(syncer.CodeInvalid, "A report has no such section; the sections are: %s.", strings.Join(syncer.ReportSections, ", "))
	}
	id := syncer.NewID()
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		rep, err := s.loadReport(ctx, tx, who, reportID, actAddendum)
		if err != nil {
			return err
		}
		if !syncer.Locked(rep) {
			return syncer.Errorf(syncer.CodeFailedPrecondition, "Report %s is still a draft: change the report itself; addenda are for submitted reports.", reportID)
		}
		log, err := s.newCommitLog(ctx, tx, s.nowMs())
		if err != nil {
			return err
		}
		now := strconv.FormatInt(s.nowMs(), 10)
		_, err = log.serverChange(&v1.RecordRef{Type: syncer.TypeAddendum, Id: id, CaseId: rep.Record.CaseId}, false, map[string]string{
			"report_id": reportID, "visit_id": syncer.Value(rep, "visit_id"), "section": section, "text": text,
			"author": who.UserID, "state": syncer.StateSubmitted, "submitted_ms": now,
			"submitted_by": who.UserID, "submitted_device": who.DeviceID,
		}, s.clock.Now())
		if err != nil {
			return err
		}
		return s.auditChanges(log, viaOf(&who))
	})
	return id, err
}

// AddParentComment files a parent's comment on a report as its own document: it is never merged
// into the report. receivedMs is when the comment was received (0: now).
func (s *Store) AddParentComment(ctx context.Context, who Identity, reportID, text string, receivedMs int64) (string, error) {
	if err := checkText("comment", text); err != nil {
		return "", err
	}
	if receivedMs <= 0 {
		receivedMs = s.nowMs()
	}
	id := syncer.NewID()
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		rep, err := s.loadReport(ctx, tx, who, reportID, actParentComment)
		if err != nil {
			return err
		}
		if !syncer.Locked(rep) {
			return syncer.Errorf(syncer.CodeFailedPrecondition, "Report %s has not been submitted yet; a parent's comment is filed with a submitted report.", reportID).With("err.comment_draft")
		}
		log, err := s.newCommitLog(ctx, tx, s.nowMs())
		if err != nil {
			return err
		}
		_, err = log.serverChange(&v1.RecordRef{Type: syncer.TypeParentComment, Id: id, CaseId: rep.Record.CaseId}, false, map[string]string{
			"report_id": reportID, "visit_id": syncer.Value(rep, "visit_id"), "text": text,
			"received_ms": strconv.FormatInt(receivedMs, 10), "recorded_by": who.UserID,
		}, s.clock.Now())
		if err != nil {
			return err
		}
		return s.auditChanges(log, viaOf(&who))
	})
	return id, err
}
