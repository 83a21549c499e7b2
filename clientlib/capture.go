package clientlib

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// What a consultant captures during and after a visit. Every edit is a change appended to the
// outbox in the same write transaction that makes it visible, so the tablet never shows an edit
// it would not send, nor sends one it did not show. Error messages never repeat what a person
// typed: only ids and the names the tablet offers.

// Observe notes an observation for a visit. Its time is the tablet's corrected clock, set by the
// system, never typed in.
func (t *Tablet) Observe(ctx context.Context, visitID, text string) (Observation, error) {
	return t.observe(ctx, visitID, text, false)
}

// observe is Observe; endDraft also removes the visit's observation draft in its transaction.
func (t *Tablet) observe(ctx context.Context, visitID, text string, endDraft bool) (Observation, error) {
	o := Observation{ID: syncer.NewID(), Text: text}
	err := t.write(ctx, func(tx *sql.Tx, nowMs int64) (*v1.Change, map[string]string, error) {
		visit, err := t.store.findVisit(ctx, tx, visitID)
		if err != nil {
			return nil, nil, err
		}
		if endDraft {
			if _, err := tx.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, draftMetaPrefix+visitID); err != nil {
				return nil, nil, fmt.Errorf("end draft: %w", err)
			}
		}
		o.AtMs = nowMs
		return &v1.Change{
			Op:     v1.Op_OP_CREATE,
			Record: &v1.RecordRef{Type: syncer.TypeObservation, Id: o.ID, CaseId: visit.Record.CaseId},
			Fields: []*v1.FieldEdit{
				{Name: "visit_id", Value: visitID},
				{Name: "at_ms", Value: itoa(nowMs)},
				{Name: "text", Value: text},
			},
		}, nil, nil
	})
	if err != nil {
		return Observation{}, err
	}
	return o, nil
}

// Check ticks (or unticks) an item of a visit's checklist, named by its key.
func (t *Tablet) Check(ctx context.Context, visitID, key string, checked bool) error {
	return t.write(ctx, func(tx *sql.Tx, _ int64) (*v1.Change, map[string]string, error) {
		if _, err := t.store.findVisit(ctx, tx, visitID); err != nil {
			return nil, nil, err
		}
		items, err := t.store.recordsOfVisit(ctx, tx, visitID, syncer.TypeChecklistItem)
		if err != nil {
			return nil, nil, err
		}
		i := slices.IndexFunc(items, func(r *v1.CommittedChange) bool { return syncer.Value(r, "key") == key })
		if i < 0 {
			keys := make([]string, len(items))
			for j, it := range items {
				keys[j] = syncer.Value(it, "key")
			}
			slices.SortFunc(keys, compareChecklistKeys)
			return nil, nil, syncer.Errorf(syncer.CodeNotFound, "The visit's checklist has no item with that key; its keys are: %s.", strings.Join(keys, ", "))
		}
		return t.fieldEdit(ctx, tx, items[i], "checked", strconv.FormatBool(checked))
	})
}

// SetReportSection replaces the text of one section of the visit's report.
func (t *Tablet) SetReportSection(ctx context.Context, visitID, section, text string) error {
	return t.SetReportSectionMarked(ctx, visitID, section, text, "")
}

// SetReportSectionMarked replaces a section's text with text that holds a marked passage (an
// observation marked for the parents' copy, pulled into the section): unless the section has a
// mark already, it gets mark in the same change, so the parents' copy leaves the passage out
// as it leaves out the observation. A section's mark covers its whole text, so a section
// marked already withholds the passage whatever its mark; mark "" is SetReportSection.
func (t *Tablet) SetReportSectionMarked(ctx context.Context, visitID, section, text, mark string) error {
	if !slices.Contains(syncer.ReportSections, section) {
		return syncer.Errorf(syncer.CodeInvalid, "A report has no such section; the sections are: %s.", strings.Join(syncer.ReportSections, ", "))
	}
	if err := checkMark(mark); err != nil {
		return err
	}
	return t.write(ctx, func(tx *sql.Tx, _ int64) (*v1.Change, map[string]string, error) {
		report, _, err := t.store.visitReport(ctx, tx, visitID)
		if err != nil {
			return nil, nil, err
		}
		if locked, err := t.store.submittedHere(ctx, tx, report); err != nil {
			return nil, nil, err
		} else if locked {
			return nil, nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The report of visit %s is submitted and locked; write an addendum instead.", visitID)
		}
		c, bases, err := t.fieldEdit(ctx, tx, report, section, text)
		if err != nil || mark == "" {
			return c, bases, err
		}
		pending, err := t.store.readOutbox(ctx, tx, report.Record.Id)
		if err != nil {
			return nil, nil, err
		}
		markField := syncer.SectionMarkField(section)
		if visible(report, pending)[markField] != "" {
			return c, bases, nil
		}
		m, _, err := t.fieldEdit(ctx, tx, report, markField, mark)
		if err != nil {
			return nil, nil, err
		}
		c.Fields = append(c.Fields, m.Fields...)
		return c, bases, nil
	})
}

// fieldEdit builds an update of one field of a confirmed record. base_rev is the field's confirmed
// revision. after_seq is the newest outbox entry setting the same field: the edit continues it,
// so the server does not treat a person's consecutive edits as concurrent with each other. The
// merge base kept for a text field is the text the server will merge from: the earlier entry's
// value when the edit continues one, the confirmed value otherwise.
func (t *Tablet) fieldEdit(ctx context.Context, tx *sql.Tx, rec *v1.CommittedChange, field, value string) (*v1.Change, map[string]string, error) {
	edit := &v1.FieldEdit{Name: field, Value: value}
	base := ""
	if f := syncer.FieldOf(rec, field); f != nil {
		edit.BaseRev, base = f.Rev, f.Value
	}
	prev, err := t.store.lastEdit(ctx, tx, rec.Record.Id, field)
	if err != nil {
		return nil, nil, err
	}
	if prev != nil {
		edit.AfterSeq = prev.seq
		base = editValue(prev.change, field)
	}
	var bases map[string]string
	if ruleOf(rec.Record.Type, field) == syncer.Text {
		bases = map[string]string{field: base}
	}
	return &v1.Change{Op: v1.Op_OP_UPDATE, Record: rec.Record, Fields: []*v1.FieldEdit{edit}}, bases, nil
}

// write stores one local edit and its outbox entry in one write transaction. build makes the
// change from the confirmed state; stage gives it its sequence number, clock and schema version,
// and checks it as the server will before anything is stored.
func (t *Tablet) write(ctx context.Context, build func(tx *sql.Tx, nowMs int64) (*v1.Change, map[string]string, error)) error {
	if err := t.usable(); err != nil {
		return err
	}
	return t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		now := t.nowMs()
		c, bases, err := build(tx, now)
		if err != nil {
			return err
		}
		return t.stage(ctx, tx, now, c, bases)
	})
}

// stage appends one change to the outbox inside the caller's transaction.
func (t *Tablet) stage(ctx context.Context, tx *sql.Tx, now int64, c *v1.Change, bases map[string]string) error {
	seq, err := metaInt(ctx, tx, metaNextSeq)
	if err != nil {
		return err
	}
	// The tablet cannot know the time better than the newest time it has seen: when its clock
	// has gone back, the change is checked against that, so a consultant can still write.
	// The server checks the clock against its own.
	seen := max(now, t.clock.Last().WallMs())
	c.DeviceSeq = max(seq, 1)
	c.Hlc = uint64(t.clock.Now())
	c.SchemaVersion = syncer.SchemaVersion
	if err := syncer.ValidateChange(c, seen); err != nil {
		return err
	}
	if err := t.store.appendOutbox(ctx, tx, c, bases, now); err != nil {
		return err
	}
	return setMeta(ctx, tx, metaNextSeq, itoa(c.DeviceSeq+1), metaHLC, strconv.FormatUint(uint64(t.clock.Last()), 10))
}

// Resolve closes an open conflict with the text a person chose as the field's value (often one
// of the two sides, or both woven together). The field edit and the conflict's resolution are one
// local transaction; both sync like any other edit, so every tablet sees the conflict closed.
func (t *Tablet) Resolve(ctx context.Context, conflictID, text string) error {
	if err := t.usable(); err != nil {
		return err
	}
	return t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		now := t.nowMs()
		conflict, err := records.Load(ctx, tx, t.store.keys, conflictID)
		if err != nil {
			return err
		}
		if conflict == nil || conflict.Record.Type != syncer.TypeConflict || syncer.Value(conflict, "resolved") != "false" {
			return syncer.Errorf(syncer.CodeNotFound, "No open conflict on this tablet has that id; 'conflicts' lists them.")
		}
		target, err := records.Load(ctx, tx, t.store.keys, syncer.Value(conflict, "record_id"))
		if err != nil {
			return err
		}
		if target == nil {
			return syncer.Errorf(syncer.CodeNotFound, "The record this conflict is about is not on this tablet; sync first.")
		}
		field := syncer.Value(conflict, "field")
		if text != syncer.Value(target, field) {
			c, bases, err := t.fieldEdit(ctx, tx, target, field, text)
			if err != nil {
				return err
			}
			if err := t.stage(ctx, tx, now, c, bases); err != nil {
				return err
			}
		}
		c, bases, err := t.fieldEdit(ctx, tx, conflict, "resolved", "true")
		if err != nil {
			return err
		}
		return t.stage(ctx, tx, now, c, bases)
	})
}

// findVisit returns a visit the tablet holds.
func (s *store) findVisit(ctx context.Context, q querier, visitID string) (*v1.CommittedChange, error) {
	if !syncer.ValidID(visitID) {
		return nil, syncer.Errorf(syncer.CodeInvalid, "That is not a visit id; 'visits' lists the visits on this tablet.")
	}
	rec, err := records.Load(ctx, q, s.keys, visitID)
	if err != nil {
		return nil, err
	}
	if rec == nil || rec.Record.Type != syncer.TypeVisit || rec.Deleted {
		return nil, syncer.Errorf(syncer.CodeNotFound, "No visit on this tablet has id %s; sync first if it is new.", visitID)
	}
	return rec, nil
}

// recordsOfVisit returns a visit's confirmed records of one type, not deleted, in id order.
func (s *store) recordsOfVisit(ctx context.Context, q querier, visitID, typ string) ([]*v1.CommittedChange, error) {
	recs, err := records.Query(ctx, q, s.keys, `SELECT id, state FROM records WHERE visit_id = ? AND type = ? ORDER BY id`, visitID, typ)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(recs, func(r *v1.CommittedChange) bool { return r.Deleted }), nil
}

// editValue is the value a change sets a field to.
func editValue(c *v1.Change, field string) string {
	for _, f := range c.Fields {
		if f.Name == field {
			return f.Value
		}
	}
	return ""
}

// ruleOf is a field's merge rule (0 for a field the schema does not know).
func ruleOf(typ, field string) syncer.Rule {
	if spec, ok := syncer.Schema[typ]; ok {
		if f, ok := spec.Field(field); ok {
			return f.Rule
		}
	}
	return 0
}

// StartVisit records that the visit started now, by the tablet's corrected clock: actual times
// are set by the system, never typed in.
func (t *Tablet) StartVisit(ctx context.Context, visitID string) error {
	return t.setVisitField(ctx, visitID, "actual_start_ms", "")
}

// EndVisit records that the visit ended now, by the tablet's corrected clock.
func (t *Tablet) EndVisit(ctx context.Context, visitID string) error {
	return t.setVisitField(ctx, visitID, "actual_end_ms", "")
}

// SetPresent records who was present at the visit and in what role (one per line).
func (t *Tablet) SetPresent(ctx context.Context, visitID, text string) error {
	return t.setVisitField(ctx, visitID, "present", text)
}

// setVisitField sets one of the visit's fields the consultant records; a time field takes now.
func (t *Tablet) setVisitField(ctx context.Context, visitID, field, value string) error {
	return t.write(ctx, func(tx *sql.Tx, nowMs int64) (*v1.Change, map[string]string, error) {
		visit, err := t.store.findVisit(ctx, tx, visitID)
		if err != nil {
			return nil, nil, err
		}
		if field != "present" {
			value = itoa(nowMs)
		}
		return t.fieldEdit(ctx, tx, visit, field, value)
	})
}

// MarkObservation sets (or, with mark "", clears) an observation's mark for the parents' copy:
// syncer.MarkChildWords or syncer.MarkPlacementAddress. The parents' copy of the report leaves a
// marked observation out and says that something was withheld. An observation still on its way to
// the server may be marked too. Marks are fixed once the visit's report is submitted.
func (t *Tablet) MarkObservation(ctx context.Context, visitID, observationID, mark string) error {
	if err := checkMark(mark); err != nil {
		return err
	}
	return t.write(ctx, func(tx *sql.Tx, _ int64) (*v1.Change, map[string]string, error) {
		if err := t.unlockedReport(ctx, tx, visitID); err != nil {
			return nil, nil, err
		}
		obs, err := t.store.recordsOfVisit(ctx, tx, visitID, syncer.TypeObservation)
		if err != nil {
			return nil, nil, err
		}
		i := slices.IndexFunc(obs, func(r *v1.CommittedChange) bool { return r.Record.Id == observationID })
		if i >= 0 {
			return t.fieldEdit(ctx, tx, obs[i], syncer.MarkField, mark)
		}
		pending, err := t.store.readOutbox(ctx, tx, observationID)
		if err != nil {
			return nil, nil, err
		}
		if len(pending) == 0 || pending[0].change.GetRecord().GetType() != syncer.TypeObservation ||
			editValue(pending[0].change, "visit_id") != visitID {
			return nil, nil, syncer.Errorf(syncer.CodeNotFound, "Visit %s has no observation %s on this tablet.", visitID, clip(observationID))
		}
		return t.fieldEdit(ctx, tx, &v1.CommittedChange{Record: pending[0].change.Record}, syncer.MarkField, mark)
	})
}

// MarkSection sets (or, with mark "", clears) the mark of a whole report section for the
// parents' copy; the parents' copy leaves the section's text out and says what was withheld.
func (t *Tablet) MarkSection(ctx context.Context, visitID, section, mark string) error {
	if !slices.Contains(syncer.ReportSections, section) {
		return syncer.Errorf(syncer.CodeInvalid, "A report has no such section; the sections are: %s.", strings.Join(syncer.ReportSections, ", "))
	}
	if err := checkMark(mark); err != nil {
		return err
	}
	return t.write(ctx, func(tx *sql.Tx, _ int64) (*v1.Change, map[string]string, error) {
		if err := t.unlockedReport(ctx, tx, visitID); err != nil {
			return nil, nil, err
		}
		report, _, err := t.store.visitReport(ctx, tx, visitID)
		if err != nil {
			return nil, nil, err
		}
		return t.fieldEdit(ctx, tx, report, syncer.SectionMarkField(section), mark)
	})
}

// unlockedReport refuses a change to what the visit's report shows once the report is submitted.
func (t *Tablet) unlockedReport(ctx context.Context, tx *sql.Tx, visitID string) error {
	report, _, err := t.store.visitReport(ctx, tx, visitID)
	if err != nil {
		return err
	}
	if locked, err := t.store.submittedHere(ctx, tx, report); err != nil {
		return err
	} else if locked {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "The report of visit %s is submitted and locked; its marks no longer change.", visitID)
	}
	return nil
}

func checkMark(mark string) error {
	if mark != "" && !slices.Contains(syncer.Marks, mark) {
		return syncer.Errorf(syncer.CodeInvalid, "A mark for the parents' copy is %s, or empty for none.", strings.Join(syncer.Marks, " or "))
	}
	return nil
}

// clip shortens an id a caller passed before it goes into an error message.
func clip(s string) string {
	if len(s) > 40 || !syncer.ValidID(s) {
		return "(not a record id)"
	}
	return s
}
