package server

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// Searching the audit log and the insight export. Both are uses of personal data themselves, so
// both are logged: a search with its criterion, an insight export as an export of the child's
// case with its purpose.

// InsightPurpose is the purpose the insight export is logged with: a citizen's request to see
// the uses of their data. It is shown to the citizen, so it is in Danish.
const InsightPurpose = "Indsigtsanmodning (databeskyttelsesforordningen art. 15)"

// criterion describes an audit filter for the log, by ids and dates only.
func (f AuditFilter) criterion() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if !f.Since.IsZero() {
		add("since", f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		add("until", f.Until.UTC().Format(time.RFC3339))
	}
	add("user", f.UserID)
	add("device", f.DeviceID)
	add("case", f.CaseID)
	add("kinds", strings.Join(f.Kinds, ","))
	if len(parts) == 0 {
		return "all"
	}
	c := strings.Join(parts, " ")
	if len(c) > maxAuditField {
		c = c[:maxAuditField]
	}
	return c
}

// SearchAudit lists audit entries like AuditEntries and logs the search, with its criterion and
// who searched (by, or the command line), in the same transaction. format is "" for a search
// shown on screen, or ExportCSV for a download, which is logged as an export.
func (s *Store) SearchAudit(ctx context.Context, by Actor, f AuditFilter, format string) ([]AuditEntry, error) {
	kind, detail := AuditSearched, map[string]string{"what": "audit log", "criterion": f.criterion()}
	switch format {
	case "":
	case ExportCSV:
		kind, detail["format"] = AuditExported, format
	default:
		return nil, syncer.Errorf(syncer.CodeInvalid, "The audit log is exported as %s.", ExportCSV)
	}
	entries, err := s.AuditEntries(ctx, f)
	if err != nil {
		return nil, err
	}
	err = s.Audit(ctx, AuditEvent{Kind: kind, ActorUserID: by.UserID, DeviceID: by.DeviceID, CaseID: f.CaseID, Detail: by.detail(detail)})
	return entries, err
}

// Insight is the insight export for one child: what a citizen may see of the uses of the data
// about them — when, what kind of use, and why; normally not the employee.
type Insight struct {
	ChildID string `json:"child_id"`
	// ChildName is the child's name, for the PDF handed to the family; it never reaches the log.
	ChildName string        `json:"child_name"`
	MadeMs    int64         `json:"made_ms"`
	Entries   []AccessEntry `json:"entries"`
}

// InsightExport makes the insight export for a child and logs it as an export of the child's
// case (by, or the command line). format (json, pdf or text) is recorded in the log.
func (s *Store) InsightExport(ctx context.Context, by Actor, childID, format string) (Insight, error) {
	if format != "json" && format != "pdf" && format != "text" {
		return Insight{}, syncer.Errorf(syncer.CodeInvalid, "The insight export is made as json, pdf or text.")
	}
	entries, err := s.AccessForChild(ctx, childID)
	if err != nil {
		return Insight{}, err
	}
	in := Insight{ChildID: childID, MadeMs: s.nowMs(), Entries: entries}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		child, err := s.childRecord(ctx, tx, childID)
		if err != nil {
			return err
		}
		in.ChildName = syncer.Value(child, "name")
		return s.appendAudit(ctx, tx, in.MadeMs, AuditEvent{Kind: AuditExported, ActorUserID: by.UserID, DeviceID: by.DeviceID,
			CaseID: child.Record.CaseId, Purpose: InsightPurpose,
			Detail: by.detail(map[string]string{"what": "child " + childID, "format": ExportInsight + "-" + format})})
	})
	if err != nil {
		return Insight{}, fmt.Errorf("insight export: %w", err)
	}
	return in, nil
}

// childRecord reads a child's record.
func (s *Store) childRecord(ctx context.Context, q querier, childID string) (*v1.CommittedChange, error) {
	recs, err := records.Query(ctx, q, s.sealer, `SELECT id, state FROM records WHERE id = ? AND type = ?`, childID, syncer.TypeChild)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, syncer.Errorf(syncer.CodeNotFound, "No child has id %q.", childID)
	}
	return recs[0], nil
}
