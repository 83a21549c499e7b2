package server

import (
	"context"
	"strings"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
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
	rows, err := s.read.QueryContext(ctx, `SELECT id, case_id FROM records WHERE type = ? AND (id = ? OR (length(?) >= ? AND substr(id, 1, length(?)) = lower(?))) ORDER BY id`,
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

// referencesFree refuses a case reference another case has (compared without letter case and
// surrounding space), so a reference names one case on every door; it returns the ids of the
// cases it read. References are sealed with the rest of a case and never change after it is made
// (only AddCase writes them, and Push cannot create a case), so a second call in the insert's
// write transaction, given the first call's ids, unseals only the cases added in between: the
// check and the insert are atomic under SQLite's one writer without the writer unsealing every
// case.
func (s *Store) referencesFree(ctx context.Context, q records.Querier, reference string, known map[string]bool) (map[string]bool, error) {
	seen := map[string]bool{}
	if reference == "" {
		return seen, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT id FROM records WHERE type = ?`, syncer.TypeCase)
	if err != nil {
		return nil, err
	}
	var fresh []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		seen[id] = true
		if !known[id] {
			fresh = append(fresh, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	taken := func(r *v1.CommittedChange) error {
		if strings.EqualFold(strings.TrimSpace(syncer.Value(r, "reference")), reference) {
			return syncer.Errorf(syncer.CodeAlreadyExists, "Another case already has the reference %q; a reference names one case.", reference).With("err.case_reference_taken", "Reference", reference)
		}
		return nil
	}
	if known == nil { // the first read: every case, in one query
		return seen, records.Each(ctx, q, s.sealer, taken, `SELECT id, state FROM records WHERE type = ?`, syncer.TypeCase)
	}
	for _, id := range fresh {
		r, err := records.Load(ctx, q, s.sealer, id)
		if err != nil {
			return nil, err
		}
		if r != nil {
			if err := taken(r); err != nil {
				return nil, err
			}
		}
	}
	return seen, nil
}
