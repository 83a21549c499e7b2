package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/internal/records"
	"github.com/samvaer/sync/syncer"
)

// Roles a user may hold.
var Roles = []string{"consultant", "caseworker", "coordinator", "admin"}

// EnrollmentCodeTTL is how long an enrollment code stays usable.
const EnrollmentCodeTTL = 15 * time.Minute

// User is a person who uses the system.
type User struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Roles    []string `json:"roles"`
	Disabled bool     `json:"disabled"`
	// SecondFactor says whether the user has set up a second factor (in Users' list only).
	SecondFactor bool `json:"second_factor"`
	// OIDCSubject is who the user is at the identity provider ("" for none; in Users' list only).
	OIDCSubject string `json:"oidc_subject,omitempty"`
}

// AddUser creates a user with the given roles.
func (s *Store) AddUser(ctx context.Context, name string, roles []string) (User, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return User{}, syncer.Errorf(syncer.CodeInvalid, "A user needs a name of 1 to 100 characters.").With("err.user_name")
	}
	if len(roles) == 0 {
		return User{}, syncer.Errorf(syncer.CodeInvalid, "A user needs at least one role (%s).", strings.Join(Roles, ", ")).With("err.user_roles")
	}
	for _, r := range roles {
		if !slices.Contains(Roles, r) {
			return User{}, syncer.Errorf(syncer.CodeInvalid, "Unknown role %q; roles are %s.", r, strings.Join(Roles, ", ")).With("err.user_role_unknown", "Role", r)
		}
	}
	u := User{ID: syncer.NewID(), Name: name, Roles: roles}
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE name = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return syncer.Errorf(syncer.CodeAlreadyExists, "A user with that name already exists.").With("err.user_exists")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (id, name, roles, created_ms) VALUES (?, ?, ?, ?)`,
			u.ID, u.Name, strings.Join(roles, ","), s.nowMs())
		return err
	})
	return u, err
}

// UserByName looks a user up by name or id.
func (s *Store) UserByName(ctx context.Context, nameOrID string) (User, error) {
	return userByName(ctx, s.read, nameOrID)
}

func userByName(ctx context.Context, q querier, nameOrID string) (User, error) {
	var u User
	var roles string
	err := q.QueryRowContext(ctx, `SELECT id, name, roles, disabled FROM users WHERE name = ? OR id = ?`, nameOrID, nameOrID).
		Scan(&u.ID, &u.Name, &roles, &u.Disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, syncer.Errorf(syncer.CodeNotFound, "No user is named %q.", nameOrID).With("err.user_unknown", "Name", nameOrID)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user: %w", err)
	}
	u.Roles = strings.Split(roles, ",")
	return u, nil
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, name, roles, disabled, COALESCE(oidc_subject, ''),
		EXISTS (SELECT 1 FROM user_factors f WHERE f.user_id = users.id AND f.confirmed_ms <> 0) FROM users ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var users []User
	for rows.Next() {
		var u User
		var roles string
		if err := rows.Scan(&u.ID, &u.Name, &roles, &u.Disabled, &u.OIDCSubject, &u.SecondFactor); err != nil {
			return nil, err
		}
		u.Roles = strings.Split(roles, ",")
		users = append(users, u)
	}
	return users, rows.Err()
}

// NewCase is what `case add` needs. Children's and parents' names are sensitive.
type NewCase struct {
	Children   []string
	Parents    []string
	Caseworker string // user name or id
	Reference  string // the municipality's case reference
	Relatives  []string
	Placement  string // the foster family or institution
	// Coordinator (user name or id, optional) plans the case's visits.
	Coordinator string
	// By is who creates the case, for the access log (nil: an admin on the command line).
	By *Identity
}

// AddCase creates a case; its caseworker is a member from the start.
func (s *Store) AddCase(ctx context.Context, nc NewCase) (string, error) {
	if len(nc.Children) == 0 {
		return "", syncer.Errorf(syncer.CodeInvalid, "A case needs at least one child.").With("err.case_child")
	}
	nc.Reference = strings.TrimSpace(nc.Reference)
	if len(nc.Reference) > 100 {
		return "", syncer.Errorf(syncer.CodeInvalid, "A case reference is at most 100 characters.").With("err.case_reference_long")
	}
	if len(nc.Placement) > 1000 {
		return "", syncer.Errorf(syncer.CodeInvalid, "The placement must be at most 1000 characters.").With("err.case_placement")
	}
	for _, names := range [][]string{nc.Children, nc.Parents, nc.Relatives} {
		for _, n := range names {
			if strings.TrimSpace(n) == "" || len(n) > 200 {
				return "", syncer.Errorf(syncer.CodeInvalid, "Names must be 1 to 200 characters.").With("err.case_names")
			}
		}
	}
	// The references of the cases there are now, read without holding the writer; the write
	// transaction then reads only cases added since.
	known, err := s.referencesFree(ctx, s.read, nc.Reference, nil)
	if err != nil {
		return "", err
	}
	caseID := syncer.NewID()
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		cw, err := userByName(ctx, tx, nc.Caseworker)
		if err != nil {
			return err
		}
		if !slices.Contains(cw.Roles, "caseworker") {
			return syncer.Errorf(syncer.CodeInvalid, "%s is not a caseworker.", cw.Name).With("err.not_caseworker", "Name", cw.Name)
		}
		if _, err := s.referencesFree(ctx, tx, nc.Reference, known); err != nil {
			return err
		}
		log, err := s.newCommitLog(ctx, tx, s.nowMs())
		if err != nil {
			return err
		}
		ref := &v1.RecordRef{Type: syncer.TypeCase, Id: caseID, CaseId: caseID}
		if _, err := log.serverChange(ref, false, map[string]string{
			"children":   strings.Join(nc.Children, "\n"),
			"parents":    strings.Join(nc.Parents, "\n"),
			"caseworker": cw.ID,
			"reference":  nc.Reference,
			"relatives":  strings.Join(nc.Relatives, "\n"),
			"placement":  nc.Placement,
		}, s.clock.Now()); err != nil {
			return err
		}
		// Each child is its own record, so the access log and exports can name a child by id.
		for _, name := range nc.Children {
			ref := &v1.RecordRef{Type: syncer.TypeChild, Id: syncer.NewID(), CaseId: caseID}
			if _, err := log.serverChange(ref, false, map[string]string{"name": name}, s.clock.Now()); err != nil {
				return err
			}
		}
		if err := s.auditChanges(log, viaOf(nc.By)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO case_members (case_id, user_id, role) VALUES (?, ?, 'caseworker')`, caseID, cw.ID); err != nil {
			return err
		}
		if nc.Coordinator == "" {
			return nil
		}
		co, err := userByName(ctx, tx, nc.Coordinator)
		if err != nil {
			return err
		}
		if !slices.Contains(co.Roles, "coordinator") {
			return syncer.Errorf(syncer.CodeInvalid, "%s is not a coordinator.", co.Name).With("err.not_coordinator", "Name", co.Name)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO case_members (case_id, user_id, role) VALUES (?, ?, 'coordinator')`, caseID, co.ID)
		return err
	})
	return caseID, err
}

// NewVisit is what `visit add` needs.
type NewVisit struct {
	CaseID     string
	Consultant string // user name or id
	Kind       string // supervised | supported
	Start, End time.Time
	Place      string
	// Room is the visit room; two visits may not hold the same room at the same time.
	Room string
	// DecisionID names the decision the visit rests on ("": the case's newest of its kind).
	DecisionID string
	// By is the caller of an RPC, who must be allowed to edit the case (nil: an admin).
	By *Identity
}

// AddVisit creates a visit with its default checklist and an empty report, and makes the
// consultant a member of the case.
func (s *Store) AddVisit(ctx context.Context, nv NewVisit) (string, error) {
	if nv.Kind != "supervised" && nv.Kind != "supported" {
		return "", syncer.Errorf(syncer.CodeInvalid, "A visit is supervised (overvåget) or supported (støttet).").With("err.visit_kind")
	}
	if !nv.End.After(nv.Start) {
		return "", syncer.Errorf(syncer.CodeInvalid, "A visit must end after it starts.").With("err.visit_order")
	}
	if len(nv.Place) > 200 || len(nv.Room) > 100 {
		return "", syncer.Errorf(syncer.CodeInvalid, "The place must be at most 200 characters, the room at most 100.").With("err.visit_place")
	}
	visitID := syncer.NewID()
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if err := s.openCase(ctx, tx, nv.CaseID); err != nil {
			return err
		}
		if nv.By != nil {
			if err := authorize(ctx, tx, *nv.By, nv.CaseID, actEditCase); err != nil {
				return err
			}
		}
		if err := s.roomTaken(ctx, tx, nv.Room, "", nv.Start, nv.End); err != nil {
			return err
		}
		if nv.DecisionID != "" {
			d, err := records.Load(ctx, tx, s.sealer, nv.DecisionID)
			if err != nil {
				return err
			}
			if d == nil || d.Record.Type != syncer.TypeDecision || d.Record.CaseId != nv.CaseID || syncer.Value(d, "kind") != nv.Kind {
				return syncer.Errorf(syncer.CodeInvalid, "The case has no %s decision with id %q.", nv.Kind, nv.DecisionID).With("err.visit_decision")
			}
		}
		consultant, err := userByName(ctx, tx, nv.Consultant)
		if err != nil {
			return err
		}
		if !slices.Contains(consultant.Roles, "consultant") {
			return syncer.Errorf(syncer.CodeInvalid, "%s is not a consultant.", consultant.Name).With("err.not_consultant", "Name", consultant.Name)
		}
		log, err := s.newCommitLog(ctx, tx, s.nowMs())
		if err != nil {
			return err
		}
		hlc := s.clock.Now()
		add := func(typ, id string, fields map[string]string) error {
			_, err := log.serverChange(&v1.RecordRef{Type: typ, Id: id, CaseId: nv.CaseID}, false, fields, hlc)
			return err
		}
		version, checklist, err := checklistTemplate(ctx, tx)
		if err != nil {
			return err
		}
		if err := add(syncer.TypeVisit, visitID, map[string]string{
			"checklist_version": strconv.Itoa(version),
			"consultant":        consultant.ID, "kind": nv.Kind, "place": nv.Place, "room": nv.Room, "decision_id": nv.DecisionID,
			"start_ms": strconv.FormatInt(nv.Start.UnixMilli(), 10), "end_ms": strconv.FormatInt(nv.End.UnixMilli(), 10),
		}); err != nil {
			return err
		}
		for _, item := range checklist {
			if err := add(syncer.TypeChecklistItem, syncer.NewID(), map[string]string{
				"visit_id": visitID, "phase": item.Phase, "key": item.Key, "label": item.Label, "checked": "false",
			}); err != nil {
				return err
			}
		}
		if err := add(syncer.TypeReport, syncer.NewID(), map[string]string{"visit_id": visitID}); err != nil {
			return err
		}
		if err := s.auditChanges(log, viaOf(nv.By)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO case_members (case_id, user_id, role) VALUES (?, ?, 'consultant') ON CONFLICT DO NOTHING`, nv.CaseID, consultant.ID)
		return err
	})
	return visitID, err
}

// CancelVisit marks a visit cancelled (cancelled_ms): nothing is deleted. Its checklist, report
// and observations stay, an edit a tablet made to them offline is applied when it arrives, and
// every view shows the visit as cancelled with what was written for it (syncer.Cancelled). A
// cancelled visit holds no room and is not overdue. Cancelling twice is harmless.
func (s *Store) CancelVisit(ctx context.Context, visitID string) error {
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		recs, err := records.Query(ctx, tx, s.sealer, `SELECT id, state FROM records WHERE id = ? AND type = 'visit'
			UNION ALL SELECT id, state FROM records WHERE visit_id = ? AND visit_id <> '' AND type = 'report'`, visitID, visitID)
		if err != nil {
			return err
		}
		if len(recs) == 0 || recs[0].Record.Type != syncer.TypeVisit || recs[0].Deleted {
			return syncer.Errorf(syncer.CodeNotFound, "No visit has id %q.", visitID).With("err.visit_unknown")
		}
		if syncer.Cancelled(recs[0]) {
			return nil
		}
		for _, rec := range recs {
			if syncer.Locked(rec) && !rec.Deleted {
				return syncer.Errorf(syncer.CodeFailedPrecondition, "Visit %s has a submitted report; a visit that took place cannot be cancelled.", visitID).With("err.visit_cancel_done")
			}
		}
		log, err := s.newCommitLog(ctx, tx, s.nowMs())
		if err != nil {
			return err
		}
		if _, err := log.serverChange(recs[0].Record, false, map[string]string{"cancelled_ms": strconv.FormatInt(s.nowMs(), 10)}, s.clock.Now()); err != nil {
			return err
		}
		return s.auditChanges(log, viaOf(nil))
	})
}

// CaseDigest is the digest of what a consultant's device should hold of a case: equal to the
// digest of every consultant's tablet of the case that has synced (CaseDigestFor). A case that
// does not exist is NotFound, not the digest of nothing.
func (s *Store) CaseDigest(ctx context.Context, caseID string) (string, error) {
	return s.CaseDigestFor(ctx, caseID, Holder{Role: syncer.RoleConsultant})
}

// Holder names whose devices a digest is for: a case role, or a user (by name or id) with the
// part they play in the case.
type Holder struct{ Role, User string }

// CaseDigestFor is the digest of what a device of the holder should hold of a case now: the
// case's records as records.Digest defines it when the holder's part holds the case
// (syncer.HoldsCase), the empty digest when it holds nothing of it. A tablet's digest equals it
// once the tablet has synced, whatever was purged.
func (s *Store) CaseDigestFor(ctx context.Context, caseID string, h Holder) (string, error) {
	var sum string
	err := s.db.ReadTx(ctx, func(tx *sql.Tx) error {
		if err := s.caseExists(ctx, tx, caseID); err != nil {
			return err
		}
		roles := []string{h.Role}
		if h.User != "" {
			u, err := userByName(ctx, tx, h.User)
			if err != nil {
				return err
			}
			if roles, _, err = caseRolesOf(ctx, tx, Identity{UserID: u.ID, Roles: u.Roles}, caseID); err != nil {
				return err
			}
		} else if !slices.Contains(syncer.CaseRoles, h.Role) {
			return syncer.Errorf(syncer.CodeInvalid, "A digest is for a case role (consultant, caseworker or coordinator) or a user.")
		}
		if !syncer.HoldsCase(roles) {
			sum = records.EmptyDigest()
			return nil
		}
		var err error
		sum, err = records.Digest(ctx, tx, s.sealer, caseID, s.nowMs())
		return err
	})
	return sum, err
}

// NewEnrollmentCode issues a one-time code with which a tablet enrolls for the user. Only a hash
// of the code is stored.
func (s *Store) NewEnrollmentCode(ctx context.Context, userName string) (code string, expires time.Time, err error) {
	raw := make([]byte, 10)
	if _, err := rand.Read(raw); err != nil {
		return "", time.Time{}, err
	}
	code = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	now := s.now()
	expires = now.Add(EnrollmentCodeTTL)
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		u, err := userByName(ctx, tx, userName)
		if err != nil {
			return err
		}
		if u.Disabled {
			return syncer.Errorf(syncer.CodeFailedPrecondition, "%s is disabled.", u.Name).With("err.user_is_disabled", "Name", u.Name)
		}
		h := sha256.Sum256([]byte(code))
		_, err = tx.ExecContext(ctx, `INSERT INTO enrollment_codes (code_hash, user_id, created_ms, expires_ms) VALUES (?, ?, ?, ?)`,
			h[:], u.ID, now.UnixMilli(), expires.UnixMilli())
		return err
	})
	return code, expires, err
}

// Device is an enrolled tablet.
type Device struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	UserID     string `json:"user_id"`
	UserName   string `json:"user_name"`
	Status     string `json:"status"`
	LastSeq    int64  `json:"last_seq"`
	EnrolledMs int64  `json:"enrolled_ms"`
	LastSeenMs int64  `json:"last_seen_ms"`
	RevokedMs  int64  `json:"revoked_ms"`
	WipedMs    int64  `json:"wiped_ms"`
}

// Devices lists enrolled devices, newest first.
func (s *Store) Devices(ctx context.Context) ([]Device, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT d.id, d.name, d.user_id, u.name, d.status, d.last_seq, d.enrolled_ms, d.last_seen_ms, d.revoked_ms, d.wiped_ms
		FROM devices d JOIN users u ON u.id = d.user_id ORDER BY d.enrolled_ms DESC, d.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var d Device
		if err := rows.Scan(&d.ID, &d.Name, &d.UserID, &d.UserName, &d.Status, &d.LastSeq, &d.EnrolledMs, &d.LastSeenMs, &d.RevokedMs, &d.WipedMs); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// CaseSummary is a case as listed for an admin: ids and counts, no names.
type CaseSummary struct {
	ID        string `json:"id"`
	Reference string `json:"reference"`
	Visits    int    `json:"visits"`
}

// Cases lists cases by id.
func (s *Store) Cases(ctx context.Context) ([]CaseSummary, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT c.id, c.state, (SELECT COUNT(*) FROM records v WHERE v.case_id = c.id AND v.type = 'visit')
		FROM records c WHERE c.type = 'case' ORDER BY c.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CaseSummary
	for rows.Next() {
		var id string
		var blob []byte
		var cs CaseSummary
		if err := rows.Scan(&id, &blob, &cs.Visits); err != nil {
			return nil, err
		}
		rec, err := records.Decode(s.sealer, id, blob)
		if err != nil {
			return nil, err
		}
		cs.ID, cs.Reference = rec.Record.Id, syncer.Value(rec, "reference")
		out = append(out, cs)
	}
	return out, rows.Err()
}
