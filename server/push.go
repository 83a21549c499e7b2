package server

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/sqltx"
	"github.com/samvaer/sync/syncer"
)

// Identity is who makes a request: a user on an enrolled device.
type Identity struct {
	UserID   string
	DeviceID string
	Roles    []string
}

// Push applies a device's changes in device-seq order, each exactly once, in one transaction.
// A change whose seq the server has seen with the same content is answered with its first
// result. The batch is refused whole, with nothing stored, when any change is malformed, a seq
// is missing, or a seq the server holds comes with other content (history.go).
func (s *Store) Push(ctx context.Context, id Identity, changes []*v1.Change) ([]*v1.ChangeResult, error) {
	return s.PushAt(ctx, id, 0, 0, changes)
}

// PushAt is Push from a tablet whose pull position is (cursor, mark): it is refused with a
// HistoryMismatch when the log no longer holds that commit, since the changes' base revisions
// would name commits the server does not have.
func (s *Store) PushAt(ctx context.Context, id Identity, cursor, mark int64, changes []*v1.Change) ([]*v1.ChangeResult, error) {
	if len(changes) > syncer.MaxChangesPerPush {
		return nil, syncer.Errorf(syncer.CodeResourceExhausted, "A push may hold at most %d changes; this one holds %d.", syncer.MaxChangesPerPush, len(changes))
	}
	if err := s.openEscrowed(changes); err != nil {
		return nil, err
	}
	now := s.nowMs()
	for i, c := range changes {
		if err := syncer.ValidateChange(c, now); err != nil {
			return nil, err
		}
		if i > 0 && c.DeviceSeq <= changes[i-1].DeviceSeq {
			return nil, syncer.Errorf(syncer.CodeInvalid, "Changes must be pushed in increasing sequence order; %d follows %d.", c.DeviceSeq, changes[i-1].DeviceSeq)
		}
	}
	results := make([]*v1.ChangeResult, 0, len(changes))
	// What the batch of creates reads of records (startBatch), for every create the push holds
	// (a retried one too: the device's last seq is read in the transaction): the first chunk of
	// it is read with the device's row.
	lookup := batchLookup(pushCreates(changes, 0))
	first := lookup[:min(len(lookup), lookupChunk)]
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		at, err := s.readPushStart(ctx, tx, id, cursor, changes, first)
		if err != nil {
			return err
		}
		lastSeq, head := at.lastSeq, at.head
		log, err := s.newCommitLogAt(ctx, tx, now, head)
		if err != nil {
			return err
		}
		log.audit = &at.audit
		if err := checkPositionAt(ctx, tx, id.DeviceID, cursor, mark, head, at.atCursor); err != nil {
			return err
		}
		rc := newReceipts(s.receiptKey)
		creates, visits := pushCreates(changes, lastSeq)
		if err := log.startBatch(creates, visits, lookup, len(first), at.records); err != nil {
			return err
		}
		scope := newScope(ctx, tx, id)
		scope.know(at.parts)
		hist := txHistory{ctx: ctx, q: tx, keys: s.sealer, log: log}
		hasher := newContentHasher(s.hashKey)
		for _, c := range changes {
			if log.pushedHash, err = hasher.hash(c); err != nil {
				return err
			}
			if c.DeviceSeq <= lastSeq {
				r, mark, err := priorResult(ctx, tx, id.DeviceID, c.DeviceSeq, log.pushedHash)
				if err != nil {
					return err
				}
				if r == nil {
					return reusedSeq(c.DeviceSeq, lastSeq, log.next-1)
				}
				if err := rc.give(id.DeviceID, c, r, mark); err != nil {
					return err
				}
				results = append(results, r)
				continue
			}
			if c.DeviceSeq != lastSeq+1 {
				return lostChanges(c.DeviceSeq, lastSeq, log.next-1)
			}
			lastSeq = c.DeviceSeq
			r, err := s.applyChange(log, hist, scope, id, c, rc)
			if err != nil {
				return fmt.Errorf("push change %d: %w", c.DeviceSeq, err)
			}
			if err := rc.give(id.DeviceID, c, r, log.mark); err != nil {
				return err
			}
			results = append(results, r)
		}
		if err := log.flush(); err != nil {
			return err
		}
		if err := s.auditChanges(log, door{id.UserID, id.DeviceID, "sync"}); err != nil {
			return err
		}
		_, err = tx.ExecContext(sqltx.Later(ctx), `UPDATE devices SET last_seq = ?, last_seen_ms = ? WHERE id = ?`, lastSeq, now, id.DeviceID)
		return err
	})
	if err != nil {
		return nil, err
	}
	for _, c := range changes {
		s.clock.Observe(syncer.HLC(c.Hlc))
	}
	return results, nil
}

// pushCreates lists the records the changes after lastSeq create, and the visits their
// observations name.
func pushCreates(changes []*v1.Change, lastSeq int64) (creates, visits []string) {
	for _, c := range changes {
		if c.DeviceSeq > lastSeq && c.Op == v1.Op_OP_CREATE {
			creates = append(creates, c.Record.Id)
			if c.Record.Type == syncer.TypeObservation {
				visits = append(visits, editValue(c, "visit_id"))
			}
		}
	}
	return creates, visits
}

// pushStart is what a push reads before it applies its changes.
type pushStart struct {
	lastSeq  int64         // the device's last seq the server holds
	head     int64         // the log's newest seq
	atCursor sql.NullInt64 // the mark of the log's row at the tablet's cursor, NULL when it has none
	audit    auditTail
	parts    map[string][]string // the user's roles in each case the push names (none: not a member)
	records  []foundRecord       // the rows of records among the ids looked up
}

// readPushStart reads a push's start in one statement: on PostgreSQL one round trip, with the
// BEGIN and the write lock, and every round trip of a push is made holding the lock every
// instance's writes wait for. The rows of its two parts are told apart by their first column:
//   - 'd': the device's row, the log's head, the mark at the tablet's cursor and the audit
//     chain's tail, once per role the user has in the cases the push names (once, with NULLs,
//     when she has none);
//   - 'r': the rows of records among lookup (startBatch).
func (s *Store) readPushStart(ctx context.Context, tx *sql.Tx, id Identity, cursor int64, changes []*v1.Change, lookup []string) (pushStart, error) {
	at := pushStart{parts: map[string][]string{}}
	args := []any{cursor, id.UserID}
	for _, c := range changes {
		if _, seen := at.parts[c.Record.CaseId]; !seen {
			at.parts[c.Record.CaseId] = nil
			args = append(args, c.Record.CaseId)
		}
	}
	if len(args) == 2 {
		args = append(args, "") // no case has an empty id
	}
	cases := len(args) - 2
	args = append(args, id.DeviceID)
	query := `SELECT 'd', d.last_seq, (SELECT COALESCE(MAX(seq), 0) FROM changes), (SELECT mark FROM changes WHERE seq = ?),
		` + s.auditTailColumns() + `, m.case_id, m.role, NULL
		FROM devices d LEFT JOIN case_members m ON m.user_id = ? AND m.case_id IN (?` + strings.Repeat(", ?", cases-1) + `)
		WHERE d.id = ?`
	if len(lookup) > 0 {
		query += `
		UNION ALL
		SELECT 'r', NULL, NULL, NULL, NULL, NULL, NULL, id, NULL, state FROM records WHERE id IN (?` + strings.Repeat(", ?", len(lookup)-1) + `)`
		for _, id := range lookup {
			args = append(args, id)
		}
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return pushStart{}, fmt.Errorf("read device: %w", err)
	}
	defer rows.Close()
	found := false
	for rows.Next() {
		var kind string
		var lastSeq, head, seq sql.NullInt64
		var maxID sql.NullInt64
		var prev, state []byte
		var key, role sql.NullString
		var atCursor sql.NullInt64
		if err := rows.Scan(&kind, &lastSeq, &head, &atCursor, &prev, &seq, &maxID, &key, &role, &state); err != nil {
			return pushStart{}, err
		}
		if kind == "r" {
			at.records = append(at.records, foundRecord{id: key.String, state: state})
			continue
		}
		at.lastSeq, at.head, at.atCursor = lastSeq.Int64, head.Int64, atCursor
		at.audit, found = auditTailOf(prev, seq, maxID.Int64), true
		if key.Valid {
			at.parts[key.String] = append(at.parts[key.String], role.String)
		}
	}
	if err := rows.Err(); err != nil {
		return pushStart{}, fmt.Errorf("read device: %w", err)
	}
	if !found {
		return pushStart{}, fmt.Errorf("read device: %w", sql.ErrNoRows)
	}
	return at, nil
}

// applyChange merges one new change and logs it with its consequences. A change sent again
// with a receipt for a commit the server lost (receipts.go) was checked against the rules when
// it was first taken, and is taken again whatever the restore did to its user's assignment.
func (s *Store) applyChange(log *commitLog, hist txHistory, scope *scope, id Identity, c *v1.Change, rc *receipts) (*v1.ChangeResult, error) {
	roles, member, err := scope.roles(c.Record.CaseId)
	if err != nil {
		return nil, err
	}
	retaken, err := lostWithReceipt(log, rc, id.DeviceID, c)
	if err != nil {
		return nil, err
	}
	if !member && !retaken {
		return s.reject(log, id, c, fmt.Sprintf("Change %d is for a case this tablet's user is not assigned to.", c.DeviceSeq))
	}
	create := c.Op == v1.Op_OP_CREATE
	var cur *v1.CommittedChange
	if !create { // a create finds out whether its id is taken when it inserts
		if cur, err = log.record(c.Record.Id); err != nil {
			return nil, err
		}
	}
	// The one table of rules: only what the user's part in the case allows (syncer.Rules).
	if !retaken && (cur == nil || cur.Record.Type == c.Record.Type) {
		if reason := syncer.MayPush(roles, c, cur); reason != "" {
			return s.reject(log, id, c, reason)
		}
	}
	out, err := syncer.Merge(cur, c, id.DeviceID, hist)
	if err != nil {
		return nil, err
	}
	if out.Result == v1.Result_RESULT_REJECTED {
		return s.reject(log, id, c, out.Reason)
	}
	if create && c.Record.Type == syncer.TypeObservation {
		ok, err := log.visitInCase(editValue(c, "visit_id"), c.Record.CaseId)
		if err != nil {
			return nil, err
		}
		if !ok {
			return s.reject(log, id, c, fmt.Sprintf("Change %d is an observation for a visit the server does not have in that case.", c.DeviceSeq))
		}
		out.Effect.Fields = append(out.Effect.Fields, &v1.Field{Name: "author", Value: id.UserID, Hlc: c.Hlc, DeviceId: id.DeviceID})
	}
	if !create && cur != nil && c.Record.Type == syncer.TypeObservation {
		// An observation's mark decides what the parents' copy shows: it is fixed with the report.
		locked, err := log.visitReportLocked(syncer.Value(cur, "visit_id"))
		if err != nil {
			return nil, err
		}
		if locked {
			return s.reject(log, id, c, fmt.Sprintf("Change %d marks an observation of a visit whose report is submitted; its marks no longer change.", c.DeviceSeq))
		}
	}
	if create && c.Record.Type == syncer.TypeAddendum {
		ok, err := log.reportOfVisit(editValue(c, "report_id"), editValue(c, "visit_id"), c.Record.CaseId)
		if err != nil {
			return nil, err
		}
		if !ok {
			return s.reject(log, id, c, fmt.Sprintf("Change %d is an addendum for a report the server does not have for that visit.", c.DeviceSeq))
		}
		out.Effect.Fields = append(out.Effect.Fields, &v1.Field{Name: "author", Value: id.UserID, Hlc: c.Hlc, DeviceId: id.DeviceID})
	}
	if syncer.IsSubmission(c) {
		if out.Effect == nil {
			return s.reject(log, id, c, fmt.Sprintf("Change %d submits a %s that was signed already.", c.DeviceSeq, c.Record.Type))
		}
		reason, err := s.acceptSubmission(log, id, cur, c, out.Effect)
		if err != nil {
			return nil, err
		}
		if reason != "" {
			return s.reject(log, id, c, reason)
		}
	}
	for _, conflict := range out.Conflicts {
		if _, err := log.append(entry{ref: conflict.Record, device: syncer.ServerDevice, result: v1.Result_RESULT_APPLIED, effect: conflict, create: true}); err != nil {
			return nil, err
		}
	}
	for _, draft := range out.Addenda {
		draft.Fields = append(draft.Fields, &v1.Field{Name: "author", Value: id.UserID, Hlc: c.Hlc, DeviceId: id.DeviceID})
		if _, err := log.append(entry{ref: draft.Record, device: syncer.ServerDevice, result: v1.Result_RESULT_APPLIED, effect: draft, create: true}); err != nil {
			return nil, err
		}
	}
	e := entry{ref: c.Record, device: id.DeviceID, deviceSeq: c.DeviceSeq, result: out.Result, reason: out.Reason,
		cur: cur, effect: out.Effect, create: create, submitted: c}
	if out.Result == v1.Result_RESULT_APPLIED && out.Effect != nil {
		e.submitted = nil // committed exactly as pushed
	}
	seq, err := log.append(e)
	if errors.Is(err, errRecordExists) {
		return s.reject(log, id, c, fmt.Sprintf("Change %d creates record %s, which already exists.", c.DeviceSeq, c.Record.Id))
	}
	if err != nil {
		return nil, err
	}
	return changeResult(c.DeviceSeq, out.Result, out.Reason, seq), nil
}

// reject logs a change that is not applied, with the reason the tablet will show.
func (s *Store) reject(log *commitLog, id Identity, c *v1.Change, reason string) (*v1.ChangeResult, error) {
	seq, err := log.append(entry{ref: c.Record, device: id.DeviceID, deviceSeq: c.DeviceSeq,
		result: v1.Result_RESULT_REJECTED, reason: reason, submitted: c})
	if err != nil {
		return nil, err
	}
	return changeResult(c.DeviceSeq, v1.Result_RESULT_REJECTED, reason, seq), nil
}

// editValue is the value a change sets for a field, or "".
func editValue(c *v1.Change, field string) string {
	for _, e := range c.Fields {
		if e.Name == field {
			return e.Value
		}
	}
	return ""
}

// changeResult is what a tablet hears about a change, the first time and on every retry. A change
// that was not rejected is covered once the tablet's pull cursor reaches its log row, which comes
// after its conflict records.
func changeResult(deviceSeq int64, result v1.Result, reason string, seq int64) *v1.ChangeResult {
	r := &v1.ChangeResult{DeviceSeq: deviceSeq, Result: result, Reason: reason}
	if result != v1.Result_RESULT_REJECTED {
		r.ServerSeq = seq
	}
	return r
}

// priorResult answers a retried change the server has already applied with the result it had
// then; nil when the server holds another change under that number (its content hash differs).
// A row logged before content hashes were kept is taken for a retry. mark is the mark of the
// row's commit.
func priorResult(ctx context.Context, tx *sql.Tx, deviceID string, deviceSeq int64, hash []byte) (*v1.ChangeResult, int64, error) {
	var seq, mark int64
	var result int32
	var reason string
	var stored []byte
	err := tx.QueryRowContext(ctx, `SELECT seq, result, reason, content_hash, mark FROM changes WHERE device_id = ? AND device_seq = ?`,
		deviceID, deviceSeq).Scan(&seq, &result, &reason, &stored, &mark)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("change %d of device is below its last seq but not in the log", deviceSeq)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read prior result: %w", err)
	}
	if stored != nil && !hmac.Equal(stored, hash) {
		return nil, 0, nil
	}
	return changeResult(deviceSeq, v1.Result(result), reason, seq), mark, nil
}

// scope answers which roles a user holds in a case (caseRolesOf), caching answers within a
// transaction.
type scope struct {
	ctx   context.Context
	q     querier
	id    Identity
	cases map[string]caseRoles
}

type caseRoles struct {
	roles  []string
	member bool
}

func newScope(ctx context.Context, q querier, id Identity) *scope {
	return &scope{ctx: ctx, q: q, id: id, cases: map[string]caseRoles{}}
}

// know takes the user's roles in cases read beforehand (pushStart): a case with no roles is one
// she is not a member of.
func (s *scope) know(parts map[string][]string) {
	for caseID, roles := range parts {
		s.cases[caseID] = caseRoles{rolesHeld(s.id, roles), len(roles) > 0}
	}
}

func (s *scope) roles(caseID string) ([]string, bool, error) {
	if r, ok := s.cases[caseID]; ok {
		return r.roles, r.member, nil
	}
	roles, member, err := caseRolesOf(s.ctx, s.q, s.id, caseID)
	if err != nil {
		return nil, false, err
	}
	s.cases[caseID] = caseRoles{roles, member}
	return roles, member, nil
}
