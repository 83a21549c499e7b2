package clientlib

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// What the tablet shows. A record's visible state is its confirmed state (the server's, as last
// pulled) with the record's outbox entries re-applied in seq order by the rules the server merges
// with, so what a person sees is what the server will most likely hold after the next sync.

// Visit is a visit on the tablet, with its checklist, report and observations as the tablet
// shows them.
type Visit struct {
	ID         string `json:"id"`
	CaseID     string `json:"case_id"`
	Kind       string `json:"kind"`
	StartMs    int64  `json:"start_ms"`
	EndMs      int64  `json:"end_ms"`
	Place      string `json:"place"`
	Consultant string `json:"consultant"`
	Room       string `json:"room"`
	// ActualStartMs and ActualEndMs are set by the tablet's clock when the visit starts and ends;
	// Present says who was there and in what role.
	ActualStartMs int64  `json:"actual_start_ms"`
	ActualEndMs   int64  `json:"actual_end_ms"`
	Present       string `json:"present"`
	// Checklist is in syncer.DefaultChecklist order.
	Checklist []ChecklistItem `json:"checklist"`
	// Report has one entry per syncer.ReportSections key, in that order.
	Report []ReportSection `json:"report"`
	// Observations are sorted by time, then id.
	Observations []Observation `json:"observations"`
	// ReportID and ReportState: draft, submitted (also while the submission is on its way) or
	// acknowledged. A submitted report is locked: corrections are Addenda.
	ReportID    string `json:"report_id"`
	ReportState string `json:"report_state"`
	// ReportOverdue: a supervised visit's report still a draft 72 hours after the visit ended.
	ReportOverdue bool       `json:"report_overdue"`
	Addenda       []Addendum `json:"addenda"`
	// CancelledMs is when the visit was cancelled (0: it was not). A cancelled visit keeps what
	// was written for it, and writing for it is still accepted: the view shows both.
	CancelledMs int64 `json:"cancelled_ms,omitempty"`
}

// Addendum is a correction to a submitted report: a draft (made by the server from an edit that
// reached the report after it was locked) until it is signed.
type Addendum struct {
	ID      string `json:"id"`
	Section string `json:"section,omitempty"`
	Text    string `json:"text"`
	State   string `json:"state"`
}

// ChecklistItem is one item of a visit's checklist.
type ChecklistItem struct {
	Phase   string `json:"phase"`
	Key     string `json:"key"`
	Label   string `json:"label"`
	Checked bool   `json:"checked"`
}

// ReportSection is one section of a visit's report.
type ReportSection struct {
	Key  string `json:"key"`
	Text string `json:"text"`
	// Mark is the section's mark for the parents' copy (syncer.Marks), "" for none.
	Mark string `json:"mark,omitempty"`
}

// Observation is a timestamped note made during a visit.
type Observation struct {
	ID   string `json:"id"`
	AtMs int64  `json:"at_ms"`
	Text string `json:"text"`
	// Mark is the observation's mark for the parents' copy (syncer.Marks), "" for none.
	Mark string `json:"mark,omitempty"`
}

// Visits returns the visits on the tablet, not deleted, sorted by start.
func (t *Tablet) Visits(ctx context.Context) ([]Visit, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	var visits []Visit
	err := t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		pending, err := t.store.pendingByRecord(ctx, tx)
		if err != nil {
			return err
		}
		recs, err := records.Query(ctx, tx, t.store.keys, `SELECT id, state FROM records WHERE type = ? ORDER BY id`, syncer.TypeVisit)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if rec.Deleted {
				continue
			}
			v, err := t.visitShown(ctx, tx, rec, pending)
			if err != nil {
				return err
			}
			visits = append(visits, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(visits, func(a, b Visit) int { return cmp.Compare(a.StartMs, b.StartMs) })
	return visits, nil
}

// pendingByRecord returns every outbox entry, grouped by record, each group in seq order.
func (s *store) pendingByRecord(ctx context.Context, q querier) (map[string][]outboxEntry, error) {
	all, err := s.readOutbox(ctx, q, "")
	if err != nil {
		return nil, err
	}
	m := make(map[string][]outboxEntry)
	for _, e := range all {
		id := e.change.GetRecord().GetId()
		m[id] = append(m[id], e)
	}
	return m, nil
}

// pendingOfType is pendingByRecord for the confirmed records of one type only.
func (s *store) pendingOfType(ctx context.Context, q querier, typ string) (map[string][]outboxEntry, error) {
	entries, err := s.queryOutbox(ctx, q, `SELECT seq, change, bases, server_seq FROM outbox
		WHERE record_id IN (SELECT id FROM records WHERE type = ?) ORDER BY seq`, typ)
	if err != nil {
		return nil, err
	}
	m := make(map[string][]outboxEntry)
	for _, e := range entries {
		id := e.change.GetRecord().GetId()
		m[id] = append(m[id], e)
	}
	return m, nil
}

// visitView builds one visit from its records and the pending edits of them.
func (s *store) visitView(ctx context.Context, q querier, visit *v1.CommittedChange, pending map[string][]outboxEntry) (Visit, error) {
	v := Visit{
		ID:         visit.Record.Id,
		CaseID:     visit.Record.CaseId,
		Kind:       syncer.Value(visit, "kind"),
		StartMs:    atoi(syncer.Value(visit, "start_ms")),
		EndMs:      atoi(syncer.Value(visit, "end_ms")),
		Place:      syncer.Value(visit, "place"),
		Consultant: syncer.Value(visit, "consultant"),
	}
	vf := visible(visit, pending[visit.Record.Id])
	v.Room, v.ActualStartMs, v.ActualEndMs, v.Present = vf["room"], atoi(vf["actual_start_ms"]), atoi(vf["actual_end_ms"]), vf["present"]
	v.CancelledMs = atoi(syncer.Value(visit, "cancelled_ms"))
	recs, err := records.Query(ctx, q, s.keys, `SELECT id, state FROM records WHERE visit_id = ? ORDER BY id`, v.ID)
	if err != nil {
		return Visit{}, err
	}
	report := map[string]string{}
	held := map[string]bool{}
	for _, rec := range recs {
		held[rec.Record.Id] = true
		if rec.Deleted {
			continue
		}
		fields := visible(rec, pending[rec.Record.Id])
		switch rec.Record.Type {
		case syncer.TypeChecklistItem:
			v.Checklist = append(v.Checklist, ChecklistItem{
				Phase: fields["phase"], Key: fields["key"], Label: fields["label"], Checked: fields["checked"] == "true",
			})
		case syncer.TypeReport:
			if v.ReportID == "" { // a visit has one report; the first by id if ever more
				v.ReportID, v.ReportState = rec.Record.Id, syncer.State(rec)
				if syncer.Locked(rec) {
					// Nothing changes a submitted report: a pending edit will become an addendum draft.
					fields = visible(rec, nil)
				} else if locked, err := s.submittedHere(ctx, q, rec); err != nil {
					return Visit{}, err
				} else if locked {
					v.ReportState = syncer.StateSubmitted
				}
				report = fields
			}
		case syncer.TypeAddendum:
			v.Addenda = append(v.Addenda, addendumOf(rec.Record.Id, fields))
		case syncer.TypeObservation:
			v.Observations = append(v.Observations, observationOf(rec.Record.Id, fields))
		}
	}
	// Observations written on this tablet that the server has not confirmed yet.
	for id, entries := range pending {
		typ := entries[0].change.GetRecord().GetType()
		if held[id] || (typ != syncer.TypeObservation && typ != syncer.TypeAddendum) {
			continue
		}
		fields := visible(nil, entries)
		switch {
		case fields["visit_id"] != v.ID:
		case typ == syncer.TypeObservation:
			v.Observations = append(v.Observations, observationOf(id, fields))
		default:
			v.Addenda = append(v.Addenda, addendumOf(id, fields))
		}
	}
	slices.SortStableFunc(v.Checklist, func(a, b ChecklistItem) int { return compareChecklistKeys(a.Key, b.Key) })
	slices.SortFunc(v.Addenda, func(a, b Addendum) int { return cmp.Compare(a.ID, b.ID) })
	slices.SortFunc(v.Observations, func(a, b Observation) int {
		return cmp.Or(cmp.Compare(a.AtMs, b.AtMs), cmp.Compare(a.ID, b.ID))
	})
	for _, key := range syncer.ReportSections {
		v.Report = append(v.Report, ReportSection{Key: key, Text: report[key], Mark: report[syncer.SectionMarkField(key)]})
	}
	return v, nil
}

// addendumOf shows an addendum; one signed here is submitted from the moment it is signed.
func addendumOf(id string, fields map[string]string) Addendum {
	state := fields["state"]
	if state == "" || (state == syncer.StateDraft && fields["signature"] != "") {
		state = syncer.StateSubmitted
		if fields["signature"] == "" {
			state = syncer.StateDraft
		}
	}
	return Addendum{ID: id, Section: fields["section"], Text: fields["text"], State: state}
}

func observationOf(id string, fields map[string]string) Observation {
	return Observation{ID: id, AtMs: atoi(fields["at_ms"]), Text: fields["text"], Mark: fields[syncer.MarkField]}
}

// compareChecklistKeys orders checklist keys as syncer.DefaultChecklist does; keys it does not
// know come after, by key.
func compareChecklistKeys(a, b string) int {
	rank := func(key string) int {
		i := slices.IndexFunc(syncer.DefaultChecklist, func(it syncer.ChecklistItem) bool { return it.Key == key })
		if i < 0 {
			return len(syncer.DefaultChecklist)
		}
		return i
	}
	return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a, b))
}

// visible returns a record's field values as the tablet shows them: the confirmed state (nil for
// a record made on the tablet) with its outbox entries re-applied in seq order. An edit of a text
// field is merged three-way from the base the server will merge from, so an edit made before
// someone else's newer text shows on top of it when the two merge cleanly; when they overlap it
// shows the tablet's own text (the server will keep the other side in a conflict). A register
// shows the tablet's value until the server decides.
func visible(rec *v1.CommittedChange, pending []outboxEntry) map[string]string {
	fields := make(map[string]string, len(rec.GetFields()))
	for _, f := range rec.GetFields() {
		fields[f.Name] = f.Value
	}
	for _, e := range pending {
		for _, edit := range e.change.Fields {
			cur, ok := fields[edit.Name]
			if ok && ruleOf(e.change.Record.GetType(), edit.Name) == syncer.Text {
				if merged, clean := syncer.MergeText(e.bases[edit.Name], cur, edit.Value); clean {
					fields[edit.Name] = merged
					continue
				}
			}
			fields[edit.Name] = edit.Value
		}
	}
	return fields
}

// Status is the tablet's sync state at a glance.
type Status struct {
	// Pending changes have not been acknowledged by the server.
	Pending int `json:"pending"`
	// Awaiting changes were acknowledged; the next pull brings their confirmed effect.
	Awaiting      int   `json:"awaiting"`
	LastSyncMs    int64 `json:"last_sync_ms"`
	OpenConflicts int   `json:"open_conflicts"`
	// DeadLetters counts changes the server refused.
	DeadLetters int `json:"dead_letters"`
	// Cursor is the last server commit the tablet has applied.
	Cursor int64 `json:"cursor"`
}

// Status returns counts of pending, acknowledged and refused changes and open conflicts.
func (t *Tablet) Status(ctx context.Context) (Status, error) {
	var s Status
	if t.isWiped() {
		return s, ErrWiped
	}
	err := t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT
			(SELECT COUNT(*) FROM outbox WHERE server_seq = 0),
			(SELECT COUNT(*) FROM outbox WHERE server_seq > 0),
			(SELECT COUNT(*) FROM dead_letters)`).Scan(&s.Pending, &s.Awaiting, &s.DeadLetters)
		if err != nil {
			return fmt.Errorf("count outbox: %w", err)
		}
		if s.LastSyncMs, err = metaInt(ctx, tx, metaLastSync); err != nil {
			return err
		}
		if s.Cursor, err = metaInt(ctx, tx, metaCursor); err != nil {
			return err
		}
		open, err := t.store.openConflicts(ctx, tx)
		s.OpenConflicts = len(open)
		return err
	})
	return s, err
}

// Conflict is an overlap between an edit and another device's edit of the same field, kept until
// a person resolves it. One side is the field's value, the other is OtherValue.
type Conflict struct {
	ID         string `json:"id"`
	CaseID     string `json:"case_id"`
	RecordType string `json:"record_type"`
	RecordID   string `json:"record_id"`
	Field      string `json:"field"`
	// CurrentValue is the value the server kept in the field (as last pulled).
	CurrentValue string `json:"current_value"`
	// OtherValue is the side that is not the field's value, written on OtherDevice.
	OtherValue  string `json:"other_value"`
	OtherDevice string `json:"other_device"`
}

// Conflicts returns the open conflicts of the cases on the tablet, in id order.
func (t *Tablet) Conflicts(ctx context.Context) ([]Conflict, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	var out []Conflict
	err := t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		open, err := t.store.openConflicts(ctx, tx)
		if err != nil {
			return err
		}
		for _, rec := range open {
			c := Conflict{
				ID:          rec.Record.Id,
				CaseID:      rec.Record.CaseId,
				RecordType:  syncer.Value(rec, "record_type"),
				RecordID:    syncer.Value(rec, "record_id"),
				Field:       syncer.Value(rec, "field"),
				OtherValue:  syncer.Value(rec, "other_value"),
				OtherDevice: syncer.Value(rec, "other_device"),
			}
			target, err := records.Load(ctx, tx, t.store.keys, c.RecordID)
			if err != nil {
				return err
			}
			c.CurrentValue = syncer.Value(target, c.Field)
			out = append(out, c)
		}
		return nil
	})
	return out, err
}

// openConflicts returns the conflict records not yet resolved, in id order: neither on the
// server nor by a person on this tablet whose resolution is still on its way.
func (s *store) openConflicts(ctx context.Context, q querier) ([]*v1.CommittedChange, error) {
	recs, err := records.Query(ctx, q, s.keys, `SELECT id, state FROM records WHERE type = ? ORDER BY id`, syncer.TypeConflict)
	if err != nil {
		return nil, err
	}
	// Only the conflicts' own pending edits matter: the rest of the outbox (hundreds of
	// observations written offline) is neither read nor unsealed, since every page's sync bar
	// counts the open conflicts.
	pending, err := s.pendingOfType(ctx, q, syncer.TypeConflict)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(recs, func(r *v1.CommittedChange) bool {
		return r.Deleted || visible(r, pending[r.Record.Id])["resolved"] != "false"
	}), nil
}

// DeadLetter is a change the server refused, with its reason. The change itself is kept.
type DeadLetter struct {
	Seq        int64  `json:"seq"`
	RecordType string `json:"record_type"`
	RecordID   string `json:"record_id"`
	Reason     string `json:"reason"`
	AtMs       int64  `json:"at_ms"`
}

// DeadLetters returns the changes the server refused, in seq order.
func (t *Tablet) DeadLetters(ctx context.Context) ([]DeadLetter, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	var out []DeadLetter
	err := t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT seq, change, reason, at_ms FROM dead_letters ORDER BY seq`)
		if err != nil {
			return fmt.Errorf("read rejected changes: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var d DeadLetter
			var blob []byte
			if err := rows.Scan(&d.Seq, &blob, &d.Reason, &d.AtMs); err != nil {
				return err
			}
			c, err := t.store.decodeChange(d.Seq, blob)
			if err != nil {
				return err
			}
			d.RecordType, d.RecordID = c.Record.GetType(), c.Record.GetId()
			out = append(out, d)
		}
		return rows.Err()
	})
	return out, err
}

// Digest returns the state digest of what the tablet holds of a case (its confirmed records, as
// records.Digest defines it), equal to the server's digest for the tablet's user (`admin digest
// CASE --user NAME`, or --role consultant for a consultant) and every other tablet's once all
// have synced; a tablet that holds nothing of the case has the empty digest.
func (t *Tablet) Digest(ctx context.Context, caseID string) (string, error) {
	var sum string
	if t.isWiped() {
		return "", ErrWiped
	}
	err := t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		var err error
		sum, err = records.Digest(ctx, tx, t.store.keys, caseID, t.nowMs())
		return err
	})
	return sum, err
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
