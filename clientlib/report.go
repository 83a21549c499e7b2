package clientlib

import (
	"context"
	"crypto/ed25519"
	"database/sql"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// The report's lifecycle on the tablet. Submitting signs the report's content digest and the time
// with the device key; the submission syncs like any edit, and the server locks the report when
// it accepts it. From the moment of submitting, the tablet treats the report as locked too:
// corrections are addenda.

// visitReport returns the visit's report (confirmed state) and the visit.
func (s *store) visitReport(ctx context.Context, q querier, visitID string) (report, visit *v1.CommittedChange, err error) {
	visit, err = s.findVisit(ctx, q, visitID)
	if err != nil {
		return nil, nil, err
	}
	reports, err := s.recordsOfVisit(ctx, q, visitID, syncer.TypeReport)
	if err != nil {
		return nil, nil, err
	}
	if len(reports) == 0 {
		return nil, nil, syncer.Errorf(syncer.CodeNotFound, "Visit %s has no report on this tablet yet; sync first.", visitID)
	}
	return reports[0], visit, nil
}

// submittedHere reports whether the report is locked: submitted on the server, or by a
// submission from this tablet still on its way.
func (s *store) submittedHere(ctx context.Context, q querier, report *v1.CommittedChange) (bool, error) {
	if syncer.Locked(report) {
		return true, nil
	}
	pending, err := s.readOutbox(ctx, q, report.Record.Id)
	if err != nil {
		return false, err
	}
	for _, e := range pending {
		if syncer.IsSubmission(e.change) {
			return true, nil
		}
	}
	return false, nil
}

// Submit signs and submits the visit's report as the tablet shows it. A supported visit without
// consent to written descriptions cannot have a report (the observations stay internal notes);
// the tablet says so before anything syncs, and the server refuses it too if the tablet did not
// know. Once submitted the report is locked: corrections are addenda.
func (t *Tablet) Submit(ctx context.Context, visitID string) error {
	return t.write(ctx, func(tx *sql.Tx, nowMs int64) (*v1.Change, map[string]string, error) {
		report, visit, err := t.store.visitReport(ctx, tx, visitID)
		if err != nil {
			return nil, nil, err
		}
		if locked, err := t.store.submittedHere(ctx, tx, report); err != nil {
			return nil, nil, err
		} else if locked {
			return nil, nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The report of visit %s is already submitted; corrections are addenda.", visitID)
		}
		if err := t.store.consentRule(ctx, tx, visit); err != nil {
			return nil, nil, err
		}
		pending, err := t.store.readOutbox(ctx, tx, report.Record.Id)
		if err != nil {
			return nil, nil, err
		}
		fields := visible(report, pending)
		return t.signed(report.Record, v1.Op_OP_UPDATE, nil, func(n string) string { return fields[n] }, nowMs), nil, nil
	})
}

// signed builds a change that sets fields (may be nil) and signs the document's digest and the
// time with the device key.
func (t *Tablet) signed(ref *v1.RecordRef, op v1.Op, fields []*v1.FieldEdit, value func(string) string, nowMs int64) *v1.Change {
	digest := syncer.DocumentDigest(ref.Type, value)
	sig := ed25519.Sign(t.key, syncer.SubmissionPayload(ref.Type, ref.Id, t.device, digest, nowMs))
	return &v1.Change{Op: op, Record: ref, Fields: append(fields,
		&v1.FieldEdit{Name: "digest", Value: digest},
		&v1.FieldEdit{Name: "signature", Value: syncer.EncodeSignature(sig)},
		&v1.FieldEdit{Name: "submitted_ms", Value: itoa(nowMs)},
	)}
}

// AddAddendum writes a dated, signed correction to the visit's submitted report. section names
// the report section it corrects ("" for the report as a whole).
func (t *Tablet) AddAddendum(ctx context.Context, visitID, section, text string) (string, error) {
	id := syncer.NewID()
	err := t.write(ctx, func(tx *sql.Tx, nowMs int64) (*v1.Change, map[string]string, error) {
		report, _, err := t.store.visitReport(ctx, tx, visitID)
		if err != nil {
			return nil, nil, err
		}
		if locked, err := t.store.submittedHere(ctx, tx, report); err != nil {
			return nil, nil, err
		} else if !locked {
			return nil, nil, syncer.Errorf(syncer.CodeFailedPrecondition, "The report of visit %s is not submitted yet: change the report itself; addenda are for submitted reports.", visitID)
		}
		fields := map[string]string{"report_id": report.Record.Id, "section": section, "text": text}
		edits := []*v1.FieldEdit{{Name: "report_id", Value: report.Record.Id}, {Name: "visit_id", Value: visitID}, {Name: "text", Value: text}}
		if section != "" {
			edits = append(edits, &v1.FieldEdit{Name: "section", Value: section})
		}
		ref := &v1.RecordRef{Type: syncer.TypeAddendum, Id: id, CaseId: report.Record.CaseId}
		return t.signed(ref, v1.Op_OP_CREATE, edits, func(n string) string { return fields[n] }, nowMs), nil, nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// SignAddendum signs an addendum draft as it stands: the server made it from an edit that reached
// a report after the report was submitted.
func (t *Tablet) SignAddendum(ctx context.Context, addendumID string) error {
	return t.write(ctx, func(tx *sql.Tx, nowMs int64) (*v1.Change, map[string]string, error) {
		rec, err := records.Load(ctx, tx, t.store.keys, addendumID)
		if err != nil {
			return nil, nil, err
		}
		if rec == nil || rec.Deleted || rec.Record.Type != syncer.TypeAddendum {
			return nil, nil, syncer.Errorf(syncer.CodeNotFound, "No addendum on this tablet has id %s.", addendumID)
		}
		if locked, err := t.store.submittedHere(ctx, tx, rec); err != nil {
			return nil, nil, err
		} else if locked {
			return nil, nil, syncer.Errorf(syncer.CodeFailedPrecondition, "Addendum %s is already signed.", addendumID)
		}
		pending, err := t.store.readOutbox(ctx, tx, addendumID)
		if err != nil {
			return nil, nil, err
		}
		fields := visible(rec, pending)
		return t.signed(rec.Record, v1.Op_OP_UPDATE, nil, func(n string) string { return fields[n] }, nowMs), nil, nil
	})
}
