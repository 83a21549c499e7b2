package clientlib

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// The case system is the record of truth: once a report is delivered, what was written for it
// leaves the tablet. After every sync, a report acknowledged by the caseworker (after
// Options.PurgeAcknowledgedAfter) or submitted long enough ago (Options.PurgeSubmittedAfter) has
// the text of the report, its addenda, the parents' comments, the visit's observations and any
// conflict about them stripped from the tablet: only ids, states and times remain, so the visit
// still shows what happened to its report. A record with a change still waiting to be sent is
// left until the change is confirmed. A stripped record differs from the server's copy, so a
// case's digest on the tablet no longer equals the server's once a report of it is purged.

// DefaultPurgeSubmittedAfter is how long a submitted report that nobody acknowledges stays on
// the tablet.
const DefaultPurgeSubmittedAfter = 14 * 24 * time.Hour

// purgeDelivered strips delivered reports; it returns how many reports it purged.
func (t *Tablet) purgeDelivered(ctx context.Context) (int, error) {
	now := t.nowMs()
	n := 0
	err := t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		reports, err := records.Query(ctx, tx, t.store.keys, `SELECT id, state FROM records WHERE type = ? ORDER BY id`, syncer.TypeReport)
		if err != nil {
			return err
		}
		for _, rep := range reports {
			if !t.purgeDue(rep, now) {
				continue
			}
			visitID := syncer.Value(rep, "visit_id")
			recs, err := records.Query(ctx, tx, t.store.keys, `SELECT id, state FROM records WHERE visit_id = ? AND type IN (?, ?, ?)
				UNION ALL SELECT id, state FROM records WHERE id = ?`, visitID,
				syncer.TypeAddendum, syncer.TypeParentComment, syncer.TypeObservation, rep.Record.Id)
			if err != nil {
				return err
			}
			conflicts, err := records.Query(ctx, tx, t.store.keys, `SELECT id, state FROM records WHERE case_id = ? AND type = ?`, rep.Record.CaseId, syncer.TypeConflict)
			if err != nil {
				return err
			}
			ids := map[string]bool{}
			for _, r := range recs {
				ids[r.Record.Id] = true
			}
			for _, c := range conflicts {
				if ids[syncer.Value(c, "record_id")] {
					recs = append(recs, c)
				}
			}
			waiting := false
			for _, r := range recs {
				var k int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE record_id = ?`, r.Record.Id).Scan(&k); err != nil {
					return fmt.Errorf("read outbox: %w", err)
				}
				waiting = waiting || k > 0
			}
			if waiting || !anySensitive(recs) {
				continue
			}
			stripped := make([]string, len(recs))
			for i, r := range recs {
				if err := t.store.saveStripped(ctx, tx, r); err != nil {
					return err
				}
				stripped[i] = r.Record.Id
			}
			// The changes kept for a restored server hold the same text: it goes too.
			if err := forgetChangesOf(ctx, tx, stripped); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}

// purgeDue reports whether a report's time on the tablet is over.
func (t *Tablet) purgeDue(rep *v1.CommittedChange, nowMs int64) bool {
	at := func(field string) int64 {
		v, _ := strconv.ParseInt(syncer.Value(rep, field), 10, 64)
		return v
	}
	switch syncer.State(rep) {
	case syncer.StateAcknowledged:
		return at("acknowledged_ms")+t.opts.PurgeAcknowledgedAfter.Milliseconds() <= nowMs
	case syncer.StateSubmitted:
		return at("submitted_ms")+t.opts.PurgeSubmittedAfter.Milliseconds() <= nowMs
	}
	return false
}

func sensitive(rec *v1.CommittedChange, field string) bool {
	spec, ok := syncer.Schema[rec.Record.Type]
	if !ok {
		return true
	}
	f, ok := spec.Field(field)
	return !ok || f.Sensitive
}

func anySensitive(recs []*v1.CommittedChange) bool {
	for _, r := range recs {
		for _, f := range r.Fields {
			if sensitive(r, f.Name) {
				return true
			}
		}
	}
	return false
}

// saveStripped stores a record without its sensitive fields (secure_delete overwrites the old
// bytes).
func (s *store) saveStripped(ctx context.Context, tx *sql.Tx, rec *v1.CommittedChange) error {
	kept := rec.Fields[:0]
	for _, f := range rec.Fields {
		if !sensitive(rec, f.Name) {
			kept = append(kept, f)
		}
	}
	rec.Fields = kept
	blob, err := s.encodeState(rec)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE records SET state = ? WHERE id = ?`, blob, rec.Record.Id); err != nil {
		return fmt.Errorf("purge record: %w", err)
	}
	return nil
}
