package server

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/samvaer/sync/syncer"
)

// Sign-in through the municipality's identity provider (OpenID Connect; the flow itself is the
// pages', server/web/oidc.go). A person is matched to a user by the subject an admin set on the
// user (SetOIDCSubject): the value of the configured claim in the provider's ID token. Nobody is
// created by signing in, and roles stay ours.

const maxOIDCSubject = 256

// SetOIDCSubject sets (or, with "", clears) who a user is at the identity provider. Two users
// cannot have the same subject. It is audited (without the subject, which may be an address).
func (s *Store) SetOIDCSubject(ctx context.Context, by Actor, nameOrID, subject string) (User, error) {
	subject = strings.TrimSpace(subject)
	if len(subject) > maxOIDCSubject || !utf8.ValidString(subject) || strings.ContainsFunc(subject, unicode.IsControl) {
		return User{}, syncer.Errorf(syncer.CodeInvalid, "An identity-provider subject is one line of at most %d bytes.", maxOIDCSubject).With("err.oidc_subject", "Max", maxOIDCSubject)
	}
	var u User
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = userByName(ctx, tx, nameOrID); err != nil {
			return err
		}
		var value any // NULL clears: many users may have none
		if subject != "" {
			value = subject
			var other string
			err := tx.QueryRowContext(ctx, `SELECT name FROM users WHERE oidc_subject = ? AND id <> ?`, subject, u.ID).Scan(&other)
			if err == nil {
				return syncer.Errorf(syncer.CodeAlreadyExists, "Another user (%s) already has this identity-provider subject.", other).With("err.oidc_subject_taken", "Name", other)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET oidc_subject = ? WHERE id = ?`, value, u.ID); err != nil {
			return fmt.Errorf("set the identity-provider subject: %w", err)
		}
		state := "set"
		if subject == "" {
			state = "cleared"
		}
		u.OIDCSubject = subject
		return s.appendAudit(ctx, tx, s.nowMs(), AuditEvent{Kind: AuditOIDCSubjectSet, ActorUserID: by.UserID, Detail: by.detail(map[string]string{"user": u.ID, "subject": state})})
	})
	return u, err
}

// SignInOIDC signs in the user whose identity-provider subject is subject, after the pages
// verified the provider's ID token. An unknown subject and a disabled user are refused with the
// same words (they reveal nothing about who has an account) and logged as failed sign-ins; a
// sign-in is logged as one, through the provider.
func (s *Store) SignInOIDC(ctx context.Context, subject, address string) (User, error) {
	refused := syncer.Errorf(syncer.CodePermissionDenied, "You are signed in at the identity provider, but this server has no active user for you; ask an admin.").With("err.oidc_no_user")
	at := map[string]string{"via": "oidc"}
	if address != "" {
		at["address"] = address
	}
	var u User
	var roles string
	err := s.read.QueryRowContext(ctx, `SELECT id, name, roles, disabled FROM users WHERE oidc_subject = ?`, subject).Scan(&u.ID, &u.Name, &roles, &u.Disabled)
	if errors.Is(err, sql.ErrNoRows) || subject == "" {
		return User{}, s.failSignIn(ctx, "", "unknown subject", at, refused)
	}
	if err != nil {
		return User{}, fmt.Errorf("sign in: %w", err)
	}
	u.Roles = strings.Split(roles, ",")
	if u.Disabled {
		return User{}, s.failSignIn(ctx, u.ID, "user disabled", at, refused)
	}
	if err := s.Audit(ctx, AuditEvent{Kind: AuditSignIn, ActorUserID: u.ID, Detail: at}); err != nil {
		return User{}, err
	}
	return u, nil
}

// FailedOIDCSignIn logs a sign-in through the identity provider that failed before a person was
// known (a forged or expired state, a refused code, a token that did not verify); reason is one
// of a few fixed words.
func (s *Store) FailedOIDCSignIn(ctx context.Context, reason, address string) error {
	d := map[string]string{"via": "oidc"}
	if address != "" {
		d["address"] = address
	}
	maps.Copy(d, map[string]string{"reason": reason})
	return s.Audit(ctx, AuditEvent{Kind: AuditSignInFailed, Detail: d})
}
