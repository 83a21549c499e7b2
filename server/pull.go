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
	if len(req.KnownCases) > maxKnownCases {
		return nil, syncer.Errorf(syncer.CodeResourceExhausted, "A pull may name at most %d cases the tablet holds.", maxKnownCases)
	}
	for _, c := range append(slices.Clone(req.KnownCases), req.SnapshotCase) {
		if c != "" && !syncer.ValidID(c) {
			return nil, syncer.Errorf(syncer.CodeInvalid, "A pull names a malformed case id.")
		}
	}
	res := &v1.PullResponse{EscrowKey: s.EscrowPublicKey()}
	if req.Cursor < 0 {
		return nil, syncer.Errorf(syncer.CodeInvalid, "A pull names a negative sync position.")
	}
	if s.pg != nil && req.Cursor > 0 && req.SnapshotCase == "" {
		done, err := s.quickPull(ctx, id, req, res, pageFor(req))
		if err != nil || done {
			if done {
				pulls.WithLabelValues("statement").Inc()
			}
			return res, err
		}
		res = &v1.PullResponse{EscrowKey: res.EscrowKey}
	}
	if err := s.pullInTx(ctx, id, req, res, pageFor(req)); err != nil {
		return nil, err
	}
	pulls.WithLabelValues("transaction").Inc()
	return res, nil
}

// pullInTx answers any pull in one read transaction: a tablet's first, one that needs a case's
// snapshot, one whose snapshot continues, and any quickPull leaves.
func (s *Store) pullInTx(ctx context.Context, id Identity, req *v1.PullRequest, res *v1.PullResponse, b *pageBuilder) error {
	return s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		at, err := readPullStart(ctx, tx, id, req.Cursor)
		if err != nil {
			return err
		}
		head, scope := at.head, at.held
		if err := checkPositionAt(ctx, tx, id.DeviceID, req.Cursor, req.CursorMark, head, at.atCursor); err != nil {
			return err
		}
		res.DeviceLastSeq = at.lastSeq
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
		if res.NextCursor == head {
			res.NextCursorMark = at.headMark
			return nil
		}
		res.NextCursorMark, _, err = markAt(ctx, tx, res.NextCursor)
		return err
	})
}

// pageBuilder counts what a page holds against its bounds.
type pageBuilder struct {
	maxChanges int
	maxBytes   int64
	n          int
	size       int64
}

// pageFor is an empty page within the request's bounds, which may be less than the server's,
// never more.
func pageFor(req *v1.PullRequest) *pageBuilder {
	b := &pageBuilder{maxChanges: int(req.MaxChanges), maxBytes: req.MaxBytes}
	if b.maxChanges <= 0 || b.maxChanges > MaxPullChanges {
		b.maxChanges = MaxPullChanges
	}
	if b.maxBytes <= 0 || b.maxBytes > MaxPullBytes {
		b.maxBytes = MaxPullBytes
	}
	return b
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
		if added, err := s.addLogRow(res, b, cursor, seq, blob); err != nil || !added {
			return err
		}
	}
	return rows.Err()
}

// addLogRow adds the change of the log's row seq to the page; false when the page is full (the
// row is left for the next page, which starts after the page's last change).
func (s *Store) addLogRow(res *v1.PullResponse, b *pageBuilder, cursor, seq int64, blob []byte) (bool, error) {
	if !b.fits(len(blob)) {
		res.More = true
		res.NextCursor = cursor
		if n := len(res.Changes); n > 0 {
			res.NextCursor = res.Changes[n-1].Seq
		}
		return false, nil
	}
	ch, err := openEffect(s.sealer, seq, blob)
	if err != nil {
		return false, err
	}
	b.add(len(blob))
	res.Changes = append(res.Changes, ch)
	return true, nil
}

// quickPull answers, on PostgreSQL, the pull of a tablet that holds every case it may see, the
// pull of nearly every sync, with one statement outside a transaction (one snapshot all the
// same): the start of readPullStart and, beside it, the log's page of the cases the user's roles
// hold. Every sync wakes its case's other tablets to pull, so pulls are most of what the
// database answers, and this is one round trip where the transaction took three. It is done
// false when the tablet needs more than a page of the log: a snapshot of a case new to it
// (Pull's transaction reads it).
//
// SQLite, in the process, pays no round trip for a transaction. Through this statement it read a
// fresh tablet's pages of 5,000 slower (initial sync 35k records/s, against 52k through the
// transaction), and the load test's p99 was no better (115 ms with the statement for pages of up
// to 500, 117 ms without), so it answers every pull in a transaction.
//
// The page's cases are chosen in SQL by role: a case where one of the user's roles that holds a
// case (syncer.HoldsCase) is hers. holdingCases, the rule, is asked too; should the two ever
// differ, the transaction answers.
func (s *Store) quickPull(ctx context.Context, id Identity, req *v1.PullRequest, res *v1.PullResponse, b *pageBuilder) (done bool, err error) {
	var holding []any
	for _, r := range id.Roles {
		if slices.Contains(holdingRoles, r) {
			holding = append(holding, r)
		}
	}
	if len(holding) == 0 {
		holding = append(holding, "") // no role is named ""
	}
	args := []any{req.Cursor, id.DeviceID, id.UserID}
	pageSQL, pageArgs := pageSeqs(id, holding, req.Cursor, b.maxChanges+1)
	args = append(args, pageArgs...)
	// The start's rows come first and the page's in seq order (the loop checks it, and leaves
	// the pull to the transaction should it not hold).
	rows, err := s.read.QueryContext(ctx, `SELECT 's', p.head, p.head_mark, p.at_cursor, p.last_seq, m.case_id, m.role, NULL, NULL, NULL
		`+pullStartFrom+`
		UNION ALL
		SELECT 'c', NULL, NULL, NULL, NULL, NULL, NULL, seq, effect, mark FROM changes WHERE seq IN (`+pageSQL+`)
		ORDER BY 1 DESC, 8`, args...)
	if err != nil {
		return false, fmt.Errorf("read pull: %w", err)
	}
	defer rows.Close()
	var at pullStart
	var headMark, lastSeq sql.NullInt64
	var parts []casePart
	byRole := map[string]bool{} // the cases the page's SQL chose
	started, full := false, false
	var pageMark, prev int64
	for rows.Next() {
		var kind string
		var head, hMark, atCursor, last, seq, mark sql.NullInt64
		var caseID, role sql.NullString
		var blob []byte
		if err := rows.Scan(&kind, &head, &hMark, &atCursor, &last, &caseID, &role, &seq, &blob, &mark); err != nil {
			return false, err
		}
		if kind == "s" {
			if started {
				return false, nil // a start row after the page's: not in the order this reads
			}
			at.head, at.atCursor, headMark, lastSeq = head.Int64, atCursor, hMark, last
			if caseID.Valid {
				parts = append(parts, casePart{caseID.String, role.String})
				if slices.Contains(holding, any(role.String)) {
					byRole[caseID.String] = true
				}
			}
			continue
		}
		if !started {
			// The start's rows come first: decide before the page whether it is ours to give.
			started = true
			if ok, err := s.quickPullApplies(ctx, id, req, res, &at, headMark, lastSeq, parts, byRole); err != nil || !ok {
				return false, err
			}
		}
		if seq.Int64 <= prev {
			return false, nil // the page's rows out of seq order
		}
		prev = seq.Int64
		if full {
			continue // read on: a start row after these would void the page
		}
		added, err := s.addLogRow(res, b, req.Cursor, seq.Int64, blob)
		if err != nil {
			return false, err
		}
		if !added {
			full = true
			res.NextCursorMark = pageMark
			continue
		}
		pageMark = mark.Int64
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("read pull: %w", err)
	}
	if !started { // no change is due: the start alone answers
		return s.quickPullApplies(ctx, id, req, res, &at, headMark, lastSeq, parts, byRole)
	}
	return true, nil
}

// pageSeqs is the query of the seqs of a quickPull's page: the first n changes after cursor in
// the cases where one of the user's roles that holds a case (holding) is hers, by the index by
// case (migration 0012), and its arguments.
//
// The cursor is compared through a subquery, so PostgreSQL plans the statement the same way
// whatever the cursor is: with the cursor as a constant, its cost looked so much lower than the
// cached plan's that PostgreSQL planned the statement anew at every pull (a third more of its
// CPU in the load test). Each case's changes come through a LATERAL join, so the plan reads the
// index by case whatever it estimates (the cached plan otherwise walks every case's changes
// since the cursor, which a tablet that was offline for days would pay).
func pageSeqs(id Identity, holding []any, cursor int64, n int) (string, []any) {
	args := append([]any{id.UserID}, holding...)
	return `SELECT p.seq FROM (SELECT DISTINCT case_id FROM case_members WHERE user_id = ? AND role IN (?` + strings.Repeat(", ?", len(holding)-1) + `)) h
			CROSS JOIN LATERAL (SELECT seq FROM changes
				WHERE case_id = h.case_id AND seq > (SELECT CAST(? AS BIGINT)) AND effect IS NOT NULL
				ORDER BY seq LIMIT ?) p
			ORDER BY p.seq LIMIT ?`, append(args, cursor, n, n)
}

// quickPullApplies finishes the start of a quickPull (at, from the statement's first rows) and
// says whether the page is the answer: the tablet's position is one the log holds, it holds every
// case the user may see, and the cases chosen by role are those holdingCases names. Cases the
// tablet holds that the user may no longer see go in the answer to purge, and the answer ends at
// the head until a full page says otherwise.
func (s *Store) quickPullApplies(ctx context.Context, id Identity, req *v1.PullRequest, res *v1.PullResponse, at *pullStart,
	headMark, lastSeq sql.NullInt64, parts []casePart, byRole map[string]bool) (bool, error) {
	if !lastSeq.Valid {
		return false, fmt.Errorf("read device: %w", sql.ErrNoRows)
	}
	at.headMark, at.lastSeq = headMark.Int64, lastSeq.Int64
	at.held = holdingCases(id, parts)
	if err := checkPositionAt(ctx, s.read, id.DeviceID, req.Cursor, req.CursorMark, at.head, at.atCursor); err != nil {
		return false, err
	}
	if len(at.held) != len(byRole) {
		return false, nil
	}
	for _, c := range at.held {
		if !byRole[c] || !slices.Contains(req.KnownCases, c) {
			return false, nil // a case new to the tablet: its snapshot comes first
		}
	}
	res.DeviceLastSeq = at.lastSeq
	for _, c := range req.KnownCases {
		if !slices.Contains(at.held, c) {
			res.PurgeCases = append(res.PurgeCases, c)
		}
	}
	res.NextCursor, res.NextCursorMark = at.head, at.headMark
	return true, nil
}

// pullStart is what a pull reads before its page.
type pullStart struct {
	head     int64         // the log's newest seq (0: empty)
	headMark int64         // the mark of the row at head
	atCursor sql.NullInt64 // the mark of the row at the tablet's cursor, NULL when the log has none
	lastSeq  int64         // the device's last seq the server holds
	held     []string      // the cases whose records the user's devices hold, sorted (heldCases)
}

// pullStartFrom is the FROM clause of a pull's start (readPullStart, quickPull), with the
// cursor, the device and the user as its arguments: one row of the log's head, the marks of its
// newest row and of the cursor's, and the device's last seq, per role the user has in a case
// (one row, with NULLs, when she has none).
const pullStartFrom = `FROM (SELECT (SELECT COALESCE(MAX(seq), 0) FROM changes) AS head,
			(SELECT mark FROM changes WHERE seq = (SELECT MAX(seq) FROM changes)) AS head_mark,
			(SELECT mark FROM changes WHERE seq = ?) AS at_cursor,
			(SELECT last_seq FROM devices WHERE id = ?) AS last_seq) p
		LEFT JOIN case_members m ON m.user_id = ?`

// readPullStart reads a pull's start in one statement: on PostgreSQL one round trip, which the
// transaction's BEGIN travels with. Pulls are most of what the database answers (every sync wakes
// the case's other tablets), and each statement here used to be a round trip of its own. The
// user's part in her cases comes as one row per role, beside the same scalars; one row of NULLs
// when she has none.
func readPullStart(ctx context.Context, q querier, id Identity, cursor int64) (pullStart, error) {
	rows, err := q.QueryContext(ctx, `SELECT p.head, p.head_mark, p.at_cursor, p.last_seq, m.case_id, m.role
		`+pullStartFrom+`
		ORDER BY m.case_id`, cursor, id.DeviceID, id.UserID)
	if err != nil {
		return pullStart{}, fmt.Errorf("read pull start: %w", err)
	}
	defer rows.Close()
	var at pullStart
	var headMark, lastSeq sql.NullInt64
	var parts []casePart
	for rows.Next() {
		var caseID, role sql.NullString
		if err := rows.Scan(&at.head, &headMark, &at.atCursor, &lastSeq, &caseID, &role); err != nil {
			return pullStart{}, err
		}
		if caseID.Valid {
			parts = append(parts, casePart{caseID.String, role.String})
		}
	}
	if err := rows.Err(); err != nil {
		return pullStart{}, fmt.Errorf("read pull start: %w", err)
	}
	if !lastSeq.Valid {
		return pullStart{}, fmt.Errorf("read device: %w", sql.ErrNoRows)
	}
	at.headMark, at.lastSeq = headMark.Int64, lastSeq.Int64
	at.held = holdingCases(id, parts)
	return at, nil
}

// casePart is one role a user has in a case (a row of case_members).
type casePart struct{ caseID, role string }

// holdingCases lists, sorted, the cases whose records the user's devices hold, from her parts in
// her cases sorted by case: those where her part (caseRolesOf) holds the case by syncer.Rules.
// Pull delivers these and no others; a case the tablet holds that is not among them is purged,
// also when only the user's part in it changed (a consultant who is now only the case's
// caseworker holds nothing of it).
func holdingCases(id Identity, parts []casePart) []string {
	roles := map[string][]string{}
	var cases []string
	for _, p := range parts {
		if !slices.Contains(id.Roles, p.role) {
			continue
		}
		if _, seen := roles[p.caseID]; !seen {
			cases = append(cases, p.caseID)
		}
		roles[p.caseID] = append(roles[p.caseID], p.role)
	}
	return slices.DeleteFunc(cases, func(c string) bool { return !syncer.HoldsCase(roles[c]) })
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
