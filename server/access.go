package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/samvaer/sync/syncer"
)

// Access is one use of a child's data by a person, for the access log.
type Access struct {
	UserID, DeviceID, CaseID string
	// What names what was read by type and id (e.g. "report 0190…"), never by its content.
	What string
	// Purpose is why, as the person gave it.
	Purpose string
}

// maxPurposeBytes bounds the purpose a caller gives.
const maxPurposeBytes = 200

// checkPurpose refuses a read without a purpose: every use of a child's data is logged with why.
func checkPurpose(purpose string) (string, error) {
	purpose = strings.TrimSpace(purpose)
	if purpose == "" {
		return "", syncer.Errorf(syncer.CodeInvalid, "Say why you read this (purpose): every use of a child's data is logged with its purpose.").With("err.purpose_missing")
	}
	if len(purpose) > maxPurposeBytes || !utf8.ValidString(purpose) {
		return "", syncer.Errorf(syncer.CodeInvalid, "A purpose is at most %d bytes of text.", maxPurposeBytes).With("err.purpose_long")
	}
	return purpose, nil
}

// logAccess records one access in the caller's transaction, so a read that is not logged does
// not happen. The access log is the audit log (kind case.read): one hash chain, so a deleted or
// edited access entry is detected like any other.
func logAccess(ctx context.Context, tx *sql.Tx, nowMs int64, a Access) error {
	if a.UserID == "" || a.CaseID == "" || a.What == "" || a.Purpose == "" {
		return fmt.Errorf("access log entry is missing who, which case, what or why")
	}
	return appendAudit(ctx, tx, nowMs, AuditEvent{Kind: AuditCaseRead, ActorUserID: a.UserID, DeviceID: a.DeviceID,
		CaseID: a.CaseID, Purpose: a.Purpose, Detail: map[string]string{"what": a.What}})
}

// AccessEntry is an access log entry as a child's parents may see it: when, what kind of use and
// why. It does not name the person who read.
type AccessEntry struct {
	AtMs    int64  `json:"at_ms"`
	CaseID  string `json:"case_id"`
	What    string `json:"what"`
	Purpose string `json:"purpose"`
}

// AccessForChild returns the access log entries about a child (every read of a case the child is
// in), oldest first.
func (s *Store) AccessForChild(ctx context.Context, childID string) ([]AccessEntry, error) {
	var out []AccessEntry
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		var caseID string
		err := tx.QueryRowContext(ctx, `SELECT case_id FROM records WHERE id = ? AND type = ?`, childID, syncer.TypeChild).Scan(&caseID)
		if err == sql.ErrNoRows {
			return syncer.Errorf(syncer.CodeNotFound, "No child has id %q.", childID)
		}
		if err != nil {
			return fmt.Errorf("read child: %w", err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT at_ms, case_id, detail, purpose FROM audit_log WHERE case_id = ? AND kind = ? ORDER BY id`, caseID, AuditCaseRead)
		if err != nil {
			return fmt.Errorf("read access log: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var e AccessEntry
			var detail string
			if err := rows.Scan(&e.AtMs, &e.CaseID, &detail, &e.Purpose); err != nil {
				return err
			}
			var d map[string]string
			if err := json.Unmarshal([]byte(detail), &d); err != nil {
				return fmt.Errorf("read access log: %w", err)
			}
			e.What = d["what"]
			out = append(out, e)
		}
		return rows.Err()
	})
	return out, err
}
