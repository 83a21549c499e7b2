package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/samvaer/sync/syncer"
)

// action is something a person does with a case through an RPC. Every check of who may do what
// with a case is in authorize, so the rules stay one table.
type action int

const (
	actRead          action = iota + 1 // read a case, its visits and submitted reports
	actReadDraft                       // read a report not yet submitted
	actAcknowledge                     // acknowledge a delivered report
	actAddendum                        // add an addendum to a submitted report
	actParentComment                   // file a parent's comment with a report
	actEditCase                        // edit a case's decision, conditions, goals, children, visits
)

// caseRoles says which case roles (case_members.role) allow an action. Caseworkers own their
// cases; coordinators plan their team's visits (a coordinator is a case member with role
// coordinator); consultants work on what they are assigned.
var caseRoles = map[action][]string{
	actRead:          {"caseworker", "coordinator", "consultant"},
	actReadDraft:     {"consultant"},
	actAcknowledge:   {"caseworker"},
	actAddendum:      {"caseworker", "consultant"},
	actParentComment: {"caseworker"},
	actEditCase:      {"caseworker", "coordinator"},
}

// authorize checks that the caller may do act on the case. Someone with no part in the case
// hears that it does not exist, so ids cannot be probed; a member without the right role hears
// what is missing.
func authorize(ctx context.Context, q querier, id Identity, caseID string, act action) error {
	rows, err := q.QueryContext(ctx, `SELECT role FROM case_members WHERE case_id = ? AND user_id = ?`, caseID, id.UserID)
	if err != nil {
		return fmt.Errorf("read case roles: %w", err)
	}
	defer rows.Close()
	var roles []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return err
		}
		roles = append(roles, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(roles) == 0 {
		return syncer.Errorf(syncer.CodeNotFound, "No case with id %q is yours to see.", caseID).With("err.case_not_yours")
	}
	for _, r := range roles {
		// The role must still be one the user holds: a caseworker who became a consultant
		// keeps no caseworker rights through an old membership.
		if slices.Contains(caseRoles[act], r) && slices.Contains(id.Roles, r) {
			return nil
		}
	}
	return syncer.Errorf(syncer.CodePermissionDenied, "Your part in this case does not allow this; it needs the role %s.", joinOr(caseRoles[act])).With("err.case_role", "Roles", caseRoles[act])
}

// authorizeRole checks that the caller holds one of the roles, for what is not about one case
// (creating a case, editing checklist templates).
func authorizeRole(id Identity, roles ...string) error {
	for _, r := range roles {
		if slices.Contains(id.Roles, r) {
			return nil
		}
	}
	return syncer.Errorf(syncer.CodePermissionDenied, "This needs the role %s.", joinOr(roles)).With("err.role", "Roles", roles)
}

func joinOr(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	s := words[0]
	for _, w := range words[1 : len(words)-1] {
		s += ", " + w
	}
	return s + " or " + words[len(words)-1]
}
