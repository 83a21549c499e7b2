package server

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// ReportUnlockFailures writes the wrong PINs a tablet reports to the audit log, one entry per
// failure, each with the device, its user and the tablet's time of the failure. Failures carry
// the tablet's increasing row ids; the device's row remembers the highest id logged, so a report
// sent again after its response was lost logs nothing twice. It returns that highest id.
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
	var through int64
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT unlock_failures_reported FROM devices WHERE id = ?`, id.DeviceID).Scan(&through); err != nil {
			return fmt.Errorf("read device: %w", err)
		}
		logged := through
		for _, f := range failures {
			if f.Id <= logged {
				continue // logged by an earlier report whose response was lost
			}
			err := s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditPINFailed, ActorUserID: id.UserID, DeviceID: id.DeviceID,
				Detail: map[string]string{"tablet_at_ms": strconv.FormatInt(f.AtMs, 10), "tablet_failure_id": strconv.FormatInt(f.Id, 10)}})
			if err != nil {
				return err
			}
			through = f.Id
		}
		if through == logged {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE devices SET unlock_failures_reported = ? WHERE id = ?`, through, id.DeviceID)
		return err
	})
	return through, err
}
