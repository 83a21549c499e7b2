package server

import (
	"context"
	"fmt"
	"slices"

	"github.com/samvaer/sync/syncer"
)

// action is something a person does with a case through an RPC or a page: a row key of the one
// table of rules, syncer.Rules, which Push, Pull and the tablet consult too.
type action struct {
	typ, state string
	op         syncer.Operation
}

var (
	actRead          = action{syncer.TypeCase, "", syncer.OpRead}                             // a case, its visits and delivered reports
	actReadDraft     = action{syncer.TypeReport, syncer.StateDraft, syncer.OpRead}            // a report (or addendum) not yet submitted
	actAcknowledge   = action{syncer.TypeReport, syncer.StateSubmitted, syncer.OpAcknowledge} // a delivered report
	actAddendum      = action{syncer.TypeAddendum, "", syncer.OpCreate}                       // a correction to a submitted report
	actParentComment = action{syncer.TypeParentComment, "", syncer.OpCreate}                  // a parent's comment on a report
	actEditCase      = action{syncer.TypeCase, "", syncer.OpEdit}                             // decision, conditions, goals, wishes, visits
)

// caseRolesOf lists the roles the person holds in a case: its case_members rows whose role is
// still one the user holds (a caseworker who became a consultant keeps no caseworker rights
// through an old membership). member is false when the person has no part in the case at all.
func caseRolesOf(ctx context.Context, q querier, id Identity, caseID string) (roles []string, member bool, err error) {
	rows, err := q.QueryContext(ctx, `SELECT role FROM case_members WHERE case_id = ? AND user_id = ?`, caseID, id.UserID)
	if err != nil {
		return nil, false, fmt.Errorf("read case roles: %w", err)
	}
	defer rows.Close()
	var parts []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, false, err
		}
		parts = append(parts, r)
	}
	return rolesHeld(id, parts), len(parts) > 0, rows.Err()
}

// rolesHeld is the user's part in a case: the case roles she has there (parts) that her own
// roles allow her to act in, each once.
func rolesHeld(id Identity, parts []string) []string {
	var roles []string
	for _, r := range parts {
		if slices.Contains(id.Roles, r) && !slices.Contains(roles, r) {
			roles = append(roles, r)
		}
	}
	return roles
}

// authorize checks that the caller may do act on the case. Someone with no part in the case
// hears that it does not exist, so ids cannot be probed; a member without the right role hears
// what is missing.
func authorize(ctx context.Context, q querier, id Identity, caseID string, act action) error {
	roles, member, err := caseRolesOf(ctx, q, id, caseID)
	if err != nil {
		return err
	}
	if !member {
		return syncer.Errorf(syncer.CodeNotFound, "No case with id %q is yours to see.", caseID).With("err.case_not_yours")
	}
	if syncer.Allowed(roles, act.typ, act.state, act.op) {
		return nil
	}
	needs := syncer.RolesFor(act.typ, act.state, act.op)
	return syncer.Errorf(syncer.CodePermissionDenied, "Your part in this case does not allow this; it needs the role %s.", joinOr(needs)).With("err.case_role", "Roles", needs)
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
