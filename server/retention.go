package server

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// Retention. The server is a transit and working store; the case system is the record of truth.
// The retention job deletes what the law no longer lets it keep: a report with its addenda,
// parents' comments and conflicts some time after it was both acknowledged and exported, a
// closed case with everything in it some time after it was closed, and audit entries older than
// the log's retention. Deleting means gone: rows are deleted with secure_delete on and the WAL is
// checkpointed (truncated) after. Each deletion is logged with counts, never content, and
// deleting the oldest audit entries leaves a signed checkpoint, so `audit verify` still proves
// nothing else was removed.

// RetentionPolicy says how long things are kept. Zero fields take the defaults.
type RetentionPolicy struct {
	// Reports: how long a report is kept after it was both acknowledged and exported.
	Reports time.Duration
	// Cases: how long a closed case (its visits, reports, notes, everything) is kept after closing.
	Cases time.Duration
	// Audit: how long audit entries are kept.
	Audit time.Duration
}

// Retention defaults; docs/operations.md gives the reasons.
const (
	DefaultReportRetention = 30 * 24 * time.Hour
	DefaultCaseRetention   = 90 * 24 * time.Hour
	DefaultAuditRetention  = 183 * 24 * time.Hour // at least six months
	// MinAuditRetention is the shortest log retention allowed: Datatilsynet expects at least six months.
	MinAuditRetention = 183 * 24 * time.Hour
)

// DefaultRetentionPolicy is the policy with the defaults.
func DefaultRetentionPolicy() RetentionPolicy {
	return RetentionPolicy{Reports: DefaultReportRetention, Cases: DefaultCaseRetention, Audit: DefaultAuditRetention}
}

func (p RetentionPolicy) withDefaults() RetentionPolicy {
	d := DefaultRetentionPolicy()
	if p.Reports <= 0 {
		p.Reports = d.Reports
	}
	if p.Cases <= 0 {
		p.Cases = d.Cases
	}
	if p.Audit <= 0 {
		p.Audit = d.Audit
	}
	return p
}

// Validate refuses a log retention shorter than the law's minimum.
func (p RetentionPolicy) Validate() error {
	if p.Audit != 0 && p.Audit < MinAuditRetention {
		return syncer.Errorf(syncer.CodeInvalid, "The audit log must be kept at least %d days.", int(MinAuditRetention.Hours()/24))
	}
	if p.Reports < 0 || p.Cases < 0 || p.Audit < 0 {
		return syncer.Errorf(syncer.CodeInvalid, "Retention times must not be negative.")
	}
	return nil
}

// RetentionResult counts what a run deleted (or, in a dry run, would delete).
type RetentionResult struct {
	DryRun       bool  `json:"dry_run"`
	Reports      int64 `json:"reports"`
	Addenda      int64 `json:"addenda"`
	Comments     int64 `json:"parent_comments"`
	Conflicts    int64 `json:"conflicts"`
	Cases        int64 `json:"cases"`
	Records      int64 `json:"records"` // every record deleted, the above included
	Changes      int64 `json:"changes"` // change log rows deleted with them
	AuditEntries int64 `json:"audit_entries"`
}

// errDryRun rolls a dry run's transaction back.
var errDryRun = errors.New("dry run")

// RunRetention deletes what policy no longer keeps, in one transaction, and checkpoints the WAL.
// With dryRun it does the same work and rolls it back, so the counts are exactly what a run
// would delete now.
func (s *Store) RunRetention(ctx context.Context, by Actor, policy RetentionPolicy, dryRun bool) (RetentionResult, error) {
	if err := policy.Validate(); err != nil {
		return RetentionResult{}, err
	}
	policy = policy.withDefaults()
	res := RetentionResult{DryRun: dryRun}
	now := s.nowMs()
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		deleted := map[string]int64{} // case id -> records deleted
		if err := s.expireReports(ctx, tx, now-policy.Reports.Milliseconds(), &res, deleted); err != nil {
			return err
		}
		if err := s.expireCases(ctx, tx, now-policy.Cases.Milliseconds(), &res, deleted); err != nil {
			return err
		}
		for caseID, n := range deleted {
			if err := s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditCaseDeleted, ActorUserID: by.UserID, CaseID: caseID,
				Detail: map[string]string{"what": "records", "records": auditCount(n), "via": "retention"}}); err != nil {
				return err
			}
		}
		if err := s.expireAudit(ctx, tx, now, now-policy.Audit.Milliseconds(), &res); err != nil {
			return err
		}
		if res.Records+res.Changes+res.AuditEntries+res.Cases == 0 && !dryRun {
			return nil // a run that deletes nothing leaves no trace
		}
		err := s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditRetention, ActorUserID: by.UserID, Detail: by.detail(map[string]string{
			"reports": auditCount(res.Reports), "addenda": auditCount(res.Addenda), "parent_comments": auditCount(res.Comments),
			"conflicts": auditCount(res.Conflicts), "cases": auditCount(res.Cases), "records": auditCount(res.Records),
			"changes": auditCount(res.Changes), "audit_entries": auditCount(res.AuditEntries),
		})})
		if err == nil && dryRun {
			return errDryRun
		}
		return err
	})
	if dryRun && errors.Is(err, errDryRun) {
		return res, nil
	}
	if err != nil {
		return RetentionResult{}, fmt.Errorf("retention: %w", err)
	}
	if res.Records+res.Changes+res.AuditEntries+res.Cases == 0 {
		return res, nil
	}
	// secure_delete zeroed the freed pages; the checkpoint leaves no copy of them in the WAL.
	if err := s.db.Reclaim(ctx); err != nil {
		return res, fmt.Errorf("retention: the rows are deleted, but %w", err)
	}
	return res, nil
}

// expireReports deletes reports acknowledged and exported before cutoff, with their addenda,
// parents' comments and the conflicts about any of them.
func (s *Store) expireReports(ctx context.Context, tx *sql.Tx, cutoff int64, res *RetentionResult, deleted map[string]int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT report_id, case_id, exported_ms FROM report_exports WHERE exported_ms < ? ORDER BY report_id`, cutoff)
	if err != nil {
		return fmt.Errorf("read exports: %w", err)
	}
	type exported struct {
		report, caseID string
	}
	var candidates []exported
	for rows.Next() {
		var e exported
		var ms int64
		if err := rows.Scan(&e.report, &e.caseID, &ms); err != nil {
			rows.Close()
			return err
		}
		candidates = append(candidates, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range candidates {
		rep, err := records.Load(ctx, tx, s.sealer, c.report)
		if err != nil {
			return err
		}
		if rep == nil {
			// Gone with its case already.
			if _, err := tx.ExecContext(ctx, `DELETE FROM report_exports WHERE report_id = ?`, c.report); err != nil {
				return err
			}
			continue
		}
		acked, _ := strconv.ParseInt(syncer.Value(rep, "acknowledged_ms"), 10, 64)
		if syncer.State(rep) != syncer.StateAcknowledged || acked == 0 || acked >= cutoff {
			continue
		}
		// The report's documents and the conflicts about the report or them.
		docs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type IN (?, ?, ?)`,
			c.caseID, syncer.TypeAddendum, syncer.TypeParentComment, syncer.TypeConflict)
		if err != nil {
			return err
		}
		ids := []string{c.report}
		about := map[string]bool{c.report: true}
		for _, d := range docs {
			if d.Record.Type != syncer.TypeConflict && syncer.Value(d, "report_id") == c.report {
				about[d.Record.Id] = true
				ids = append(ids, d.Record.Id)
				if d.Record.Type == syncer.TypeAddendum {
					res.Addenda++
				} else {
					res.Comments++
				}
			}
		}
		for _, d := range docs {
			if d.Record.Type == syncer.TypeConflict && about[syncer.Value(d, "record_id")] {
				ids = append(ids, d.Record.Id)
				res.Conflicts++
			}
		}
		n, err := deleteRecords(ctx, tx, ids, res)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM report_exports WHERE report_id = ?`, c.report); err != nil {
			return err
		}
		res.Reports++
		deleted[c.caseID] += n
	}
	return nil
}

// deleteRecords deletes records by id with their change log rows, and counts both.
func deleteRecords(ctx context.Context, tx *sql.Tx, ids []string, res *RetentionResult) (int64, error) {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	r, err := tx.ExecContext(ctx, `DELETE FROM records WHERE id IN (`+marks+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("delete records: %w", err)
	}
	n, _ := r.RowsAffected()
	c, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE record_id IN (`+marks+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("delete changes: %w", err)
	}
	m, _ := c.RowsAffected()
	res.Records += n
	res.Changes += m
	return n, nil
}

// expireCases deletes every record and change of cases closed before cutoff.
func (s *Store) expireCases(ctx context.Context, tx *sql.Tx, cutoff int64, res *RetentionResult, deleted map[string]int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT case_id FROM closed_cases WHERE closed_ms < ? ORDER BY case_id`, cutoff)
	if err != nil {
		return fmt.Errorf("read closed cases: %w", err)
	}
	var cases []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		cases = append(cases, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, caseID := range cases {
		r, err := tx.ExecContext(ctx, `DELETE FROM records WHERE case_id = ?`, caseID)
		if err != nil {
			return fmt.Errorf("delete case: %w", err)
		}
		n, _ := r.RowsAffected()
		c, err := tx.ExecContext(ctx, `DELETE FROM changes WHERE case_id = ?`, caseID)
		if err != nil {
			return fmt.Errorf("delete case changes: %w", err)
		}
		m, _ := c.RowsAffected()
		for _, q := range []string{`DELETE FROM report_exports WHERE case_id = ?`, `DELETE FROM case_members WHERE case_id = ?`, `DELETE FROM closed_cases WHERE case_id = ?`} {
			if _, err := tx.ExecContext(ctx, q, caseID); err != nil {
				return fmt.Errorf("delete case: %w", err)
			}
		}
		res.Cases++
		res.Records += n
		res.Changes += m
		if n > 0 {
			deleted[caseID] += n
		}
	}
	return nil
}

// expireAudit deletes the audit entries older than cutoff — always a prefix of the log, up to
// the newest entry older than cutoff — and appends a signed checkpoint naming the last deleted
// entry and its hash, which the first remaining entry's prev_hash must equal.
func (s *Store) expireAudit(ctx context.Context, tx *sql.Tx, now, cutoff int64, res *RetentionResult) error {
	var through sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(id) FROM audit_log WHERE at_ms < ?`, cutoff).Scan(&through); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	if !through.Valid {
		return nil
	}
	var hash []byte
	if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE id = ?`, through.Int64).Scan(&hash); err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	r, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE id <= ?`, through.Int64)
	if err != nil {
		return fmt.Errorf("delete audit entries: %w", err)
	}
	res.AuditEntries, _ = r.RowsAffected()
	return s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditCheckpoint, Detail: map[string]string{
		"deleted_through": strconv.FormatInt(through.Int64, 10), "last_hash": hex.EncodeToString(hash),
		"deleted": auditCount(res.AuditEntries), "older_than_ms": strconv.FormatInt(cutoff, 10),
	}})
}
