package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// Scope: who works on which case. case_members decides what each user's tablets pull and may
// push; a change here is a sync event (the next pull snapshots a newly assigned case and purges
// one no longer in scope) and an audit event.

// CaseRoles are the roles a person can hold in a case.
var CaseRoles = syncer.CaseRoles

// AssignCase makes a user a member of a case in a role the user holds.
func (s *Store) AssignCase(ctx context.Context, by Actor, caseID, user, role string) error {
	if !slices.Contains(CaseRoles, role) {
		return syncer.Errorf(syncer.CodeInvalid, "A case role is consultant, caseworker or coordinator.")
	}
	now := s.nowMs()
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := s.openCase(ctx, tx, caseID); err != nil {
			return err
		}
		u, err := userByName(ctx, tx, user)
		if err != nil {
			return err
		}
		if !slices.Contains(u.Roles, role) {
			return syncer.Errorf(syncer.CodeInvalid, "%s does not have the %s role.", u.Name, role)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO case_members (case_id, user_id, role) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, caseID, u.ID, role)
		if err != nil {
			return fmt.Errorf("assign case: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // already assigned
		}
		return s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditCaseAssigned, ActorUserID: by.UserID, CaseID: caseID,
			Detail: by.detail(map[string]string{"user": u.ID, "role": role})})
	})
}

// UnassignCase removes a user from a case in every role; the user's tablets purge the case at
// their next sync.
func (s *Store) UnassignCase(ctx context.Context, by Actor, caseID, user string) error {
	now := s.nowMs()
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		u, err := userByName(ctx, tx, user)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM case_members WHERE case_id = ? AND user_id = ?`, caseID, u.ID)
		if err != nil {
			return fmt.Errorf("unassign case: %w", err)
		}
		n, _ := res.RowsAffected()
		if n == 0 {
			return syncer.Errorf(syncer.CodeNotFound, "%s is not assigned to that case.", u.Name)
		}
		return s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditCaseUnassigned, ActorUserID: by.UserID, CaseID: caseID,
			Detail: by.detail(map[string]string{"user": u.ID})})
	})
}

// CloseCase removes every member from a case and closes it to new assignments: every tablet
// purges it at its next sync. The server keeps its records (the retention the municipality sets
// applies).
func (s *Store) CloseCase(ctx context.Context, by Actor, caseID string) error {
	now := s.nowMs()
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := s.openCase(ctx, tx, caseID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM case_members WHERE case_id = ?`, caseID)
		if err != nil {
			return fmt.Errorf("close case: %w", err)
		}
		members, _ := res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `INSERT INTO closed_cases (case_id, closed_ms) VALUES (?, ?)`, caseID, now); err != nil {
			return fmt.Errorf("close case: %w", err)
		}
		return s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditCaseClosed, ActorUserID: by.UserID, CaseID: caseID,
			Detail: by.detail(map[string]string{"members_removed": auditCount(members)})})
	})
}

// openCase fails unless caseID is an existing case that is not closed.
func (s *Store) openCase(ctx context.Context, tx *sql.Tx, caseID string) error {
	c, err := records.Load(ctx, tx, s.sealer, caseID)
	if err != nil {
		return err
	}
	if c == nil || c.Record.Type != syncer.TypeCase || c.Deleted {
		return syncer.Errorf(syncer.CodeNotFound, "No case has id %q.", caseID)
	}
	var closed int64
	err = tx.QueryRowContext(ctx, `SELECT closed_ms FROM closed_cases WHERE case_id = ?`, caseID).Scan(&closed)
	if err == nil {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "The case is closed.")
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read case: %w", err)
	}
	return nil
}
