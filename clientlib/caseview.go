package clientlib

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// Case is what the consultant needs to know of a case, offline: the children, the decision the
// visits rest on, the conditions in force, the parent action plan's goals and the child's
// wishes. All of it is set on the server and read-only on the tablet.
type Case struct {
	ID         string     `json:"id"`
	Reference  string     `json:"reference"`
	Children   []Child    `json:"children"`
	Decisions  []Decision `json:"decisions"`
	Conditions Conditions `json:"conditions"`
	Goals      []Note     `json:"goals"`
	Wishes     []Wish     `json:"wishes"`
}

// Child is a child of the case.
type Child struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Decision is a decision visits rest on.
type Decision = syncer.Decision

// Conditions is the newest version of the conditions and agreements.
type Conditions struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
	Text    string `json:"text"`
}

// Note is a goal.
type Note struct {
	ID   string `json:"id"`
	Text string `json:"text"`
}

// Wish is a child's wish.
type Wish struct {
	ID            string `json:"id"`
	ChildID       string `json:"child_id"`
	Text          string `json:"text"`
	SupportPerson bool   `json:"support_person"`
	PauseUntilMs  int64  `json:"pause_until_ms"`
}

// Case returns a case the tablet holds.
func (t *Tablet) Case(ctx context.Context, caseID string) (Case, error) {
	c := Case{ID: caseID}
	err := t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		recs, err := records.Query(ctx, tx, t.store.keys, `SELECT id, state FROM records WHERE case_id = ? AND type IN (?, ?, ?, ?, ?, ?) ORDER BY id`, caseID,
			syncer.TypeCase, syncer.TypeChild, syncer.TypeDecision, syncer.TypeConditions, syncer.TypeGoal, syncer.TypeWish)
		if err != nil {
			return err
		}
		found := false
		for _, r := range recs {
			if r.Deleted {
				continue
			}
			v := func(name string) string { return syncer.Value(r, name) }
			id := r.Record.Id
			switch r.Record.Type {
			case syncer.TypeCase:
				found, c.Reference = true, v("reference")
			case syncer.TypeChild:
				c.Children = append(c.Children, Child{ID: id, Name: v("name")})
			case syncer.TypeDecision:
				c.Decisions = append(c.Decisions, syncer.ReadDecision(id, v))
			case syncer.TypeConditions:
				if n, _ := strconv.ParseInt(v("version"), 10, 64); n > c.Conditions.Version {
					c.Conditions = Conditions{ID: id, Version: n, Text: v("text")}
				}
			case syncer.TypeGoal:
				c.Goals = append(c.Goals, Note{ID: id, Text: v("text")})
			case syncer.TypeWish:
				c.Wishes = append(c.Wishes, Wish{ID: id, ChildID: v("child_id"), Text: v("text"),
					SupportPerson: v("support_person") == "true", PauseUntilMs: atoi(v("pause_until_ms"))})
			}
		}
		if !found {
			return syncer.Errorf(syncer.CodeNotFound, "No case on this tablet has id %s; sync first if it is new.", caseID)
		}
		return nil
	})
	return c, err
}

// CaseRef names a case the tablet holds by its id and reference, nothing about its people.
type CaseRef struct {
	ID        string `json:"id"`
	Reference string `json:"reference"`
}

// Cases lists the cases the tablet holds, by id.
func (t *Tablet) Cases(ctx context.Context) ([]CaseRef, error) {
	if err := t.usable(); err != nil {
		return nil, err
	}
	var out []CaseRef
	err := t.store.db.ReadTx(ctx, func(tx *sql.Tx) error {
		recs, err := records.Query(ctx, tx, t.store.keys, `SELECT id, state FROM records WHERE type = ? ORDER BY id`, syncer.TypeCase)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if !r.Deleted {
				out = append(out, CaseRef{ID: r.Record.Id, Reference: syncer.Value(r, "reference")})
			}
		}
		return nil
	})
	return out, err
}
