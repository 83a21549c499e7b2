package server

import (
	"context"
	"database/sql"

	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// CaseOverview is a case as an operator at the data directory sees it: its reference, its
// children by id and name (so the per-child exports can be asked for), and who works on it.
type CaseOverview struct {
	ID        string       `json:"id"`
	Reference string       `json:"reference"`
	Children  []CaseChild  `json:"children"`
	Members   []CaseMember `json:"members"`
	Visits    int          `json:"visits"`
}

// CaseChild is a child of a case. The name is sensitive.
type CaseChild struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// CaseMember is a user's part in a case, by name.
type CaseMember struct {
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

// ShowCase returns a case's overview for an operator and logs the read with its purpose in the
// access log (actor: the operator, as for every admin command).
func (s *Store) ShowCase(ctx context.Context, caseID, purpose string) (CaseOverview, error) {
	purpose, err := checkPurpose(purpose)
	if err != nil {
		return CaseOverview{}, err
	}
	ov := CaseOverview{ID: caseID, Children: []CaseChild{}, Members: []CaseMember{}}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := s.caseExists(ctx, tx, caseID); err != nil {
			return err
		}
		recs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE case_id = ? AND type IN (?, ?, ?) ORDER BY id`, caseID,
			syncer.TypeCase, syncer.TypeChild, syncer.TypeVisit)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Deleted {
				continue
			}
			switch r.Record.Type {
			case syncer.TypeCase:
				ov.Reference = syncer.Value(r, "reference")
			case syncer.TypeChild:
				ov.Children = append(ov.Children, CaseChild{ID: r.Record.Id, Name: syncer.Value(r, "name")})
			case syncer.TypeVisit:
				ov.Visits++
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT m.user_id, u.name, m.role FROM case_members m JOIN users u ON u.id = m.user_id
			WHERE m.case_id = ? ORDER BY m.role, u.name`, caseID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m CaseMember
			if err := rows.Scan(&m.UserID, &m.Name, &m.Role); err != nil {
				return err
			}
			ov.Members = append(ov.Members, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return appendAudit(ctx, tx, s.nowMs(), AuditEvent{Kind: AuditCaseRead, CaseID: caseID, Purpose: purpose,
			Detail: Actor{}.detail(map[string]string{"what": "case " + caseID})})
	})
	return ov, err
}
