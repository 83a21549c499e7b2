package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/samvaer/sync/syncer"
)

// Passwords, for people who sign in on the web (caseworkers, admins). They are stored as Argon2id
// hashes in the PHC string format, so the parameters travel with each hash and can be raised
// later without breaking the stored ones.

// argonParams are Argon2id's cost parameters.
type argonParams struct {
	time, memoryKiB uint32
	threads         uint8
}

// passwordParams follow RFC 9106's second recommended option: 3 passes over 64 MiB, 4 lanes, a
// 16-byte random salt and a 32-byte tag. A hash takes about a tenth of a second on a server core.
var passwordParams = argonParams{time: 3, memoryKiB: 64 * 1024, threads: 4}

const (
	minPasswordChars = 12
	maxPasswordBytes = 1024
	saltBytes        = 16
	tagBytes         = 32
)

// Sign-in lockout: this many failures within the window lock the account for the window.
const (
	SignInMaxFailures = 5
	SignInLockout     = 15 * time.Minute
)

// argonSlots bounds the password hashes computed at once: each takes 64 MiB, so a burst of
// sign-in attempts (with any name: an unknown one costs the same) queues instead of exhausting
// the server's memory.
var argonSlots = make(chan struct{}, 4)

func argonKey(password string, salt []byte, p argonParams) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey([]byte(password), salt, p.time, p.memoryKiB, p.threads, tagBytes)
}

func hashPassword(password string, p argonParams) (string, error) {
	salt := make([]byte, saltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	tag := argonKey(password, salt, p)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memoryKiB, p.time, p.threads,
		b64.EncodeToString(salt), b64.EncodeToString(tag)), nil
}

// checkPassword reports whether password matches a stored hash. An empty or damaged hash
// matches nothing (and costs the same as a real check, so timing does not tell them apart).
func checkPassword(password, stored string) bool {
	var p argonParams
	var version int
	parts := strings.Split(stored, "$")
	ok := len(parts) == 6 && parts[1] == "argon2id"
	if ok {
		_, err1 := fmt.Sscanf(parts[2], "v=%d", &version)
		_, err2 := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memoryKiB, &p.time, &p.threads)
		// Bounds keep a damaged hash from costing the server more than a few real checks.
		ok = err1 == nil && err2 == nil && version == argon2.Version && p.time > 0 && p.threads > 0 &&
			p.memoryKiB >= 8*uint32(p.threads) && p.memoryKiB <= 1<<18 && p.time <= 10 && p.threads <= 16
	}
	var salt, tag []byte
	if ok {
		var err1, err2 error
		salt, err1 = base64.RawStdEncoding.DecodeString(parts[4])
		tag, err2 = base64.RawStdEncoding.DecodeString(parts[5])
		ok = err1 == nil && err2 == nil && len(tag) == tagBytes
	}
	if !ok {
		p, salt, tag = passwordParams, make([]byte, saltBytes), make([]byte, tagBytes)
	}
	got := argonKey(password, salt, p)
	return subtle.ConstantTimeCompare(got, tag) == 1 && ok
}

// SetPassword sets a user's password.
func (s *Store) SetPassword(ctx context.Context, by Actor, nameOrID, password string) error {
	if utf8.RuneCountInString(password) < minPasswordChars || len(password) > maxPasswordBytes {
		return syncer.Errorf(syncer.CodeInvalid, "A password must be at least %d characters (and at most %d bytes).", minPasswordChars, maxPasswordBytes).With("err.password_length", "Min", minPasswordChars)
	}
	hash, err := hashPassword(password, passwordParams)
	if err != nil {
		return err
	}
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		u, err := userByName(ctx, tx, nameOrID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, u.ID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		// A new password is often set because the old one leaked: every browser session of the
		// user ends with it.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, s.nowMs(), AuditEvent{Kind: AuditPasswordSet, ActorUserID: by.UserID, Detail: by.detail(map[string]string{"user": u.ID})})
	})
}

// SignIn checks a user's name and password. Every attempt is written to the audit log; after
// SignInMaxFailures failures within SignInLockout the account is locked for SignInLockout, even
// to the right password.
func (s *Store) SignIn(ctx context.Context, name, password string) (User, error) {
	wrong := syncer.Errorf(syncer.CodeUnauthenticated, "The name or password is wrong.").With("err.signin_wrong")
	now := s.now()
	var u User
	var hash string
	var lockedUntil time.Time
	// In one write, before the slow password check: refuse a locked account, and count this
	// attempt as a failure already, so guesses sent in parallel each see the ones before them
	// and no more than SignInMaxFailures are ever checked in a lockout window. A right
	// password removes the count.
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = userByName(ctx, tx, name); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, u.ID).Scan(&hash); err != nil {
			return err
		}
		var failures, newest int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(at_ms), 0) FROM sign_in_failures WHERE user_id = ? AND at_ms > ?`,
			u.ID, now.Add(-SignInLockout).UnixMilli()).Scan(&failures, &newest); err != nil {
			return err
		}
		if failures >= SignInMaxFailures {
			lockedUntil = time.UnixMilli(newest).Add(SignInLockout)
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sign_in_failures (user_id, at_ms) VALUES (?, ?)`, u.ID, now.UnixMilli()); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE at_ms < ?`, now.Add(-24*time.Hour).UnixMilli())
		return err
	})
	if syncer.ErrorCode(err) == syncer.CodeNotFound {
		checkPassword(password, "") // the same cost as for a known user
		return User{}, s.failSignIn(ctx, "", "unknown user", wrong)
	}
	if err != nil {
		return User{}, fmt.Errorf("sign in: %w", err)
	}
	if !lockedUntil.IsZero() {
		return User{}, s.failSignIn(ctx, u.ID, "locked", syncer.Errorf(syncer.CodePermissionDenied,
			"Too many failed sign-ins: the account is locked until %s. Try again then, or ask an admin.", s.timeText(lockedUntil)).With("err.signin_locked", "Until", lockedUntil))
	}
	if !checkPassword(password, hash) {
		return User{}, s.failSignIn(ctx, u.ID, "wrong password", wrong)
	}
	if u.Disabled {
		return User{}, s.failSignIn(ctx, u.ID, "user disabled", syncer.Errorf(syncer.CodePermissionDenied, "This user is disabled; ask an admin.").With("err.signin_disabled"))
	}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		return appendAudit(ctx, tx, now.UnixMilli(), AuditEvent{Kind: AuditSignIn, ActorUserID: u.ID})
	})
	if err != nil {
		return User{}, fmt.Errorf("sign in: %w", err)
	}
	return u, nil
}

// failSignIn writes a failed sign-in to the audit log and returns refusal.
func (s *Store) failSignIn(ctx context.Context, userID, reason string, refusal error) error {
	if err := s.Audit(ctx, AuditEvent{Kind: AuditSignInFailed, ActorUserID: userID, Detail: map[string]string{"reason": reason}}); err != nil {
		return err
	}
	return refusal
}
