package server

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/samvaer/sync/syncer"
)

// Sign-ins through the identity provider under way, between sending the person to the provider
// and its answer. They live in the database, so the answer may reach any instance of the server
// (a load balancer need not be sticky), and a restart forgets none.

// maxOIDCFlows bounds the sign-ins waiting for the provider's answer, so a flood of started
// sign-ins cannot fill the database.
const maxOIDCFlows = 10_000

// OIDCFlow is a started sign-in: the nonce the ID token must carry and the PKCE verifier.
type OIDCFlow struct {
	Nonce, Verifier string
}

func oidcFlowAD(hash []byte) []byte { return columnAD("oidc_flows.secret", hex.EncodeToString(hash)) }

// StartOIDCFlow keeps flow under state until expires.
func (s *Store) StartOIDCFlow(ctx context.Context, state string, flow OIDCFlow, expires time.Time) error {
	hash := sha256.Sum256([]byte(state))
	sealed, err := s.sealer.Seal([]byte(flow.Nonce+"\n"+flow.Verifier), oidcFlowAD(hash[:]))
	if err != nil {
		return err
	}
	now := s.nowMs()
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oidc_flows WHERE expires_ms <= ?`, now); err != nil {
			return fmt.Errorf("forget expired sign-ins: %w", err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM oidc_flows`).Scan(&n); err != nil {
			return err
		}
		if n >= maxOIDCFlows {
			return syncer.Errorf(syncer.CodeUnavailable, "Too many sign-ins are under way; try again in a few minutes.").With("oidc.busy")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oidc_flows (state_hash, secret, expires_ms) VALUES (?, ?, ?)`, hash[:], sealed, expires.UnixMilli())
		return err
	})
}

// TakeOIDCFlow removes and returns the flow of state: each is used once, on any instance. ok is
// false for a state never started, already taken or expired.
func (s *Store) TakeOIDCFlow(ctx context.Context, state string) (flow OIDCFlow, ok bool, err error) {
	hash := sha256.Sum256([]byte(state))
	now := s.nowMs()
	var sealed []byte
	var expires int64
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT secret, expires_ms FROM oidc_flows WHERE state_hash = ?`, hash[:]).Scan(&sealed, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM oidc_flows WHERE state_hash = ?`, hash[:])
		return err
	})
	if err != nil || sealed == nil || expires <= now {
		return OIDCFlow{}, false, err
	}
	plain, err := s.sealer.Open(sealed, oidcFlowAD(hash[:]))
	if err != nil {
		// Sealed under a key retired meanwhile (flows are not re-wrapped: they live minutes): the
		// person starts the sign-in again.
		return OIDCFlow{}, false, nil
	}
	nonce, verifier, _ := strings.Cut(string(plain), "\n")
	return OIDCFlow{Nonce: nonce, Verifier: verifier}, true, nil
}
