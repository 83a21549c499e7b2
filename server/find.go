package server

import (
	"context"
	"database/sql"
	"strings"

	"github.com/samvaer/sync/internal/lookup"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// The Find functions resolve what a person typed on the admin command line to an id, the way
// internal/lookup does on both ends: an id, a name people use, or a unique id prefix.

// FindUser resolves a user's name, id or id prefix.
func (s *Store) FindUser(ctx context.Context, arg string) (string, error) {
	users, err := s.Users(ctx)
	if err != nil {
		return "", err
	}
	c := make([]lookup.Candidate, len(users))
	for i, u := range users {
		c[i] = lookup.Candidate{ID: u.ID, Names: []string{u.Name}, Label: u.Name}
	}
	return lookup.Find("user", arg, c, false)
}

// FindCase resolves a case's reference, id or id prefix.
func (s *Store) FindCase(ctx context.Context, arg string) (string, error) {
	cases, err := s.Cases(ctx)
	if err != nil {
		return "", err
	}
	c := make([]lookup.Candidate, len(cases))
	for i, cs := range cases {
		c[i] = lookup.Candidate{ID: cs.ID, Names: []string{cs.Reference}, Label: cs.Reference}
	}
	return lookup.Find("case", arg, c, false)
}

// FindDevice resolves a device's name (as chosen at enrollment), id or id prefix.
func (s *Store) FindDevice(ctx context.Context, arg string) (string, error) {
	devices, err := s.Devices(ctx)
	if err != nil {
		return "", err
	}
	c := make([]lookup.Candidate, len(devices))
	for i, d := range devices {
		c[i] = lookup.Candidate{ID: d.ID, Names: []string{d.Name}, Label: d.Name + ", " + d.UserName + ", " + d.Status}
	}
	return lookup.Find("device", arg, c, false)
}

// FindVisit resolves a visit's id or id prefix.
func (s *Store) FindVisit(ctx context.Context, arg string) (string, error) {
	return s.findRecord(ctx, syncer.TypeVisit, "visit", arg, false)
}

// FindChild resolves a child's id or id prefix. A child's name is not looked up: it is
// sensitive and would be repeated in messages.
func (s *Store) FindChild(ctx context.Context, arg string) (string, error) {
	return s.findRecord(ctx, syncer.TypeChild, "child", arg, true)
}

// findRecord resolves a record id or prefix of the type; an ambiguity names each record's case by
// its reference.
func (s *Store) findRecord(ctx context.Context, typ string, kind lookup.Kind, arg string, secret bool) (string, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, case_id FROM records WHERE type = ? AND (id = ? OR (length(?) >= ? AND substr(id, 1, length(?)) = lower(?))) ORDER BY id`,
		typ, arg, arg, lookup.MinPrefix, arg, arg)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var c []lookup.Candidate
	var caseIDs []string
	for rows.Next() {
		var id, caseID string
		if err := rows.Scan(&id, &caseID); err != nil {
			return "", err
		}
		c = append(c, lookup.Candidate{ID: id})
		caseIDs = append(caseIDs, caseID)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	if len(c) > 1 {
		cases, err := s.Cases(ctx)
		if err != nil {
			return "", err
		}
		refs := map[string]string{}
		for _, cs := range cases {
			refs[cs.ID] = cs.Reference
		}
		for i := range c {
			if r := refs[caseIDs[i]]; r != "" {
				c[i].Label = "case " + r
			}
		}
	}
	return lookup.Find(kind, arg, c, secret)
}

// referenceFree refuses a case reference another case has (compared without case and surrounding
// space), so a reference names one case on every door. References are sealed with the rest of a
// case, so it reads them in the caller's write transaction: no other case can be added between
// the check and the insert.
func (s *Store) referenceFree(ctx context.Context, tx *sql.Tx, reference string) error {
	if reference == "" {
		return nil
	}
	recs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE type = ?`, syncer.TypeCase)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if strings.EqualFold(strings.TrimSpace(syncer.Value(r, "reference")), reference) {
			return syncer.Errorf(syncer.CodeAlreadyExists, "Another case already has the reference %q; a reference names one case.", reference)
		}
	}
	return nil
}
