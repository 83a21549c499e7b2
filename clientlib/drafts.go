package clientlib

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/nacl/box"

	"github.com/samvaer/sync/internal/seal"
	"github.com/samvaer/sync/syncer"
)

// Drafts: the observation she is typing for a visit, kept on the tablet until she saves it, so
// neither the idle lock nor a dying battery loses what she typed. A draft is local: it is never
// sent. It is sealed to the tablet's draft key, an X25519 key pair made at the first unlock
// (anonymous sealed boxes, golang.org/x/crypto/nacl/box): its public half is stored in the
// clear, so a draft can be written while the tablet is locked and the data key forgotten (the
// app does so when the lock comes between her typing and the save), and its private half is
// sealed with the data key, so only an unlocked tablet reads a draft back.

const (
	metaDraftPublic  = "draft_public"  // the draft key's public half, base64
	metaDraftPrivate = "draft_private" // its private half sealed with the data key, base64
	draftMetaPrefix  = "observation_draft|"
)

var draftKeyAD = []byte("draft-key")

// draftKeys makes the tablet's draft key pair if it has none yet (at the first unlock) and
// returns it.
func (s *store) draftKeys(ctx context.Context) (pub, priv *[32]byte, err error) {
	err = s.db.WriteTx(ctx, func(tx *sql.Tx) error {
		m, err := readMeta(ctx, tx)
		if err != nil {
			return err
		}
		if m[metaDraftPrivate] != "" {
			pubBytes, err1 := base64.StdEncoding.DecodeString(m[metaDraftPublic])
			blob, err2 := base64.StdEncoding.DecodeString(m[metaDraftPrivate])
			if err := errors.Join(err1, err2); err != nil || len(pubBytes) != 32 {
				return fmt.Errorf("read draft key: damaged (%v)", err)
			}
			plain, err := s.keys.Open(blob, draftKeyAD)
			if err != nil || len(plain) != 32 {
				return fmt.Errorf("open draft key: %w", err)
			}
			pub, priv = new([32]byte), new([32]byte)
			copy(pub[:], pubBytes)
			copy(priv[:], plain)
			seal.Wipe(plain)
			return nil
		}
		pub, priv, err = box.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		blob, err := s.keys.Seal(priv[:], draftKeyAD)
		if err != nil {
			return err
		}
		return setMeta(ctx, tx, metaDraftPublic, base64.StdEncoding.EncodeToString(pub[:]),
			metaDraftPrivate, base64.StdEncoding.EncodeToString(blob))
	})
	return pub, priv, err
}

// putDraft stores (or, for "", removes) a visit's observation draft, sealed to the draft key.
// It needs no data key: only the records' plaintext ids and types and the public key.
func putDraft(ctx context.Context, q querier, visitID, text string) error {
	if !syncer.ValidID(visitID) {
		return syncer.Errorf(syncer.CodeInvalid, "That is not a visit id; 'visits' lists the visits on this tablet.")
	}
	if len(text) > syncer.MaxTextBytes {
		return syncer.Errorf(syncer.CodeResourceExhausted, "An observation is at most %d KiB; this draft is longer.", syncer.MaxTextBytes>>10)
	}
	var n int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE id = ? AND type = ?`, visitID, syncer.TypeVisit).Scan(&n); err != nil {
		return fmt.Errorf("find visit: %w", err)
	}
	if n == 0 {
		return syncer.Errorf(syncer.CodeNotFound, "No visit on this tablet has id %s; sync first if it is new.", visitID)
	}
	if text == "" {
		_, err := q.ExecContext(ctx, `DELETE FROM meta WHERE key = ?`, draftMetaPrefix+visitID)
		return err
	}
	pubText, found, err := metaValue(ctx, q, metaDraftPublic)
	if err != nil {
		return fmt.Errorf("read draft key: %w", err)
	}
	if !found {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "This tablet has no draft key yet; unlock it once with the PIN.")
	}
	pub, err := base64.StdEncoding.DecodeString(pubText)
	if err != nil || len(pub) != 32 {
		return fmt.Errorf("read draft key: damaged")
	}
	// The visit id is sealed with the text, so a draft moved to another visit's row is refused.
	sealed, err := box.SealAnonymous(nil, []byte(visitID+"\n"+text), (*[32]byte)(pub), rand.Reader)
	if err != nil {
		return err
	}
	return setMeta(ctx, q, draftMetaPrefix+visitID, base64.StdEncoding.EncodeToString(sealed))
}

// SetObservationDraft keeps the observation she is typing for a visit ("" removes it) until
// ObserveDraft saves it. A draft stays on the tablet: it is never pushed.
func (t *Tablet) SetObservationDraft(ctx context.Context, visitID, text string) error {
	if err := t.usable(); err != nil {
		return err
	}
	return t.store.db.WriteTx(ctx, func(tx *sql.Tx) error { return putDraft(ctx, tx, visitID, text) })
}

// KeepObservationDraft is SetObservationDraft on a locked tablet: it writes the draft into the
// enrolled home without the PIN, sealed so that only an unlocked tablet reads it. The app uses
// it when its idle lock came before the draft's save.
func KeepObservationDraft(ctx context.Context, home, visitID, text string) error {
	if !enrolled(home) {
		return syncer.Errorf(syncer.CodeFailedPrecondition, "This tablet is not enrolled yet: enroll it with a code from an admin.")
	}
	s, err := openStore(home)
	if err != nil {
		return err
	}
	defer s.close()
	return s.db.WriteTx(ctx, func(tx *sql.Tx) error { return putDraft(ctx, tx, visitID, text) })
}

// ObservationDraft is the observation draft of a visit, "" for none.
func (t *Tablet) ObservationDraft(ctx context.Context, visitID string) (string, error) {
	if err := t.usable(); err != nil {
		return "", err
	}
	sealed, found, err := metaValue(ctx, t.store.db.Read, draftMetaPrefix+visitID)
	if err != nil {
		return "", fmt.Errorf("read draft: %w", err)
	}
	if !found {
		return "", nil
	}
	blob, err := base64.StdEncoding.DecodeString(sealed)
	if err != nil {
		return "", fmt.Errorf("read draft: %w", err)
	}
	plain, ok := box.OpenAnonymous(nil, blob, t.draftPublic, t.draftKey)
	if !ok {
		return "", syncer.Errorf(syncer.CodeFailedPrecondition, "The observation draft of visit %s cannot be opened.", clip(visitID))
	}
	id, text, found := strings.Cut(string(plain), "\n")
	if !found || id != visitID {
		return "", syncer.Errorf(syncer.CodeFailedPrecondition, "The observation draft of visit %s cannot be opened.", clip(visitID))
	}
	return text, nil
}

// ObserveDraft notes an observation as Observe does and ends the visit's draft in the same
// transaction: what she typed is either still her draft or saved, never both, never neither.
func (t *Tablet) ObserveDraft(ctx context.Context, visitID, text string) (Observation, error) {
	return t.observe(ctx, visitID, text, true)
}
