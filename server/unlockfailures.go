package server

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// ReportUnlockFailures writes the wrong PINs a tablet reports to the audit log, one entry per
// failure, each with the device, its user and the tablet's time of the failure, in the order of
// those times. Each failure carries an id the tablet drew at random; the server logs each id of a
// device once (unlock_failures_logged), so a report sent again after its response was lost logs
// nothing twice, and failures entered on a tablet restored from an older copy of its home are
// logged like any others. It returns the highest id of the report: every failure in it is logged.
func (s *Store) ReportUnlockFailures(ctx context.Context, id Identity, failures []*v1.UnlockFailure) (int64, error) {
	if len(failures) > syncer.MaxUnlockFailuresPerReport {
		return 0, syncer.Errorf(syncer.CodeInvalid, "A report may hold at most %d wrong PINs; this one holds %d.", syncer.MaxUnlockFailuresPerReport, len(failures))
	}
	now := s.nowMs()
	for i, f := range failures {
		if f.Id <= 0 {
			return 0, syncer.Errorf(syncer.CodeInvalid, "Each reported wrong PIN needs a positive id; one has %d.", f.Id)
		}
		if i > 0 && f.Id <= failures[i-1].Id {
			return 0, syncer.Errorf(syncer.CodeInvalid, "Wrong PINs must be reported in increasing id order; %d follows %d.", f.Id, failures[i-1].Id)
		}
		if f.AtMs <= 0 || f.AtMs > now+syncer.MaxClockSkewMs {
			return 0, syncer.Errorf(syncer.CodeInvalid, "Wrong PIN %d has an impossible time (before 1970 or in the future); check the tablet's clock.", f.Id)
		}
	}
	if len(failures) == 0 {
		return 0, nil
	}
	byTime := slices.Clone(failures)
	slices.SortStableFunc(byTime, func(a, b *v1.UnlockFailure) int { return cmp.Compare(a.AtMs, b.AtMs) })
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		for _, f := range byTime {
			res, err := tx.ExecContext(ctx, `INSERT INTO unlock_failures_logged (device_id, failure_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
				id.DeviceID, f.Id)
			if err != nil {
				return fmt.Errorf("record logged wrong PIN: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("record logged wrong PIN: %w", err)
			}
			if n == 0 {
				continue // logged by an earlier report whose response was lost
			}
			err = s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditPINFailed, ActorUserID: id.UserID, DeviceID: id.DeviceID,
				Detail: map[string]string{"tablet_at_ms": strconv.FormatInt(f.AtMs, 10), "tablet_failure_id": strconv.FormatInt(f.Id, 10)}})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return failures[len(failures)-1].Id, nil
}
