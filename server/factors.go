package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/samvaer/sync/syncer"
)

// A second factor for local accounts: a TOTP authenticator app (RFC 6238: 6 digits, 30-second
// steps, SHA-1 — what every authenticator app reads from a QR code) and ten one-time recovery
// codes. The TOTP secret is sealed like everything else in the database; the recovery codes are
// stored only as hashes. A code is accepted once: a code for a time step at or before the last
// accepted one is refused, so a code seen over someone's shoulder cannot be used again.

// Second-factor requirements (Config.SecondFactor).
const (
	FactorsForAdmins = "admins" // admins must have a second factor (the default)
	FactorsForAll    = "all"    // every local account must
	FactorsForNone   = "none"   // nobody must (people may still set one up)
)

// Session stages: what a browser session may do before it is fully signed in.
const (
	StageFactor = "factor" // the password was right; the second factor is asked for
	StageEnrol  = "enrol"  // the person must set up a second factor before anything else
)

// FactorStepTTL is how long the second-factor step of a sign-in may take after the password.
const FactorStepTTL = 5 * time.Minute

// RecoveryCodes is how many recovery codes a person gets.
const RecoveryCodes = 10

const (
	totpIssuer = "Samvær sync"
	totpPeriod = 30
	// totpSkew: a code of the step before or after the server's is accepted too (the phone's
	// clock may be a little off).
	totpSkew = 1
)

// ValidSecondFactor reports whether req names a second-factor requirement.
func ValidSecondFactor(req string) bool {
	return req == FactorsForAdmins || req == FactorsForAll || req == FactorsForNone
}

// factorRequired says whether u must have a second factor under the store's requirement.
func (s *Store) factorRequired(u User) bool {
	switch s.SecondFactor {
	case FactorsForAll:
		return true
	case FactorsForNone:
		return false
	}
	for _, r := range u.Roles {
		if r == "admin" {
			return true
		}
	}
	return false
}

func totpSecretAD(userID string) []byte { return columnAD("user_factors.totp_secret", userID) }

// TOTPEnrolment is what a person needs to add the account to an authenticator app.
type TOTPEnrolment struct {
	// URL is the otpauth:// address the QR code holds.
	URL string
	// Secret is the same key typed by hand (base32).
	Secret string
}

var errFactorExists = syncer.Errorf(syncer.CodeFailedPrecondition, "A second factor is already set up for this user; an admin can reset it.").With("err.factor_exists")

// StartTOTP makes a new TOTP secret for a user who has none confirmed yet (replacing one that
// was started and never confirmed). It counts once the person confirms it with a code.
func (s *Store) StartTOTP(ctx context.Context, userID string) (TOTPEnrolment, error) {
	u, err := s.UserByName(ctx, userID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: u.Name, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("make a TOTP secret: %w", err)
	}
	sealed, err := s.sealer.Seal([]byte(key.Secret()), totpSecretAD(u.ID))
	if err != nil {
		return TOTPEnrolment{}, err
	}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var confirmed int64
		err := tx.QueryRowContext(ctx, `SELECT confirmed_ms FROM user_factors WHERE user_id = ?`, u.ID).Scan(&confirmed)
		switch {
		case err == nil && confirmed != 0:
			return errFactorExists
		case err == nil:
			_, err = tx.ExecContext(ctx, `UPDATE user_factors SET secret = ?, created_ms = ?, last_step = 0 WHERE user_id = ?`, sealed, s.nowMs(), u.ID)
			return err
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx, `INSERT INTO user_factors (user_id, secret, created_ms) VALUES (?, ?, ?)`, u.ID, sealed, s.nowMs())
			return err
		}
		return err
	})
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{URL: key.URL(), Secret: key.Secret()}, nil
}

// ConfirmTOTP confirms the secret StartTOTP made with a code from the app, and returns the
// person's recovery codes, to be shown once. A session that was sent to enrolment (token) is
// signed in fully from now on.
func (s *Store) ConfirmTOTP(ctx context.Context, token, userID, code string) ([]string, error) {
	recovery := make([]string, RecoveryCodes)
	for i := range recovery {
		c, err := newRecoveryCode()
		if err != nil {
			return nil, err
		}
		recovery[i] = c
	}
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var sealed []byte
		var confirmed, lastStep int64
		err := tx.QueryRowContext(ctx, `SELECT secret, confirmed_ms, last_step FROM user_factors WHERE user_id = ?`, userID).Scan(&sealed, &confirmed, &lastStep)
		if errors.Is(err, sql.ErrNoRows) {
			return syncer.Errorf(syncer.CodeFailedPrecondition, "Start setting up the authenticator app first.").With("err.factor_not_started")
		}
		if err != nil {
			return err
		}
		if confirmed != 0 {
			return errFactorExists
		}
		step, err := s.checkTOTP(sealed, userID, code, lastStep)
		if err != nil {
			return err
		}
		now := s.nowMs()
		if _, err := tx.ExecContext(ctx, `UPDATE user_factors SET confirmed_ms = ?, last_step = ? WHERE user_id = ?`, now, step, userID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, userID); err != nil {
			return err
		}
		for _, c := range recovery {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (code_hash, user_id) VALUES (?, ?)`, recoveryHash(c), userID); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE web_sessions SET stage = '' WHERE token_hash = ? AND user_id = ? AND stage = ?`, tokenHash(token), userID, StageEnrol); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditFactorEnrolled, ActorUserID: userID, Detail: map[string]string{"factor": "totp"}})
	})
	if err != nil {
		return nil, err
	}
	return recovery, nil
}

var errFactorStepOver = syncer.Errorf(syncer.CodeUnauthenticated, "The sign-in took too long (or was ended); sign in again with your password.").With("err.factor_step_over")

var errWrongCode = syncer.Errorf(syncer.CodeUnauthenticated, "The code is wrong or was already used; wait for the next code in the app and try again.").With("err.factor_wrong")

// checkTOTP returns the time step code is valid for (within the skew), refusing steps at or
// before lastStep: each code is used once.
func (s *Store) checkTOTP(sealed []byte, userID, code string, lastStep int64) (int64, error) {
	secret, err := s.sealer.Open(sealed, totpSecretAD(userID))
	if err != nil {
		return 0, fmt.Errorf("open the TOTP secret: %w", err)
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, errWrongCode
	}
	now := s.now().Unix() / totpPeriod
	opts := totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	for step := now - totpSkew; step <= now+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(step*totpPeriod, 0), opts)
		if err != nil {
			return 0, fmt.Errorf("make a TOTP code: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			if step <= lastStep {
				return 0, errWrongCode // replayed
			}
			return step, nil
		}
	}
	return 0, errWrongCode
}

// recoveryEncoding leaves out the letters and digits people mix up (0/O, 1/I).
var recoveryEncoding = base32.NewEncoding("ABCDEFGHJKLMNPQRSTUVWXYZ23456789").WithPadding(base32.NoPadding)

func newRecoveryCode() (string, error) {
	b := make([]byte, 7)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	c := recoveryEncoding.EncodeToString(b)[:10]
	return c[:5] + "-" + c[5:], nil
}

// recoveryHash is what is stored of a recovery code: a hash of it as typed, upper-cased and
// without the dash or spaces.
func recoveryHash(code string) []byte {
	c := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	return tokenHash("recovery|" + c)
}

// HasFactor reports whether a user has a confirmed second factor.
func (s *Store) HasFactor(ctx context.Context, userID string) (bool, error) {
	return hasFactor(ctx, s.read, userID)
}

func hasFactor(ctx context.Context, q querier, userID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_factors WHERE user_id = ? AND confirmed_ms <> 0`, userID).Scan(&n)
	return n > 0, err
}

// CompleteSignIn finishes a sign-in whose password was right with the second factor: a code
// from the authenticator app or a recovery code. A wrong code is a failed sign-in, counted and
// blocking like a wrong password; so are codes sent while the name or address is blocked. On
// success the pending session ends and a new, full one starts (its token is returned).
func (s *Store) CompleteSignIn(ctx context.Context, pendingToken, code, address string) (string, Session, error) {
	sess, err := s.Session(ctx, pendingToken)
	if syncer.ErrorCode(err) == syncer.CodeInternal {
		return "", Session{}, err
	}
	if err != nil || sess.Stage != StageFactor {
		return "", Session{}, errFactorStepOver
	}
	u := sess.User
	policy := s.SignInPolicy.withDefaults()
	now := s.now()
	at := map[string]string{"factor": "totp"}
	if address != "" {
		at["address"] = address
	}
	var blockedUntil time.Time
	var refusal error
	recovery := false
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if blockedUntil, err = signInBlockedUntil(ctx, tx, accountKey(u.Name), address, policy, now); err != nil {
			return err
		}
		if !blockedUntil.IsZero() {
			_, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE token_hash = ?`, tokenHash(pendingToken))
			return err
		}
		var sealed []byte
		var lastStep int64
		if err := tx.QueryRowContext(ctx, `SELECT secret, last_step FROM user_factors WHERE user_id = ? AND confirmed_ms <> 0`, u.ID).Scan(&sealed, &lastStep); err != nil {
			return fmt.Errorf("read the second factor: %w", err)
		}
		step, err := s.checkTOTP(sealed, u.ID, code, lastStep)
		switch {
		case err == nil:
			_, err = tx.ExecContext(ctx, `UPDATE user_factors SET last_step = ? WHERE user_id = ?`, step, u.ID)
		case errors.Is(err, errWrongCode):
			// Perhaps a recovery code: each is used once.
			var res sql.Result
			res, err = tx.ExecContext(ctx, `UPDATE recovery_codes SET used_ms = ? WHERE code_hash = ? AND user_id = ? AND used_ms = 0`, now.UnixMilli(), recoveryHash(code), u.ID)
			if err == nil {
				if n, _ := res.RowsAffected(); n == 1 {
					recovery = true
				} else {
					refusal = errWrongCode
				}
			}
		}
		if err != nil {
			return err
		}
		if refusal != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO sign_in_failures (user_id, account, address, at_ms) VALUES (?, ?, ?, ?)`,
				u.ID, accountKey(u.Name), address, now.UnixMilli())
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sign_in_failures WHERE account = ?`, accountKey(u.Name)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE token_hash = ?`, tokenHash(pendingToken))
		return err
	})
	if err != nil {
		return "", Session{}, fmt.Errorf("sign in: %w", err)
	}
	if !blockedUntil.IsZero() {
		return "", Session{}, s.failSignIn(ctx, u.ID, "locked", at, s.lockedError(blockedUntil))
	}
	if refusal != nil {
		return "", Session{}, s.failSignIn(ctx, u.ID, "wrong code", at, refusal)
	}
	if recovery {
		at["factor"] = "recovery code"
	}
	token, full, err := s.newSession(ctx, u.ID, "", &AuditEvent{Kind: AuditSignIn, ActorUserID: u.ID, Detail: at})
	if err != nil {
		return "", Session{}, err
	}
	return token, full, nil
}

// RecoveryCodesLeft is how many unused recovery codes a user has.
func (s *Store) RecoveryCodesLeft(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_ms = 0`, userID).Scan(&n)
	return n, err
}

// ResetFactors removes a user's second factor and recovery codes (a lost phone) and ends the
// user's browser sessions; at the next sign-in the person sets up a new one. It is audited.
func (s *Store) ResetFactors(ctx context.Context, by Actor, nameOrID string) (User, error) {
	var u User
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = userByName(ctx, tx, nameOrID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM user_factors WHERE user_id = ?`, u.ID)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE user_id = ?`, u.ID); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, s.nowMs(), AuditEvent{Kind: AuditFactorsReset, ActorUserID: by.UserID,
			Detail: by.detail(map[string]string{"user": u.ID, "factors_removed": auditCount(n)})})
	})
	return u, err
}

// PendingTOTP returns the enrolment StartTOTP began and the person has not confirmed yet, so
// the page can show the same QR code again after a mistyped code.
func (s *Store) PendingTOTP(ctx context.Context, userID string) (TOTPEnrolment, error) {
	u, err := s.UserByName(ctx, userID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	var sealed []byte
	err = s.read.QueryRowContext(ctx, `SELECT secret FROM user_factors WHERE user_id = ? AND confirmed_ms = 0`, u.ID).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTPEnrolment{}, syncer.Errorf(syncer.CodeFailedPrecondition, "Start setting up the authenticator app first.").With("err.factor_not_started")
	}
	if err != nil {
		return TOTPEnrolment{}, err
	}
	secret, err := s.sealer.Open(sealed, totpSecretAD(u.ID))
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("open the TOTP secret: %w", err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(secret))
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("the TOTP secret is damaged: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: u.Name, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{URL: key.URL(), Secret: key.Secret()}, nil
}
