package server

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// The case beyond its people: the decision the visits rest on, the conditions (versioned), the
// parent action plan's goals and the child's wishes. Each is a record in the case, set on the
// server and read-only on tablets, so the consultant sees them offline. who is the caller of an
// RPC (nil for an admin working on the data directory); it must be allowed to edit the case.

// Decision is what SetDecision records (the shared shape of a decision record).
type Decision = syncer.Decision

// editCase runs fn in a write transaction with a commit log, after checking the case exists and
// the caller may edit it.
func (s *Store) editCase(ctx context.Context, who *Identity, caseID string, fn func(tx *sql.Tx, log *commitLog, hlc syncer.HLC) error) error {
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := s.caseExists(ctx, tx, caseID); err != nil {
			return err
		}
		if who != nil {
			if err := authorize(ctx, tx, *who, caseID, actEditCase); err != nil {
				return err
			}
		}
		log, err := s.newCommitLog(ctx, tx, s.nowMs())
		if err != nil {
			return err
		}
		if err := fn(tx, log, s.clock.Now()); err != nil {
			return err
		}
		return s.auditChanges(log, viaOf(who))
	})
}

func (s *Store) caseExists(ctx context.Context, q querier, caseID string) error {
	if !syncer.ValidID(caseID) {
		return syncer.Errorf(syncer.CodeInvalid, "That is not a case id.").With("err.case_id")
	}
	c, err := records.Load(ctx, q, s.sealer, caseID)
	if err != nil {
		return err
	}
	if c == nil || c.Record.Type != syncer.TypeCase || c.Deleted {
		return syncer.Errorf(syncer.CodeNotFound, "No case has id %q.", caseID).With("err.case_unknown")
	}
	return nil
}

// SetDecision records a new decision for the case. Earlier decisions stay: a visit may name the
// one it rests on, and a report keeps pointing at what was in force.
func (s *Store) SetDecision(ctx context.Context, who *Identity, caseID string, d Decision) (string, error) {
	if d.Kind != syncer.KindSupervised && d.Kind != syncer.KindSupported {
		return "", syncer.Errorf(syncer.CodeInvalid, "A decision is for supervised (§ 105) or supported (§ 104) visits.").With("err.decision_kind")
	}
	if d.ToMs != 0 && d.ToMs < d.FromMs {
		return "", syncer.Errorf(syncer.CodeInvalid, "A decision's period must end after it starts.").With("err.decision_period")
	}
	if len(d.Purpose) > syncer.MaxTextBytes {
		return "", syncer.Errorf(syncer.CodeInvalid, "The purpose is too long.").With("err.decision_purpose")
	}
	id := syncer.NewID()
	err := s.editCase(ctx, who, caseID, func(_ *sql.Tx, log *commitLog, hlc syncer.HLC) error {
		_, err := log.serverChange(&v1.RecordRef{Type: syncer.TypeDecision, Id: id, CaseId: caseID}, false, d.Fields(), hlc)
		return err
	})
	return id, err
}

// SetConditions records a new version of the case's conditions and agreements. Versions are never
// changed, so a submitted report keeps pointing at the version in force when it was submitted.
func (s *Store) SetConditions(ctx context.Context, who *Identity, caseID, text string) (id string, version int, err error) {
	if err := checkText("conditions", text); err != nil {
		return "", 0, err
	}
	id = syncer.NewID()
	err = s.editCase(ctx, who, caseID, func(tx *sql.Tx, log *commitLog, hlc syncer.HLC) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE case_id = ? AND type = ?`, caseID, syncer.TypeConditions).Scan(&version); err != nil {
			return err
		}
		version++
		_, err := log.serverChange(&v1.RecordRef{Type: syncer.TypeConditions, Id: id, CaseId: caseID}, false, map[string]string{
			"version": strconv.Itoa(version), "from_ms": strconv.FormatInt(s.nowMs(), 10), "text": text,
		}, hlc)
		return err
	})
	return id, version, err
}

// AddGoal adds a goal of the parent action plan.
func (s *Store) AddGoal(ctx context.Context, who *Identity, caseID, text string) (string, error) {
	if err := checkText("goal", text); err != nil {
		return "", err
	}
	id := syncer.NewID()
	err := s.editCase(ctx, who, caseID, func(_ *sql.Tx, log *commitLog, hlc syncer.HLC) error {
		_, err := log.serverChange(&v1.RecordRef{Type: syncer.TypeGoal, Id: id, CaseId: caseID}, false,
			map[string]string{"text": text, "status": "open"}, hlc)
		return err
	})
	return id, err
}

// AddWish records a child's wish: its own words, whether it asks for a support person at visits,
// and until when it asks for visits to pause (0: no pause).
func (s *Store) AddWish(ctx context.Context, who *Identity, caseID, childID, text string, supportPerson bool, pauseUntilMs int64) (string, error) {
	if err := checkText("wish", text); err != nil {
		return "", err
	}
	id := syncer.NewID()
	err := s.editCase(ctx, who, caseID, func(tx *sql.Tx, log *commitLog, hlc syncer.HLC) error {
		child, err := records.Load(ctx, tx, s.sealer, childID)
		if err != nil {
			return err
		}
		if child == nil || child.Record.Type != syncer.TypeChild || child.Record.CaseId != caseID {
			return syncer.Errorf(syncer.CodeNotFound, "The case has no child with id %q.", childID).With("err.child_unknown")
		}
		_, err = log.serverChange(&v1.RecordRef{Type: syncer.TypeWish, Id: id, CaseId: caseID}, false, map[string]string{
			"child_id": childID, "text": text, "support_person": strconv.FormatBool(supportPerson),
			"pause_until_ms": strconv.FormatInt(pauseUntilMs, 10),
		}, hlc)
		return err
	})
	return id, err
}

// CreateCase creates a case for a person: a caseworker creates cases of their own (an empty
// caseworker means themselves); a coordinator names the caseworker and becomes a member of the
// case, since they plan its visits. The RPC and the web pages both create cases through it, so
// the rule is one.
func (s *Store) CreateCase(ctx context.Context, who Identity, nc NewCase) (string, error) {
	if err := authorizeRole(who, syncer.RolesFor(syncer.TypeCase, "", syncer.OpCreate)...); err != nil {
		return "", err
	}
	nc.Coordinator = ""
	isCaseworker := authorizeRole(who, "caseworker") == nil
	if strings.TrimSpace(nc.Caseworker) == "" {
		if !isCaseworker {
			return "", syncer.Errorf(syncer.CodeInvalid, "Name the case's caseworker.").With("err.case_caseworker")
		}
		nc.Caseworker = who.UserID
	}
	cw, err := s.UserByName(ctx, nc.Caseworker)
	if err != nil {
		return "", err
	}
	if !isCaseworker || cw.ID != who.UserID {
		if authorizeRole(who, "coordinator") != nil {
			return "", syncer.Errorf(syncer.CodePermissionDenied, "A caseworker creates cases of their own; name yourself or leave the caseworker empty.").With("err.case_own")
		}
		nc.Coordinator = who.UserID
	}
	nc.By = &who
	return s.AddCase(ctx, nc)
}

// CasesOf lists the cases a user works on (is a member of), by reference. A summary holds ids,
// references and counts, never a name, so a list on a screen shows nothing about a child.
func (s *Store) CasesOf(ctx context.Context, userID string) ([]CaseSummary, error) {
	var out []CaseSummary
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		ids, err := casesOf(ctx, tx, userID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			c, err := records.Load(ctx, tx, s.sealer, id)
			if err != nil {
				return err
			}
			if c == nil || c.Deleted || c.Record.Type != syncer.TypeCase {
				continue
			}
			visits, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type = ?`, id, syncer.TypeVisit)
			if err != nil {
				return err
			}
			cs := CaseSummary{ID: id, Reference: syncer.Value(c, "reference")}
			for _, v := range visits {
				if !v.Deleted {
					cs.Visits++
				}
			}
			out = append(out, cs)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b CaseSummary) int {
		return cmp.Or(strings.Compare(a.Reference, b.Reference), strings.Compare(a.ID, b.ID))
	})
	return out, err
}

// CaseRecord is one record of a case as the case view shows it.
type CaseRecord struct {
	Type   string            `json:"type"`
	ID     string            `json:"id"`
	Fields map[string]string `json:"fields"`
}

// CaseView is a case with everything in it but the visits' own records (checklists,
// observations, reports): its children, decisions, conditions, goals, wishes and visits.
type CaseView struct {
	ID      string       `json:"id"`
	Records []CaseRecord `json:"records"`
	Members []Member     `json:"members"`
}

// Member is a user's part in a case.
type Member struct {
	UserID string `json:"user_id"`
	Role   string `json:"role"`
}

// GetCase returns a case for a person who may read it, and logs the read with their purpose.
func (s *Store) GetCase(ctx context.Context, who Identity, caseID, purpose string) (CaseView, error) {
	purpose, err := checkPurpose(purpose)
	if err != nil {
		return CaseView{}, err
	}
	view := CaseView{ID: caseID}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := s.caseExists(ctx, tx, caseID); err != nil {
			return err
		}
		if err := authorize(ctx, tx, who, caseID, actRead); err != nil {
			return err
		}
		recs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type IN (?, ?, ?, ?, ?, ?, ?) ORDER BY id`, caseID,
			syncer.TypeCase, syncer.TypeChild, syncer.TypeDecision, syncer.TypeConditions, syncer.TypeGoal, syncer.TypeWish, syncer.TypeVisit)
		if err != nil {
			return err
		}
		// A cancelled visit is shown with what was written for it: its observations (the report,
		// a draft, stays the consultant's; submitted, it is in the reports).
		cancelled := map[string]bool{}
		for _, r := range recs {
			if r.Record.Type == syncer.TypeVisit && !r.Deleted && syncer.Cancelled(r) {
				cancelled[r.Record.Id] = true
			}
		}
		if len(cancelled) > 0 {
			obs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type = ? ORDER BY id`, caseID, syncer.TypeObservation)
			if err != nil {
				return err
			}
			for _, o := range obs {
				if cancelled[syncer.Value(o, "visit_id")] {
					recs = append(recs, o)
				}
			}
		}
		for _, r := range recs {
			if r.Deleted {
				continue
			}
			cr := CaseRecord{Type: r.Record.Type, ID: r.Record.Id, Fields: map[string]string{}}
			for _, f := range r.Fields {
				cr.Fields[f.Name] = f.Value
			}
			view.Records = append(view.Records, cr)
		}
		rows, err := tx.QueryContext(ctx, `SELECT user_id, role FROM case_members WHERE case_id = ? ORDER BY role, user_id`, caseID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m Member
			if err := rows.Scan(&m.UserID, &m.Role); err != nil {
				return err
			}
			view.Members = append(view.Members, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return s.logAccess(ctx, tx, s.nowMs(), Access{UserID: who.UserID, DeviceID: who.DeviceID, CaseID: caseID, What: "case " + caseID, Purpose: purpose})
	})
	return view, err
}

// roomTaken refuses a visit that would hold a room another visit holds at the same time.
func (s *Store) roomTaken(ctx context.Context, q querier, room, exceptVisit string, start, end time.Time) error {
	if strings.TrimSpace(room) == "" {
		return nil
	}
	visits, err := records.Query(ctx, q, s.sealer, `SELECT id, state FROM records WHERE type = ? ORDER BY id`, syncer.TypeVisit)
	if err != nil {
		return err
	}
	for _, v := range visits {
		if v.Deleted || syncer.Cancelled(v) || v.Record.Id == exceptVisit || syncer.Value(v, "room") != room {
			continue
		}
		vs, _ := strconv.ParseInt(syncer.Value(v, "start_ms"), 10, 64)
		ve, _ := strconv.ParseInt(syncer.Value(v, "end_ms"), 10, 64)
		if start.UnixMilli() < ve && vs < end.UnixMilli() {
			// The other visit may be in a case the caller does not work on: the message says when
			// the room is taken, never which visit holds it.
			return syncer.Errorf(syncer.CodeFailedPrecondition, "Room %q is booked from %s to %s; choose another room or time.",
				room, s.timeText(time.UnixMilli(vs)), s.timeText(time.UnixMilli(ve))).With("err.room_taken", "Room", room, "From", time.UnixMilli(vs), "To", time.UnixMilli(ve))
		}
	}
	return nil
}

// ChecklistTemplate returns the newest checklist template and its version (0: the built-in
// default, syncer.DefaultChecklist).
func (s *Store) ChecklistTemplate(ctx context.Context) (int, []syncer.ChecklistItem, error) {
	return checklistTemplate(ctx, s.read)
}

func checklistTemplate(ctx context.Context, q querier) (int, []syncer.ChecklistItem, error) {
	var version int
	var blob string
	err := q.QueryRowContext(ctx, `SELECT version, items FROM checklist_templates ORDER BY version DESC LIMIT 1`).Scan(&version, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, syncer.DefaultChecklist, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("read checklist template: %w", err)
	}
	var items []syncer.ChecklistItem
	if err := json.Unmarshal([]byte(blob), &items); err != nil {
		return 0, nil, fmt.Errorf("decode checklist template: %w", err)
	}
	return version, items, nil
}

// SetChecklistTemplate stores a new version of the checklist template; visits added from now on
// start with it, visits already planned keep theirs. who nil is an admin on the data directory.
func (s *Store) SetChecklistTemplate(ctx context.Context, who *Identity, items []syncer.ChecklistItem) (int, error) {
	if who != nil {
		if err := authorizeRole(*who, "coordinator"); err != nil {
			return 0, err
		}
	}
	if len(items) == 0 || len(items) > 100 {
		return 0, syncer.Errorf(syncer.CodeInvalid, "A checklist has 1 to 100 items.")
	}
	keys := map[string]bool{}
	for _, it := range items {
		if !slices.Contains([]string{"before", "during", "after"}, it.Phase) {
			return 0, syncer.Errorf(syncer.CodeInvalid, "A checklist item's phase is before, during or after.")
		}
		if !validKey(it.Key) || keys[it.Key] {
			return 0, syncer.Errorf(syncer.CodeInvalid, "Checklist keys are unique, 1 to 64 characters of a-z, 0-9 and _.")
		}
		keys[it.Key] = true
		if strings.TrimSpace(it.Label) == "" || len(it.Label) > syncer.MaxRegisterBytes || !utf8.ValidString(it.Label) {
			return 0, syncer.Errorf(syncer.CodeInvalid, "A checklist label is 1 to %d bytes of text.", syncer.MaxRegisterBytes)
		}
	}
	blob, err := json.Marshal(items)
	if err != nil {
		return 0, err
	}
	by := "admin"
	if who != nil {
		by = who.UserID
	}
	var version int
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM checklist_templates`).Scan(&version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO checklist_templates (version, items, created_ms, created_by) VALUES (?, ?, ?, ?)`,
			version, string(blob), s.nowMs(), by)
		return err
	})
	return version, err
}

func validKey(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, r := range k {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return false
		}
	}
	return true
}

// RescheduleVisit moves a visit in time or to another room ("" keeps no room), refusing a room
// another visit holds at the same time. who nil is an admin on the data directory.
func (s *Store) RescheduleVisit(ctx context.Context, who *Identity, visitID string, start, end time.Time, room string) error {
	if !end.After(start) {
		return syncer.Errorf(syncer.CodeInvalid, "A visit must end after it starts.").With("err.visit_order")
	}
	if len(room) > 100 {
		return syncer.Errorf(syncer.CodeInvalid, "The room must be at most 100 characters.").With("err.visit_room")
	}
	if !syncer.ValidID(visitID) {
		return syncer.Errorf(syncer.CodeInvalid, "That is not a visit id.").With("err.visit_id")
	}
	visit, err := records.Load(ctx, s.read, s.sealer, visitID)
	if err != nil {
		return err
	}
	if visit == nil || visit.Deleted || visit.Record.Type != syncer.TypeVisit {
		return syncer.Errorf(syncer.CodeNotFound, "No visit has id %q.", visitID).With("err.visit_unknown")
	}
	return s.editCase(ctx, who, visit.Record.CaseId, func(tx *sql.Tx, log *commitLog, hlc syncer.HLC) error {
		// Read again inside the write: the visit may have been cancelled since, and a visit whose
		// report is submitted took place as the report says; moving it would change what the
		// submitted report shows.
		recs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE id = ? AND type = 'visit'
			UNION ALL SELECT id, state FROM records WHERE visit_id = ? AND type = 'report'`, visitID, visitID)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			switch {
			case rec.Record.Type == syncer.TypeVisit && (rec.Deleted || syncer.Cancelled(rec)):
				return syncer.Errorf(syncer.CodeNotFound, "Visit %s was cancelled.", visitID).With("err.visit_cancelled")
			case !rec.Deleted && syncer.Locked(rec):
				return syncer.Errorf(syncer.CodeFailedPrecondition, "Visit %s has a submitted report; a visit that took place cannot be moved.", visitID).With("err.visit_move_done")
			}
		}
		if err := s.roomTaken(ctx, tx, room, visitID, start, end); err != nil {
			return err
		}
		_, err = log.serverChange(visit.Record, false, map[string]string{
			"start_ms": strconv.FormatInt(start.UnixMilli(), 10), "end_ms": strconv.FormatInt(end.UnixMilli(), 10), "room": room,
		}, hlc)
		return err
	})
}

// ChildIDs returns the ids of a case's children, in the order they were added.
func (s *Store) ChildIDs(ctx context.Context, caseID string) ([]string, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM records WHERE case_id = ? AND type = ? ORDER BY id`, caseID, syncer.TypeChild)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
