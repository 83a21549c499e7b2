package clientlib

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// The case system is the record of truth: once a report is delivered, what was written for it
// leaves the tablet. After every sync, a report acknowledged by the caseworker (after
// Options.PurgeAcknowledgedAfter) or submitted long enough ago (Options.PurgeSubmittedAfter) has
// its family (syncer.ReportFamily: the report, its addenda, the parents' comments, the visit's
// observations and any conflict about them) stripped of what a person wrote: only ids, states
// and times remain, so the visit still shows what happened to its report. A record with a change
// still waiting to be sent is left until the change is confirmed. The digest applies the same
// rule (syncer.HeldState), so a purged tablet's digest still equals the server's.

// DefaultPurgeSubmittedAfter is how long a submitted report that nobody acknowledges stays on
// the tablet.
const DefaultPurgeSubmittedAfter = syncer.DefaultSubmittedRetentionMs * time.Millisecond

// retention is the tablet's purge timing.
func (t *Tablet) retention() syncer.Retention {
	return syncer.Retention{AfterAcknowledgedMs: t.opts.PurgeAcknowledgedAfter.Milliseconds(), AfterSubmittedMs: t.opts.PurgeSubmittedAfter.Milliseconds()}
}

// purgeDelivered strips delivered reports; it returns how many reports it purged.
func (t *Tablet) purgeDelivered(ctx context.Context) (int, error) {
	now := t.nowMs()
	n := 0
	err := t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		reports, err := records.Query(ctx, tx, t.store.keys, `SELECT id, state FROM records WHERE type = ? ORDER BY id`, syncer.TypeReport)
		if err != nil {
			return err
		}
		cases := map[string][]*v1.CommittedChange{}
		for _, rep := range reports {
			if !t.retention().Due(rep, now) {
				continue
			}
			caseID := rep.Record.CaseId
			if _, ok := cases[caseID]; !ok {
				if cases[caseID], err = records.Query(ctx, tx, t.store.keys, `SELECT id, state FROM records WHERE case_id = ? ORDER BY id`, caseID); err != nil {
					return err
				}
			}
			recs := syncer.ReportFamily(rep, cases[caseID])
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

func anySensitive(recs []*v1.CommittedChange) bool {
	for _, r := range recs {
		for _, f := range r.Fields {
			if syncer.SensitiveField(r.Record.Type, f.Name) {
				return true
			}
		}
	}
	return false
}

// saveStripped stores a record without its sensitive fields (secure_delete overwrites the old
// bytes).
func (s *store) saveStripped(ctx context.Context, tx *sql.Tx, rec *v1.CommittedChange) error {
	blob, err := s.encodeState(syncer.Stripped(rec))
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE records SET state = ? WHERE id = ?`, blob, rec.Record.Id); err != nil {
		return fmt.Errorf("purge record: %w", err)
	}
	return nil
}
