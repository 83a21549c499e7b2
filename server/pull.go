package server

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// Bounds for Pull: a tablet may ask for less, never for more.
const (
	MaxPullChanges = 5000
	MaxPullBytes   = 4 << 20
	maxKnownCases  = 10_000
)

// Pull returns one page for a tablet, read from one consistent snapshot of the database:
//   - cases the user's devices hold (heldCases, by syncer.Rules) that the tablet does not hold yet, as snapshots of their current
//     records (a case assigned after the tablet's first sync has history before its cursor);
//   - cases the tablet holds that the user may no longer see, to purge;
//   - then committed changes after the cursor in the cases the user may see, in commit order.
//
// The page is bounded by count and bytes, and holds at least one record when any is due.
func (s *Store) Pull(ctx context.Context, id Identity, req *v1.PullRequest) (*v1.PullResponse, error) {
	maxChanges, maxBytes := int(req.MaxChanges), req.MaxBytes
	if maxChanges <= 0 || maxChanges > MaxPullChanges {
		maxChanges = MaxPullChanges
	}
	if maxBytes <= 0 || maxBytes > MaxPullBytes {
		maxBytes = MaxPullBytes
	}
	if len(req.KnownCases) > maxKnownCases {
		return nil, syncer.Errorf(syncer.CodeResourceExhausted, "A pull may name at most %d cases the tablet holds.", maxKnownCases)
	}
	for _, c := range append(slices.Clone(req.KnownCases), req.SnapshotCase) {
		if c != "" && !syncer.ValidID(c) {
			return nil, syncer.Errorf(syncer.CodeInvalid, "A pull names a malformed case id.")
		}
	}
	res := &v1.PullResponse{EscrowKey: s.EscrowPublicKey()}
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		var head int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM changes`).Scan(&head); err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		if req.Cursor < 0 {
			return syncer.Errorf(syncer.CodeInvalid, "A pull names a negative sync position.")
		}
		if err := checkPosition(ctx, tx, id.DeviceID, req.Cursor, req.CursorMark, head); err != nil {
			return err
		}
		var err error
		if res.DeviceLastSeq, err = deviceLastSeq(ctx, tx, id.DeviceID); err != nil {
			return err
		}
		scope, err := heldCases(ctx, tx, id)
		if err != nil {
			return err
		}
		b := &pageBuilder{maxChanges: maxChanges, maxBytes: maxBytes}
		if req.Cursor == 0 {
			// A fresh tablet gets every case it may see from the log, from the start.
			res.CompleteCases = scope
		} else {
			for _, c := range req.KnownCases {
				if !slices.Contains(scope, c) {
					res.PurgeCases = append(res.PurgeCases, c)
				}
			}
			if err := s.snapshots(ctx, tx, scope, req, res, b); err != nil {
				return err
			}
		}
		if res.SnapshotCase != "" {
			// The snapshot continues on the next page; the log waits.
			res.NextCursor, res.More = req.Cursor, true
		} else if err := s.logPage(ctx, tx, scope, req.Cursor, head, res, b); err != nil {
			return err
		}
		res.NextCursorMark, _, err = markAt(ctx, tx, res.NextCursor)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// pageBuilder counts what a page holds against its bounds.
type pageBuilder struct {
	maxChanges int
	maxBytes   int64
	n          int
	size       int64
}

// fits reports whether a record of size bytes may join the page: always the first one.
func (b *pageBuilder) fits(size int) bool {
	return b.n == 0 || (b.n < b.maxChanges && b.size+int64(size) <= b.maxBytes)
}

func (b *pageBuilder) add(size int) { b.n, b.size = b.n+1, b.size+int64(size) }

// snapshots adds the current records of cases in scope that the tablet does not hold.
func (s *Store) snapshots(ctx context.Context, tx *sql.Tx, scope []string, req *v1.PullRequest, res *v1.PullResponse, b *pageBuilder) error {
	for _, caseID := range scope {
		if slices.Contains(req.KnownCases, caseID) || (req.SnapshotCase != "" && caseID < req.SnapshotCase) {
			continue
		}
		after := ""
		if caseID == req.SnapshotCase {
			after = req.SnapshotAfter
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, state FROM records WHERE case_id = ? AND id > ? ORDER BY id`, caseID, after)
		if err != nil {
			return fmt.Errorf("read snapshot: %w", err)
		}
		full := false
		for rows.Next() {
			var recID string
			var blob []byte
			if err := rows.Scan(&recID, &blob); err != nil {
				rows.Close()
				return err
			}
			if !b.fits(len(blob)) {
				res.SnapshotCase, res.SnapshotAfter, full = caseID, after, true
				break
			}
			rec, err := records.Decode(s.sealer, recID, blob)
			if err != nil {
				rows.Close()
				return err
			}
			b.add(len(blob))
			res.Snapshot = append(res.Snapshot, rec)
			after = recID
		}
		rows.Close()
		if full {
			return nil
		}
		res.CompleteCases = append(res.CompleteCases, caseID)
	}
	return nil
}

// logPage adds committed changes after cursor in the cases the device holds.
func (s *Store) logPage(ctx context.Context, tx *sql.Tx, held []string, cursor, head int64, res *v1.PullResponse, b *pageBuilder) error {
	if len(held) == 0 {
		res.NextCursor = head
		return nil
	}
	args := make([]any, 0, len(held)+2)
	args = append(args, cursor)
	for _, c := range held {
		args = append(args, c)
	}
	args = append(args, b.maxChanges+1)
	// The page's seqs come from the index by case (migration 0012), sorted as numbers; the
	// effects are then read by seq.
	rows, err := tx.QueryContext(ctx, `SELECT seq, effect FROM changes WHERE seq IN (
		SELECT seq FROM changes
		WHERE seq > ? AND effect IS NOT NULL
		  AND case_id IN (?`+strings.Repeat(", ?", len(held)-1)+`)
		ORDER BY seq LIMIT ?)
		ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("read changes: %w", err)
	}
	defer rows.Close()
	res.NextCursor = head
	for rows.Next() {
		var seq int64
		var blob []byte
		if err := rows.Scan(&seq, &blob); err != nil {
			return err
		}
		if !b.fits(len(blob)) {
			res.More = true
			res.NextCursor = cursor
			if n := len(res.Changes); n > 0 {
				res.NextCursor = res.Changes[n-1].Seq
			}
			break
		}
		ch, err := openEffect(s.sealer, seq, blob)
		if err != nil {
			return err
		}
		b.add(len(blob))
		res.Changes = append(res.Changes, ch)
	}
	return rows.Err()
}

// heldCases lists, sorted, the cases whose records the user's devices hold: those where the
// user's part (caseRolesOf) holds the case by syncer.Rules. Pull delivers these and no others;
// a case the tablet holds that is not among them is purged, also when only the user's part in it
// changed (a consultant who is now only the case's caseworker holds nothing of it).
func heldCases(ctx context.Context, q querier, id Identity) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT case_id, role FROM case_members WHERE user_id = ? ORDER BY case_id`, id.UserID)
	if err != nil {
		return nil, fmt.Errorf("read scope: %w", err)
	}
	defer rows.Close()
	roles := map[string][]string{}
	var cases []string
	for rows.Next() {
		var c, r string
		if err := rows.Scan(&c, &r); err != nil {
			return nil, err
		}
		if !slices.Contains(id.Roles, r) {
			continue
		}
		if _, seen := roles[c]; !seen {
			cases = append(cases, c)
		}
		roles[c] = append(roles[c], r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return slices.DeleteFunc(cases, func(c string) bool { return !syncer.HoldsCase(roles[c]) }), nil
}

// casesOf lists the cases a user works on, sorted.
func casesOf(ctx context.Context, q querier, userID string) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT case_id FROM case_members WHERE user_id = ? ORDER BY case_id`, userID)
	if err != nil {
		return nil, fmt.Errorf("read scope: %w", err)
	}
	defer rows.Close()
	var cases []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cases = append(cases, c)
	}
	return cases, rows.Err()
}
