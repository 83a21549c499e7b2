package server

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/samvaer/sync/syncer"
)

// The access log as the law reads it: every use of a child's data — a read, a search with its
// criterion, an export, a change, a deletion — is an audit entry naming who, when, which case
// and, for reads, searches and exports, why. It is the audit log itself (one hash chain), so a
// deleted or edited access entry is detected like any other.

// Access is one use of a child's data by a person, for the access log.
type Access struct {
	// Kind is the kind of use: AuditCaseRead (the default), AuditSearched or AuditExported.
	Kind                     string
	UserID, DeviceID, CaseID string
	// What names what was used by type and id (e.g. "report 0190…"), never by its content.
	What string
	// Purpose is why, as the person gave it.
	Purpose string
	// Detail adds non-sensitive facts: a search's criterion, an export's format.
	Detail map[string]string
}

// Export formats, for the access log.
const (
	ExportPDF         = "pdf"          // a report as PDF for the case system
	ExportParentsCopy = "parents_copy" // the parents' copy of a report
	ExportCSV         = "csv"          // a list as CSV
	ExportInsight     = "insight"      // the insight export: what a citizen may see of the uses of their data
)

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

// logAccess records one access in the caller's transaction, so a use that is not logged does
// not happen.
func (s *Store) logAccess(ctx context.Context, tx *sql.Tx, nowMs int64, a Access) error {
	if a.UserID == "" || a.CaseID == "" || a.What == "" || a.Purpose == "" {
		return fmt.Errorf("access log entry is missing who, which case, what or why")
	}
	if a.Kind == "" {
		a.Kind = AuditCaseRead
	}
	detail := map[string]string{"what": a.What}
	maps.Copy(detail, a.Detail)
	return s.appendAudit(ctx, tx, nowMs, AuditEvent{Kind: a.Kind, ActorUserID: a.UserID, DeviceID: a.DeviceID,
		CaseID: a.CaseID, Purpose: a.Purpose, Detail: detail})
}

// accessKinds are the audit kinds that are a use of a case's data, as the insight export shows them.
var accessKinds = []string{AuditCaseRead, AuditSearched, AuditExported, AuditCaseChanged, AuditCaseDeleted}

// AccessEntry is an access log entry as a child's parents may see it: when, what kind of use and
// why. It does not name the person who used the data.
type AccessEntry struct {
	AtMs int64 `json:"at_ms"`
	// Kind is the kind of use (case.read, search, export, case.changed, case.deleted).
	Kind    string `json:"kind"`
	CaseID  string `json:"case_id"`
	What    string `json:"what"`
	Purpose string `json:"purpose,omitempty"`
	// Format is an export's format; Count how many records a change or deletion touched.
	Format string `json:"format,omitempty"`
	Count  string `json:"count,omitempty"`
}

// AccessForChild returns the access log entries about a child (every use of a case the child is
// in), oldest first.
func (s *Store) AccessForChild(ctx context.Context, childID string) ([]AccessEntry, error) {
	var caseID string
	err := s.read.QueryRowContext(ctx, `SELECT case_id FROM records WHERE id = ? AND type = ?`, childID, syncer.TypeChild).Scan(&caseID)
	if err == sql.ErrNoRows {
		return nil, syncer.Errorf(syncer.CodeNotFound, "No child has id %q.", childID)
	}
	if err != nil {
		return nil, fmt.Errorf("read child: %w", err)
	}
	entries, err := s.AuditEntries(ctx, AuditFilter{CaseID: caseID, Kinds: accessKinds})
	if err != nil {
		return nil, fmt.Errorf("read access log: %w", err)
	}
	out := make([]AccessEntry, 0, len(entries))
	for _, e := range entries {
		a := AccessEntry{AtMs: e.AtMs, Kind: e.Kind, CaseID: e.CaseID, What: e.Detail["what"], Purpose: e.Purpose, Format: e.Detail["format"], Count: e.Detail["records"]}
		out = append(out, a)
	}
	return out, nil
}

// auditChanges writes, for each case whose records the commit log changed or deleted, one
// case.changed and one case.deleted entry with the counts (never what changed), naming who and
// through which door. Every write path through a commit log calls it before it commits.
func (s *Store) auditChanges(l *commitLog, d door) error {
	cases := slices.Sorted(maps.Keys(l.touched))
	for _, caseID := range cases {
		t := l.touched[caseID]
		for _, c := range []struct {
			kind string
			n    int64
		}{{AuditCaseChanged, t.changed}, {AuditCaseDeleted, t.deleted}} {
			if c.n == 0 {
				continue
			}
			if l.audit == nil {
				tail, err := s.readAuditTail(l.ctx, l.tx)
				if err != nil {
					return err
				}
				l.audit = &tail
			}
			if err := s.appendAuditTo(l.ctx, l.tx, l.now, AuditEvent{Kind: c.kind, ActorUserID: d.userID, DeviceID: d.deviceID, CaseID: caseID,
				Detail: map[string]string{"what": "records", "records": auditCount(c.n), "via": d.via}}, l.audit); err != nil {
				return err
			}
		}
	}
	clear(l.touched)
	return nil
}

// door is who made a change and through which door, for the access log.
type door struct{ userID, deviceID, via string }

// viaOf names the door a change came through: the command line (no caller), a device (the RPC
// API), or the web pages (a session, no device).
func viaOf(who *Identity) door {
	switch {
	case who == nil:
		return door{via: "command line"}
	case who.DeviceID == "":
		return door{who.UserID, "", "web"}
	default:
		return door{who.UserID, who.DeviceID, "device"}
	}
}
