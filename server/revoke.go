package server

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	v1 "github.com/samvaer/sync/gen/samvaer/v1"
	"github.com/samvaer/sync/syncer"
)

// Revocation and disabled users. A device's status and its user's are read on every request
// (Tokens.Authenticate), so both take effect at the device's very next request, whether they were
// changed through AdminService or by `samvaer admin` on the server's host.

// Actor says who made an administrative change, for the audit log: an admin on a device (through
// AdminService), or someone on the server's host (the command line, no user id).
type Actor struct {
	UserID   string
	DeviceID string
}

func (a Actor) detail(d map[string]string) map[string]string {
	if d == nil {
		d = map[string]string{}
	}
	if a.UserID == "" {
		d["via"] = "command line"
	} else {
		d["via"] = "admin service"
		d["admin_device"] = a.DeviceID
	}
	return d
}

// errWipe refuses a revoked device and tells it to wipe itself. toConnect turns it into an
// Unauthenticated error carrying a v1.WipeInstruction detail.
type errWipe struct {
	revocation v1.Revocation
}

func (e *errWipe) Error() string {
	return "This tablet's access has been revoked by an admin; it must delete its data now."
}

func wipeFor(status string) *errWipe {
	if status == DeviceRetired {
		return &errWipe{revocation: v1.Revocation_REVOCATION_RETIRED}
	}
	return &errWipe{revocation: v1.Revocation_REVOCATION_LOST}
}

// RevokeDevice revokes a device as lost or retired. A retired device may still be declared lost;
// a lost one stays lost.
func (s *Store) RevokeDevice(ctx context.Context, by Actor, deviceID, status string) (Device, error) {
	if status != DeviceLost && status != DeviceRetired {
		return Device{}, syncer.Errorf(syncer.CodeInvalid, "A device is revoked as lost or retired.").With("err.revoke_as")
	}
	now := s.nowMs()
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var cur, userID string
		err := tx.QueryRowContext(ctx, `SELECT status, user_id FROM devices WHERE id = ?`, deviceID).Scan(&cur, &userID)
		if errors.Is(err, sql.ErrNoRows) {
			return syncer.Errorf(syncer.CodeNotFound, "No device has id %q.", deviceID).With("err.device_unknown")
		}
		if err != nil {
			return fmt.Errorf("read device: %w", err)
		}
		if cur == status {
			return nil
		}
		if cur == DeviceLost {
			return syncer.Errorf(syncer.CodeFailedPrecondition, "The device is already revoked as lost.").With("err.device_lost_already")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE devices SET status = ?, revoked_ms = ? WHERE id = ?`, status, now, deviceID); err != nil {
			return fmt.Errorf("revoke device: %w", err)
		}
		return s.appendAudit(ctx, tx, now, AuditEvent{Kind: AuditDeviceRevoked, ActorUserID: by.UserID, DeviceID: deviceID,
			Detail: by.detail(map[string]string{"revocation": status, "device_user": userID})})
	})
	if err != nil {
		return Device{}, err
	}
	return s.Device(ctx, deviceID)
}

// Device reads one device.
func (s *Store) Device(ctx context.Context, deviceID string) (Device, error) {
	var d Device
	err := s.read.QueryRowContext(ctx, `SELECT d.id, d.name, d.user_id, u.name, d.status, d.last_seq, d.enrolled_ms, d.last_seen_ms, d.revoked_ms, d.wiped_ms
		FROM devices d JOIN users u ON u.id = d.user_id WHERE d.id = ?`, deviceID).
		Scan(&d.ID, &d.Name, &d.UserID, &d.UserName, &d.Status, &d.LastSeq, &d.EnrolledMs, &d.LastSeenMs, &d.RevokedMs, &d.WipedMs)
	if errors.Is(err, sql.ErrNoRows) {
		return Device{}, syncer.Errorf(syncer.CodeNotFound, "No device has id %q.", deviceID).With("err.device_unknown")
	}
	return d, err
}

// SetUserDisabled disables or enables a user. A disabled user's devices are refused at their
// next request; they are not told to wipe, as enabling the user again restores them.
func (s *Store) SetUserDisabled(ctx context.Context, by Actor, nameOrID string, disabled bool) (User, error) {
	var u User
	now := s.nowMs()
	err := s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var err error
		if u, err = userByName(ctx, tx, nameOrID); err != nil {
			return err
		}
		if u.Disabled == disabled {
			return nil
		}
		if by.UserID == u.ID && disabled {
			return syncer.Errorf(syncer.CodeFailedPrecondition, "An admin cannot disable themself.").With("err.disable_self")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled = ? WHERE id = ?`, disabled, u.ID); err != nil {
			return fmt.Errorf("disable user: %w", err)
		}
		u.Disabled = disabled
		kind := AuditUserEnabled
		if disabled {
			kind = AuditUserDisabled
		}
		return s.appendAudit(ctx, tx, now, AuditEvent{Kind: kind, ActorUserID: by.UserID, Detail: by.detail(map[string]string{"user": u.ID})})
	})
	return u, err
}

// ConfirmWipe records a revoked device's signed confirmation that it deleted its data, with the
// count of its changes that never reached the server. It is accepted only from a revoked device,
// and each nonce once.
func (s *Store) ConfirmWipe(ctx context.Context, deviceID, nonce string, timeMs, unsent int64, signature []byte) error {
	refused := syncer.Errorf(syncer.CodeUnauthenticated, "The wipe confirmation was refused.")
	if !syncer.ValidID(deviceID) || len(nonce) == 0 || len(nonce) > 64 || len(signature) != ed25519.SignatureSize || unsent < 0 {
		return refused
	}
	now := s.now()
	if d := now.Sub(time.UnixMilli(timeMs)); d > tokenRequestWindow || d < -tokenRequestWindow {
		return syncer.Errorf(syncer.CodeUnauthenticated, "The wipe confirmation is too old or timed in the future; check the tablet's clock.")
	}
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		var pub []byte
		var status string
		var wiped int64
		err := tx.QueryRowContext(ctx, `SELECT public_key, status, wiped_ms FROM devices WHERE id = ?`, deviceID).Scan(&pub, &status, &wiped)
		if errors.Is(err, sql.ErrNoRows) {
			return refused
		}
		if err != nil {
			return fmt.Errorf("read device: %w", err)
		}
		if !ed25519.Verify(pub, syncer.WipeSigningPayload(deviceID, nonce, timeMs, unsent), signature) || status == DeviceActive {
			return refused
		}
		if err := useNonce(ctx, tx, deviceID, "wipe:"+nonce, now); err != nil {
			return err
		}
		if wiped == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE devices SET wiped_ms = ? WHERE id = ?`, now.UnixMilli(), deviceID); err != nil {
				return err
			}
		}
		return s.appendAudit(ctx, tx, now.UnixMilli(), AuditEvent{Kind: AuditWipeConfirmed, DeviceID: deviceID,
			Detail: map[string]string{"revocation": status, "unsent_changes_refused": auditCount(unsent)}})
	})
}

// useNonce records a signed request's nonce; a nonce seen before is a replay and is refused.
func useNonce(ctx context.Context, tx *sql.Tx, deviceID, nonce string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM token_nonces WHERE expires_ms < ?`, now.UnixMilli()); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO token_nonces (device_id, nonce, expires_ms) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		deviceID, nonce, now.Add(2*tokenRequestWindow).UnixMilli())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return syncer.Errorf(syncer.CodeUnauthenticated, "The signed request was already used (a replay); it was refused.")
	}
	return nil
}
