package server

import (
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

// Enroll consumes a one-time enrollment code and registers the device's public key.
func (s *Store) Enroll(ctx context.Context, code string, publicKey []byte, name string) (deviceID string, user User, err error) {
	if len(publicKey) != ed25519.PublicKeySize {
		return "", User{}, syncer.Errorf(syncer.CodeInvalid, "The device key must be an Ed25519 public key of %d bytes.", ed25519.PublicKeySize)
	}
	name = strings.TrimSpace(name)
	if len(name) > 100 {
		return "", User{}, syncer.Errorf(syncer.CodeInvalid, "A device name is at most 100 characters.")
	}
	if name == "" {
		name = "tablet"
	}
	h := sha256.Sum256([]byte(strings.ToUpper(strings.TrimSpace(code))))
	now := s.nowMs()
	deviceID = syncer.NewID()
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var userID string
		var expires, used int64
		err := tx.QueryRowContext(ctx, `SELECT user_id, expires_ms, used_ms FROM enrollment_codes WHERE code_hash = ?`, h[:]).Scan(&userID, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (used != 0 || expires <= now)) {
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
		if _, err := tx.ExecContext(ctx, `UPDATE enrollment_codes SET used_ms = ? WHERE code_hash = ?`, now, h[:]); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO devices (id, user_id, name, public_key, enrolled_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?)`,
			deviceID, user.ID, name, publicKey, now, now)
		return err
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
	rows, err := t.store.db.Read.QueryContext(ctx, `SELECT kid, private_key, is_primary FROM signing_keys`)
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

// RotateSigningKey makes a new primary signing key. Tokens signed with older keys stay valid
// until they expire.
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
		_, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (kid, private_key, created_ms, is_primary) VALUES (?, ?, ?, 1)`, kid, sealed, s.nowMs())
		return err
	})
	return kid, err
}

// Issue verifies a device-signed token request and returns an access token.
func (t *Tokens) Issue(ctx context.Context, deviceID, nonce string, timeMs int64, signature []byte) (string, time.Time, error) {
	refused := syncer.Errorf(syncer.CodeUnauthenticated, "The token request was refused; the tablet may need to be enrolled again.")
	if !syncer.ValidID(deviceID) || len(nonce) == 0 || len(nonce) > 64 || len(signature) != ed25519.SignatureSize {
		return "", time.Time{}, refused
	}
	now := t.store.now()
	if d := now.Sub(time.UnixMilli(timeMs)); d > tokenRequestWindow || d < -tokenRequestWindow {
		return "", time.Time{}, syncer.Errorf(syncer.CodeUnauthenticated, "The token request is too old or timed in the future; check the tablet's clock.")
	}
	var id Identity
	err := t.store.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var pub []byte
		var status string
		var disabled bool
		err := tx.QueryRowContext(ctx, `SELECT d.public_key, d.status, d.user_id, u.disabled FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ?`, deviceID).
			Scan(&pub, &status, &id.UserID, &disabled)
		if errors.Is(err, sql.ErrNoRows) {
			return refused
		}
		if err != nil {
			return fmt.Errorf("read device: %w", err)
		}
		if !ed25519.Verify(pub, syncer.TokenSigningPayload(deviceID, nonce, timeMs), signature) {
			return refused
		}
		if status != DeviceActive || disabled {
			return syncer.Errorf(syncer.CodeUnauthenticated, "This tablet's access has been revoked.")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM token_nonces WHERE expires_ms < ?`, now.UnixMilli()); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO token_nonces (device_id, nonce, expires_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
			deviceID, nonce, now.Add(2*tokenRequestWindow).UnixMilli())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return syncer.Errorf(syncer.CodeUnauthenticated, "The token request was already used (a replay); it was refused.")
		}
		return nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	expires := now.Add(AccessTokenTTL)
	t.mu.RLock()
	kid, key := t.kid, t.keys[t.kid]
	t.mu.RUnlock()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, accessClaims{
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
	tok.Header["kid"] = kid
	tok.Header["typ"] = tokenType
	signed, err := tok.SignedString(key)
	return signed, expires, err
}

// Verify checks an access token and returns who it was issued to. It does not check the
// device's or user's current status; Authenticate does.
func (t *Tokens) Verify(raw string) (Identity, error) {
	refused := syncer.Errorf(syncer.CodeUnauthenticated, "The access token is missing, malformed, expired or not from this server.")
	if raw == "" || len(raw) > maxTokenBytes {
		return Identity{}, refused
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(syncer.TokenIssuer),
		jwt.WithAudience(syncer.TokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(30*time.Second),
		jwt.WithTimeFunc(t.store.now),
	)
	var claims accessClaims
	_, err := parser.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != tokenType {
			return nil, errors.New("wrong token type")
		}
		kid, _ := tok.Header["kid"].(string)
		t.mu.RLock()
		key, ok := t.keys[kid]
		t.mu.RUnlock()
		if !ok {
			return nil, errors.New("unknown key id")
		}
		return key.Public(), nil
	})
	if err != nil || !syncer.ValidID(claims.Device) || !syncer.ValidID(claims.Subject) {
		return Identity{}, refused
	}
	return Identity{UserID: claims.Subject, DeviceID: claims.Device}, nil
}

// Authenticate verifies a bearer token and the device's and user's current status, so a
// revocation takes effect on the very next request whatever the token's expiry.
func (t *Tokens) Authenticate(ctx context.Context, authorization string) (Identity, error) {
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
	err = t.store.db.Read.QueryRowContext(ctx, `SELECT d.status, u.disabled, u.roles FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ? AND u.id = ?`,
		id.DeviceID, id.UserID).Scan(&status, &disabled, &roles)
	if errors.Is(err, sql.ErrNoRows) {
		return Identity{}, syncer.Errorf(syncer.CodeUnauthenticated, "The access token names a device this server does not know.")
	}
	if err != nil {
		return Identity{}, fmt.Errorf("read device status: %w", err)
	}
	if status != DeviceActive || disabled {
		return Identity{}, syncer.Errorf(syncer.CodeUnauthenticated, "This tablet's access has been revoked.")
	}
	id.Roles = strings.Split(roles, ",")
	return id, nil
}
