package clientlib

import (
	"context"
	"database/sql"
	"fmt"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// reportUnlockFailures sends the wrong PINs recorded on this tablet (ids and times, never the
// PIN) to the server's audit log, in batches, and forgets each batch once the server says it is
// logged. The server logs each id of a device once, so a batch sent again after its response was
// lost is harmless; ids are random (newUnlockFailureID), so they do not repeat after the home was
// restored from an older copy. It returns how many were forgotten.
func (t *Tablet) reportUnlockFailures(ctx context.Context) (int, error) {
	reported := 0
	for {
		batch, err := t.unreportedUnlockFailures(ctx)
		if err != nil || len(batch) == 0 {
			return reported, err
		}
		res, err := call(ctx, t, "report wrong PINs", &v1.ReportUnlockFailuresRequest{Failures: batch}, t.deviceRPC.ReportUnlockFailures)
		if err != nil {
			return reported, err
		}
		last := batch[len(batch)-1].Id
		if res.ReportedThrough < last {
			return reported, syncer.Errorf(syncer.CodeInternal, "The server did not confirm that it logged this tablet's wrong PINs; they are kept and reported at the next sync.")
		}
		// Only the failures sent: one recorded meanwhile (by another process) may have a lower id.
		var n int64
		err = t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
			for _, f := range batch {
				r, err := tx.ExecContext(ctx, `DELETE FROM unlock_failures WHERE id = ?`, f.Id)
				if err != nil {
					return fmt.Errorf("forget reported wrong PINs: %w", err)
				}
				k, err := r.RowsAffected()
				if err != nil {
					return err
				}
				n += k
			}
			return nil
		})
		if err != nil {
			return reported, err
		}
		reported += int(n)
	}
}

// unreportedUnlockFailures reads the oldest recorded wrong PINs, at most one report's worth.
func (t *Tablet) unreportedUnlockFailures(ctx context.Context) ([]*v1.UnlockFailure, error) {
	rows, err := t.store.db.Read.QueryContext(ctx, `SELECT id, at_ms FROM unlock_failures ORDER BY id LIMIT ?`, syncer.MaxUnlockFailuresPerReport)
	if err != nil {
		return nil, fmt.Errorf("read wrong PINs: %w", err)
	}
	defer rows.Close()
	var out []*v1.UnlockFailure
	for rows.Next() {
		f := &v1.UnlockFailure{}
		if err := rows.Scan(&f.Id, &f.AtMs); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}
