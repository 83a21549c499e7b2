package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samvaer/sync/syncer"
)

// Browser sessions. A session ends after SessionIdle without a request, after SessionMax in any
// case, at sign-out, and at once when its user is disabled.
const (
	SessionIdle = 30 * time.Minute
	SessionMax  = 10 * time.Hour
	// sessionTouchMs: a request refreshes the session's last use at most this often, so reading
	// pages does not write to the database on every click.
	sessionTouchMs = 60_000
)

// Session is a signed-in person in a browser.
type Session struct {
	User User
	// CSRF is the token every form of this session carries.
	CSRF string
	// Stage is "" for a signed-in person, StageFactor while the second factor is asked for,
	// StageEnrol while the person must set one up first.
	Stage string
}

var errNoSession = syncer.Errorf(syncer.CodeUnauthenticated, "Your session has ended; sign in again.")

// RandomToken returns 32 random bytes, URL-safe base64: for session and form tokens.
func RandomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// NewSession starts a session for a signed-in user and returns its token (for the cookie).
func (s *Store) NewSession(ctx context.Context, userID string) (string, Session, error) {
	return s.newSession(ctx, userID, "", nil)
}

// newSession starts a session in a stage, writing event (if any) to the audit log in the same
// transaction.
func (s *Store) newSession(ctx context.Context, userID, stage string, event *AuditEvent) (string, Session, error) {
	token, err := RandomToken()
	if err != nil {
		return "", Session{}, err
	}
	csrf, err := RandomToken()
	if err != nil {
		return "", Session{}, err
	}
	var sess Session
	now := s.nowMs()
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		u, err := userByName(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u.Disabled {
			return syncer.Errorf(syncer.CodePermissionDenied, "This user is disabled.").With("err.user_disabled_session")
		}
		sess = Session{User: u, CSRF: csrf, Stage: stage}
		// Sessions that ran out are removed whenever one starts.
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE last_seen_ms < ? OR created_ms < ?`,
			now-SessionIdle.Milliseconds(), now-SessionMax.Milliseconds()); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO web_sessions (token_hash, user_id, csrf, created_ms, last_seen_ms, stage) VALUES (?, ?, ?, ?, ?, ?)`,
			tokenHash(token), u.ID, csrf, now, now, stage)
		if err != nil || event == nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, *event)
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("start session: %w", err)
	}
	return token, sess, nil
}

// Session returns the live session a token names, refreshing its last use.
func (s *Store) Session(ctx context.Context, token string) (Session, error) {
	if token == "" || len(token) > 64 {
		return Session{}, errNoSession
	}
	now := s.nowMs()
	var sess Session
	var roles string
	var created, seen int64
	err := s.read.QueryRowContext(ctx, `SELECT u.id, u.name, u.roles, u.disabled, w.csrf, w.created_ms, w.last_seen_ms, w.stage
		FROM web_sessions w JOIN users u ON u.id = w.user_id WHERE w.token_hash = ?`, tokenHash(token)).
		Scan(&sess.User.ID, &sess.User.Name, &roles, &sess.User.Disabled, &sess.CSRF, &created, &seen, &sess.Stage)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, errNoSession
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	if sess.User.Disabled || now-seen > SessionIdle.Milliseconds() || now-created > SessionMax.Milliseconds() ||
		(sess.Stage == StageFactor && now-created > FactorStepTTL.Milliseconds()) {
		return Session{}, errNoSession
	}
	sess.User.Roles = strings.Split(roles, ",")
	if now-seen > sessionTouchMs {
		err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE web_sessions SET last_seen_ms = ? WHERE token_hash = ?`, now, tokenHash(token))
			return err
		})
		if err != nil {
			return Session{}, fmt.Errorf("refresh session: %w", err)
		}
	}
	return sess, nil
}

// EndSession signs a session out.
func (s *Store) EndSession(ctx context.Context, token string) error {
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE token_hash = ?`, tokenHash(token))
		return err
	})
}
