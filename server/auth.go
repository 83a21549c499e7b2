package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/samvaer/sync/syncer"
)

// Token settings. Access tokens live minutes: revocation is checked on every request anyway,
// the short life limits what a stolen token is worth.
const (
	AccessTokenTTL     = 5 * time.Minute
	tokenRequestWindow = 2 * time.Minute
	maxTokenBytes      = 4096
	tokenType          = "at+jwt"
)

// Device statuses.
const (
	DeviceActive  = "active"
	DeviceLost    = "lost"
	DeviceRetired = "retired"
)

// Enroll consumes a one-time enrollment code and registers the device's public key. The same
// request again (same code, same key, code not expired) is answered with the same device, so a
// tablet whose answer was lost can ask again; the used code enrolls no other key.
func (s *Store) Enroll(ctx context.Context, code string, publicKey []byte, name string) (deviceID string, user User, err error) {
	if len(publicKey) != ed25519.PublicKeySize {
		return "", User{}, syncer.Errorf(syncer.CodeInvalid, "The device key must be an Ed25519 public key of %d bytes.", ed25519.PublicKeySize)
	}
	name = strings.TrimSpace(name)
	if len(name) > 100 || strings.ContainsFunc(name, unicode.IsControl) || !utf8.ValidString(name) {
		return "", User{}, syncer.Errorf(syncer.CodeInvalid, "A device name is one line of at most 100 characters.")
	}
	h := sha256.Sum256([]byte(strings.ToUpper(strings.TrimSpace(code))))
	now := s.nowMs()
	deviceID = syncer.NewID()
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var userID, enrolled, status string
		var expires, used int64
		var enrolledKey []byte
		err := tx.QueryRowContext(ctx, `SELECT c.user_id, c.expires_ms, c.used_ms, c.device_id, d.public_key, COALESCE(d.status, '')
			FROM enrollment_codes c LEFT JOIN devices d ON d.id = c.device_id WHERE c.code_hash = ?`, h[:]).
			Scan(&userID, &expires, &used, &enrolled, &enrolledKey, &status)
		// A used code answers again only the request it answered: the same public key (whoever
		// holds the private key is the tablet it enrolled), before the code expires, while that
		// device is active. Any other key is refused as before.
		retry := err == nil && used != 0 && enrolled != "" && bytes.Equal(enrolledKey, publicKey) && status == DeviceActive
		if errors.Is(err, sql.ErrNoRows) || (err == nil && ((used != 0 && !retry) || expires <= now)) {
			return syncer.Errorf(syncer.CodeUnauthenticated, "The enrollment code is unknown, used or expired; ask an admin for a new one.")
		}
		if err != nil {
			return fmt.Errorf("read enrollment code: %w", err)
		}
		if user, err = userByName(ctx, tx, userID); err != nil {
			return err
		}
		if user.Disabled {
			return syncer.Errorf(syncer.CodePermissionDenied, "The user this code was issued for is disabled.")
		}
		if retry {
			deviceID = enrolled
			return nil
		}
		// Checked after the code, so a wrong code is told as such; the code stays unused.
		if name == "" {
			return syncer.Errorf(syncer.CodeInvalid, "Give the device a name people will recognise it by in the device list, such as \"iPad 3, Team Nord\".")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE enrollment_codes SET used_ms = ?, device_id = ? WHERE code_hash = ?`, now, deviceID, h[:]); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, user_id, name, public_key, enrolled_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?)`,
			deviceID, user.ID, name, publicKey, now, now)
		if err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditDeviceEnrolled, ActorUserID: user.ID, DeviceID: deviceID})
	})
	return deviceID, user, err
}

// accessClaims are the claims of an access token.
type accessClaims struct {
	jwt.RegisteredClaims
	Device string `json:"dev"`
}

// Tokens issues and verifies access tokens with the server's Ed25519 signing keys.
type Tokens struct {
	store *Store
	mu    sync.RWMutex
	keys  map[string]ed25519.PrivateKey // by kid
	kid   string                        // primary

	// verified remembers, by SHA-256 of the token, the tokens whose signature and claims this
	// process has checked, until they expire: a tablet sends the same token with every call for
	// its lifetime, and checking an Ed25519 signature again each time was an eighth of the
	// server's CPU at 1,000 tablets (docs/benchmarks.md). Signing keys are never withdrawn
	// (RotateSigningKey keeps the old ones until their tokens expire), so a signature once
	// valid stays valid; what may change, the device's and user's status, Authenticate reads
	// on every call.
	verifiedMu sync.Mutex
	verified   map[[sha256.Size]byte]verifiedToken
}

// verifiedToken is a checked token: who it names and when it expires.
type verifiedToken struct {
	id      Identity
	expires time.Time
}

// maxVerified bounds the verified tokens kept (about 100 bytes each beside the map's own).
const maxVerified = 1 << 14

// tokenLeeway is the clock skew tokens' times are checked with.
const tokenLeeway = 30 * time.Second

// recall returns the identity of a token this process verified and that has not expired.
func (t *Tokens) recall(sum [sha256.Size]byte) (Identity, bool) {
	t.verifiedMu.Lock()
	v, ok := t.verified[sum]
	t.verifiedMu.Unlock()
	if !ok || !t.store.now().Before(v.expires.Add(tokenLeeway)) {
		return Identity{}, false
	}
	return v.id, true
}

// remember keeps a verified token; when full, it first drops the expired ones, and all if none
// has expired (they are verified again as they come).
func (t *Tokens) remember(sum [sha256.Size]byte, v verifiedToken) {
	t.verifiedMu.Lock()
	defer t.verifiedMu.Unlock()
	if t.verified == nil || len(t.verified) >= maxVerified {
		now := t.store.now()
		for k, old := range t.verified {
			if !now.Before(old.expires.Add(tokenLeeway)) {
				delete(t.verified, k)
			}
		}
		if t.verified == nil || len(t.verified) >= maxVerified {
			t.verified = make(map[[sha256.Size]byte]verifiedToken)
		}
	}
	t.verified[sum] = v
}

// NewTokens loads the signing keys, creating the first one if there is none.
func NewTokens(ctx context.Context, store *Store) (*Tokens, error) {
	t := &Tokens{store: store}
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	if t.kid == "" {
		if _, err := store.RotateSigningKey(ctx); err != nil {
			return nil, err
		}
		if err := t.load(ctx); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (t *Tokens) load(ctx context.Context) error {
	rows, err := t.store.read.QueryContext(ctx, `SELECT kid, private_key, is_primary FROM signing_keys`)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	defer rows.Close()
	keys := map[string]ed25519.PrivateKey{}
	var primary string
	for rows.Next() {
		var kid string
		var sealed []byte
		var isPrimary bool
		if err := rows.Scan(&kid, &sealed, &isPrimary); err != nil {
			return err
		}
		seed, err := t.store.sealer.Open(sealed, signingKeyAD(kid))
		if err != nil {
			return fmt.Errorf("open signing key %s: %w", kid, err)
		}
		if len(seed) != ed25519.SeedSize {
			return fmt.Errorf("signing key %s is damaged", kid)
		}
		keys[kid] = ed25519.NewKeyFromSeed(seed)
		if isPrimary {
			primary = kid
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	t.mu.Lock()
	t.keys, t.kid = keys, primary
	t.mu.Unlock()
	return nil
}

// key returns the public key of kid. A kid this process does not know yet (a key rotated in by
// `samvaer admin keys rotate-signing`, or by another instance on the same database) is looked up
// by itself: one primary-key read, as every authenticated call already makes for the device's
// status, so a flood of made-up kids costs no more than a flood of calls.
func (t *Tokens) key(kid string) (ed25519.PublicKey, bool) {
	t.mu.RLock()
	key, ok := t.keys[kid]
	t.mu.RUnlock()
	if !ok {
		var sealed []byte
		if err := t.store.read.QueryRowContext(context.Background(), `SELECT private_key FROM signing_keys WHERE kid = ?`, kid).Scan(&sealed); err != nil {
			return nil, false
		}
		seed, err := t.store.sealer.Open(sealed, signingKeyAD(kid))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, false
		}
		key = ed25519.NewKeyFromSeed(seed)
		t.mu.Lock()
		t.keys[kid] = key
		t.mu.Unlock()
	}
	return key.Public().(ed25519.PublicKey), true
}

// RotateSigningKey makes a new primary signing key. Tokens signed with older keys stay valid
// until they expire. A running server uses the new key from its next token.
func (s *Store) RotateSigningKey(ctx context.Context) (string, error) {
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return "", err
	}
	kidRaw := make([]byte, 8)
	if _, err := rand.Read(kidRaw); err != nil {
		return "", err
	}
	kid := hex.EncodeToString(kidRaw)
	sealed, err := s.sealer.Seal(seed, signingKeyAD(kid))
	if err != nil {
		return "", err
	}
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE signing_keys SET is_primary = 0`); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, private_key, created_ms, is_primary) VALUES (?, ?, ?, 1)`, kid, sealed, s.nowMs()); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, s.nowMs(), AuditEvent{Kind: AuditSigningKeyRotate, Detail: map[string]string{"kid": kid}})
	})
	return kid, err
}

// Issue verifies a device-signed token request and returns an access token. A lost device is
// told to wipe; a retired one gets tokens until it confirms its wipe, so it can push its pending
// changes once more. A refusal of a correctly signed request (a revoked device, a disabled user, a
// replay) is written to the audit log; unsigned noise, which anyone can send, is not.
func (t *Tokens) Issue(ctx context.Context, deviceID, nonce string, timeMs int64, signature []byte) (string, time.Time, error) {
	tok, expires, reason, err := t.issue(ctx, deviceID, nonce, timeMs, signature)
	if err != nil && reason != "" {
		if aerr := t.store.Audit(ctx, AuditEvent{Kind: AuditTokenRefused, DeviceID: deviceID, Detail: map[string]string{"reason": reason}}); aerr != nil {
			return "", time.Time{}, aerr
		}
	}
	return tok, expires, err
}

// issue does Issue's work. When it refuses a correctly signed request, reason says why, for the
// audit log.
func (t *Tokens) issue(ctx context.Context, deviceID, nonce string, timeMs int64, signature []byte) (tok string, expires time.Time, reason string, err error) {
	refused := syncer.Errorf(syncer.CodeUnauthenticated, "The token request was refused; the tablet may need to be enrolled again.")
	if !syncer.ValidID(deviceID) || len(nonce) == 0 || len(nonce) > 64 || len(signature) != ed25519.SignatureSize {
		return "", time.Time{}, "", refused
	}
	now := t.store.now()
	if d := now.Sub(time.UnixMilli(timeMs)); d > tokenRequestWindow || d < -tokenRequestWindow {
		return "", time.Time{}, "", syncer.Errorf(syncer.CodeUnauthenticated, "The token request is too old or timed in the future; check the tablet's clock.")
	}
	var id Identity
	err = t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var pub []byte
		var status string
		var disabled bool
		var wiped int64
		err := tx.QueryRowContext(ctx, `SELECT d.public_key, d.status, d.wiped_ms, d.user_id, u.disabled FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ?`, deviceID).
			Scan(&pub, &status, &wiped, &id.UserID, &disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return refused
		}
		if err != nil {
			return fmt.Errorf("read device: %w", err)
		}
		if !ed25519.Verify(pub, syncer.TokenSigningPayload(deviceID, nonce, timeMs), signature) {
			return refused
		}
		if err := deviceRefusal(status, wiped, disabled, true); err != nil {
			reason = refusalReason(status, wiped, disabled)
			return err
		}
		if err := useNonce(ctx, tx, deviceID, nonce, now); err != nil {
			reason = "replay"
			return err
		}
		return nil
	})
	if err != nil {
		return "", time.Time{}, reason, err
	}
	// Keys rotated on the command line while the server runs are used from the next token.
	if err := t.load(ctx); err != nil {
		return "", time.Time{}, "", err
	}
	expires = now.Add(AccessTokenTTL)
	t.mu.RLock()
	kid, key := t.kid, t.keys[t.kid]
	t.mu.RUnlock()
	jt := jwt.NewWithClaims(jwt.SigningMethodEdDSA, accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    syncer.TokenIssuer,
			Audience:  jwt.ClaimStrings{syncer.TokenAudience},
			Subject:   id.UserID,
			ExpiresAt: jwt.NewNumericDate(expires),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-30 * time.Second)),
			ID:        nonce,
		},
		Device: deviceID,
	})
	jt.Header["kid"] = kid
	jt.Header["typ"] = tokenType
	tok, err = jt.SignedString(key)
	return tok, expires, "", err
}

// deviceRefusal is the error for a device or user that may not make requests, nil for one that
// may. A lost device is told to wipe, as is a retired one except when it asks for what a retired
// device still may do (a token, a final push).
func deviceRefusal(status string, wipedMs int64, disabled, retiredMay bool) error {
	switch {
	case wipedMs > 0:
		return syncer.Errorf(syncer.CodeUnauthenticated, "This tablet was revoked and wiped; it must be enrolled again.")
	case status == DeviceLost, status == DeviceRetired && !retiredMay:
		return wipeFor(status)
	case status != DeviceActive && status != DeviceRetired:
		return syncer.Errorf(syncer.CodeUnauthenticated, "This tablet's access has been revoked.")
	case disabled:
		return syncer.Errorf(syncer.CodeUnauthenticated, "This user's access has been disabled by an admin.")
	}
	return nil
}

// Verify checks an access token and returns who it was issued to. It does not check the
// device's or user's current status; Authenticate does.
func (t *Tokens) Verify(raw string) (Identity, error) {
	refused := syncer.Errorf(syncer.CodeUnauthenticated, "The access token is missing, malformed, expired or not from this server.")
	if raw == "" || len(raw) > maxTokenBytes {
		return Identity{}, refused
	}
	sum := sha256.Sum256([]byte(raw))
	if id, ok := t.recall(sum); ok {
		return id, nil
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(syncer.TokenIssuer),
		jwt.WithAudience(syncer.TokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(t.store.now),
	)
	var claims accessClaims
	_, err := parser.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != tokenType {
			return nil, errors.New("wrong token type")
		}
		kid, _ := tok.Header["kid"].(string)
		key, ok := t.key(kid)
		if !ok {
			return nil, errors.New("unknown key id")
		}
		return key, nil
	})
	if err != nil || !syncer.ValidID(claims.Device) || !syncer.ValidID(claims.Subject) || claims.ExpiresAt == nil {
		return Identity{}, refused
	}
	id := Identity{UserID: claims.Subject, DeviceID: claims.Device}
	t.remember(sum, verifiedToken{id: id, expires: claims.ExpiresAt.Time})
	return id, nil
}

// Authenticate verifies a bearer token and the device's and user's current status, so a
// revocation takes effect on the very next request whatever the token's expiry. retiredMay says
// whether the call is one a retired device may still make (its final push).
func (t *Tokens) Authenticate(ctx context.Context, authorization string, retiredMay bool) (Identity, error) {
	raw, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		return Identity{}, syncer.Errorf(syncer.CodeUnauthenticated, "This call needs an access token (Authorization: Bearer …).")
	}
	id, err := t.Verify(raw)
	if err != nil {
		return Identity{}, err
	}
	var status, roles string
	var disabled bool
	var wiped int64
	err = t.store.read.QueryRowContext(ctx, `SELECT d.status, d.wiped_ms, u.disabled, u.roles FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ? AND u.id = ?`,
		id.DeviceID, id.UserID).Scan(&status, &wiped, &disabled, &roles)
	if errors.Is(err, sql.ErrNoRows) {
		return Identity{}, syncer.Errorf(syncer.CodeUnauthenticated, "The access token names a device this server does not know.")
	}
	if err != nil {
		return Identity{}, fmt.Errorf("read device status: %w", err)
	}
	if err := deviceRefusal(status, wiped, disabled, retiredMay); err != nil {
		if aerr := t.store.Audit(ctx, AuditEvent{Kind: AuditTokenRefused, ActorUserID: id.UserID, DeviceID: id.DeviceID,
			Detail: map[string]string{"reason": refusalReason(status, wiped, disabled)}}); aerr != nil {
			return Identity{}, aerr
		}
		return Identity{}, err
	}
	id.Roles = strings.Split(roles, ",")
	return id, nil
}

// refusalReason names, for the audit log, why a known device was refused.
func refusalReason(status string, wipedMs int64, disabled bool) string {
	switch {
	case wipedMs > 0:
		return "wiped"
	case status != DeviceActive:
		return status
	case disabled:
		return "user disabled"
	}
	return "refused"
}
