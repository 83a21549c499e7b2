package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"fmt"
	"maps"
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

// Sign-in blocking, by the defaults of the Danish standard data-processing clauses as the
// municipality reads them: repeated failures within 24 hours block sign-in until an admin lifts
// the block or the time passes. Failures are counted per account name as typed and per address.
const (
	SignInMaxFailures        = 5              // per account name within SignInWindow
	SignInMaxAddressFailures = 20             // per address within SignInWindow
	SignInWindow             = 24 * time.Hour // how far back failures count
	SignInLockout            = 24 * time.Hour // how long a block lasts after the newest failure
)

// SignInPolicy says when failed sign-ins block. Zero fields take the defaults above.
type SignInPolicy struct {
	MaxFailures, MaxAddressFailures int
	Window, Block                   time.Duration
}

// DefaultSignInPolicy is the policy with the defaults above.
func DefaultSignInPolicy() SignInPolicy {
	return SignInPolicy{MaxFailures: SignInMaxFailures, MaxAddressFailures: SignInMaxAddressFailures, Window: SignInWindow, Block: SignInLockout}
}

func (p SignInPolicy) withDefaults() SignInPolicy {
	d := DefaultSignInPolicy()
	if p.MaxFailures <= 0 {
		p.MaxFailures = d.MaxFailures
	}
	if p.MaxAddressFailures <= 0 {
		p.MaxAddressFailures = d.MaxAddressFailures
	}
	if p.Window <= 0 {
		p.Window = d.Window
	}
	if p.Block <= 0 {
		p.Block = d.Block
	}
	return p
}

// accountKey is how failures are counted per account: the name as typed, folded, whether or not
// such a user exists — so a block says nothing about who has an account.
func accountKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

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
		if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE user_id = ? OR account = ?`, u.ID, accountKey(u.Name)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, s.nowMs(), AuditEvent{Kind: AuditPasswordSet, ActorUserID: by.UserID, Detail: by.detail(map[string]string{"user": u.ID})})
	})
}

// SignIn checks a user's name and password; see SignInFrom.
func (s *Store) SignIn(ctx context.Context, name, password string) (SignInStep, error) {
	return s.SignInFrom(ctx, name, password, "")
}

// SignInStep is a right password's outcome: the user, and what the person must do before the
// browser session is theirs.
type SignInStep struct {
	User
	// Next is "" when the person is signed in, StageFactor when the second factor must follow
	// (CompleteSignIn), StageEnrol when the person must set one up before anything else.
	Next string
}

// StartSession starts the browser session a sign-in step leads to: a full one, or one that may
// only give the second factor or set one up.
func (s *Store) StartSession(ctx context.Context, step SignInStep) (string, Session, error) {
	return s.newSession(ctx, step.ID, step.Next, nil)
}

// SignInFrom checks a user's name and password from a network address ("" when unknown). Every
// attempt is written to the audit log. After SignInPolicy.MaxFailures failures for the name, or
// MaxAddressFailures from the address, within the window, sign-in is blocked for the name (or
// from the address) until Block after the newest failure, even to the right password, or until
// an admin lifts the block (UnblockSignIn). An unknown name is counted and blocked exactly like a
// known one, with the same words, so neither the refusal nor the block reveals whether an account
// exists. A user with a second factor is not signed in by the password alone: the step says the
// factor must follow, and failures keep counting until it is right.
func (s *Store) SignInFrom(ctx context.Context, name, password, address string) (SignInStep, error) {
	wrong := syncer.Errorf(syncer.CodeUnauthenticated, "The name or password is wrong.").With("err.signin_wrong")
	policy := s.SignInPolicy.withDefaults()
	now := s.now()
	account := accountKey(name)
	attempt := syncer.NewID()
	var u User
	var known bool
	var hash string
	var blockedUntil time.Time
	// In one write, before the slow password check: refuse a blocked name or address, and count
	// this attempt as a failure already, so guesses sent in parallel each see the ones before
	// them and no more than the maximum are ever checked in a window. A right password removes
	// the name's count.
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if blockedUntil, err = signInBlockedUntil(ctx, tx, account, address, policy, now); err != nil {
			return err
		}
		u, err = userByName(ctx, tx, name)
		switch {
		case err == nil:
			known = true
			if err := tx.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = ?`, u.ID).Scan(&hash); err != nil {
				return err
			}
		case syncer.ErrorCode(err) != syncer.CodeNotFound:
			return err
		}
		if !blockedUntil.IsZero() {
			return nil // attempts while blocked do not extend the block
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sign_in_failures (user_id, account, address, at_ms, attempt) VALUES (?, ?, ?, ?, ?)`,
			u.ID, account, address, now.UnixMilli(), attempt); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE at_ms < ?`, now.Add(-policy.Window-policy.Block).UnixMilli())
		return err
	})
	if err != nil {
		return SignInStep{}, fmt.Errorf("sign in: %w", err)
	}
	at := map[string]string{}
	if address != "" {
		at["address"] = address
	}
	if !blockedUntil.IsZero() {
		return SignInStep{}, s.failSignIn(ctx, u.ID, "locked", at, s.lockedError(blockedUntil))
	}
	if !known {
		checkPassword(password, "") // the same cost as for a known user
		return SignInStep{}, s.failSignIn(ctx, "", "unknown user", at, wrong)
	}
	if !checkPassword(password, hash) {
		return SignInStep{}, s.failSignIn(ctx, u.ID, "wrong password", at, wrong)
	}
	if u.Disabled {
		return SignInStep{}, s.failSignIn(ctx, u.ID, "user disabled", at, syncer.Errorf(syncer.CodePermissionDenied, "This user is disabled; ask an admin.").With("err.signin_disabled"))
	}
	step := SignInStep{User: u}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		has, err := hasFactor(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		if has {
			// Not signed in yet: this attempt stops counting as a failure, the ones before it
			// count on until the second factor is right, so a known password buys no more
			// guesses at the code.
			step.Next = StageFactor
			_, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE attempt = ?`, attempt)
			return err
		}
		if s.factorRequired(u) {
			step.Next = StageEnrol
			at["next"] = "enrol a second factor"
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE account = ?`, account); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now.UnixMilli(), AuditEvent{Kind: AuditSignIn, ActorUserID: u.ID, Detail: at})
	})
	if err != nil {
		return SignInStep{}, fmt.Errorf("sign in: %w", err)
	}
	return step, nil
}

// lockedError is the refusal of a sign-in while the name or address is blocked.
func (s *Store) lockedError(until time.Time) error {
	return syncer.Errorf(syncer.CodePermissionDenied,
		"Too many failed sign-ins: signing in with this name or from this address is locked until %s. Try again then, or ask an admin to lift the block.",
		s.timeText(until)).With("err.signin_locked", "Until", until)
}

// blockedBy returns until when failures recorded under key (in column account or address) block
// sign-in: max failures within policy.Window start a block that lasts policy.Block from the
// last of them. Zero when there is no block now.
// signInBlockedUntil is when the later of the account's and the address's blocks ends (zero when
// neither is blocked); an empty account or address is not counted.
func signInBlockedUntil(ctx context.Context, tx *sql.Tx, account, address string, policy SignInPolicy, now time.Time) (time.Time, error) {
	var blockedUntil time.Time
	for _, c := range []struct {
		column, key string
		max         int
	}{{"account", account, policy.MaxFailures}, {"address", address, policy.MaxAddressFailures}} {
		if c.key == "" {
			continue
		}
		until, err := blockedBy(ctx, tx, c.column, c.key, c.max, policy, now)
		if err != nil {
			return time.Time{}, err
		}
		if until.After(blockedUntil) {
			blockedUntil = until
		}
	}
	return blockedUntil, nil
}

func blockedBy(ctx context.Context, tx *sql.Tx, column, key string, max int, policy SignInPolicy, now time.Time) (time.Time, error) {
	rows, err := tx.QueryContext(ctx, `SELECT at_ms FROM sign_in_failures WHERE `+column+` = ? AND at_ms > ? ORDER BY at_ms`,
		key, now.Add(-policy.Window-policy.Block).UnixMilli())
	if err != nil {
		return time.Time{}, err
	}
	defer rows.Close()
	var at []int64
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			return time.Time{}, err
		}
		at = append(at, ms)
	}
	if err := rows.Err(); err != nil {
		return time.Time{}, err
	}
	var until time.Time
	for i := 0; i+max-1 < len(at); i++ {
		last := at[i+max-1]
		if last-at[i] <= policy.Window.Milliseconds() {
			if u := time.UnixMilli(last).Add(policy.Block); u.After(now) && u.After(until) {
				until = u
			}
		}
	}
	return until, nil
}

// UnblockSignIn lifts a sign-in block: for an account name (a user's name, or any name that was
// typed) or for an address. It is audited.
func (s *Store) UnblockSignIn(ctx context.Context, by Actor, account, address string) (int64, error) {
	account = accountKey(account)
	if account == "" && address == "" {
		return 0, syncer.Errorf(syncer.CodeInvalid, "Name the account or the address whose sign-in block to lift.")
	}
	var n int64
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE (? <> '' AND account = ?) OR (? <> '' AND address = ?)`,
			account, account, address, address)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		detail := map[string]string{"failures_cleared": auditCount(n)}
		if address != "" {
			detail["address"] = address
		}
		if u, err := userByName(ctx, tx, account); err == nil {
			detail["user"] = u.ID
		}
		return s.appendAudit(ctx, tx, s.nowMs(), AuditEvent{Kind: AuditSignInUnblocked, ActorUserID: by.UserID, Detail: by.detail(detail)})
	})
	return n, err
}

// failSignIn writes a failed sign-in to the audit log and returns refusal.
func (s *Store) failSignIn(ctx context.Context, userID, reason string, detail map[string]string, refusal error) error {
	d := map[string]string{"reason": reason}
	maps.Copy(d, detail)
	if err := s.Audit(ctx, AuditEvent{Kind: AuditSignInFailed, ActorUserID: userID, Detail: d}); err != nil {
		return err
	}
	return refusal
}
